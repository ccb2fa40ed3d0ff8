"""Read access to a prepared Bandai dataset (the output of `saymotion data prepare`): what trainers
and evaluators use. Same read API as `humanml3d.HumanML3DDataset` (see `base.MotionDataset`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from saymotion import fileio
from saymotion.datasets.base import ClipSample, Description
from saymotion.datasets.mirror import mirror_sample
from saymotion.datasets.splits import SPLIT_NAMES, load_split
from saymotion.errors import DataError
from saymotion.skeleton import Skeleton


@dataclass(frozen=True)
class ClipRecord:
    """One row of clips.jsonl."""

    id: str
    dataset: str
    action: str
    style: str
    source: str
    frames: int
    seconds: float
    details: dict

    @classmethod
    def from_dict(cls, row: dict) -> ClipRecord:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


class PreparedDataset:
    name = "bandai"
    splits = SPLIT_NAMES

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        fix = f"run `saymotion data prepare --out {self.root}`"
        if not self.root.is_dir():
            raise DataError(f"prepared dataset not found: {self.root} ({fix})")
        if not (self.root / "stats.json").is_file():
            raise DataError(f"{self.root} is not a finished prepared dataset (no stats.json); {fix}")
        self.stats: dict = fileio.read_json(self.root / "stats.json")
        self.fps = float(self.stats["fps"])

    @functools.cached_property
    def clips(self) -> dict[str, ClipRecord]:
        return {row["id"]: ClipRecord.from_dict(row) for row in self._read_jsonl("clips.jsonl")}

    @functools.cached_property
    def mean(self) -> np.ndarray:
        return self._read_npy("mean.npy")

    @functools.cached_property
    def std(self) -> np.ndarray:
        return self._read_npy("std.npy")

    @property
    def feature_dim(self) -> int:
        return len(self.mean)

    @functools.cached_property
    def skeleton(self) -> Skeleton:
        return Skeleton.from_dict(fileio.read_json(self._path("skeleton.json")))

    @property
    def novel_pairs(self) -> list[tuple[str, str]]:
        """The (action, style) combinations held out of training, whose clips form test_novel."""
        return [tuple(pair) for pair in self.stats["novel_pairs"]]

    def split_ids(self, split: str) -> list[str]:
        if split not in SPLIT_NAMES:
            raise DataError(f"unknown split {split!r} (choose from {', '.join(SPLIT_NAMES)})")
        return load_split(self.root / "splits", split)

    def load_motion(self, clip_id: str) -> dict[str, np.ndarray]:
        """features (T x D float32), joints (T x J x 3 float32) and offsets (J x 3) of a clip."""
        path = self.root / "motions" / f"{clip_id}.npz"
        if clip_id not in self.clips or not path.is_file():
            raise DataError(f"no clip {clip_id!r} in {self.root}")
        with np.load(path) as data:
            return {key: data[key] for key in data.files}

    def load_features(self, clip_id: str) -> np.ndarray:
        return self.load_motion(clip_id)["features"]

    def load_joints(self, clip_id: str) -> np.ndarray:
        return self.load_motion(clip_id)["joints"]

    def descriptions(self, split: str | None = None) -> list[Description]:
        if split is not None and split not in SPLIT_NAMES:
            raise DataError(f"unknown split {split!r} (choose from {', '.join(SPLIT_NAMES)})")
        return [
            _description(row) for row in self._all_description_rows if split is None or row["split"] == split
        ]

    def samples(self, split: str, mirror: bool = False) -> Iterator[ClipSample]:
        """Every clip of the split with its description texts, each followed by its mirror image
        when `mirror` is set (left/right augmentation for training)."""
        texts: dict[str, list[str]] = {}
        for description in self.descriptions(split):
            texts.setdefault(description.clip, []).append(description.text)
        for clip_id in self.split_ids(split):
            record = self.clips[clip_id]
            features = self.load_features(clip_id)
            sample = ClipSample(clip_id, record.action, record.style, features, tuple(texts.get(clip_id, ())))
            yield sample
            if mirror:
                yield mirror_sample(sample, self.skeleton)

    @functools.cached_property
    def _all_description_rows(self) -> list[dict]:
        return self._read_jsonl("descriptions.jsonl")

    def _path(self, name: str) -> Path:
        path = self.root / name
        if not path.is_file():
            raise DataError(f"{self.root} is incomplete: {name} is missing (re-run `saymotion data prepare`)")
        return path

    def _read_jsonl(self, name: str) -> list[dict]:
        return fileio.read_jsonl(self._path(name))

    def _read_npy(self, name: str) -> np.ndarray:
        array = np.load(self._path(name))
        array.setflags(write=False)  # shared statistics: normalising must never change them in place
        return array


def _description(row: dict) -> Description:
    return Description(
        id=row["id"],
        clip=row["clip"],
        text=row["text"],
        split=row["split"],
        kind=row["kind"],
        template=row.get("template"),
        claims=row.get("claims"),
    )
