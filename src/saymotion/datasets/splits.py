"""Train/val/test splits by clip, stratified by (action, style), plus a `test_novel` split that
holds out whole (action, style) combinations the model never sees during training."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from saymotion.errors import DataError
from saymotion.fileio import atomic_open

SPLIT_NAMES = ("train", "val", "test", "test_novel")
Pair = tuple[str, str]  # (action, style)


@dataclass(frozen=True)
class SplitConfig:
    seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    novel_pairs: int = 8
    # Only combinations with this many clips are held out, so test_novel measures more than a few takes.
    min_novel_clips: int = 10
    # The neutral style is every action's plain form, learnt from and compared against; holding it
    # out would remove the baseline rather than test a new combination.
    novel_excluded_styles: tuple[str, ...] = ("normal",)


@dataclass(frozen=True)
class Splits:
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    test_novel: tuple[str, ...]
    novel_pairs: tuple[Pair, ...]

    def ids(self, name: str) -> tuple[str, ...]:
        if name not in SPLIT_NAMES:
            raise DataError(f"unknown split {name!r} (choose from {', '.join(SPLIT_NAMES)})")
        return getattr(self, name)

    def as_dict(self) -> dict[str, list[str]]:
        return {name: list(self.ids(name)) for name in SPLIT_NAMES}

    def save(self, directory: Path) -> None:
        """Write `splits/<name>.txt`, one clip id per line (the held-out pairs go to stats.json)."""
        for name in SPLIT_NAMES:
            with atomic_open(directory / f"{name}.txt", "w", encoding="utf-8") as handle:
                handle.writelines(f"{clip}\n" for clip in self.ids(name))


def load_split(directory: Path, name: str) -> list[str]:
    path = directory / f"{name}.txt"
    if not path.is_file():
        raise DataError(f"split file missing: {path}")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def make_splits(labels: Mapping[str, Pair], config: SplitConfig = SplitConfig()) -> Splits:
    """Split clips (id -> (action, style)) deterministically for `config.seed`."""
    rng = np.random.default_rng(config.seed)
    groups = _group_by_pair(labels)
    assignment = {
        clip: split
        for pair in sorted(groups)
        for clip, split in _split_group(groups[pair], rng, config).items()
    }
    novel = _choose_novel_pairs(groups, assignment, rng, config)
    for pair in novel:
        assignment.update(dict.fromkeys(groups[pair], "test_novel"))
    ordered = {name: tuple(sorted(c for c, s in assignment.items() if s == name)) for name in SPLIT_NAMES}
    return Splits(**ordered, novel_pairs=tuple(sorted(novel)))


def _group_by_pair(labels: Mapping[str, Pair]) -> dict[Pair, list[str]]:
    groups: dict[Pair, list[str]] = defaultdict(list)
    for clip in sorted(labels):
        groups[labels[clip]].append(clip)
    return groups


def _split_group(clips: list[str], rng: np.random.Generator, config: SplitConfig) -> dict[str, str]:
    """Systematic sampling with a random start: clip k of n sits at quantile (k + u) / n.

    Every group gets exactly its share up to rounding, and groups too small for a val/test clip
    still contribute one now and then, so the overall fractions hold for the many one-take
    combinations of dataset-1 too. Any group of two or more clips keeps a clip in train.
    """
    order = rng.permutation(len(clips))
    start = rng.random()
    train_end = 1.0 - config.val_fraction - config.test_fraction
    val_end = 1.0 - config.test_fraction
    result = {}
    for rank, index in enumerate(order):
        quantile = (rank + start) / len(clips)
        result[clips[index]] = "train" if quantile < train_end else "val" if quantile < val_end else "test"
    return result


def _choose_novel_pairs(
    groups: dict[Pair, list[str]], assignment: dict[str, str], rng: np.random.Generator, config: SplitConfig
) -> list[Pair]:
    """Greedily hold out combinations, spreading them over actions and styles, while every action
    and every style keeps training clips from some other combination."""
    candidates = [
        pair
        for pair in sorted(groups)
        if len(groups[pair]) >= config.min_novel_clips and pair[1] not in config.novel_excluded_styles
    ]
    candidates = [candidates[i] for i in rng.permutation(len(candidates))]
    train_pairs = {pair for pair, clips in groups.items() if any(assignment[c] == "train" for c in clips)}
    chosen: list[Pair] = []
    while len(chosen) < config.novel_pairs:
        allowed = [pair for pair in candidates if pair not in chosen and _keeps_coverage(pair, chosen, train_pairs)]
        if not allowed:
            break
        # Fewest uses of the pair's action and style so far; the shuffled order breaks ties.
        chosen.append(min(allowed, key=lambda pair: _uses(pair, chosen)))
    return chosen


def _keeps_coverage(pair: Pair, chosen: list[Pair], train_pairs: set[Pair]) -> bool:
    remaining = train_pairs - set(chosen) - {pair}
    action, style = pair
    return any(a == action for a, _ in remaining) and any(s == style for _, s in remaining)


def _uses(pair: Pair, chosen: list[Pair]) -> int:
    return sum(pair[0] == a for a, _ in chosen) + sum(pair[1] == s for _, s in chosen)
