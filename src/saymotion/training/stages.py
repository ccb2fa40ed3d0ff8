"""The training stages: what each one samples, optimises and evaluates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from saymotion.checkpoint import Checkpoint, ModelDims, build_model
from saymotion.config import ExperimentConfig, max_tokens
from saymotion.models.conditioning import ConditionBatch, ConditionEncoder
from saymotion.models.tokenizer import MotionTokenizer
from saymotion.representation import FeatureLayout, features_to_joints
from saymotion.skeleton import Skeleton
from saymotion.training.data import (ClipConditions, CodeBatch, CodeSampler, CodeSplit, MotionSet, UtteranceBatch,
                                     UtteranceSet, WindowSampler)

EVAL_SEED = 20250101  # validation batches are the same at every evaluation


@dataclass
class Normalisation:
    mean: np.ndarray
    std: np.ndarray
    skeleton: Skeleton


def seeded_model(kind: str, config: ExperimentConfig, dims: ModelDims, device: torch.device) -> nn.Module:
    """A new model whose initial weights depend on config.seed only (the same on every rank)."""
    torch.manual_seed(config.seed)
    return build_model(kind, config, dims).to(device)


def mpjpe_mm(predicted: np.ndarray, target: np.ndarray, root_aligned: bool = True) -> float:
    """Mean per-joint position error in millimetres between joint arrays (..., J, 3) in metres.
    Root-aligned (each frame's root moved to the origin, as MoMask reports tokenizer MPJPE) unless
    `root_aligned` is False, which also counts the drift of the integrated root path."""
    if root_aligned:
        predicted = predicted - predicted[..., :1, :]
        target = target - target[..., :1, :]
    return float(np.linalg.norm(predicted - target, axis=-1).mean() * 1000.0)


class TokenizerStage:
    """Trains a tokenizer from scratch, or fine-tunes the decoder alone of a trained one (`start`):
    its encoder and codebooks stay as they are, so its codes, and every model trained on them, do too."""

    kind = "tokenizer"

    def __init__(self, config: ExperimentConfig, train: MotionSet, val: MotionSet, test: MotionSet,
                 norm: Normalisation, device: torch.device, start: Checkpoint | None = None):
        self.config = config
        self.norm = norm
        self.device = device
        self.dims = ModelDims(feature_dim=train.features[0].shape[1], audio_dim=0)
        self.model = seeded_model(self.kind, config, self.dims, device)
        self.start = start
        self.started_from = "" if start is None else start.id
        if start is not None:
            self.model.load_state_dict(start.model.state_dict())
            self.model.freeze_codes()
        self.positions = FeatureLayout.from_dim(self.dims.feature_dim).positions
        self.windows = WindowSampler(train, config.data.window_frames)
        self.val = val
        self.test = test

    def batch(self, rng: np.random.Generator, size: int) -> torch.Tensor:
        return torch.from_numpy(self.windows.sample(rng, size)).to(self.device)

    def loss(self, model: nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        # With frozen codes the commitment term is a constant: it carries no gradient.
        output = model(batch)
        tokenizer = self.config.tokenizer
        reconstruction = F.smooth_l1_loss(output.reconstruction, batch)
        positions = F.smooth_l1_loss(output.reconstruction[..., self.positions], batch[..., self.positions])
        loss = reconstruction + tokenizer.position_weight * positions + tokenizer.commitment * output.quantized.commitment
        return loss, {
            "reconstruction": reconstruction.item(),
            "positions": positions.item(),
            "commitment": output.quantized.commitment.item(),
            "perplexity_base": output.quantized.perplexity[0].item(),
            "layers_used": float(output.quantized.layers_used),
        }

    @torch.no_grad()
    def evaluate(self, final: bool) -> dict[str, float]:
        limit = self.config.train.tokenizer.eval_batches * self.config.train.tokenizer.batch_size
        metrics = {f"val_{k}": v for k, v in self.reconstruction_errors(self.val, limit).items()}
        if final:
            metrics.update({f"test_{k}": v for k, v in self.reconstruction_errors(self.test, None).items()})
        return metrics

    def reconstruction_errors(self, motions: MotionSet, limit: int | None) -> dict[str, float]:
        errors = reconstruction_errors(self.model, motions.features[:limit], self.norm, self.device)
        self.model.train()
        return errors

    def checkpoint(self, step: int, metrics: dict[str, float]) -> Checkpoint:
        requires = {} if self.start is None else {"tokenizer": self.start.codes_id}
        return Checkpoint(self.kind, self.config, self.dims, self.model, self.norm.mean, self.norm.std,
                          self.norm.skeleton, step=step, requires=requires, started_from=self.started_from,
                          metrics=dict(metrics))


@torch.no_grad()
def reconstructions(model: MotionTokenizer, clips: list[np.ndarray], norm: Normalisation,
                    device: torch.device) -> list[np.ndarray]:
    """Each normalised clip encoded and decoded with all quantizer layers, de-normalised (T_i, D)."""
    model.eval()
    return [model.decode(model.encode(torch.from_numpy(features)[None].to(device)))[0].float().cpu().numpy()
            * norm.std + norm.mean for features in clips]  # fmt: skip


def joint_errors(clips: list[np.ndarray], rebuilt: list[np.ndarray], norm: Normalisation) -> dict[str, float]:
    """Root-aligned and global MPJPE (mm) between normalised clips and their de-normalised
    reconstructions, over all frames."""
    if not clips:
        return {}
    totals, frames = np.zeros(2), 0
    for features, rebuilt_features in zip(clips, rebuilt, strict=True):
        target = features_to_joints(features * norm.std + norm.mean, norm.skeleton)
        joints = features_to_joints(rebuilt_features, norm.skeleton)
        totals += [mpjpe_mm(joints, target) * len(features), mpjpe_mm(joints, target, root_aligned=False) * len(features)]
        frames += len(features)
    mpjpe, global_mpjpe = totals / frames
    return {"mpjpe_mm": float(mpjpe), "global_mpjpe_mm": float(global_mpjpe)}


def reconstruction_errors(model: MotionTokenizer, clips: list[np.ndarray], norm: Normalisation,
                          device: torch.device) -> dict[str, float]:
    """Root-aligned and global MPJPE (mm) between normalised clips and their reconstructions."""
    return joint_errors(clips, reconstructions(model, clips, norm, device), norm)


@torch.no_grad()
def extract_codes(tokenizer: MotionTokenizer, motions: MotionSet, device: torch.device) -> list[np.ndarray]:
    """All quantizer codes (T_i / factor, Q) of every clip, as int16."""
    tokenizer.eval()
    return [
        tokenizer.encode(torch.from_numpy(features)[None].to(device))[0].cpu().numpy().astype(np.int16)
        for features in motions.features
    ]


class CodeStage:
    """The generator (masked transformer), residual transformer and length predictor: all learn
    from code sequences of the trained tokenizer and the instructions of their clips."""

    def __init__(self, kind: str, config: ExperimentConfig, tokenizer: Checkpoint, train: CodeSplit, val: CodeSplit,
                 device: torch.device):
        self.kind = kind
        self.config = config
        self.tokenizer = tokenizer
        self.device = device
        self.dims = ModelDims(tokenizer.dims.feature_dim, audio_dim=train.conditions.audio_dim)
        self.model = seeded_model(kind, config, self.dims, device)
        self.started_from = ""  # id of the model whose weights training starts from (fine-tuning)
        # The length predictor reads no code sequence, so has no padding to save; batches of one
        # length would teach it a single length per step.
        by_length = kind != "length"
        self.train_sampler = CodeSampler(train.codes, train.conditions, config, max_tokens(config), train.actions,
                                         by_length=by_length)
        # Validation stays uniform over clips, so its losses compare across sampling settings.
        self.val_sampler = (CodeSampler(val.codes, val.conditions, config, max_tokens(config), by_length=by_length)
                            if val.codes else None)

    def hear_speech_in_advance(self) -> None:
        """With the speech side fixed (frozen and held in eval mode), what it hears of an utterance is
        the same at every step: hear every training and validation utterance once, so that a step
        runs the rest of the model alone (the speech side took half of a generator step)."""
        for sampler in (self.train_sampler, self.val_sampler):
            if sampler is not None:
                sampler.conditions.heard = hear_utterances(self.model.condition, sampler.conditions,
                                                           self.config.data.max_audio_frames, self.device)

    def batch(self, rng: np.random.Generator, size: int) -> CodeBatch:
        return self.train_sampler.sample(rng, size).to(self.device)

    def loss(self, model: nn.Module, batch: CodeBatch) -> tuple[torch.Tensor, dict[str, float]]:
        if self.kind == "generator":
            loss, values = model(batch.codes[..., 0], batch.lengths, batch.cond)
        elif self.kind == "residual":
            loss, values = model(batch.codes, batch.lengths, batch.cond)
        else:
            loss, values = model(batch.cond, batch.lengths)
        return loss, {name: value.item() for name, value in values.items()}

    @torch.no_grad()
    def evaluate(self, final: bool) -> dict[str, float]:
        """Mean validation loss and accuracy with full conditions, on fixed batches."""
        if self.val_sampler is None:
            return {}
        train = getattr(self.config.train, self.kind)
        rng = np.random.default_rng(EVAL_SEED)
        state = torch.random.get_rng_state()
        torch.manual_seed(EVAL_SEED)
        self.model.eval()
        rows = []
        for _ in range(train.eval_batches):
            batch = self.val_sampler.sample(rng, train.batch_size, dropout=False).to(self.device)
            loss, values = self.loss(self.model, batch)
            rows.append({"loss": loss.item(), **values})
        self.model.train()
        torch.random.set_rng_state(state)
        return {f"val_{name}": float(np.mean([row[name] for row in rows])) for name in rows[0]}

    def checkpoint(self, step: int, metrics: dict[str, float]) -> Checkpoint:
        return Checkpoint(self.kind, self.config, self.dims, self.model, self.tokenizer.mean, self.tokenizer.std,
                          self.tokenizer.skeleton, step=step, requires={"tokenizer": self.tokenizer.codes_id},
                          started_from=self.started_from, metrics=dict(metrics))


@torch.no_grad()
def hear_utterances(condition: ConditionEncoder, conditions: ClipConditions, max_audio_frames: int,
                    device: torch.device, batch_size: int = 64) -> list[list[tuple[np.ndarray, np.ndarray | None]]]:
    """What the fixed speech side of `condition` hears of each spoken instruction of each clip, laid
    out like `conditions.audio`: (tokens (K, dim), meaning (E,) or None). Each utterance is heard
    once, however many clips it names, among utterances of similar length (little padding)."""
    if not condition.speech_side_fixed:
        raise ValueError("only a fixed speech side (frozen and held in eval mode) can hear in advance")
    utterances = {id(features): features for options in conditions.audio for features, _ in options}
    order = sorted(utterances, key=lambda key: len(utterances[key]))
    heard = {}
    for start in range(0, len(order), batch_size):
        keys = order[start : start + batch_size]
        frames = [utterances[key][:max_audio_frames].astype(np.float32) for key in keys]
        batch = ConditionBatch.from_arrays(frames, [None] * len(keys), conditions.audio_dim).to(device)
        tokens, meaning = condition.hear(batch)
        for row, key in enumerate(keys):
            heard[key] = (tokens[row].float().cpu().numpy(), None if meaning is None else meaning[row].float().cpu().numpy())
    return [[heard[id(features)] for features, _ in options] for options in conditions.audio]


class ListenerStage:
    """The audio encoder and meaning head, trained to predict the MiniLM embedding of the words
    spoken from the speech alone (condition.listener)."""

    kind = "listener"
    started_from = ""  # always trained from scratch

    def __init__(self, config: ExperimentConfig, train: UtteranceSet, val: UtteranceSet, norm: Normalisation,
                 device: torch.device, val_unheard: UtteranceSet):
        self.config = config
        self.norm = norm
        self.device = device
        self.dims = ModelDims(feature_dim=len(norm.mean), audio_dim=train.audio_dim)
        self.model = seeded_model(self.kind, config, self.dims, device)
        self.train = train
        self.val = val
        self.val_unheard = val_unheard  # empty without data.unheard_voices and data.unheard_phrasing

    def batch(self, rng: np.random.Generator, size: int) -> UtteranceBatch:
        return self.train.sample(rng, size).to(self.device)

    def loss(self, model: nn.Module, batch: UtteranceBatch) -> tuple[torch.Tensor, dict[str, float]]:
        loss, values = model(batch.cond, batch.mirrored)
        return loss, {name: value.item() for name, value in values.items()}

    @torch.no_grad()
    def evaluate(self, final: bool) -> dict[str, float]:
        """`listener_scores` on the val utterances by the voices the listener hears (`val_*`) and by
        data.unheard_voices or in data.unheard_phrasing (`unheard_*`)."""
        self.model.eval()
        scores = {f"val_{name}": value for name, value in self.listener_scores(self.val).items()}
        scores |= {f"unheard_{name}": value for name, value in self.listener_scores(self.val_unheard).items()}
        self.model.train()
        return scores

    def listener_scores(self, utterances: UtteranceSet) -> dict[str, float]:
        """On a fixed sample of `utterances`: mean (1 - cosine) to the words spoken, how often the
        nearest of the sample's distinct texts is the one spoken, and, of those naming a side, how
        often the words spoken are nearer than the same words with left and right exchanged."""
        if not len(utterances):
            return {}
        train = self.config.train.listener
        count = min(len(utterances), train.eval_batches * train.batch_size)
        rows = np.random.default_rng(EVAL_SEED).choice(len(utterances), count, replace=False)
        predicted = torch.cat([self.model.predict(utterances.batch(rows[i : i + train.batch_size]).cond.to(self.device)).float().cpu()
                               for i in range(0, count, train.batch_size)])
        row_of = {utterances.texts[row]: row for row in rows}
        texts = sorted(row_of)
        candidates = F.normalize(torch.from_numpy(utterances.spoken[[row_of[t] for t in texts]]), dim=-1)
        target = torch.from_numpy(utterances.spoken[rows])
        nearest = (predicted @ candidates.t()).argmax(1).tolist()
        mirrored = torch.from_numpy(utterances.mirrored[rows])
        sided = mirrored.abs().sum(-1) > 0
        similarity = F.cosine_similarity(predicted, target, dim=-1)
        right_side = similarity > F.cosine_similarity(predicted, mirrored, dim=-1)
        return {
            "alignment": float((1 - similarity).mean()),
            "nearest_text": float(np.mean([texts[n] == utterances.texts[row] for n, row in zip(nearest, rows)])),
            "side": float(right_side[sided].float().mean()) if bool(sided.any()) else float("nan"),
        }

    def checkpoint(self, step: int, metrics: dict[str, float]) -> Checkpoint:
        return Checkpoint(self.kind, self.config, self.dims, self.model, self.norm.mean, self.norm.std,
                          self.norm.skeleton, step=step, metrics=dict(metrics))
