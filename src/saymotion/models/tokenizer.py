"""Residual VQ-VAE motion tokenizer (MoMask; Wang et al. 2025 eq. 2-3).

A 1D convolutional encoder downsamples normalised motion features (B, T, D) by 2**down_t in time;
a stack of quantizers codes the latent, each layer quantizing what the layers before it left
over; the decoder maps the summed code vectors back to features. Codebooks are not trained by
gradients but by exponential moving averages of the vectors assigned to them, and codes that fall
out of use are re-seeded with current encoder outputs so the whole codebook stays alive.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from saymotion.config import TokenizerConfig


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


class ResBlock1D(nn.Module):
    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.proj = nn.Conv1d(width, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.proj(F.relu(self.conv(F.relu(x))))


def _res_stack(width: int, depth: int, growth: int, reverse: bool) -> nn.Sequential:
    dilations = [growth**i for i in range(depth)]
    if reverse:
        dilations.reverse()
    return nn.Sequential(*(ResBlock1D(width, d) for d in dilations))


class Encoder(nn.Module):
    def __init__(self, feature_dim: int, config: TokenizerConfig):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(feature_dim, config.width, 3, padding=1), nn.ReLU()]
        for _ in range(config.down_t):
            layers.append(nn.Conv1d(config.width, config.width, 4, stride=2, padding=1))
            layers.append(_res_stack(config.width, config.depth, config.dilation_growth, reverse=False))
        layers.append(nn.Conv1d(config.width, config.code_dim, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self, feature_dim: int, config: TokenizerConfig):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(config.code_dim, config.width, 3, padding=1), nn.ReLU()]
        for _ in range(config.down_t):
            layers.append(_res_stack(config.width, config.depth, config.dilation_growth, reverse=True))
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
            layers.append(nn.Conv1d(config.width, config.width, 3, padding=1))
        layers += [nn.Conv1d(config.width, config.width, 3, padding=1), nn.ReLU()]
        layers.append(nn.Conv1d(config.width, feature_dim, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class EMACodebook(nn.Module):
    """One quantizer layer: nearest-neighbour lookup, EMA updates, dead-code reset.

    All statistics are buffers; under torch.distributed they are summed over ranks and resets are
    broadcast from rank 0, so every replica holds the same codebook.
    """

    def __init__(self, num_codes: int, dim: int, decay: float, dead_threshold: float, eps: float = 1e-5):
        super().__init__()
        self.decay = decay
        self.dead_threshold = dead_threshold
        self.eps = eps
        self.register_buffer("codebook", torch.zeros(num_codes, dim))
        self.register_buffer("cluster_size", torch.zeros(num_codes))
        self.register_buffer("code_sum", torch.zeros(num_codes, dim))
        self.register_buffer("initialised", torch.tensor(False))

    @property
    def num_codes(self) -> int:
        return self.codebook.shape[0]

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """Code index of the nearest codebook vector for each row of x (N, dim)."""
        distances = (
            x.pow(2).sum(1, keepdim=True) - 2 * x @ self.codebook.t() + self.codebook.pow(2).sum(1)[None]
        )
        return distances.argmin(1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        return F.embedding(codes, self.codebook)

    @torch.no_grad()
    def update(self, x: torch.Tensor, codes: torch.Tensor) -> None:
        """One EMA step from encoder outputs x (N, dim) and their assigned codes, then dead-code reset."""
        if not bool(self.initialised):
            self.codebook.copy_(self._random_rows(x, self.num_codes))
            self.code_sum.copy_(self.codebook)
            self.cluster_size.fill_(1.0)
            self.initialised.fill_(True)
            return
        onehot = F.one_hot(codes, self.num_codes).type(x.dtype)
        counts = onehot.sum(0)
        sums = onehot.t() @ x
        if _distributed():
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.code_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        # Laplace smoothing keeps rarely used codes from dividing by ~0.
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (total + self.num_codes * self.eps) * total
        self.codebook.copy_(self.code_sum / smoothed[:, None])
        self._reset_dead(x)

    def _reset_dead(self, x: torch.Tensor) -> None:
        dead = self.cluster_size < self.dead_threshold
        if not bool(dead.any()):
            return
        replacement = self._random_rows(x, int(dead.sum()))
        self.codebook[dead] = replacement
        self.code_sum[dead] = replacement * self.dead_threshold
        self.cluster_size[dead] = self.dead_threshold

    def _random_rows(self, x: torch.Tensor, count: int) -> torch.Tensor:
        """`count` rows of x chosen at random (with replacement when x is short), the same on all ranks."""
        index = torch.randint(0, x.shape[0], (count,), device=x.device)
        rows = x[index] + (1e-3 * torch.randn_like(x[index]) if x.shape[0] < count else 0)
        if _distributed():
            dist.broadcast(rows, src=0)
        return rows.contiguous()


@dataclass
class Quantized:
    vectors: torch.Tensor  # (B, C, T) summed code vectors, straight-through to the encoder
    codes: torch.Tensor  # (B, T, Q) code indices of every layer
    commitment: torch.Tensor  # scalar, summed over the layers that were used
    perplexity: torch.Tensor  # (Q,) codebook usage per layer in this batch
    layers_used: int


class ResidualVQ(nn.Module):
    def __init__(self, config: TokenizerConfig):
        super().__init__()
        self.quantize_dropout = config.quantize_dropout
        self.layers = nn.ModuleList(
            EMACodebook(config.num_codes, config.code_dim, config.ema_decay, config.dead_code_threshold)
            for _ in range(config.num_quantizers)
        )

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def forward(self, z: torch.Tensor) -> Quantized:
        return self.quantize(z, train=self.training)

    def quantize(self, z: torch.Tensor, train: bool) -> Quantized:
        """Quantize z (B, C, T). With `train`, every layer is updated on its residual; quantize dropout
        only chooses how many layers feed the decoder, so all replicas run the same collectives."""
        batch, channels, length = z.shape
        flat = z.permute(0, 2, 1).reshape(-1, channels)
        used = self._layers_to_use() if train else self.num_layers
        residual = flat
        total = torch.zeros_like(flat)
        codes, commitments, perplexities = [], [], []
        for index, layer in enumerate(self.layers):
            detached = residual.detach()
            layer_codes = layer.nearest(detached)
            if train:
                layer.update(detached, layer_codes)
            vectors = layer.lookup(layer_codes)
            if index < used:
                total = total + vectors
                commitments.append(F.mse_loss(residual, vectors.detach()))
            residual = residual - vectors.detach()
            codes.append(layer_codes)
            perplexities.append(_perplexity(layer_codes, layer.num_codes))
        straight_through = flat + (total - flat).detach()
        return Quantized(
            vectors=straight_through.reshape(batch, length, channels).permute(0, 2, 1),
            codes=torch.stack(codes, -1).reshape(batch, length, -1),
            commitment=torch.stack(commitments).sum(),
            perplexity=torch.stack(perplexities),
            layers_used=used,
        )

    def _layers_to_use(self) -> int:
        if self.quantize_dropout > 0 and torch.rand(()) < self.quantize_dropout:
            return int(torch.randint(1, self.num_layers + 1, ()))
        return self.num_layers

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Summed vectors (B, C, T) of codes (B, T, q) for the first q layers."""
        total = sum(self.layers[q].lookup(codes[..., q]) for q in range(codes.shape[-1]))
        return total.permute(0, 2, 1)


