"""Per-feature mean and standard deviation, accumulated clip by clip (so workers can summarise their
clips and the train statistics never need every clip in memory at once)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from saymotion.errors import DataError

# Features that barely vary (below a millimetre or a milliradian) would blow up when divided by
# their spread; they are scaled as if they varied this much instead.
MIN_STD = 1e-3


@dataclass(frozen=True)
class Moments:
    """Frame count, mean and sum of squared deviations (float64) of one feature array."""

    count: int
    mean: np.ndarray
    squared_deviations: np.ndarray

    @classmethod
    def of(cls, features: np.ndarray) -> Moments:
        values = np.asarray(features, dtype=np.float64)
        mean = values.mean(axis=0)
        return cls(len(values), mean, ((values - mean) ** 2).sum(axis=0))

    def combine(self, other: Moments) -> Moments:
        """Chan et al.'s pairwise update: exact, and stable where sum/sum-of-squares is not."""
        count = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / count)
        squared = self.squared_deviations + other.squared_deviations + delta**2 * (self.count * other.count / count)
        return Moments(count, mean, squared)


def mean_and_std(moments: Iterable[Moments], min_std: float = MIN_STD) -> tuple[np.ndarray, np.ndarray]:
    """Pool the moments (in the order given, for reproducible rounding) into float32 mean and std."""
    total: Moments | None = None
    for item in moments:
        total = item if total is None else total.combine(item)
    if total is None or total.count == 0:
        raise DataError("no training frames to compute feature statistics from")
    std = np.sqrt(total.squared_deviations / total.count)
    return total.mean.astype(np.float32), np.maximum(std, min_std).astype(np.float32)
