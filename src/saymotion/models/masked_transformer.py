"""Masked transformer over the base-layer codes (MaskGIT / MoMask; paper eq. 4).

Training masks a cosine-scheduled fraction of each sequence and predicts the masked codes from
the rest and the condition tokens. Generation starts fully masked and, over a fixed number of
iterations, keeps its most confident predictions and re-masks the others. Started from known codes
with some positions masked, the same decoding inpaints only those (MoMask's temporal editing); the
multi-step seams (saymotion.multistep) also mix several conditions per position.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from saymotion.config import ConditionConfig, MaskedTransformerConfig
from saymotion.models.common import padding_mask, sinusoidal_positions, transformer_encoder
from saymotion.models.conditioning import TEXT_EMBEDDING_DIM, ConditionBatch, ConditionEncoder
from saymotion.models.guidance import GuidedCondition
from saymotion.models.sampling import choice_scores, penalise_neighbour_repeats, sample_codes

# Of the positions chosen for prediction, BERT-style: most become [MASK], some get a random code
# (so the model cannot trust every visible code) and some stay as they are.
RANDOM_REPLACE = 0.1
KEEP = 0.1


def cosine_schedule(ratio: torch.Tensor) -> torch.Tensor:
    """Fraction of tokens masked at progress `ratio` in [0, 1]: 1 at the start, 0 at the end."""
    return torch.cos(ratio * math.pi / 2)


def mix_conditions(logits: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Guided logits (K * B, N, C) under K conditions per sequence (condition-major rows), mixed per
    position with `weights` (K, B, N) -> (B, N, C). Without weights there is one condition (K = 1)."""
    if weights is None:
        return logits
    return (logits.unflatten(0, weights.shape[:2]) * weights[..., None]).sum(0)


def condition_count(weights: torch.Tensor | None) -> int:
    return 1 if weights is None else weights.shape[0]


