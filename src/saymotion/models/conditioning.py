"""Conditions: spoken instruction (speech-encoder frames) and/or text (frozen MiniLM sentence
embedding, see saymotion.models.minilm).

The audio path is the paper's memory-retrieval module (eq. 1): speech frames become queries into a
bank of learnable memory tokens, R = softmax(Q M^T / sqrt(d)) M, followed by position encodings,
a small transformer encoder and pooling to a fixed number of tokens. The alternatives of the
paper's Table 6 (average pooling, conv1d, transformer with a class token) are config options.

Every model gets its condition as a fixed-length run of tokens: the audio tokens, then one text
token. A modality that is absent or dropped is replaced by its learned null tokens, so one model
serves audio, text, both, or neither (the unconditional branch of classifier-free guidance).

Meaning token (condition.align_weight > 0): from the pooled audio tokens the encoder also predicts
a sentence embedding, trained towards the MiniLM embedding of the words spoken (cosine loss; the
words are needed only in training, never at generation). That prediction goes through the same
projection as a written instruction and becomes one more audio token, so what the model learns
from text carries over to speech. With the meaning token the audio encoder learns from this
alignment alone and the motion loss trains everything after it; without it, the words of a spoken
instruction must be learnt from the motion loss, which 3,600 CPU steps did not manage
(docs/design.md).

Listener (condition.listener): the audio encoder and meaning head are trained first in a stage of
their own (`SpeechListener`, on the alignment alone, over batches of all utterances), then copied
into every conditioned model and frozen there.

Frame reader (condition.meaning_layers > 0): the meaning head reads the speech frames through a
small transformer of its own instead of the audio tokens. The listener is then the meaning head
alone, independent of the audio encoder (which the motion loss trains, as in the paper), so a
better listener can replace the one a model was trained with (`saymotion train export
--listener-run`).

Known meanings (sample.meaning_snap, saymotion.known_meanings): at generation the heard meaning can
be drawn part of the way towards the embeddings of the training instructions nearest it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from saymotion.config import AUDIO, TEXT, ConditionConfig
from saymotion.models.common import frame_pool, padding_mask, segment_pool, sinusoidal_positions, transformer_encoder
from saymotion.models.minilm import TEXT_EMBEDDING_DIM



@dataclass
class ConditionBatch:
    audio: torch.Tensor  # (B, F, A) speech features, zero-padded; one zero frame where there is none
    audio_lengths: torch.Tensor  # (B,) valid frames, >= 1
    text: torch.Tensor  # (B, E) sentence embeddings, zeros where there is none
    use_audio: torch.Tensor  # (B,) bool
    use_text: torch.Tensor  # (B,) bool
    # (B, E) MiniLM embedding of the words spoken, for the alignment loss; zeros where unknown
    # (always at generation).
    spoken_text: torch.Tensor
    # What a fixed speech side made of the speech, heard once before training (`hear_utterances`):
    # audio tokens (B, K, dim) and meaning (B, E, None without a meaning head). `audio` is then unused.
    heard_tokens: torch.Tensor | None = None
    heard_meaning: torch.Tensor | None = None
    # (B,) how far each row's heard meaning moves towards the known meanings (sample.meaning_snap;
    # `drawn_to_known`); None: as heard.
    meaning_snap: torch.Tensor | None = None

    @classmethod
    def from_arrays(
        cls,
        audio: Sequence[np.ndarray | None],
        text: Sequence[np.ndarray | None],
        audio_dim: int,
        text_dim: int = TEXT_EMBEDDING_DIM,
        spoken_text: Sequence[np.ndarray | None] | None = None,
        heard: Sequence[tuple[np.ndarray, np.ndarray | None] | None] | None = None,
    ) -> "ConditionBatch":
        """Collate per-example speech features (F_i, A) and text embeddings (E,); None marks a missing
        modality. `spoken_text` holds the embeddings of the words spoken, where known (training);
        `heard` what a fixed speech side made of each example's speech (zeros where there is none)."""
        if len(audio) != len(text) or (spoken_text is not None and len(spoken_text) != len(audio)):
            raise ValueError("audio and text lists differ in length")
        lengths = [1 if a is None else max(len(a), 1) for a in audio]
        padded = np.zeros((len(audio), max(lengths, default=1), audio_dim), np.float32)
        for row, features in enumerate(audio):
            if features is not None:
                padded[row, : len(features)] = features
        return cls(
            audio=torch.from_numpy(padded),
            audio_lengths=torch.tensor(lengths),
            text=torch.from_numpy(_stack_embeddings(text, text_dim)),
            use_audio=torch.tensor([a is not None for a in audio]),
            use_text=torch.tensor([t is not None for t in text]),
            spoken_text=torch.from_numpy(_stack_embeddings(spoken_text or [None] * len(audio), text_dim)),
            **_stack_heard(heard),
        )

    def map(self, function: Callable[[torch.Tensor], torch.Tensor]) -> "ConditionBatch":
        """The batch with `function` applied to each of its tensors (to move or index them all)."""
        values = (getattr(self, name) for name in self.__dataclass_fields__)
        return ConditionBatch(*(None if value is None else function(value) for value in values))

    def to(self, device: torch.device | str) -> "ConditionBatch":
        return self.map(lambda tensor: tensor.to(device))

    def restricted(self, audio: bool, text: bool) -> "ConditionBatch":
        """The same batch with modalities switched off where `audio`/`text` is False."""
        return replace(self, use_audio=self.use_audio & audio, use_text=self.use_text & text)

    @staticmethod
    def cat(batches: Sequence["ConditionBatch"]) -> "ConditionBatch":
        frames = max(b.audio.shape[1] for b in batches)
        audio = torch.cat([nn.functional.pad(b.audio, (0, 0, 0, frames - b.audio.shape[1])) for b in batches])
        return ConditionBatch(
            audio=audio,
            audio_lengths=torch.cat([b.audio_lengths for b in batches]),
            text=torch.cat([b.text for b in batches]),
            use_audio=torch.cat([b.use_audio for b in batches]),
            use_text=torch.cat([b.use_text for b in batches]),
            spoken_text=torch.cat([b.spoken_text for b in batches]),
            heard_tokens=_cat_present([b.heard_tokens for b in batches]),
            heard_meaning=_cat_present([b.heard_meaning for b in batches]),
            meaning_snap=_cat_snap(batches),
        )


