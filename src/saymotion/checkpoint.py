"""The one way models are saved and loaded.

A checkpoint file holds everything needed to rebuild and use its model: the kind of model, the
full experiment config it was trained with (forced back on load, whatever the current config
files say), the data dimensions, the feature normalisation statistics, the skeleton, and the
weights. Training checkpoints add the optimizer state for resuming. Files are read with
`torch.load(weights_only=True)`: plain tensors and builtins, no pickled code.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from saymotion.config import STAGES, TRAINING_STAGES, ExperimentConfig, config_from_dict, config_to_dict, max_tokens
from saymotion.errors import CheckpointError, SaymotionError
from saymotion.fileio import atomic_path
from saymotion.models.conditioning import TEXT_EMBEDDING_DIM
from saymotion.skeleton import Skeleton

FORMAT = "saymotion-checkpoint"
FORMAT_VERSION = 1
KINDS = TRAINING_STAGES  # one model kind per training stage
# File names: a run folder holds RUN/<kind>/{last.pt (resumable), model.pt (finished)}; an
# exported model folder holds <kind>.pt for every kind.
LAST = "last.pt"
FINAL = "model.pt"
# Settings added after checkpoints were first written, with the value that rebuilds the model an
# older checkpoint holds (a missing key would otherwise take today's default).
ADDED_SETTINGS = {("condition", "align_weight"): 0.0, ("condition", "init_from_generator"): False,
                  ("condition", "listener"): False, ("condition", "meaning_layers"): 0,
                  ("data", "unheard_voices"): [], ("data", "unheard_phrasing"): [],
                  ("generator", "positions"): "learned"}


def run_file(run_dir: Path, kind: str) -> Path:
    return run_dir / kind / FINAL


def exported_file(model_dir: Path, kind: str) -> Path:
    return model_dir / f"{kind}.pt"


def model_file(model_dir: Path, kind: str) -> Path:
    """The `kind` checkpoint of an exported model folder (<kind>.pt) or else of a run folder (<kind>/model.pt)."""
    exported = exported_file(model_dir, kind)
    return exported if exported.is_file() else run_file(model_dir, kind)


def model_files(model_dir: Path) -> dict[str, Path]:
    """The checkpoint of each kind in an exported model folder (<kind>.pt) or a run folder (<kind>/model.pt)."""
    exported, run = ({kind: layout(model_dir, kind) for kind in STAGES} for layout in (exported_file, run_file))
    for files in (exported, run):
        if all(path.is_file() for path in files.values()):
            return files
    missing = next(path for path in exported.values() if not path.is_file())
    raise CheckpointError(f"{model_dir} is not a saymotion model folder (missing {missing})")


@dataclass(frozen=True)
class ModelDims:
    """Sizes that come from the data rather than the config."""

    feature_dim: int
    audio_dim: int  # speech-encoder feature size; 0 for a text-only model
    text_dim: int = TEXT_EMBEDDING_DIM


@dataclass
class Checkpoint:
    kind: str
    config: ExperimentConfig
    dims: ModelDims
    model: nn.Module
    mean: np.ndarray  # (D,) feature mean of the training split
    std: np.ndarray  # (D,)
    skeleton: Skeleton
    step: int = 0
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    requires: dict[str, str] = field(default_factory=dict)  # kind -> id of the checkpoints this one was trained on
    started_from: str = ""  # id of the checkpoint whose weights training started from (fine-tuning), if any
    metrics: dict[str, float] = field(default_factory=dict)
    training_state: dict[str, Any] | None = None  # optimizer state etc.; only in resumable checkpoints

    @property
    def codes_id(self) -> str:
        """For a tokenizer, the id of the tokenizer whose encoder and codebooks make its codes: its
        own, or that of the tokenizer whose decoder alone it fine-tuned (`requires`)."""
        return self.requires.get("tokenizer", self.id)

    def normalise(self, features: np.ndarray) -> np.ndarray:
        return (features - self.mean) / self.std

    def denormalise(self, features: np.ndarray) -> np.ndarray:
        return features * self.std + self.mean


def build_model(kind: str, config: ExperimentConfig, dims: ModelDims) -> nn.Module:
    """A freshly initialised model of `kind` for `config` and `dims`."""
    from saymotion.models.conditioning import SpeechListener
    from saymotion.models.length_predictor import LengthPredictor
    from saymotion.models.masked_transformer import MaskedTransformer
    from saymotion.models.residual_transformer import ResidualTransformer
    from saymotion.models.tokenizer import MotionTokenizer

    tokens = max_tokens(config)
    codes = config.tokenizer.num_codes
    if kind == "tokenizer":
        return MotionTokenizer(config.tokenizer, dims.feature_dim)
    if kind == "generator":
        return MaskedTransformer(config.generator, config.condition, codes, tokens, dims.audio_dim, dims.text_dim)
    if kind == "residual":
        return ResidualTransformer(
            config.residual, config.condition, codes, config.tokenizer.num_quantizers, tokens, dims.audio_dim, dims.text_dim
        )
    if kind == "listener":
        return SpeechListener(config.condition, dims.audio_dim, dims.text_dim)
    if kind == "length":
        return LengthPredictor(config.length, config.condition, tokens, dims.audio_dim, dims.text_dim)
    raise CheckpointError(f"unknown model kind {kind!r} (expected one of {', '.join(KINDS)})")


def save_checkpoint(path: str | os.PathLike, checkpoint: Checkpoint, *, half: bool = False, resumable: bool = True) -> None:
    """Write `checkpoint` atomically; `half` stores floating-point weights as fp16 (for shipping),
    `resumable=False` leaves out the training state."""
    state = {
        name: tensor.detach().to("cpu", torch.float16 if half and tensor.is_floating_point() else tensor.dtype)
        for name, tensor in checkpoint.model.state_dict().items()
    }
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "kind": checkpoint.kind,
        "id": checkpoint.id,
        "step": checkpoint.step,
        "requires": dict(checkpoint.requires),
        "started_from": checkpoint.started_from,
        "metrics": {k: float(v) for k, v in checkpoint.metrics.items()},
        "config": config_to_dict(checkpoint.config),
        "dims": asdict(checkpoint.dims),
        "mean": torch.tensor(np.asarray(checkpoint.mean, np.float32)),
        "std": torch.tensor(np.asarray(checkpoint.std, np.float32)),
        "skeleton": checkpoint.skeleton.to_dict(),
        "state_dict": state,
        "training_state": checkpoint.training_state if resumable else None,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | os.PathLike, kind: str | None = None, device: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the model stored in `path` from the file alone, in eval mode; `kind` checks what it must be."""
    path = Path(path)
    payload = _read_payload(path, device)
    if kind is not None and payload["kind"] != kind:
        raise CheckpointError(f"{path} holds a {payload['kind']} model, expected a {kind} model")
    try:
        config = config_from_dict(_with_added_settings(payload["config"]), source=str(path))
        dims = ModelDims(**payload["dims"])
        skeleton = Skeleton.from_dict(payload["skeleton"])
    except (SaymotionError, TypeError) as error:
        raise CheckpointError(f"{path}: incompatible checkpoint: {error}") from None
    model = build_model(payload["kind"], config, dims)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[0]
        raise CheckpointError(f"{path}: weights do not fit the stored config: {first_line}") from None
    model.to(device).eval()  # ready for inference; trainers switch to train() themselves
    return Checkpoint(
        kind=payload["kind"],
        config=config,
        dims=dims,
        model=model,
        mean=payload["mean"].cpu().numpy(),
        std=payload["std"].cpu().numpy(),
        skeleton=skeleton,
        step=int(payload["step"]),
        id=payload["id"],
        requires=dict(payload["requires"]),
        started_from=payload.get("started_from", ""),  # absent from checkpoints written before fine-tuning existed
        metrics=dict(payload["metrics"]),
        training_state=payload["training_state"],
    )


