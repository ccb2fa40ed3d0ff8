"""Training the evaluator (`saymotion eval train`) on the real motion of the train split.

Each step draws a batch of clips of similar length (each cropped to max_frames at a random
offset) with one of each clip's descriptions, and minimises the symmetric InfoNCE between motion
and text embeddings plus the action and style cross-entropy. The run folder:

    DIR/last.pt, DIR/model.pt     resumable and finished evaluator (saymotion.evaluation.evaluator)
    DIR/train.csv, DIR/eval.csv   training losses; validation retrieval and accuracy
    DIR/text-embeddings.npz       MiniLM embeddings of the training texts (a model run's cache of
                                  the same name may be copied here to skip computing them)

As in saymotion.training.loop, the randomness of a step derives from (seed, step) alone, so a run
resumed from last.pt ends with the weights of an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from saymotion.datasets.base import ClipSample
from saymotion.datasets.prepared import PreparedDataset
from saymotion.errors import CheckpointError, DataError
from saymotion.evaluation import metrics
from saymotion.evaluation.evaluator import (
    FINAL,
    LAST,
    Evaluator,
    EvaluatorCheckpoint,
    EvaluatorConfig,
    EvaluatorModel,
    build_evaluator,
    load_evaluator_checkpoint,
    save_evaluator,
)
from saymotion.evaluation.provenance import prepared_sha256
from saymotion.training.csvlog import CsvLog
from saymotion.training.data import TextEmbeddingCache, length_buckets
from saymotion.training.loop import dict_differences, optimisation_step, require_no_differences, seed_step, set_learning_rate

# Keys that may change between a run and its resumption without changing what is learned.
RESUMABLE_CHANGES = {"steps", "log_every", "checkpoint_every", "eval_every", "eval_batches"}
VAL_SEED = 20250101  # the validation texts are the same at every evaluation
TEXT_CACHE = "text-embeddings.npz"


@dataclass
class TrainResult:
    path: Path  # the finished evaluator, or last.pt when stopped early
    step: int
    finished: bool
    metrics: dict[str, float]


@dataclass
class LabelledClips:
    """Clips with their description embeddings and label indices (-1: a label unseen in training)."""

    features: list[np.ndarray]  # (T_i, D) float32
    sentences: list[np.ndarray]  # per clip (K_i, 384): MiniLM embeddings of its descriptions
    actions: np.ndarray
    styles: np.ndarray

    @classmethod
    def build(cls, samples: list[ClipSample], embeddings: dict[str, np.ndarray], actions: list[str], styles: list[str],
              transform: Callable[[np.ndarray], np.ndarray] | None = None) -> LabelledClips:  # fmt: skip
        return cls(
            features=[(transform(s.features) if transform else s.features).astype(np.float32) for s in samples],
            sentences=[np.stack([embeddings[t] for t in s.texts]) for s in samples],
            actions=np.array([actions.index(s.action) if s.action in actions else -1 for s in samples]),
            styles=np.array([styles.index(s.style) if s.style in styles else -1 for s in samples]),
        )


@dataclass
class Batch:
    motion: torch.Tensor  # (B, T, D) normalised, zero-padded
    lengths: torch.Tensor  # (B,)
    sentences: torch.Tensor  # (B, 384)
    actions: torch.Tensor  # (B,)
    styles: torch.Tensor  # (B,)


class BatchSampler:
    """Batches of distinct clips of similar length (every clip equally likely to be drawn first)."""

    def __init__(self, clips: LabelledClips, max_frames: int, batch_size: int):
        self.clips = clips
        self.max_frames = max_frames
        # Buckets of twice the batch size: batches vary, and padding stays small.
        self.buckets = length_buckets([len(f) for f in clips.features], 2 * batch_size)
        self.bucket_of = np.empty(len(clips.features), np.int64)
        for index, bucket in enumerate(self.buckets):
            self.bucket_of[bucket] = index

    def sample(self, rng: np.random.Generator, size: int, device: torch.device) -> Batch:
        bucket = self.buckets[self.bucket_of[rng.integers(0, len(self.clips.features))]]
        rows = rng.choice(bucket, min(size, len(bucket)), replace=False)
        motions = [self._crop(self.clips.features[r], rng) for r in rows]
        sentences = np.stack([self.clips.sentences[r][rng.integers(0, len(self.clips.sentences[r]))] for r in rows])
        lengths = [len(m) for m in motions]
        padded = np.zeros((len(rows), max(lengths), motions[0].shape[1]), np.float32)
        for row, motion in enumerate(motions):
            padded[row, : len(motion)] = motion
        return Batch(
            torch.from_numpy(padded).to(device), torch.tensor(lengths, device=device),
            torch.from_numpy(sentences).to(device), torch.from_numpy(self.clips.actions[rows]).to(device),
            torch.from_numpy(self.clips.styles[rows]).to(device),
        )  # fmt: skip

    def _crop(self, features: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if len(features) <= self.max_frames:
            return features
        start = int(rng.integers(0, len(features) - self.max_frames + 1))
        return features[start : start + self.max_frames]


def contrastive_loss(
    motion: torch.Tensor, text: torch.Tensor, sentences: torch.Tensor, temperature: float, false_negative_similarity: float
) -> torch.Tensor:
    """Symmetric InfoNCE over in-batch negatives (unit embeddings, row i of each matching), leaving
    out the negatives whose texts are near-duplicates of the positive's."""
    logits = motion @ text.T / temperature
    similar = sentences @ sentences.T >= false_negative_similarity
    similar.fill_diagonal_(False)
    logits = logits.masked_fill(similar, float("-inf"))
    targets = torch.arange(len(motion), device=motion.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))


