"""The evaluator every metric is computed with: a motion encoder and a projection of the frozen
MiniLM text embedding, trained on real motion only into one embedding space with a contrastive
loss (InfoNCE as TMR), and action and style classifiers on the motion embedding.

Embeddings are unit length, so every distance-based metric (FID, MM-Dist, Diversity,
MultiModality) lives on the unit sphere: values are smaller than with the T2M evaluator's
unnormalised 512-d embeddings and comparable only between reports made with the same evaluator.

An evaluator file (EVAL_DIR/model.pt, or EVAL_DIR/last.pt while training) holds its config, the
feature statistics it normalises with, its label vocabularies and its weights, and is read with
torch.load(weights_only=True). `Evaluator.load` is the one way to use it.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from saymotion.config import ConfigError, TrainConfig, build_dataclass
from saymotion.config import read_config_file
from saymotion.checkpoint import read_versioned_payload
from saymotion.errors import CheckpointError, SaymotionError
from saymotion.fileio import atomic_path
from saymotion.models.minilm import TEXT_EMBEDDING_DIM

FORMAT = "saymotion-evaluator"
FORMAT_VERSION = 1
LAST = "last.pt"
FINAL = "model.pt"
INFERENCE_BATCH = 64


@dataclass
class EvaluatorConfig:
    seed: int = 1234
    embed_dim: int = 128  # small next to T2M's 512: FID fits a covariance to only ~300 test motions
    width: int = 256  # channels of the motion encoder
    levels: int = 2  # stride-2 temporal downsamplings of the motion encoder
    text_hidden: int = 256
    dropout: float = 0.1
    max_frames: int = 196  # longer motions are cropped (randomly in training, to the start in evaluation)
    mirror: bool = True  # also learn every training clip mirrored left/right, with mirrored label and texts
    temperature: float = 0.1  # InfoNCE temperature, as TMR
    # In-batch negatives whose text is this similar (MiniLM cosine) to the positive's are not
    # negatives: paraphrases of one caption describe the same motion. Identical texts have 1.0.
    false_negative_similarity: float = 0.8
    classifier_weight: float = 1.0  # weight of the action + style cross-entropy next to InfoNCE
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=1500, batch_size=64, lr=5e-4, warmup_steps=100, weight_decay=0.01,
            log_every=50, checkpoint_every=250, eval_every=250,
        )
    )  # fmt: skip

    def __post_init__(self) -> None:
        if min(self.embed_dim, self.width, self.text_hidden, self.max_frames) < 1 or self.levels < 0:
            raise ConfigError("evaluator sizes must be positive (levels may be 0)")
        if self.max_frames < 2**self.levels:
            raise ConfigError(f"max_frames must be at least 2**levels = {2**self.levels}")
        if self.temperature <= 0 or not 0 < self.false_negative_similarity <= 1:
            raise ConfigError("temperature must be positive and false_negative_similarity in (0, 1]")


def load_evaluator_config(path: str | os.PathLike) -> EvaluatorConfig:
    """An evaluator config from TOML (with `extends`, like the experiment configs)."""
    return build_dataclass(EvaluatorConfig, read_config_file(Path(path)), str(path), prefix="")


def evaluator_config_from_dict(values: dict[str, Any], source: str) -> EvaluatorConfig:
    return build_dataclass(EvaluatorConfig, values, source, prefix="")


# --- model --------------------------------------------------------------------------------------


def _mask_padding(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Zero the frames of x (B, C, T) past each length, so that a motion's embedding does not
    depend on how long the other motions of its batch are."""
    valid = torch.arange(x.shape[2], device=x.device)[None] < lengths[:, None]
    return x * valid[:, None].to(x.dtype)