def _cat_snap(batches: Sequence["ConditionBatch"]) -> torch.Tensor | None:
    """The batches' meaning_snap joined, 0 for the rows of a batch without one; None when none has one."""
    if all(b.meaning_snap is None for b in batches):
        return None
    return torch.cat([b.use_audio.new_zeros(len(b.use_audio), dtype=torch.float32) if b.meaning_snap is None
                      else b.meaning_snap for b in batches])


def _cat_present(tensors: Sequence[torch.Tensor | None]) -> torch.Tensor | None:
    """The tensors joined, or None when none is there; a mix cannot be joined."""
    if all(tensor is None for tensor in tensors):
        return None
    if any(tensor is None for tensor in tensors):
        raise ValueError("cannot join condition batches heard in advance with batches that were not")
    return torch.cat(list(tensors))


def _stack_heard(heard: Sequence[tuple[np.ndarray, np.ndarray | None] | None] | None) -> dict[str, torch.Tensor | None]:
    """heard_tokens and heard_meaning of a batch from per-example (tokens, meaning) or None (zeros)."""
    present = [example for example in heard or () if example is not None]
    if not present:
        return {"heard_tokens": None, "heard_meaning": None}
    tokens = np.zeros((len(heard), *present[0][0].shape), np.float32)
    for row, example in enumerate(heard):
        if example is not None:
            tokens[row] = example[0]
    meaning = present[0][1]
    meanings = None if meaning is None else _stack_embeddings([None if e is None else e[1] for e in heard], len(meaning))
    return {"heard_tokens": torch.from_numpy(tokens), "heard_meaning": None if meanings is None else torch.from_numpy(meanings)}


def _stack_embeddings(embeddings: Sequence[np.ndarray | None], dim: int) -> np.ndarray:
    """(B, dim) rows of the given embeddings, zeros for None."""
    stacked = np.zeros((len(embeddings), dim), np.float32)
    for row, embedding in enumerate(embeddings):
        if embedding is not None:
            stacked[row] = embedding
    return stacked


# --- audio encoders: (B, F, A) frames + lengths -> (B, K, dim) tokens -----------------------------


