"""Training data, all held in memory: normalised motion windows for the tokenizer; code sequences
with their spoken and written instructions for the transformers and the length predictor.

Batches are drawn with a numpy Generator handed in by the training loop, so they are reproducible
from (seed, rank, step) alone.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from saymotion.config import AUDIO, TEXT, ExperimentConfig
from saymotion.errors import DataError
from saymotion.fileio import save_npz
from saymotion.models.conditioning import ConditionBatch
from saymotion.representation import mirror_features

MIRROR_SUFFIX = "~mirror"
# Clips per length bucket: the 2,460 Bandai training clips give ~40 buckets whose lengths differ
# by a few tokens at most.
BUCKET_SIZE = 64


@dataclass
class MotionSet:
    """The clips of one split, normalised, each cut to a multiple of the tokenizer's downsampling."""

    ids: list[str]
    features: list[np.ndarray]  # (T_i, D) float32

    @classmethod
    def load(cls, dataset, split: str, mean: np.ndarray, std: np.ndarray, multiple: int, mirror: bool = False) -> "MotionSet":
        """`mirror` adds every clip's left/right mirror image (id suffixed MIRROR_SUFFIX)."""
        ids, features = [], []
        for clip in dataset.split_ids(split):
            raw = dataset.load_features(clip)
            usable = len(raw) - len(raw) % multiple
            if usable == 0:
                continue
            versions = [(clip, raw[:usable])]
            if mirror:
                versions.append((clip + MIRROR_SUFFIX, mirror_features(raw[:usable], dataset.skeleton)))
            for name, values in versions:
                ids.append(name)
                features.append(((values - mean) / std).astype(np.float32))
        return cls(ids, features)

    def __len__(self) -> int:
        return len(self.ids)


class WindowSampler:
    """Fixed-length windows drawn uniformly over all frames of a split (clips shorter than the window
    are left out), gathered from one contiguous array."""

    def __init__(self, motions: MotionSet, window: int):
        clips = [f for f in motions.features if len(f) >= window]
        if not clips:
            raise DataError(f"no training clip is at least {window} frames long (data.window_frames)")
        self.window = window
        self.frames = np.concatenate(clips)
        offsets = np.cumsum([0] + [len(f) for f in clips[:-1]])
        self.starts = np.concatenate([o + np.arange(len(f) - window + 1) for o, f in zip(offsets, clips)])

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        starts = self.starts[rng.integers(0, len(self.starts), size)]
        return self.frames[starts[:, None] + np.arange(self.window)]


@dataclass
class ClipConditions:
    """For each clip, its spoken instructions (speech features with the embedding of the words
    spoken) and the embeddings of its texts."""

    audio: list[list[tuple[np.ndarray, np.ndarray | None]]]  # per clip: ((F, A) float16, (E,) or None)
    text: list[list[np.ndarray]]  # per clip: (E,) float32 arrays
    audio_dim: int
    # Per clip and spoken instruction, what a fixed speech side hears of it, (tokens (K, dim), meaning
    # (E,) or None), when heard in advance (`CodeStage.hear_speech_in_advance`); batches then carry
    # these instead of the speech features.
    heard: list[list[tuple[np.ndarray, np.ndarray | None]]] | None = None

    def coverage(self) -> dict[str, int]:
        return {
            "clips": len(self.audio),
            "with_audio": sum(1 for a in self.audio if a),
            "with_text": sum(1 for t in self.text if t),
        }


@dataclass
class CodeSplit:
    """One split's clips for the generator stages: code sequences, instructions and action labels."""

    codes: list[np.ndarray]  # (N_i, Q) int16
    conditions: ClipConditions
    actions: list[str]


@dataclass
class CodeBatch:
    codes: torch.Tensor  # (B, N, Q) long
    lengths: torch.Tensor  # (B,) token counts
    cond: ConditionBatch

    def to(self, device: torch.device) -> "CodeBatch":
        return CodeBatch(self.codes.to(device), self.lengths.to(device), self.cond.to(device))


