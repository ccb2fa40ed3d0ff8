"""Classifier-free guidance over two independently droppable modalities.

With one modality c present the logits are (1 + s) w_c - s w_u (MoMask). With audio and text the
guidance is nested, as in InstructPix2Pix: audio says what to do, text says how, so

    w = w_u + (1 + s_a) (w_a - w_u) + (1 + s_t) (w_at - w_a),

which needs three forward passes (unconditional, audio only, both) and reduces to the single
formula when one scale is zero or both scales are equal ((1 + s) w_at - s w_u, two passes).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from saymotion.models.conditioning import ConditionBatch


def combine_guidance(
    uncond: torch.Tensor, audio: torch.Tensor, both: torch.Tensor, audio_scale: float, text_scale: float
) -> torch.Tensor:
    return uncond + (1 + audio_scale) * (audio - uncond) + (1 + text_scale) * (both - audio)


def single_guidance(uncond: torch.Tensor, cond: torch.Tensor, scale: float) -> torch.Tensor:
    return (1 + scale) * cond - scale * uncond


@dataclass
class GuidedCondition:
    """The condition variants one guided prediction needs, stacked along the batch, and how to mix them."""

    batch: ConditionBatch  # the stacked variants, (variants * B)
    variants: int
    audio_scale: float
    text_scale: float
    nested: bool  # three variants (none, audio, both) rather than two (none, full)

    @classmethod
    def build(cls, cond: ConditionBatch, audio_scale: float, text_scale: float) -> "GuidedCondition":
        has_audio = bool(cond.use_audio.any())
        has_text = bool(cond.use_text.any())
        if not (has_audio or has_text):
            return cls(cond, 1, 0.0, 0.0, nested=False)
        uncond = cond.restricted(audio=False, text=False)
        if has_audio and has_text and audio_scale != text_scale:
            stacked = ConditionBatch.cat([uncond, cond.restricted(audio=True, text=False), cond])
            return cls(stacked, 3, audio_scale, text_scale, nested=True)
        scale = audio_scale if has_audio else text_scale
        return cls(ConditionBatch.cat([uncond, cond]), 2, scale, scale, nested=False)

    def repeat(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, ...) repeated for every variant, matching the stacked condition."""
        return x.repeat(self.variants, *([1] * (x.dim() - 1)))

    def combine(self, logits: torch.Tensor) -> torch.Tensor:
        """Guided logits (B, ...) from the logits of the stacked variants (variants * B, ...)."""
        parts = logits.chunk(self.variants)
        if self.variants == 1:
            return parts[0]
        if self.nested:
            return combine_guidance(*parts, self.audio_scale, self.text_scale)
        return single_guidance(parts[0], parts[1], self.audio_scale)
