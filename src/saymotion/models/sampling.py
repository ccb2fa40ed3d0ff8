"""Sampling codes from logits: top-k filtering, temperature, seeded draws."""

from __future__ import annotations

import torch


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Logits with everything below the k-th largest value per row set to -inf (k <= 0 keeps all)."""
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    threshold = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < threshold, float("-inf"))


def sample_codes(
    logits: torch.Tensor, temperature: float, top_k: int, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw one code per row of logits (..., C); returns the codes and their probabilities.
    Temperature 0 is greedy."""
    logits = top_k_filter(logits.float(), top_k)
    if temperature <= 0:
        probs = torch.softmax(logits, -1)
        codes = probs.argmax(-1)
    else:
        probs = torch.softmax(logits / temperature, -1)
        flat = probs.reshape(-1, probs.shape[-1])
        codes = torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])
    return codes, probs.gather(-1, codes[..., None])[..., 0]


def penalise_neighbour_repeats(logits: torch.Tensor, codes: torch.Tensor, penalty: float) -> torch.Tensor:
    """Logits (B, N, C) lowered by `penalty` at the codes of each position's decoded neighbours.
    `codes` (B, N) holds ids >= C (mask, pad) where nothing is decoded yet; those count as no neighbour."""
    if penalty <= 0:
        return logits
    num_codes = logits.shape[-1]
    edge = codes.new_full(codes[:, :1].shape, num_codes)
    neighbours = (torch.cat([edge, codes[:, :-1]], 1), torch.cat([codes[:, 1:], edge], 1))
    lowered = torch.zeros_like(logits)
    for neighbour in neighbours:
        decoded = neighbour < num_codes
        lowered.scatter_add_(-1, neighbour.clamp(max=num_codes - 1)[..., None], decoded[..., None].to(logits.dtype))
    return logits - penalty * lowered.clamp(max=1)


def choice_scores(
    confidence: torch.Tensor, noise: float, progress: float, generator: torch.Generator | None
) -> torch.Tensor:
    """MaskGIT's choice: log confidence plus Gumbel noise scaled by `noise * (1 - progress)`,
    so early iterations keep a random spread of codes and the last ones keep the surest."""
    scores = confidence.clamp(min=1e-20).log()
    scale = noise * (1.0 - progress)
    if scale <= 0:
        return scores
    uniform = torch.rand(confidence.shape, generator=generator, device=confidence.device)
    return scores - scale * (-uniform.clamp(min=1e-20).log()).log()