def _perplexity(codes: torch.Tensor, num_codes: int) -> torch.Tensor:
    probs = torch.bincount(codes, minlength=num_codes).float() / max(codes.numel(), 1)
    return torch.exp(-(probs * torch.log(probs + 1e-10)).sum())


@dataclass
class TokenizerOutput:
    reconstruction: torch.Tensor  # (B, T, D)
    quantized: Quantized


class MotionTokenizer(nn.Module):
    """Features (B, T, D) <-> codes (B, T / 2**down_t, Q)."""

    def __init__(self, config: TokenizerConfig, feature_dim: int):
        super().__init__()
        self.encoder = Encoder(feature_dim, config)
        self.quantizer = ResidualVQ(config)
        self.decoder = Decoder(feature_dim, config)
        self.codes_frozen = False

    def freeze_codes(self) -> None:
        """Train the decoder alone: the encoder and codebooks (their EMA statistics too) stop learning,
        and training steps quantize with every layer, as the generators' codes are decoded."""
        self.encoder.requires_grad_(False)
        self.quantizer.requires_grad_(False)
        self.codes_frozen = True

    def forward(self, features: torch.Tensor) -> TokenizerOutput:
        z = self.encoder(features.transpose(1, 2))
        quantized = self.quantizer.quantize(z, train=self.training and not self.codes_frozen)
        reconstruction = self.decoder(quantized.vectors).transpose(1, 2)
        return TokenizerOutput(reconstruction, quantized)

    @torch.no_grad()
    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """Codes (B, T', Q) of features (B, T, D), T a multiple of the downsampling factor."""
        return self.quantizer.quantize(self.encoder(features.transpose(1, 2)), train=False).codes

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Features (B, T' * factor, D) from codes (B, T', q) of the first q layers."""
        return self.decoder(self.quantizer.decode_codes(codes)).transpose(1, 2)