class MemoryRetrievalEncoder(nn.Module):
    """Paper eq. 1: queries from the speech frames retrieve from a learnable memory bank."""

    def __init__(self, config: ConditionConfig, audio_dim: int):
        super().__init__()
        self.tokens = config.audio_tokens
        self.query = nn.Linear(audio_dim, config.memory_dim)
        self.memory = nn.Parameter(torch.randn(config.memory_size, config.memory_dim) / math.sqrt(config.memory_dim))
        self.proj = nn.Linear(config.memory_dim, config.dim)
        self.encoder = transformer_encoder(
            config.dim, config.encoder_heads, 2 * config.dim, config.encoder_layers, config.dropout
        )

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        queries = self.query(frames)
        attention = torch.softmax(queries @ self.memory.t() / math.sqrt(self.memory.shape[1]), dim=-1)
        retrieved = self.proj(attention @ self.memory)
        hidden = retrieved + sinusoidal_positions(frames.shape[1], retrieved.shape[-1], frames.device)
        hidden = self.encoder(hidden, src_key_padding_mask=padding_mask(lengths, frames.shape[1]))
        return segment_pool(hidden, lengths, self.tokens)


class AveragePoolEncoder(nn.Module):
    """Table 6 baseline: project, then average-pool to a fixed number of tokens."""

    def __init__(self, config: ConditionConfig, audio_dim: int):
        super().__init__()
        self.tokens = config.audio_tokens
        self.proj = nn.Linear(audio_dim, config.dim)
        self.token_positions = nn.Parameter(torch.zeros(config.audio_tokens, config.dim))

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return segment_pool(self.proj(frames), lengths, self.tokens) + self.token_positions


