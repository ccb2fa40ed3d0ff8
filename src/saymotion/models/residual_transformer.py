"""Residual transformer for quantizer layers 1..Q-1 (MoMask; paper eq. 5).

To predict layer q it sees the sum of the embeddings of layers 0..q-1, the condition tokens and a
token naming q. One network serves every residual layer; generation runs it once per layer, and can
regenerate only some positions of known codes (the seams of saymotion.multistep).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from saymotion.config import ConditionConfig, ResidualTransformerConfig
from saymotion.models.common import padding_mask, transformer_encoder
from saymotion.models.conditioning import TEXT_EMBEDDING_DIM, ConditionBatch, ConditionEncoder
from saymotion.models.guidance import GuidedCondition
from saymotion.models.masked_transformer import condition_count, mix_conditions
from saymotion.models.sampling import sample_codes


class ResidualTransformer(nn.Module):
    def __init__(
        self,
        config: ResidualTransformerConfig,
        condition: ConditionConfig,
        num_codes: int,
        num_quantizers: int,
        max_tokens: int,
        audio_dim: int,
        text_dim: int = TEXT_EMBEDDING_DIM,
    ):
        super().__init__()
        self.num_codes = num_codes
        self.num_quantizers = num_quantizers
        self.condition = ConditionEncoder(condition, audio_dim, text_dim)
        self.condition_proj = nn.Linear(condition.dim, config.dim)
        # Inputs come from layers 0..Q-2, predictions go to layers 1..Q-1.
        self.code_embeddings = nn.Parameter(torch.randn(num_quantizers - 1, num_codes, config.dim) * 0.02)
        self.layer_embedding = nn.Embedding(num_quantizers - 1, config.dim)
        self.positions = nn.Parameter(torch.randn(self.condition.num_tokens + 1 + max_tokens, config.dim) * 0.02)
        self.encoder = transformer_encoder(config.dim, config.heads, config.ff_dim, config.layers, config.dropout)
        self.norm = nn.LayerNorm(config.dim)
        self.head_weight = nn.Parameter(torch.randn(num_quantizers - 1, config.dim, num_codes) * 0.02)
        self.head_bias = nn.Parameter(torch.zeros(num_quantizers - 1, num_codes))

    def encode_condition(self, cond: ConditionBatch) -> torch.Tensor:
        return self.condition_proj(self.condition(cond))

    def embed_lower_layers(self, codes: torch.Tensor, layer: torch.Tensor) -> torch.Tensor:
        """Sum over j < layer[b] of the layer-j embeddings of codes (B, N, >= max(layer)) -> (B, N, dim)."""
        available = min(codes.shape[-1], self.num_quantizers - 1)
        embedded = torch.stack(
            [F.embedding(codes[..., j].clamp(0, self.num_codes - 1), self.code_embeddings[j]) for j in range(available)], 2
        )
        below = torch.arange(available, device=codes.device)[None] < layer[:, None]
        return (embedded * below[:, None, :, None]).sum(2)

    def logits(
        self, codes: torch.Tensor, layer: torch.Tensor, lengths: torch.Tensor, cond_tokens: torch.Tensor
    ) -> torch.Tensor:
        """(B, N, num_codes) logits of layer[b] (1..Q-1) given the codes of the layers below it."""
        prefix = torch.cat([cond_tokens, self.layer_embedding(layer - 1)[:, None]], 1)
        hidden = torch.cat([prefix, self.embed_lower_layers(codes, layer)], 1)
        hidden = hidden + self.positions[: hidden.shape[1]]
        visible_prefix = torch.zeros(codes.shape[0], prefix.shape[1], dtype=torch.bool, device=codes.device)
        mask = torch.cat([visible_prefix, padding_mask(lengths, codes.shape[1])], 1)
        hidden = self.norm(self.encoder(hidden, src_key_padding_mask=mask)[:, prefix.shape[1] :])
        return torch.einsum("bnd,bdc->bnc", hidden, self.head_weight[layer - 1]) + self.head_bias[layer - 1][:, None]

    def forward(self, codes: torch.Tensor, lengths: torch.Tensor, cond: ConditionBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Training objective on all codes (B, N, Q): cross-entropy of one random residual layer per
        example plus the condition's alignment loss; accuracy and alignment."""
        layer = torch.randint(1, self.num_quantizers, (codes.shape[0],), device=codes.device)
        tokens, alignment = self.condition.encode_for_training(cond)
        logits = self.logits(codes, layer, lengths, self.condition_proj(tokens))
        targets = codes.gather(2, layer[:, None, None].expand(-1, codes.shape[1], 1))[..., 0]
        valid = ~padding_mask(lengths, codes.shape[1])
        loss = F.cross_entropy(logits[valid], targets[valid]) + alignment
        accuracy = (logits[valid].argmax(-1) == targets[valid]).float().mean()
        return loss, {"accuracy": accuracy, "alignment": alignment}

    @torch.no_grad()
    def generate(
        self,
        base_codes: torch.Tensor,
        lengths: torch.Tensor,
        cond: ConditionBatch,
        *,
        temperature: float,
        top_k: int,
        scale: float,
        generator: torch.Generator | None = None,
        known: torch.Tensor | None = None,
        fill: torch.Tensor | None = None,
        mix: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """All layers' codes (B, N, Q) from base codes (B, N); padded positions hold code 0.

        With `known` (B, N, Q) and `fill` (B, N) bool, layers 1..Q-1 are regenerated only where
        `fill` is set and copied from `known` elsewhere. `mix` (K, B, N) mixes K conditions per
        sequence as in MaskedTransformer.generate."""
        guided = GuidedCondition.build(cond, scale, scale)
        cond_tokens = self.encode_condition(guided.batch)
        copies = condition_count(mix)
        valid = ~padding_mask(lengths, base_codes.shape[1])
        codes = base_codes.masked_fill(~valid, 0)[..., None]
        for q in range(1, self.num_quantizers):
            layer = torch.full_like(lengths, q).repeat(copies)
            inputs, input_lengths = guided.repeat(codes.repeat(copies, 1, 1)), guided.repeat(lengths.repeat(copies))
            logits = self.logits(inputs, guided.repeat(layer), input_lengths, cond_tokens)
            sampled, _ = sample_codes(mix_conditions(guided.combine(logits), mix), temperature, top_k, generator)
            if known is not None:
                sampled = torch.where(fill, sampled, known[..., q])
            codes = torch.cat([codes, sampled.masked_fill(~valid, 0)[..., None]], -1)
        return codes
