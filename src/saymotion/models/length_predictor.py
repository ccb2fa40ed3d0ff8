"""Motion length from the condition, as a classifier over token counts 1..max_tokens (MoMask)."""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from saymotion.config import ConditionConfig, LengthConfig
from saymotion.models.conditioning import TEXT_EMBEDDING_DIM, ConditionBatch, ConditionEncoder
from saymotion.models.sampling import sample_codes


class LengthPredictor(nn.Module):
    def __init__(
        self,
        config: LengthConfig,
        condition: ConditionConfig,
        max_tokens: int,
        audio_dim: int,
        text_dim: int = TEXT_EMBEDDING_DIM,
    ):
        super().__init__()
        self.max_tokens = max_tokens
        self.condition = ConditionEncoder(condition, audio_dim, text_dim)
        # The audio encoder's tokens come first; the meaning token follows them.
        self.unread_tokens = 0 if config.read_audio_tokens else self.condition.audio.tokens
        width = condition.dim * (self.condition.num_tokens - self.unread_tokens)
        self.head = nn.Sequential(
            nn.LayerNorm(width),
            nn.Linear(width, config.hidden),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, max_tokens),
        )

    def logits(self, cond: ConditionBatch) -> torch.Tensor:
        """(B, max_tokens) logits; class i means i + 1 tokens. The meaning is read as heard, never
        drawn towards the known meanings: drawn, it raised the duration error on val (docs/design.md,
        "Known meanings")."""
        heard = replace(cond, meaning_snap=None)
        return self.head(self.condition(heard)[:, self.unread_tokens :].flatten(1))

    def forward(self, cond: ConditionBatch, token_counts: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Training objective: cross-entropy of the token count plus the condition's alignment loss;
        accuracy and alignment."""
        tokens, alignment = self.condition.encode_for_training(cond)
        logits = self.head(tokens[:, self.unread_tokens :].flatten(1))
        target = token_counts.clamp(1, self.max_tokens) - 1
        accuracy = (logits.argmax(-1) == target).float().mean()
        return F.cross_entropy(logits, target) + alignment, {"accuracy": accuracy, "alignment": alignment}

    @torch.no_grad()
    def predict(self, cond: ConditionBatch, generator: torch.Generator | None = None,
                temperature: float = 1.0) -> torch.Tensor:
        """Token counts (B,): drawn with a generator from the predicted distribution at `temperature`,
        else (or at temperature 0) the most likely."""
        counts, _ = sample_codes(self.logits(cond), temperature if generator is not None else 0.0, 0, generator)
        return counts + 1