def _with_added_settings(config: dict[str, Any]) -> dict[str, Any]:
    config = {group: dict(values) if isinstance(values, dict) else values for group, values in config.items()}
    for (group, key), value in ADDED_SETTINGS.items():
        if isinstance(config.get(group), dict):
            config[group].setdefault(key, value)
    return config


def check_same_tokenizer(checkpoints: dict[str, Checkpoint], hint: str = "") -> None:
    """Raise unless every model in `checkpoints` was trained on the codes of the tokenizer among them
    (the codes, not the decoder: see `Checkpoint.codes_id`); `hint` ends the message (what to do instead)."""
    codes_id = checkpoints["tokenizer"].codes_id
    for kind, checkpoint in checkpoints.items():
        if kind != "tokenizer" and checkpoint.requires.get("tokenizer") != codes_id:
            raise CheckpointError(f"the {kind} model was trained on a different tokenizer than the one given{hint}")


def read_versioned_payload(path: Path, device: str | torch.device, fmt: str, version: int, what: str) -> dict[str, Any]:
    """The dict saved at `path`, checked to be of format `fmt` and `version` (`what` names it in errors)."""
    if not path.is_file():
        raise CheckpointError(f"{what} not found: {path}")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # torch raises many types for truncated or foreign files
        raise CheckpointError(f"cannot read {what} {path}: {type(error).__name__}") from None
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise CheckpointError(f"{path} is not a saymotion {what}")
    if payload.get("version") != version:
        raise CheckpointError(f"{path} has {what} format version {payload.get('version')}, this saymotion reads {version}")
    return payload


def _read_payload(path: Path, device: str | torch.device) -> dict[str, Any]:
    payload = read_versioned_payload(path, device, FORMAT, FORMAT_VERSION, "checkpoint")
    if payload.get("kind") not in KINDS:
        raise CheckpointError(f"{path} holds an unknown model kind {payload.get('kind')!r}")
    return payload