class Conv1dEncoder(nn.Module):
    """Table 6 baseline: a 1D convolution stack (two stride-2 layers: 4x shorter), then pooling."""

    STRIDES = (1, 2, 2)

    def __init__(self, config: ConditionConfig, audio_dim: int):
        super().__init__()
        self.tokens = config.audio_tokens
        widths = [audio_dim] + [config.dim] * len(self.STRIDES)
        self.convs = nn.ModuleList(
            nn.Conv1d(widths[i], widths[i + 1], 3 if stride == 1 else 4, stride=stride, padding=1)
            for i, stride in enumerate(self.STRIDES)
        )

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        hidden = frames.transpose(1, 2)
        for index, (conv, stride) in enumerate(zip(self.convs, self.STRIDES)):
            # Zero everything past the end before each layer, so padding never leaks into valid frames.
            hidden = hidden * (~padding_mask(lengths, hidden.shape[-1]))[:, None].to(hidden.dtype)
            hidden = conv(hidden)
            hidden = nn.functional.gelu(hidden) if index < len(self.convs) - 1 else hidden
            # The output frames a sequence of exactly `lengths` frames would have.
            lengths = ((lengths + 2 * conv.padding[0] - conv.kernel_size[0]) // stride + 1).clamp(min=1)
        return segment_pool(hidden.transpose(1, 2), lengths, self.tokens)


class ClassTokenEncoder(nn.Module):
    """Table 6 baseline: a transformer encoder whose class token is the (single) condition token."""

    def __init__(self, config: ConditionConfig, audio_dim: int):
        super().__init__()
        self.tokens = 1
        self.proj = nn.Linear(audio_dim, config.dim)
        self.cls = nn.Parameter(torch.randn(1, 1, config.dim) * 0.02)
        self.encoder = transformer_encoder(
            config.dim, config.encoder_heads, 2 * config.dim, config.encoder_layers, config.dropout
        )

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        hidden = self.proj(frames) + sinusoidal_positions(frames.shape[1], self.cls.shape[-1], frames.device)
        hidden = torch.cat([self.cls.expand(frames.shape[0], -1, -1), hidden], 1)
        mask = padding_mask(lengths + 1, hidden.shape[1])
        return self.encoder(hidden, src_key_padding_mask=mask)[:, :1]


class FrameReader(nn.Module):
    """The meaning head's own reading of the speech (condition.meaning_layers > 0): a transformer
    over the frames, mean-pooled to (B, dim). Through the memory-retrieval tokens the listener's
    prediction stayed at cosine 0.71 to the words' embedding (docs/design.md)."""

    def __init__(self, config: ConditionConfig, audio_dim: int):
        super().__init__()
        self.proj = nn.Linear(audio_dim, config.dim)
        self.encoder = transformer_encoder(
            config.dim, config.encoder_heads, 2 * config.dim, config.meaning_layers, config.dropout
        )

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        hidden = self.proj(frames) + sinusoidal_positions(frames.shape[1], self.proj.out_features, frames.device)
        hidden = self.encoder(hidden, src_key_padding_mask=padding_mask(lengths, frames.shape[1]))
        return segment_pool(hidden, lengths, 1)[:, 0]


AUDIO_ENCODER_CLASSES = {
    "memory": MemoryRetrievalEncoder,
    "avgpool": AveragePoolEncoder,
    "conv1d": Conv1dEncoder,
    "transformer_cls": ClassTokenEncoder,
}


class ConditionEncoder(nn.Module):
    """ConditionBatch -> (B, num_tokens, config.dim): audio tokens and the meaning token (if
    configured), then a text token."""

    def __init__(self, config: ConditionConfig, audio_dim: int, text_dim: int = TEXT_EMBEDDING_DIM):
        super().__init__()
        self.audio_pool = config.audio_pool
        self.align_weight = config.align_weight
        self.meaning_noise = config.meaning_noise
        self.uses_text = TEXT in config.modalities
        self.audio: nn.Module | None = None
        self.meaning: nn.Module | None = None
        self.meaning_frames: FrameReader | None = None
        audio_tokens = 0
        if AUDIO in config.modalities:
            self.audio = AUDIO_ENCODER_CLASSES[config.audio_encoder](config, audio_dim)
            audio_tokens = self.audio.tokens
            if config.has_meaning_token:
                self.meaning = meaning_head(config, audio_dim, text_dim)
                self.meaning_frames = FrameReader(config, audio_dim) if config.meaning_layers else None
                audio_tokens += 1
            self.null_audio = nn.Parameter(torch.zeros(audio_tokens, config.dim))
            self.audio_type = nn.Parameter(torch.randn(config.dim) * 0.02)
        if self.uses_text or self.meaning is not None:
            self.text = nn.Sequential(nn.Linear(text_dim, config.dim), nn.GELU(), nn.Linear(config.dim, config.dim))
        if self.uses_text:
            self.null_text = nn.Parameter(torch.zeros(1, config.dim))
            self.text_type = nn.Parameter(torch.randn(config.dim) * 0.02)
        self.num_tokens = audio_tokens + int(self.uses_text)
        self.held_in_eval: set[str] = set()  # frozen parts whose dropout stays off while the rest trains
        # Not saved with the weights: a model folder's meanings.pt, given by `know_meanings`.
        self.register_buffer("known_meanings", None, persistent=False)

    def forward(self, batch: ConditionBatch) -> torch.Tensor:
        return self.encode(batch)[0]

    def encode(self, batch: ConditionBatch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The condition tokens, and the predicted meaning (B, E) of the audio (None without a meaning token)."""
        parts, meaning = [], None
        if self.audio is not None:
            tokens, meaning = self._heard(batch)
            if meaning is not None:
                # Detached: the meaning (and an audio encoder it reads) learns from the alignment loss
                # alone. Trained by the motion loss as well, the audio encoder served that loss and the
                # alignment did not fall in 1,000 steps.
                tokens = tokens if self.meaning_frames is not None else tokens.detach()
                read = perturbed(meaning.detach(), self.meaning_noise) if self.training else meaning.detach()
                tokens = torch.cat([tokens, self.text(read)[:, None]], 1)
            tokens = torch.where(batch.use_audio[:, None, None], tokens, self.null_audio.to(tokens.dtype))
            parts.append(tokens + self.audio_type)
        if self.uses_text:
            token = self.text(batch.text)[:, None]
            token = torch.where(batch.use_text[:, None, None], token, self.null_text.to(token.dtype))
            parts.append(token + self.text_type)
        return torch.cat(parts, 1), meaning

    def hear(self, batch: ConditionBatch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What the speech side makes of the batch's speech: audio tokens (B, K, dim) and, with a
        meaning head, the predicted meaning (B, E), drawn towards the known meanings where the batch
        asks for it (`meaning_snap`)."""
        tokens, meaning = listen(self.audio, self.meaning, self.meaning_frames, self.audio_pool, batch)
        if meaning is None or batch.meaning_snap is None or not bool((batch.meaning_snap > 0).any()):
            return tokens, meaning
        if self.known_meanings is None:
            raise ValueError("a batch with meaning_snap needs the known meanings (know_meanings)")
        return tokens, drawn_to_known(meaning, self.known_meanings, batch.meaning_snap)

    def know_meanings(self, known: torch.Tensor) -> None:
        """The known meanings (N, E) that `ConditionBatch.meaning_snap` draws heard meanings towards."""
        if self.meaning is None:
            raise ValueError("known meanings need a meaning head (condition.align_weight > 0)")
        self.known_meanings = known.to(next(self.parameters()).device)

    @property
    def speech_side_fixed(self) -> bool:
        """Whether the speech side (audio encoder and listener) is frozen and held in eval mode, so
        what it hears of an utterance is the same at every training step."""
        parts = [name for name in ("audio", "meaning", "meaning_frames") if getattr(self, name) is not None]
        return bool(parts) and set(parts) <= self.held_in_eval

    def _heard(self, batch: ConditionBatch) -> tuple[torch.Tensor, torch.Tensor | None]:
        if batch.heard_tokens is None:
            return self.hear(batch)
        if not self.speech_side_fixed:
            raise ValueError("speech heard in advance needs a fixed speech side (frozen and held in eval mode)")
        return batch.heard_tokens, batch.heard_meaning

    def encode_for_training(self, batch: ConditionBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """The condition tokens and the weighted alignment loss, which every model adds to its own."""
        tokens, meaning = self.encode(batch)
        return tokens, self.alignment_loss(meaning, batch)

    def alignment_loss(self, meaning: torch.Tensor | None, batch: ConditionBatch) -> torch.Tensor:
        """align_weight x mean (1 - cosine) between predicted meanings and the embeddings of the words
        spoken, over the examples with audio whose words are known; 0 where there are none."""
        if meaning is None:
            return batch.text.new_zeros(())
        return self.align_weight * alignment(meaning, batch)

    def load_listener(self, listener: "SpeechListener") -> None:
        """Take the meaning head of a trained listener, and its audio encoder if it has one."""
        if self.audio is None or self.meaning is None:
            raise ValueError("this condition encoder has no meaning token to take a listener's weights")
        for name in self.listener_parts():
            getattr(self, name).load_state_dict(getattr(listener, name).state_dict())

    def freeze_listener(self, dropout: bool = True) -> None:
        """Stop training what came from the listener stage; without `dropout`, hold it in eval mode too."""
        self._freeze(self.listener_parts(), dropout)

    def freeze_audio_encoder(self) -> None:
        """Stop training the audio encoder, and hold it in eval mode: the speech side stays as it is."""
        self._freeze(("audio",), dropout=False)

    def _freeze(self, names: Sequence[str], dropout: bool) -> None:
        for name in names:
            getattr(self, name).requires_grad_(False)
        if not dropout:
            self.held_in_eval.update(names)
        self.train(self.training)

    def train(self, mode: bool = True) -> "ConditionEncoder":
        super().train(mode)
        for name in self.held_in_eval:
            getattr(self, name).eval()
        return self

    def listener_parts(self) -> tuple[str, ...]:
        """The modules a listener holds (same names in `SpeechListener`): the meaning head, and the
        audio encoder when the head reads it rather than a frame reader of its own."""
        return ("meaning", "meaning_frames") if self.meaning_frames is not None else ("audio", "meaning")


class SpeechListener(nn.Module):
    """The listener stage's model: the meaning head of a ConditionEncoder and the audio encoder it
    reads (none with a frame reader), with the same parameter names, trained on the alignment alone."""

    def __init__(self, config: ConditionConfig, audio_dim: int, text_dim: int = TEXT_EMBEDDING_DIM):
        super().__init__()
        self.audio_pool = config.audio_pool
        self.meaning_frames = FrameReader(config, audio_dim) if config.meaning_layers else None
        self.audio = None if self.meaning_frames else AUDIO_ENCODER_CLASSES[config.audio_encoder](config, audio_dim)
        self.meaning = meaning_head(config, audio_dim, text_dim)
        self.contrast = config.listener_contrast
        self.temperature = config.listener_temperature

    def predict(self, batch: ConditionBatch) -> torch.Tensor:
        """(B, E) unit-length predicted meanings of the batch's speech."""
        return listen(self.audio, self.meaning, self.meaning_frames, self.audio_pool, batch)[1]

    def forward(self, batch: ConditionBatch, mirrored: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The alignment plus `contrast` x a contrastive loss: each prediction must be nearer its own
        words than the other words of the batch and than its words with left and right exchanged
        (`mirrored`, zero rows where the words name no side). Cosine alone barely separates "wave your
        left hand" from "wave your right hand"; the side is what the generator must hear."""
        meaning = self.predict(batch)
        aligned = alignment(meaning, batch)
        contrastive = contrastive_loss(meaning, batch.spoken_text, mirrored, self.temperature)
        return aligned + self.contrast * contrastive, {"alignment": aligned.detach(), "contrastive": contrastive.detach()}


def contrastive_loss(meaning: torch.Tensor, spoken: torch.Tensor, mirrored: torch.Tensor, temperature: float) -> torch.Tensor:
    """Cross-entropy of picking each row's own words among all rows' words and the mirrored words
    (candidates equal to a row's own words, i.e. the same sentence in another voice, are left out)."""
    spoken = nn.functional.normalize(spoken, dim=-1)
    has_side = mirrored.abs().sum(-1) > 0
    candidates = torch.cat([spoken, nn.functional.normalize(mirrored[has_side], dim=-1)])
    logits = meaning.float() @ candidates.t() / temperature
    own = torch.arange(len(spoken), device=spoken.device)
    same_words = (spoken @ candidates.t() > 0.9999) & (torch.arange(len(candidates), device=spoken.device)[None] != own[:, None])
    return nn.functional.cross_entropy(logits.masked_fill(same_words, float("-inf")), own)


def meaning_head(config: ConditionConfig, audio_dim: int, text_dim: int) -> nn.Linear:
    """Predicts a sentence embedding from the audio tokens' mean (or the frame reader's output) and
    the speech frames' mean (`listen`)."""
    return nn.Linear(config.dim + audio_dim, text_dim)


def listen(encoder: nn.Module | None, meaning_head: nn.Module | None, frame_reader: FrameReader | None, pool: int,
           batch: ConditionBatch) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Audio tokens (B, K, dim) of the batch's speech (None without an encoder), and their
    unit-length predicted meaning (B, E) when there is a meaning head."""
    frames, lengths = frame_pool(batch.audio, batch.audio_lengths, pool)
    tokens = encoder(frames, lengths) if encoder is not None else None
    if meaning_head is None:
        return tokens, None
    heard = tokens.mean(1) if frame_reader is None else frame_reader(frames, lengths)
    # The head also reads the mean of the speech frames themselves: the side an instruction names is
    # linearly plain there, but did not get through the memory bottleneck (docs/design.md).
    summary = torch.cat([heard, segment_pool(frames, lengths, 1)[:, 0]], -1)
    return tokens, nn.functional.normalize(meaning_head(summary), dim=-1)


# A heard meaning is drawn towards the mean of its nearest known meanings, each weighted by
# softmax(cosine / temperature): at 0.05 a neighbour 0.05 less similar counts e times less.
SNAP_NEIGHBOURS = 16
SNAP_TEMPERATURE = 0.05


def drawn_to_known(meaning: torch.Tensor, known: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Unit meanings (B, E) moved `weight` (B,) of the way towards the softmax(cosine /
    SNAP_TEMPERATURE)-weighted mean of their SNAP_NEIGHBOURS nearest known meanings (N, E), then
    brought back to unit length."""
    known = known.float()
    nearest, index = (meaning.float() @ known.T).topk(min(SNAP_NEIGHBOURS, len(known)), dim=-1)
    target = (torch.softmax(nearest / SNAP_TEMPERATURE, -1)[..., None] * known[index]).sum(1)
    weight = weight.float()[:, None]
    moved = (1 - weight) * meaning.float() + weight * nn.functional.normalize(target, dim=-1)
    return nn.functional.normalize(moved, dim=-1).to(meaning.dtype)


def perturbed(meaning: torch.Tensor, scale: float) -> torch.Tensor:
    """Unit meanings (B, E) each turned by a random angle towards a random orthogonal direction, the
    angle's tangent drawn from U(0, scale), so the cosine to the original is 1 / sqrt(1 + tan^2)."""
    if scale <= 0:
        return meaning
    direction = torch.randn_like(meaning)
    direction = direction - (direction * meaning).sum(-1, keepdim=True) * meaning
    direction = nn.functional.normalize(direction, dim=-1)
    tangent = torch.rand(len(meaning), 1, device=meaning.device, dtype=meaning.dtype) * scale
    return nn.functional.normalize(meaning + tangent * direction, dim=-1)


def alignment(meaning: torch.Tensor, batch: ConditionBatch) -> torch.Tensor:
    """Mean (1 - cosine) between predicted meanings and the embeddings of the words spoken, over the
    examples with audio whose words are known; 0 where there are none."""
    known = batch.use_audio & (batch.spoken_text.abs().sum(-1) > 0)
    if not bool(known.any()):
        return batch.text.new_zeros(())
    cosine = nn.functional.cosine_similarity(meaning[known].float(), batch.spoken_text[known], dim=-1)
    return (1 - cosine).mean()
