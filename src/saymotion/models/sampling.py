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