def batch_loss(model: EvaluatorModel, batch: Batch, config: EvaluatorConfig) -> tuple[torch.Tensor, dict[str, float]]:
    motion = model.motion(batch.motion, batch.lengths)
    text = model.embed_text(batch.sentences)
    nce = contrastive_loss(motion, text, batch.sentences, config.temperature, config.false_negative_similarity)
    action_logits, style_logits = model.classify(motion)
    action = F.cross_entropy(action_logits, batch.actions)
    style = F.cross_entropy(style_logits, batch.styles)
    loss = nce + config.classifier_weight * (action + style)
    return loss, {"contrastive": nce.item(), "action_ce": action.item(), "style_ce": style.item()}


class EvaluatorTrainer:
    """The data, model and validation of one evaluator training run."""

    def __init__(self, config: EvaluatorConfig, dataset: PreparedDataset, out_dir: Path, device: torch.device):
        self.config = config
        self.device = device
        self.mean, self.std = np.asarray(dataset.mean), np.asarray(dataset.std)
        self.data_sha256 = prepared_sha256(dataset.root)
        train = _samples(dataset, "train", config.mirror)
        val = _samples(dataset, "val", mirror=False)
        self.actions = sorted({s.action for s in train})
        self.styles = sorted({s.style for s in train})
        embeddings = TextEmbeddingCache(out_dir / TEXT_CACHE).embed([t for s in train + val for t in s.texts])
        self.train = LabelledClips.build(train, embeddings, self.actions, self.styles,
                                         transform=lambda features: (features - self.mean) / self.std)  # fmt: skip
        self.val = LabelledClips.build(val, embeddings, self.actions, self.styles)  # raw: the Evaluator normalises
        self.sampler = BatchSampler(self.train, config.max_frames, config.train.batch_size)
        torch.manual_seed(config.seed)  # initial weights depend on the seed only
        self.model = build_evaluator(config, len(self.mean), self.actions, self.styles).to(device)

    def checkpoint(self, step: int, scores: dict[str, float]) -> EvaluatorCheckpoint:
        return EvaluatorCheckpoint(self.config, self.model, self.mean, self.std, self.actions, self.styles,
                                   self.data_sha256, step, scores)  # fmt: skip

    def validate(self, step: int) -> dict[str, float]:
        """Text -> motion retrieval, contrastive loss and classifier accuracy on the val split."""
        rng = np.random.default_rng(VAL_SEED)
        sentences = np.stack([s[rng.integers(0, len(s))] for s in self.val.sentences])
        evaluator = Evaluator(self.checkpoint(step, {}), self.device)
        motions = evaluator.evaluate_motions(self.val.features)
        texts = evaluator.embed_sentences(sentences)
        self.model.train()  # the Evaluator switched it to eval mode
        batch = min(metrics.R_PRECISION_BATCH, len(texts))
        top = metrics.r_precision(texts, motions.embeddings, batch_size=batch)
        nce = contrastive_loss(*(torch.from_numpy(a) for a in (motions.embeddings, texts, sentences)),
                               self.config.temperature, self.config.false_negative_similarity)  # fmt: skip
        return {
            "val_contrastive": nce.item(),
            "val_r_precision_top1": float(top[0]),
            "val_r_precision_top3": float(top[2]),
            "val_action_accuracy": _accuracy(motions.actions, self.actions, self.val.actions),
            "val_style_accuracy": _accuracy(motions.styles, self.styles, self.val.styles),
        }


