"""The text-to-motion metrics of Guo et al. (2022), used by T2M, MoMask and the seed paper.

The field's metrics take evaluator embeddings (N x E arrays): motion embeddings of generated or
real clips and text embeddings of their conditions, row i of one matching row i of the other. Foot
skating and the detail errors, beyond the field, take joint positions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from saymotion.descriptions.details import measure_details, wrap_degrees
from saymotion.descriptions.grammar import steps_said
from saymotion.skeleton import Skeleton

R_PRECISION_BATCH = 32
R_PRECISION_TOP_K = 3
DIVERSITY_PAIRS = 300
MULTIMODALITY_PAIRS = 10


def frechet_distance(real: np.ndarray, generated: np.ndarray) -> float:
    """FID: distance between Gaussians fitted to two embedding sets,
    |mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))."""
    mu_r, mu_g = real.mean(axis=0), generated.mean(axis=0)
    cov_r = np.cov(real, rowvar=False)
    cov_g = np.cov(generated, rowvar=False)
    sqrt_product = linalg.sqrtm(cov_r @ cov_g)
    if not np.isfinite(sqrt_product).all():
        # Near-singular covariances: regularise as the original FID code does.
        eps = np.eye(cov_r.shape[0]) * 1e-6
        sqrt_product = linalg.sqrtm((cov_r + eps) @ (cov_g + eps))
    sqrt_product = np.real(sqrt_product)
    diff = mu_r - mu_g
    return float(diff @ diff + np.trace(cov_r) + np.trace(cov_g) - 2.0 * np.trace(sqrt_product))


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between every row of a and every row of b."""
    squared = (a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :]
    return np.sqrt(np.maximum(squared, 0.0))


def r_precision(
    text: np.ndarray, motion: np.ndarray, batch_size: int = R_PRECISION_BATCH, top_k: int = R_PRECISION_TOP_K
) -> np.ndarray:
    """Top-1..k retrieval accuracy of each text among its batch of motions (the matching one and
    batch_size - 1 others); incomplete last batches are dropped, as in the reference protocol."""
    hits = np.zeros(top_k)
    batches = len(text) // batch_size
    if batches == 0:
        raise ValueError(f"R-precision needs at least {batch_size} pairs, got {len(text)}")
    for b in range(batches):
        rows = slice(b * batch_size, (b + 1) * batch_size)
        distances = pairwise_distances(text[rows], motion[rows])
        # Rank of the matching motion (the diagonal) among all motions of the batch.
        rank = (distances < np.diag(distances)[:, None]).sum(axis=1)
        hits += np.array([(rank < k).sum() for k in range(1, top_k + 1)])
    return hits / (batches * batch_size)


def matching_distance(text: np.ndarray, motion: np.ndarray) -> float:
    """MM-Dist: mean distance between each text and its own motion."""
    return float(np.linalg.norm(text - motion, axis=1).mean())


def diversity(motion: np.ndarray, rng: np.random.Generator, pairs: int = DIVERSITY_PAIRS) -> float:
    """Mean distance between `pairs` random pairs of motions."""
    if len(motion) < 2:
        raise ValueError("diversity needs at least 2 motions")
    first = rng.choice(len(motion), pairs, replace=len(motion) < pairs)
    second = rng.choice(len(motion), pairs, replace=len(motion) < pairs)
    return float(np.linalg.norm(motion[first] - motion[second], axis=1).mean())


def multimodality(
    samples: np.ndarray, rng: np.random.Generator, pairs: int = MULTIMODALITY_PAIRS
) -> float:
    """Mean distance between `pairs` random pairs of samples generated for the same condition.
    samples: (conditions x samples_per_condition x E)."""
    per_condition = samples.shape[1]
    first = np.stack([rng.choice(per_condition, pairs, replace=False) for _ in samples])
    second = np.stack([rng.choice(per_condition, pairs, replace=False) for _ in samples])
    rows = np.arange(len(samples))[:, None]
    return float(np.linalg.norm(samples[rows, first] - samples[rows, second], axis=-1).mean())


@dataclass(frozen=True)
class Interval:
    """Mean over repetitions and the half-width of its 95% interval, 1.96 std / sqrt(n)."""

    mean: float
    half_width: float

    @classmethod
    def of(cls, values: np.ndarray | list[float]) -> Interval:
        values = np.asarray(values, dtype=float)
        return cls(float(values.mean()), float(1.96 * values.std() / np.sqrt(len(values))))

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "ci95": self.half_width}

    def __str__(self) -> str:
        return f"{self.mean:.3f} ± {self.half_width:.3f}"


# Foot skating as GMD and OmniControl measure it on 20 fps motion: a foot joint in contact with the
# ground (below 5 cm in two consecutive frames) that moves more than 2.5 cm horizontally between them.
SKATING_HEIGHT_M = 0.05
SKATING_SLIDE_M = 0.025


def foot_skating_ratio(motions: list[np.ndarray], feet: tuple[int, ...]) -> float:
    """Share of frame transitions, pooled over all motions (T_i x J x 3, metres, +Y up, ground at
    y = 0), in which any of the `feet` joints skids while touching the ground."""
    skating = transitions = 0
    for joints in motions:
        positions = joints[:, list(feet)]
        low = positions[..., 1] < SKATING_HEIGHT_M
        slide = np.linalg.norm(np.diff(positions[..., [0, 2]], axis=0), axis=-1)
        skating += int(np.any(low[1:] & low[:-1] & (slide > SKATING_SLIDE_M), axis=1).sum())
        transitions += len(joints) - 1
    if transitions == 0:
        raise ValueError("foot skating needs motions of at least 2 frames")
    return skating / transitions


# The numeric details a description can state (saymotion.descriptions.claims) and how far a motion
# is from one: path length in metres, foot plants outside the counts the words cover ("a few
# steps"), net turn in degrees (+ left), length in seconds. Direction and pace are words, not
# numbers, and are left out.
DETAIL_ERRORS = {
    "distance_m": lambda details, claimed: abs(details.path_length_m - claimed),
    "steps": lambda details, claimed: _outside(details.steps, *steps_said(claimed)),
    "turn_deg": lambda details, claimed: abs(wrap_degrees(details.turn_deg - claimed)),
    "duration_s": lambda details, claimed: abs(details.duration_s - claimed),
}


def _outside(value: float, low: float, high: float) -> float:
    return max(low - value, 0.0, value - high)


def detail_errors(motions: list[np.ndarray], claims: list[dict | None], skeleton: Skeleton, fps: float) -> dict[str, float]:
    """Mean absolute error between each numeric detail an instruction states and the same detail
    measured on the motion made for it (T_i x J x 3), over the instructions stating it: keys
    `detail_error_<kind>`, absent for a kind that no instruction states."""
    errors: dict[str, list[float]] = {kind: [] for kind in DETAIL_ERRORS}
    for joints, stated in zip(motions, claims, strict=True):
        wanted = {kind: value for kind, value in (stated or {}).items() if kind in DETAIL_ERRORS}
        if wanted:
            details = measure_details(joints, fps, skeleton)
            for kind, value in wanted.items():
                errors[kind].append(DETAIL_ERRORS[kind](details, value))
    return {f"detail_error_{kind}": float(np.mean(values)) for kind, values in errors.items() if values}


def wrist_travel(joints: np.ndarray, names: tuple[str, ...], wrist: str, reference: str = "Chest") -> float:
    """Path length (metres) of a wrist relative to the chest: how much a hand moves, whatever the body does."""
    relative = joints[:, names.index(wrist)] - joints[:, names.index(reference)]
    return float(np.linalg.norm(np.diff(relative, axis=0), axis=-1).sum())
