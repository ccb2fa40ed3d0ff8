"""Multi-step instructions: one recording or text holding several instructions ("walk forward a few
steps... now wave your left hand... then bow") becomes one continuous motion.

    motion = Pipeline.load().generate_steps(audio="three_steps.wav")   # a MultiStepMotion
    motion.steps[1].start_frame, motion.steps[1].audio_span_s

Steps: audio is split at its pauses (saymotion.instructions.split_at_pauses), a text into its
sentences and chained steps (split_text). Each step is generated from its own condition: the speech
features of its own stretch of audio (encoded alone, as in training), or its own sentence; with
audio and text, the text is the "how" of every step.

Seams are made by token inpainting, as MoMask edits motion, never by cross-fading joints:
1. The steps' base codes are generated independently (one batch), their lengths from the length
   predictor unless seconds are given, then their residual layers. Joined end to end this is the
   plain concatenation (`StitchedCodes.concatenated`).
2. At each seam SEAM_TOKENS base tokens on either side (at most half of a step) are masked and
   generated again by the masked transformer, seeing the unmasked tokens of both steps. Its
   positional table only covers max_tokens, so it runs on a window of the two steps trimmed evenly
   around the seam to max_tokens. The masked tokens take the guided logits of both steps' conditions
   mixed per position, handing over linearly from the left instruction to the right one across the
   masked tokens: the transition belongs to both, and neither step's own tokens are re-written.
3. The residual layers of those tokens are then generated again on the same window from the new
   base codes, with the same hand-over (residual inpainting).
4. The whole code sequence is decoded once by the convolutional tokenizer decoder (any length), so
   the root velocity integrates across the seams and the decoder's receptive field spans them.
Seams are inpainted left to right; a window may see the tokens an earlier seam has just re-made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from saymotion.audio import SAMPLE_RATE
from saymotion.config import SampleConfig
from saymotion.errors import SaymotionError
from saymotion.instructions import AudioSegment, split_at_pauses, split_text
from saymotion.models.conditioning import ConditionBatch
from saymotion.models.masked_transformer import MaskedTransformer
from saymotion.models.residual_transformer import ResidualTransformer

# Tokens re-generated on each side of a seam: 2 tokens = 8 frames = 0.4 s at 20 fps.
SEAM_TOKENS = 2
DEFAULT_MIN_PAUSE_S = 0.4
# A recording of several steps may be longer than the longest single instruction a model takes.
MAX_RECORDING_S = 120.0


@dataclass(frozen=True)
class Step:
    """One step of a multi-step motion: its frames [start_frame, end_frame) and its source."""

    start_frame: int
    end_frame: int
    audio_span_s: tuple[float, float] | None  # where in the recording the step was said
    text: str | None  # its sentence, or the "how" text shared by every step

    def to_dict(self, fps: float) -> dict:
        return {
            "frames": [self.start_frame, self.end_frame],
            "seconds": [round(self.start_frame / fps, 3), round(self.end_frame / fps, 3)],
            "audio_s": None if self.audio_span_s is None else [round(t, 3) for t in self.audio_span_s],
            "text": self.text,
        }


@dataclass(frozen=True)
class Instruction:
    """One step as the user gave it: its stretch of the recording and/or its text."""

    audio: AudioSegment | None
    text: str | None

    def step(self, start_frame: int, end_frame: int) -> Step:
        span = None if self.audio is None else (float(self.audio.start_s), float(self.audio.end_s))
        return Step(start_frame, end_frame, span, self.text)


def split_instructions(
    waveform: np.ndarray | None, text: str | None, min_pause_s: float, max_step_s: float = float("inf")
) -> list[Instruction]:
    """The steps of a 16 kHz recording (split at pauses; `text` then applies to each; none longer
    than `max_step_s`) or of a text."""
    if waveform is None and not text:
        raise SaymotionError("give a spoken instruction, a text, or both")
    if not min_pause_s > 0:
        raise SaymotionError(f"the minimum pause between steps must be positive, got {min_pause_s:g} s")
    if waveform is not None:
        segments = split_at_pauses(waveform, SAMPLE_RATE, min_pause_s=min_pause_s)
        if not segments:
            raise SaymotionError("found no spoken instruction in the audio, only noise or clicks")
        for number, segment in enumerate(segments, 1):
            if segment.end_s - segment.start_s > max_step_s:
                raise SaymotionError(f"step {number} is {segment.end_s - segment.start_s:.1f} s of speech without a "
                                     f"pause; one step can be at most {max_step_s:g} s")
        return [Instruction(segment, text or None) for segment in segments]
    sentences = split_text(text)
    if not sentences:
        raise SaymotionError(f"found no instruction in the text {text!r}")
    return [Instruction(None, sentence) for sentence in sentences]


def step_seconds(seconds: float | Sequence[float] | None, count: int) -> list[float] | None:
    """One length per step from a length for every step or a list with one per step."""
    if seconds is None:
        return None
    if isinstance(seconds, (int, float)):
        return [float(seconds)] * count
    if len(seconds) != count:
        raise SaymotionError(f"give one length per step: {count} steps but {len(seconds)} lengths")
    return [float(value) for value in seconds]


@dataclass(frozen=True)
class Seam:
    """The tokens around the boundary between step `left` and the next, as indices into the joined sequence."""

    left: int
    fill: tuple[int, int]  # [start, end): the tokens generated again
    window: tuple[int, int]  # [start, end): the tokens the transformers see

    def fill_mask(self, device: torch.device) -> torch.Tensor:
        """(W,) bool over the window: True where a token is generated again."""
        positions = torch.arange(*self.window, device=device)
        return (positions >= self.fill[0]) & (positions < self.fill[1])

    def handover(self, device: torch.device) -> torch.Tensor:
        """(2, 1, W) weights of the left and the right step's condition over the window: a linear
        ramp across the filled tokens (0 or 1 outside, where nothing is sampled)."""
        positions = torch.arange(*self.window, device=device, dtype=torch.float32)
        start, end = self.fill
        right = ((positions - start + 0.5) / (end - start)).clamp(0, 1)
        return torch.stack([1 - right, right])[:, None]


def seam_window(start: int, boundary: int, end: int, max_tokens: int) -> tuple[int, int]:
    """[start, end) of two neighbouring steps, trimmed evenly around their boundary to max_tokens."""
    low = max(start, boundary - max_tokens // 2)
    high = min(end, low + max_tokens)
    return max(start, high - max_tokens), high


def plan_seams(token_counts: Sequence[int], max_tokens: int, seam_tokens: int = SEAM_TOKENS) -> list[Seam]:
    starts = np.cumsum([0, *token_counts]).tolist()
    # Never more than half a step (it keeps tokens of its own) or half a window (context both sides).
    limit = min(seam_tokens, max_tokens // 2)
    seams = []
    for left in range(len(token_counts) - 1):
        boundary = starts[left + 1]
        before = min(limit, token_counts[left] // 2)
        after = min(limit, token_counts[left + 1] // 2)
        if before + after == 0:
            continue  # two one-token steps: nothing can be re-made without erasing a step
        window = seam_window(starts[left], boundary, starts[left + 2], max_tokens)
        seams.append(Seam(left, (boundary - before, boundary + after), window))
    return seams


@dataclass
class StitchedCodes:
    codes: torch.Tensor  # (N, Q) the continuous sequence, seams inpainted
    concatenated: torch.Tensor  # (N, Q) the steps' own codes joined end to end, before inpainting
    token_counts: list[int]  # per step
    seams: list[Seam]

    def token_ranges(self) -> list[tuple[int, int]]:
        """[start, end) tokens of each step."""
        starts = np.cumsum([0, *self.token_counts]).tolist()
        return list(zip(starts[:-1], starts[1:]))


def condition_rows(cond: ConditionBatch, rows: Sequence[int]) -> ConditionBatch:
    index = torch.tensor(list(rows), device=cond.audio.device)
    return cond.map(lambda tensor: tensor[index])


def stitch_steps(
    masked: MaskedTransformer,
    residual: ResidualTransformer,
    cond: ConditionBatch,
    token_counts: torch.Tensor,
    sample: SampleConfig,
    max_tokens: int,
    generator: torch.Generator,
) -> StitchedCodes:
    """One code sequence (N, Q) for K steps with conditions `cond` (K rows) and token counts (K,)."""
    base = masked.generate(token_counts, cond, **masked_sampling(sample), generator=generator)
    own = residual.generate(base, token_counts, cond, **residual_sampling(sample), generator=generator)
    counts = token_counts.tolist()
    concatenated = torch.cat([own[row, :count] for row, count in enumerate(counts)])
    seams = plan_seams(counts, max_tokens)
    codes = concatenated.clone()
    # All base seams first, so each residual seam sees the final base codes of its whole window.
    for seam in seams:
        inpaint_base(masked, codes, condition_rows(cond, [seam.left, seam.left + 1]), seam, sample, generator)
    for seam in seams:
        inpaint_residual(residual, codes, condition_rows(cond, [seam.left, seam.left + 1]), seam, sample, generator)
    return StitchedCodes(codes, concatenated, counts, seams)


def inpaint_base(
    masked: MaskedTransformer, codes: torch.Tensor, pair: ConditionBatch, seam: Seam, sample: SampleConfig,
    generator: torch.Generator,
) -> None:
    """Generate the seam's base tokens of `codes` (N, Q) again, in place."""
    low, high = seam.window
    known = codes[low:high, 0].masked_fill(seam.fill_mask(codes.device), masked.mask_id)[None]
    length = torch.tensor([high - low], device=codes.device)
    filled = masked.generate(length, pair, **masked_sampling(sample), generator=generator, known=known,
                             mix=seam.handover(codes.device))
    codes[low:high, 0] = filled[0]


def inpaint_residual(
    residual: ResidualTransformer, codes: torch.Tensor, pair: ConditionBatch, seam: Seam, sample: SampleConfig,
    generator: torch.Generator,
) -> None:
    """Generate the seam's residual layers of `codes` (N, Q) again from their base codes, in place."""
    low, high = seam.window
    window = codes[low:high][None]
    length = torch.tensor([high - low], device=codes.device)
    filled = residual.generate(window[..., 0], length, pair, **residual_sampling(sample), generator=generator,
                               known=window, fill=seam.fill_mask(codes.device)[None], mix=seam.handover(codes.device))
    codes[low:high] = filled[0]


def masked_sampling(sample: SampleConfig) -> dict:
    return dict(iterations=sample.iterations, temperature=sample.temperature, top_k=sample.top_k,
                audio_scale=sample.guidance_audio, text_scale=sample.guidance_text,
                repeat_penalty=sample.repeat_penalty, choice_noise=sample.choice_noise)


def residual_sampling(sample: SampleConfig) -> dict:
    return dict(temperature=sample.residual_temperature, top_k=sample.top_k, scale=sample.guidance_residual)