def _samples(dataset: PreparedDataset, split: str, mirror: bool) -> list[ClipSample]:
    samples = [s for s in dataset.samples(split, mirror=mirror) if s.texts]
    if not samples:
        raise DataError(f"{dataset.root}: the {split} split has no described clips to train the evaluator on")
    return samples


def _accuracy(predicted: list[str], names: list[str], targets: np.ndarray) -> float:
    return float(np.mean([names.index(p) == t for p, t in zip(predicted, targets)]))


def train_evaluator(
    config: EvaluatorConfig, dataset: PreparedDataset, out_dir: Path, device: torch.device,
    *, stop_at: int | None = None, progress: bool = True,
) -> TrainResult:  # fmt: skip
    """Train until config.train.steps (or `stop_at`), resuming from out_dir/last.pt."""
    final_path, last_path = out_dir / FINAL, out_dir / LAST
    if final_path.is_file():
        finished = load_evaluator_checkpoint(final_path)
        require_no_differences(final_path, _differences(finished.config, config, ignore=set()))
        return TrainResult(final_path, finished.step, True, finished.metrics)
    train = config.train
    trainer = EvaluatorTrainer(config, dataset, out_dir, device)
    optimizer = torch.optim.AdamW(trainer.model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    start = _resume(trainer, optimizer, last_path)
    end = max(start, min(train.steps, stop_at)) if stop_at is not None else train.steps
    train_log, eval_log = CsvLog(out_dir / "train.csv", start), CsvLog(out_dir / "eval.csv", start)
    scores: dict[str, float] = {}
    bar = tqdm(total=end, initial=start, desc="evaluator", disable=not progress, dynamic_ncols=True)
    tick = time.perf_counter()
    for step in range(start, end):
        rng = seed_step(config.seed, 0, step)
        lr = set_learning_rate(optimizer, step, train)
        trainer.model.train()
        loss, values = batch_loss(trainer.model, trainer.sampler.sample(rng, train.batch_size, device), config)
        optimisation_step(trainer.model, optimizer, loss, values, train, "evaluator", "train.lr", step)
        done = step + 1
        bar.update(1)
        if done % train.log_every == 0 or done == end:
            seconds = (time.perf_counter() - tick) / (done - start)
            train_log.add(done, {"loss": loss.item(), "lr": lr, **values, "sec_per_step": seconds})
            train_log.flush()
            bar.set_postfix(loss=f"{loss.item():.4f}")
        if (train.eval_every and done % train.eval_every == 0) or done == train.steps:
            scores = trainer.validate(done)
            eval_log.add(done, scores)
            eval_log.flush()
        if done % train.checkpoint_every == 0 or done == end:
            checkpoint = trainer.checkpoint(done, scores)
            checkpoint.training_state = {"optimizer": optimizer.state_dict()}
            save_evaluator(last_path, checkpoint, resumable=True)
    bar.close()
    if end < train.steps:
        return TrainResult(last_path, end, False, scores)
    if not scores:  # resumed after the last step but before the final file was written
        scores = trainer.validate(train.steps)
    save_evaluator(final_path, trainer.checkpoint(train.steps, scores), resumable=False)
    return TrainResult(final_path, train.steps, True, scores)


def _resume(trainer: EvaluatorTrainer, optimizer: torch.optim.Optimizer, last_path: Path) -> int:
    if not last_path.is_file():
        return 0
    saved = load_evaluator_checkpoint(last_path, trainer.device)
    require_no_differences(last_path, _differences(saved.config, trainer.config, ignore=RESUMABLE_CHANGES))
    if saved.training_state is None:
        raise CheckpointError(f"{last_path} holds no optimizer state and cannot be resumed")
    if (saved.actions, saved.styles, saved.data_sha256) != (trainer.actions, trainer.styles, trainer.data_sha256):
        raise CheckpointError(f"{last_path} was trained on other data; train into a new --out folder")
    trainer.model.load_state_dict(saved.model.state_dict())
    optimizer.load_state_dict(saved.training_state["optimizer"])
    return saved.step


def _differences(saved: EvaluatorConfig, current: EvaluatorConfig, ignore: set[str]) -> list[str]:
    return dict_differences(dataclasses.asdict(saved), dataclasses.asdict(current), ignore)