class CodeSampler:
    """Batches of (codes, token count, condition) for the transformers and the length predictor.

    Each batch is drawn from clips of similar length (each clip still as likely as its weight), so
    little compute goes into padding; with data.length_buckets or `by_length` false, from all clips. Clips are
    equally likely unless `actions` is given and data.balance_actions > 0 (`action_weights`). Sequences
    longer than `max_tokens` are cropped at a random offset. For each example one spoken and one
    written instruction of its clip are drawn, then each modality is dropped independently with
    its configured probability (or always, if the model does not use it).
    """

    def __init__(self, codes: list[np.ndarray], conditions: ClipConditions, config: ExperimentConfig, max_tokens: int,
                 actions: Sequence[str] | None = None, by_length: bool = True):
        if not codes:
            raise DataError("no clips to train on")
        self.codes = codes
        balance = config.data.balance_actions
        self.weights = action_weights(actions, balance) if actions is not None and balance > 0 else None
        bucket_size = BUCKET_SIZE if by_length and config.data.length_buckets else len(codes)
        self.buckets = length_buckets([min(len(c), max_tokens) for c in codes], bucket_size)
        self.bucket_of = np.empty(len(codes), np.int64)
        for index, bucket in enumerate(self.buckets):
            self.bucket_of[bucket] = index
        self.conditions = conditions
        self.max_tokens = max_tokens
        self.use_audio = AUDIO in config.condition.modalities
        self.use_text = TEXT in config.condition.modalities
        self.drop_audio = config.condition.drop_audio
        self.drop_text = config.condition.drop_text
        self.max_audio_frames = config.data.max_audio_frames

    def sample(self, rng: np.random.Generator, size: int, dropout: bool = True) -> CodeBatch:
        clips = self._clips(rng, size)
        sequences = [self._crop(self.codes[c], rng) for c in clips]
        spoken_rows = [self._pick(len(self.conditions.audio[c]), rng, self.use_audio, self.drop_audio if dropout else 0.0)
                       for c in clips]
        text_rows = [self._pick(len(self.conditions.text[c]), rng, self.use_text, self.drop_text if dropout else 0.0)
                     for c in clips]
        text = [None if row is None else self.conditions.text[c][row] for c, row in zip(clips, text_rows)]
        audio = [None if row is None else self.conditions.audio[c][row] for c, row in zip(clips, spoken_rows)]
        spoken = [None if a is None else a[1] for a in audio]
        heard = None
        if self.conditions.heard is not None:
            heard = [None if row is None else self.conditions.heard[c][row] for c, row in zip(clips, spoken_rows)]
            unused = np.zeros((1, self.conditions.audio_dim), np.float32)  # the features are not read again
            audio = [None if a is None else unused for a in audio]
        else:
            audio = [None if a is None else a[0][: self.max_audio_frames].astype(np.float32) for a in audio]
        return self._collate(sequences, audio, text, spoken, heard)

    def _clips(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """`size` clips of the bucket of one drawn clip; drawing the bucket by a clip and then clips
        within it by their weights keeps each clip's overall chance its weight."""
        if self.weights is None:
            bucket = self.buckets[self.bucket_of[rng.integers(0, len(self.codes))]]
            return bucket[rng.integers(0, len(bucket), size)]
        bucket = self.buckets[self.bucket_of[rng.choice(len(self.codes), p=self.weights)]]
        within = self.weights[bucket]
        return rng.choice(bucket, size, p=within / within.sum())

    def _crop(self, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if len(codes) <= self.max_tokens:
            return codes
        start = int(rng.integers(0, len(codes) - self.max_tokens + 1))
        return codes[start : start + self.max_tokens]

    @staticmethod
    def _pick(count: int, rng: np.random.Generator, enabled: bool, drop: float) -> int | None:
        """Which of `count` instructions an example gets, or None when the modality is off or dropped."""
        # Always draw both numbers so the random stream does not depend on what is available.
        index, roll = int(rng.integers(0, max(count, 1))), rng.random()
        if not enabled or not count or roll < drop:
            return None
        return index

    def _collate(self, sequences: list[np.ndarray], audio: list, text: list, spoken: list, heard: list | None) -> CodeBatch:
        lengths = [len(s) for s in sequences]
        padded = np.zeros((len(sequences), max(lengths), sequences[0].shape[1]), np.int64)
        for row, sequence in enumerate(sequences):
            padded[row, : len(sequence)] = sequence
        cond = ConditionBatch.from_arrays(audio, text, self.conditions.audio_dim, spoken_text=spoken, heard=heard)
        return CodeBatch(torch.from_numpy(padded), torch.tensor(lengths), cond)


@dataclass
class UtteranceSet:
    """The listener's data: speech features of utterances and the embeddings of their words."""

    features: list[np.ndarray]  # per utterance (F, A), memory-mapped
    spoken: np.ndarray  # (N, E) MiniLM embedding of each utterance's words
    mirrored: np.ndarray  # (N, E) the same with left and right exchanged; zeros where no side is named
    texts: list[str]
    audio_dim: int
    max_audio_frames: int

    def __len__(self) -> int:
        return len(self.features)

    def sample(self, rng: np.random.Generator, size: int) -> "UtteranceBatch":
        """A batch of utterances drawn uniformly (every batch mixes actions)."""
        return self.batch(rng.integers(0, len(self), size))

    def batch(self, rows: Sequence[int]) -> "UtteranceBatch":
        audio = [self.features[row][: self.max_audio_frames].astype(np.float32) for row in rows]
        cond = ConditionBatch.from_arrays(audio, [None] * len(audio), self.audio_dim,
                                          spoken_text=[self.spoken[row] for row in rows])
        return UtteranceBatch(cond, torch.from_numpy(self.mirrored[np.asarray(rows)]))


@dataclass
class UtteranceBatch:
    cond: ConditionBatch
    mirrored: torch.Tensor  # (B, E)

    def to(self, device: torch.device) -> "UtteranceBatch":
        return UtteranceBatch(self.cond.to(device), self.mirrored.to(device))


def action_weights(actions: Sequence[str], balance: float) -> np.ndarray:
    """Each clip's probability, proportional to (clips of its action)^-balance: an action with n
    clips is drawn in proportion to n^(1 - balance)."""
    counts = Counter(actions)
    weights = np.array([counts[action] ** -balance for action in actions], np.float64)
    return weights / weights.sum()


def length_buckets(lengths: Sequence[int], size: int) -> list[np.ndarray]:
    """Clip indices sorted by length, cut into consecutive groups of `size` (the last one larger)."""
    order = np.argsort(lengths, kind="stable")
    count = max(len(order) // size, 1)
    return [np.asarray(group) for group in np.array_split(order, count)]


# --- text embeddings ----------------------------------------------------------------------------


class TextEmbeddingCache:
    """MiniLM embeddings of every text used in training, computed once and kept in an .npz file."""

    def __init__(self, path: Path):
        self.path = path
        self.table: dict[str, np.ndarray] = {}
        if path.is_file():
            with np.load(path) as stored:
                self.table = dict(zip(stored["keys"].tolist(), stored["embeddings"]))

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]

    def embed(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Map every text to its embedding, encoding (and saving) only the ones not cached yet."""
        missing = sorted({t for t in texts if self.key(t) not in self.table})
        if missing:
            from saymotion.models.minilm import SentenceEncoder

            for text, embedding in zip(missing, SentenceEncoder().encode(missing)):
                self.table[self.key(text)] = embedding
            keys = sorted(self.table)
            save_npz(self.path, keys=np.array(keys), embeddings=np.stack([self.table[k] for k in keys]))
        return {t: self.table[self.key(t)] for t in texts}