class MaskedTransformer(nn.Module):
    def __init__(
        self,
        config: MaskedTransformerConfig,
        condition: ConditionConfig,
        num_codes: int,
        max_tokens: int,
        audio_dim: int,
        text_dim: int = TEXT_EMBEDDING_DIM,
    ):
        super().__init__()
        self.num_codes = num_codes
        self.mask_id = num_codes
        self.pad_id = num_codes + 1
        self.condition = ConditionEncoder(condition, audio_dim, text_dim)
        self.condition_proj = nn.Linear(condition.dim, config.dim)
        self.token_embedding = nn.Embedding(num_codes + 2, config.dim)
        positions = self.condition.num_tokens + max_tokens
        if config.positions == "learned":
            self.positions = nn.Parameter(torch.randn(positions, config.dim) * 0.02)
        else:  # not saved: a checkpoint rebuilds them
            self.register_buffer("positions", sinusoidal_positions(positions, config.dim), persistent=False)
        self.encoder = transformer_encoder(config.dim, config.heads, config.ff_dim, config.layers, config.dropout)
        self.head = nn.Linear(config.dim, num_codes)

    def encode_condition(self, cond: ConditionBatch) -> torch.Tensor:
        return self.condition_proj(self.condition(cond))

    def logits(self, codes: torch.Tensor, lengths: torch.Tensor, cond_tokens: torch.Tensor) -> torch.Tensor:
        """(B, N, num_codes) logits for codes (B, N) that may contain mask_id / pad_id."""
        prefix = cond_tokens.shape[1]
        hidden = torch.cat([cond_tokens, self.token_embedding(codes)], 1)
        hidden = hidden + self.positions[: hidden.shape[1]]
        visible_prefix = torch.zeros(codes.shape[0], prefix, dtype=torch.bool, device=codes.device)
        mask = torch.cat([visible_prefix, padding_mask(lengths, codes.shape[1])], 1)
        return self.head(self.encoder(hidden, src_key_padding_mask=mask)[:, prefix:])

    def forward(self, codes: torch.Tensor, lengths: torch.Tensor, cond: ConditionBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Training objective on base codes (B, N): cross-entropy on the masked positions plus the
        condition's alignment loss; accuracy and alignment."""
        inputs, targets = self.corrupt(codes, lengths)
        tokens, alignment = self.condition.encode_for_training(cond)
        logits = self.logits(inputs, lengths, self.condition_proj(tokens))
        loss = F.cross_entropy(logits[targets], codes[targets]) + alignment
        accuracy = (logits[targets].argmax(-1) == codes[targets]).float().mean()
        return loss, {"accuracy": accuracy, "alignment": alignment}

    def corrupt(self, codes: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask a cosine-scheduled random fraction of each sequence -> model inputs, positions to predict."""
        batch, length = codes.shape
        valid = ~padding_mask(lengths, length)
        fraction = cosine_schedule(torch.rand(batch, device=codes.device))
        count = (lengths * fraction).ceil().clamp(min=1)
        scores = torch.rand(batch, length, device=codes.device).masked_fill(~valid, 2.0)
        rank = scores.argsort(1).argsort(1)
        targets = (rank < count[:, None]) & valid
        roll = torch.rand(batch, length, device=codes.device)
        random_codes = torch.randint_like(codes, self.num_codes)
        inputs = torch.where(targets & (roll < RANDOM_REPLACE), random_codes, codes)
        inputs = torch.where(targets & (roll >= RANDOM_REPLACE + KEEP), self.mask_id, inputs)
        return inputs.masked_fill(~valid, self.pad_id), targets

    @torch.no_grad()
    def generate(
        self,
        lengths: torch.Tensor,
        cond: ConditionBatch,
        *,
        iterations: int,
        temperature: float,
        top_k: int,
        audio_scale: float,
        text_scale: float,
        repeat_penalty: float = 0.0,
        choice_noise: float = 0.0,
        generator: torch.Generator | None = None,
        known: torch.Tensor | None = None,
        mix: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Base codes (B, max(lengths)) for token counts `lengths`; positions past a length hold pad_id.

        `known` (B, max(lengths)) starts decoding from given codes: only its mask_id positions are
        generated, the rest stay and are seen as context (inpainting). With `mix` (K, B, N) `cond`
        holds K conditions per sequence (K * B rows, condition-major) whose guided logits are mixed
        per position with those weights. `repeat_penalty` and `choice_noise` are SampleConfig's."""
        guided = GuidedCondition.build(cond, audio_scale, text_scale)
        cond_tokens = self.encode_condition(guided.batch)
        copies = condition_count(mix)
        valid = ~padding_mask(lengths, int(lengths.max()))
        codes = torch.full(valid.shape, self.mask_id, device=lengths.device) if known is None else known.clone()
        codes = codes.masked_fill(~valid, self.pad_id)
        to_fill = (codes == self.mask_id).sum(1)
        for step in range(iterations):
            inputs, input_lengths = guided.repeat(codes.repeat(copies, 1)), guided.repeat(lengths.repeat(copies))
            logits = mix_conditions(guided.combine(self.logits(inputs, input_lengths, cond_tokens)), mix)
            logits = penalise_neighbour_repeats(logits, codes, repeat_penalty)
            sampled, confidence = sample_codes(logits, temperature, top_k, generator)
            masked = codes == self.mask_id
            codes = torch.where(masked, sampled, codes)
            remaining = (to_fill * cosine_schedule(torch.tensor((step + 1) / iterations))).floor()
            if step == iterations - 1 or not bool((remaining > 0).any()):
                break
            # Codes fixed in earlier iterations (or given) are never re-masked; among the new ones the
            # least confident (plus the choice noise, if any) are masked again.
            scores = choice_scores(confidence, choice_noise, (step + 1) / iterations, generator)
            rank = scores.masked_fill(~masked, float("inf")).argsort(1).argsort(1)
            codes = codes.masked_fill(rank < remaining[:, None], self.mask_id)
        return codes
