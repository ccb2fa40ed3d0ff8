"""Building blocks shared by the condition encoders and the transformers."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """(length, dim) fixed sinusoidal position encodings (Vaswani et al.); no maximum length."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return table


def transformer_encoder(dim: int, heads: int, ff_dim: int, layers: int, dropout: float) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        dim, heads, ff_dim, dropout, activation="gelu", batch_first=True, norm_first=True
    )
    return nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(dim), enable_nested_tensor=False)


def padding_mask(lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    """(B, max_length) True at padded positions, as nn.Transformer expects."""
    return torch.arange(max_length, device=lengths.device)[None] >= lengths[:, None]


def segment_pool(x: torch.Tensor, lengths: torch.Tensor, segments: int) -> torch.Tensor:
    """Average the valid frames of x (B, F, C) over `segments` equal consecutive spans -> (B, segments, C)."""
    frames = x.shape[1]
    position = torch.arange(frames, device=x.device)[None]
    valid = position < lengths[:, None]
    segment = (position * segments // lengths.clamp(min=1)[:, None]).clamp(max=segments - 1)
    weights = F.one_hot(segment, segments).to(x.dtype) * valid[..., None]
    counts = weights.sum(1).clamp(min=1.0)
    return torch.einsum("bfk,bfc->bkc", weights, x) / counts[..., None]


def frame_pool(x: torch.Tensor, lengths: torch.Tensor, factor: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Average every `factor` consecutive frames of x (B, F, C), ignoring padding -> pooled x, new lengths."""
    if factor == 1:
        return x, lengths
    batch, frames, channels = x.shape
    pad = (-frames) % factor
    valid = (torch.arange(frames, device=x.device)[None] < lengths[:, None]).to(x.dtype)
    x = F.pad(x * valid[..., None], (0, 0, 0, pad))
    valid = F.pad(valid, (0, pad))
    sums = x.reshape(batch, -1, factor, channels).sum(2)
    counts = valid.reshape(batch, -1, factor).sum(2).clamp(min=1.0)
    return sums / counts[..., None], (lengths + factor - 1) // factor
