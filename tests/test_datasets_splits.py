"""Splits (stratified, novel combinations held out) and the pooled feature statistics."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from saymotion.datasets.moments import MIN_STD, Moments, mean_and_std
from saymotion.datasets.splits import SPLIT_NAMES, SplitConfig, load_split, make_splits


def synthetic_labels() -> dict[str, tuple[str, str]]:
    """Shaped like the real archive: a big grid of many-take combinations plus one-take ones."""
    rng = np.random.default_rng(1)
    labels = {}
    for action in ("walk", "run", "wave-left-hand", "wave-right-hand", "raise-up-both-hands", "walk-turn-left"):
        for style in ("normal", "elderly", "active", "exhausted", "youthful"):
            for take in range(int(rng.integers(15, 30))):
                labels[f"dataset-2_{action}_{style}_{take:03d}"] = (action, style)
    for action in ("bow", "kick", "punch"):
        for style in ("happy", "sad", "angry", "proud"):
            labels[f"dataset-1_{action}_{style}_001"] = (action, style)
    return labels


def test_splits_partition_the_clips_in_stratified_proportions() -> None:
    labels = synthetic_labels()
    splits = make_splits(labels, SplitConfig(seed=3))
    every = [clip for name in SPLIT_NAMES for clip in splits.ids(name)]
    assert sorted(every) == sorted(labels) and len(every) == len(set(every))

    kept = len(labels) - len(splits.test_novel)
    assert len(splits.train) / kept == pytest.approx(0.8, abs=0.02)
    assert len(splits.val) / kept == pytest.approx(0.1, abs=0.02)
    assert len(splits.test) / kept == pytest.approx(0.1, abs=0.02)
    # Stratified: each combination of 20+ takes puts 2-3 takes into val and into test.
    for pair in {labels[c] for c in labels if c.startswith("dataset-2")} - set(splits.novel_pairs):
        in_val = sum(labels[c] == pair for c in splits.val)
        assert 1 <= in_val <= 3, pair


def test_novel_pairs_are_held_out_whole_and_keep_every_action_and_style_in_training() -> None:
    labels = synthetic_labels()
    splits = make_splits(labels, SplitConfig(seed=3))
    assert len(splits.novel_pairs) == 8
    assert {labels[c] for c in splits.test_novel} == set(splits.novel_pairs)
    seen = set(splits.train) | set(splits.val) | set(splits.test)
    assert not {labels[c] for c in seen} & set(splits.novel_pairs)

    train_pairs = {labels[c] for c in splits.train}
    for action, style in splits.novel_pairs:
        assert any(a == action for a, _ in train_pairs) and any(s == style for _, s in train_pairs)
    # Spread over actions and styles rather than piled on one.
    assert max(Counter(a for a, _ in splits.novel_pairs).values()) <= 2
    assert max(Counter(s for _, s in splits.novel_pairs).values()) <= 2
    # Neither one-take combinations nor the neutral style are held out.
    assert all(not c.startswith("dataset-1") for c in splits.test_novel)
    assert all(style != "normal" for _, style in splits.novel_pairs)


def test_splits_depend_only_on_the_seed(tmp_path: Path) -> None:
    labels = synthetic_labels()
    first = make_splits(labels, SplitConfig(seed=5))
    assert make_splits(dict(reversed(labels.items())), SplitConfig(seed=5)) == first
    assert make_splits(labels, SplitConfig(seed=6)) != first
    first.save(tmp_path)
    assert load_split(tmp_path, "test_novel") == list(first.test_novel)


def test_holding_out_stops_before_an_action_would_leave_training() -> None:
    # Two actions x two styles: only the two pairs of a diagonal can go; a third would leave an
    # action or a style with no training clips.
    labels = {f"{a}_{s}_{t}": (a, s) for a in ("walk", "run") for s in ("happy", "sad") for t in range(12)}
    splits = make_splits(labels, SplitConfig(novel_pairs=8))
    assert len(splits.novel_pairs) == 2
    (a1, s1), (a2, s2) = splits.novel_pairs
    assert a1 != a2 and s1 != s2


def test_pooled_moments_match_numpy_and_leave_inputs_untouched() -> None:
    rng = np.random.default_rng(0)
    clips = [rng.normal(loc=3.0, scale=0.2, size=(n, 5)).astype(np.float32) for n in (7, 40, 13)]
    for clip in clips:
        clip[:, 4] = 1.0  # a feature that never varies
    copies = [clip.copy() for clip in clips]
    mean, std = mean_and_std(Moments.of(clip) for clip in clips)

    stacked = np.concatenate(clips).astype(np.float64)
    np.testing.assert_allclose(mean, stacked.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(std[:4], stacked.std(axis=0)[:4], rtol=1e-5)
    assert std[4] == pytest.approx(MIN_STD)
    assert mean.dtype == std.dtype == np.float32
    for clip, copy in zip(clips, copies):
        np.testing.assert_array_equal(clip, copy)
