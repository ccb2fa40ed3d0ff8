"""The field's metrics against cases whose answer is known analytically."""

from __future__ import annotations

import numpy as np
import pytest

from saymotion.evaluation import metrics


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_fid_is_zero_for_the_same_set_and_grows_with_a_mean_shift(rng):
    real = rng.normal(size=(4000, 8))
    assert metrics.frechet_distance(real, real) == pytest.approx(0.0, abs=1e-6)
    shift = np.full(8, 0.5)
    # Same covariance, shifted mean: FID is |shift|^2 exactly.
    assert metrics.frechet_distance(real, real + shift) == pytest.approx(shift @ shift, rel=1e-6)


def test_fid_of_scaled_gaussians_matches_closed_form(rng):
    real = rng.normal(size=(20000, 4))
    generated = 2.0 * rng.normal(size=(20000, 4))
    # N(0, I) vs N(0, 4I): trace(I + 4I - 2*2I) = 4 * (1 + 4 - 4) = 4.
    assert metrics.frechet_distance(real, generated) == pytest.approx(4.0, rel=0.05)


def test_r_precision_perfect_and_chance(rng):
    text = rng.normal(size=(320, 16))
    top = metrics.r_precision(text, text)
    assert top.tolist() == [1.0, 1.0, 1.0]
    chance = metrics.r_precision(text, rng.normal(size=(320, 16)))
    assert chance[0] < 0.15 and chance[0] <= chance[1] <= chance[2]


def test_r_precision_counts_second_place(rng):
    text = np.zeros((32, 2))
    text[:, 0] = np.arange(32) * 10.0
    motion = text.copy()
    # Move motion 0 so that text 0 is closer to motion 1 than to its own motion: rank 2.
    motion[0, 0] = 8.0
    motion[1, 0] = 3.0
    top1, top2, _ = metrics.r_precision(text, motion)
    assert top1 == pytest.approx(30 / 32)
    assert top2 == pytest.approx(32 / 32)


def test_matching_distance_diversity_and_multimodality(rng):
    text = np.zeros((10, 3))
    motion = np.zeros((10, 3))
    motion[:, 0] = 2.0
    assert metrics.matching_distance(text, motion) == pytest.approx(2.0)
    two_points = np.array([[0.0, 0.0], [3.0, 4.0]])
    # Random pairs of two points: distance 0 or 5, about half each.
    assert metrics.diversity(two_points, rng) == pytest.approx(2.5, abs=0.6)
    identical_samples = np.ones((100, 30, 4))
    assert metrics.multimodality(identical_samples, rng) == 0.0


def test_interval_is_196_std_over_sqrt_n():
    values = [1.0, 2.0, 3.0, 4.0]
    interval = metrics.Interval.of(values)
    assert interval.mean == 2.5
    assert interval.half_width == pytest.approx(1.96 * np.std(values) / 2.0)
    assert interval.to_dict() == {"mean": 2.5, "ci95": interval.half_width}