class ResidualConv(nn.Module):
    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(width, width, 3, padding=1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return _mask_padding(x + self.dropout(F.leaky_relu(self.conv(x), 0.2)), lengths)


class MotionEncoder(nn.Module):
    """Normalised features (B, T, D) -> unit embeddings (B, E): a frame projection, `levels`
    stride-2 convolutions each followed by a residual convolution, then mean and max pooling over
    the valid frames."""

    def __init__(self, feature_dim: int, config: EvaluatorConfig):
        super().__init__()
        self.input = nn.Linear(feature_dim, config.width)
        width = config.width
        self.downsample = nn.ModuleList(nn.Conv1d(width, width, 4, stride=2, padding=1) for _ in range(config.levels))
        self.residual = nn.ModuleList(ResidualConv(config.width, config.dropout) for _ in range(config.levels))
        self.output = nn.Linear(2 * config.width, config.embed_dim)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = _mask_padding(self.input(features).transpose(1, 2), lengths)
        for downsample, residual in zip(self.downsample, self.residual):
            lengths = lengths // 2  # what the convolution gives an unpadded motion of that length
            x = residual(_mask_padding(F.leaky_relu(downsample(x), 0.2), lengths), lengths)
        valid = (torch.arange(x.shape[2], device=x.device)[None] < lengths[:, None])[:, None]
        mean = x.sum(2) / lengths[:, None].to(x.dtype)
        peak = x.masked_fill(~valid, float("-inf")).amax(2)
        return F.normalize(self.output(torch.cat([mean, peak], 1)), dim=-1)


class EvaluatorModel(nn.Module):
    def __init__(self, config: EvaluatorConfig, feature_dim: int, num_actions: int, num_styles: int):
        super().__init__()
        self.motion = MotionEncoder(feature_dim, config)
        self.text = nn.Sequential(
            nn.Linear(TEXT_EMBEDDING_DIM, config.text_hidden), nn.GELU(), nn.Dropout(config.dropout),
            nn.Linear(config.text_hidden, config.embed_dim),
        )  # fmt: skip
        self.action_head = nn.Linear(config.embed_dim, num_actions)
        self.style_head = nn.Linear(config.embed_dim, num_styles)
        # The heads see the unit embeddings at the contrastive logits' scale; at scale 1 a linear
        # head needs large weights, which take thousands of steps to grow, to be confident.
        self.logit_scale = 1.0 / config.temperature

    def embed_text(self, sentence_embeddings: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text(sentence_embeddings), dim=-1)

    def classify(self, motion_embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Action and style logits of unit motion embeddings."""
        scaled = motion_embeddings * self.logit_scale
        return self.action_head(scaled), self.style_head(scaled)


# --- file -----------------------------------------------------------------------------------------


@dataclass
class EvaluatorCheckpoint:
    config: EvaluatorConfig
    model: EvaluatorModel
    mean: np.ndarray  # (D,) feature statistics of the training split
    std: np.ndarray
    actions: list[str]  # class index -> label
    styles: list[str]
    data_sha256: str  # the prepared dataset it was trained on (saymotion.evaluation.provenance)
    step: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    training_state: dict[str, Any] | None = None  # optimizer state; only in last.pt


def build_evaluator(config: EvaluatorConfig, feature_dim: int, actions: list[str], styles: list[str]) -> EvaluatorModel:
    return EvaluatorModel(config, feature_dim, len(actions), len(styles))


def save_evaluator(path: str | os.PathLike, checkpoint: EvaluatorCheckpoint, *, resumable: bool) -> None:
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "config": dataclasses.asdict(checkpoint.config),
        "mean": torch.tensor(np.asarray(checkpoint.mean, np.float32)),
        "std": torch.tensor(np.asarray(checkpoint.std, np.float32)),
        "actions": list(checkpoint.actions),
        "styles": list(checkpoint.styles),
        "data_sha256": checkpoint.data_sha256,
        "step": checkpoint.step,
        "metrics": {k: float(v) for k, v in checkpoint.metrics.items()},
        "state_dict": {k: v.detach().cpu() for k, v in checkpoint.model.state_dict().items()},
        "training_state": checkpoint.training_state if resumable else None,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_evaluator_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> EvaluatorCheckpoint:
    """The evaluator stored in `path` (a file, or a folder holding model.pt), in eval mode."""
    path = Path(path)
    if path.is_dir():
        path = path / FINAL
    payload = read_versioned_payload(path, device, FORMAT, FORMAT_VERSION, "evaluator")
    try:
        config = evaluator_config_from_dict(payload["config"], str(path))
    except SaymotionError as error:
        raise CheckpointError(f"{path}: incompatible evaluator: {error}") from None
    mean = payload["mean"].cpu().numpy()
    model = build_evaluator(config, len(mean), payload["actions"], payload["styles"])
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[0]
        raise CheckpointError(f"{path}: weights do not fit the stored config: {first_line}") from None
    model.to(device).eval()
    return EvaluatorCheckpoint(
        config=config, model=model, mean=mean, std=payload["std"].cpu().numpy(), actions=list(payload["actions"]),
        styles=list(payload["styles"]), data_sha256=payload["data_sha256"], step=int(payload["step"]),
        metrics=dict(payload["metrics"]), training_state=payload["training_state"],
    )  # fmt: skip


# --- inference ------------------------------------------------------------------------------------


def collate_motions(features: list[np.ndarray], max_frames: int, min_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-padded (B, T, D) and lengths of normalised motions, each cut to its first `max_frames`
    frames and edge-padded to `min_frames` (the encoder's downsampling needs that many)."""
    clipped = [f[:max_frames] for f in features]
    clipped = [np.concatenate([f, np.repeat(f[-1:], min_frames - len(f), 0)]) if len(f) < min_frames else f for f in clipped]
    lengths = [len(f) for f in clipped]
    padded = np.zeros((len(clipped), max(lengths), clipped[0].shape[1]), np.float32)
    for row, values in enumerate(clipped):
        padded[row, : len(values)] = values
    return torch.from_numpy(padded), torch.tensor(lengths)


@dataclass
class MotionEvaluation:
    embeddings: np.ndarray  # (N, E) unit length
    actions: list[str]  # the action classifier's label per motion
    styles: list[str]


class Evaluator:
    """Embeds motions and texts and classifies motions with a trained evaluator."""

    def __init__(self, checkpoint: EvaluatorCheckpoint, device: str | torch.device = "cpu"):
        self.checkpoint = checkpoint
        self.device = torch.device(device)
        self.model = checkpoint.model.to(self.device).eval()
        self._sentence_encoder = None

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> Evaluator:
        return cls(load_evaluator_checkpoint(path, device), device)

    @property
    def config(self) -> EvaluatorConfig:
        return self.checkpoint.config

    @torch.inference_mode()
    def evaluate_motions(self, features: list[np.ndarray]) -> MotionEvaluation:
        """Embeddings and predicted labels of de-normalised motions (T_i x D)."""
        if not features:
            raise SaymotionError("no motions to evaluate")
        normalised = [((f - self.checkpoint.mean) / self.checkpoint.std).astype(np.float32) for f in features]
        order = np.argsort([len(f) for f in normalised], kind="stable")  # similar lengths batch together
        embeddings = np.zeros((len(features), self.config.embed_dim), np.float32)
        for start in range(0, len(order), INFERENCE_BATCH):
            rows = order[start : start + INFERENCE_BATCH]
            batch, lengths = collate_motions([normalised[r] for r in rows], self.config.max_frames, 2**self.config.levels)
            embeddings[rows] = self.model.motion(batch.to(self.device), lengths.to(self.device)).float().cpu().numpy()
        logits = self.model.classify(torch.from_numpy(embeddings).to(self.device))
        actions, styles = (scores.argmax(-1).tolist() for scores in logits)
        return MotionEvaluation(
            embeddings, [self.checkpoint.actions[i] for i in actions], [self.checkpoint.styles[i] for i in styles]
        )

    @torch.inference_mode()
    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """(N, E) unit embeddings of texts (through the frozen MiniLM, then the trained projection)."""
        if self._sentence_encoder is None:
            from saymotion.models.minilm import SentenceEncoder

            self._sentence_encoder = SentenceEncoder(str(self.device))
        return self.embed_sentences(self._sentence_encoder.encode(texts))

    @torch.inference_mode()
    def embed_sentences(self, sentence_embeddings: np.ndarray) -> np.ndarray:
        """(N, E) unit embeddings of MiniLM sentence embeddings (N, 384)."""
        sentences = torch.from_numpy(np.asarray(sentence_embeddings, np.float32)).to(self.device)
        return self.model.embed_text(sentences).float().cpu().numpy()
