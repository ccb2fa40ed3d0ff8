"""Read access to datasets in the HumanML3D / KIT-ML folder layout (Guo et al. 2022):

    new_joint_vecs/<id>.npy   T x 263 (HumanML3D, 20 fps) or T x 251 (KIT-ML, 12.5 fps) features
    new_joints/<id>.npy       T x J x 3 joint positions (optional)
    texts/<id>.txt            lines `caption#word/POS tokens#start#end` (seconds; 0 0 = whole clip)
    Mean.npy Std.npy          feature statistics
    train.txt val.txt test.txt  clip ids
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saymotion.datasets.base import Description
from saymotion.errors import DataError


@dataclass(frozen=True)
class LayoutKind:
    name: str
    feature_dim: int
    fps: float


LAYOUTS = (LayoutKind("humanml3d", 263, 20.0), LayoutKind("kit", 251, 12.5))
SPLITS = ("train", "val", "test")


class HumanML3DDataset:
    """A HumanML3D or KIT-ML folder, recognised by its feature width."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise DataError(f"dataset folder not found: {self.root}")
        for required in ("new_joint_vecs", "texts", "Mean.npy", "Std.npy"):
            if not (self.root / required).exists():
                raise DataError(f"{self.root} is not in the HumanML3D/KIT-ML layout: {required} is missing")
        self._mean = np.load(self.root / "Mean.npy").astype(np.float32)
        self._std = np.load(self.root / "Std.npy").astype(np.float32)
        for array in (self._mean, self._std):
            array.setflags(write=False)  # shared statistics: normalising must never change them in place
        if self._mean.ndim != 1 or self._mean.shape != self._std.shape:
            raise DataError(f"Mean.npy {self._mean.shape} and Std.npy {self._std.shape} in {self.root} do not match")
        layout = next((kind for kind in LAYOUTS if kind.feature_dim == self._mean.shape[0]), None)
        if layout is None:
            dim = self._mean.shape[0]
            raise DataError(f"{self.root}: {dim}-d features are neither HumanML3D (263) nor KIT-ML (251)")
        self.name = layout.name
        self.fps = layout.fps
        self.splits = tuple(split for split in SPLITS if (self.root / f"{split}.txt").is_file())

    @property
    def mean(self) -> np.ndarray:
        return self._mean

    @property
    def std(self) -> np.ndarray:
        return self._std

    @property
    def feature_dim(self) -> int:
        return self._mean.shape[0]

    @functools.cached_property
    def _motion_ids(self) -> frozenset[str]:
        return frozenset(path.stem for path in (self.root / "new_joint_vecs").glob("*.npy"))

    def split_ids(self, split: str) -> list[str]:
        """Ids listed in `<split>.txt` that have a motion file (the published lists name a few that do not)."""
        if split not in self.splits:
            raise DataError(f"{self.root} has no split {split!r} (available: {', '.join(self.splits)})")
        listed = (self.root / f"{split}.txt").read_text(encoding="utf-8").split()
        return [clip for clip in listed if clip in self._motion_ids]

    def load_features(self, clip_id: str) -> np.ndarray:
        return self._load(self.root / "new_joint_vecs" / f"{clip_id}.npy")

    def load_joints(self, clip_id: str) -> np.ndarray:
        return self._load(self.root / "new_joints" / f"{clip_id}.npy")

    def descriptions(self, split: str | None = None) -> list[Description]:
        splits = self.splits if split is None else (split,)
        return [text for name in splits for clip in self.split_ids(name) for text in self._read_texts(clip, name)]

    def _read_texts(self, clip_id: str, split: str) -> list[Description]:
        path = self.root / "texts" / f"{clip_id}.txt"
        if not path.is_file():
            return []
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [_parse_text_line(line, clip_id, split, index, path) for index, line in enumerate(lines)]

    @staticmethod
    def _load(path: Path) -> np.ndarray:
        if not path.is_file():
            raise DataError(f"motion file not found: {path}")
        return np.load(path).astype(np.float32, copy=False)


def _parse_text_line(line: str, clip_id: str, split: str, index: int, path: Path) -> Description:
    fields = line.strip().split("#")
    if len(fields) != 4:
        raise DataError(f"{path}:{index + 1}: expected caption#tokens#start#end, got {line.strip()!r}")
    caption, _tokens, start_text, end_text = fields
    try:
        start, end = (_seconds(value) for value in (start_text, end_text))
    except ValueError as error:
        raise DataError(f"{path}:{index + 1}: bad segment times {start_text!r}, {end_text!r}") from error
    whole_clip = start == 0.0 and end == 0.0
    return Description(
        id=f"{clip_id}#{index}",
        clip=clip_id,
        text=caption.strip(),
        split=split,
        start=None if whole_clip else start,
        end=None if whole_clip else end,
    )


def _seconds(value: str) -> float:
    """Segment bounds in seconds; the published files write NaN for 'from the start'."""
    seconds = float(value)
    return 0.0 if math.isnan(seconds) else seconds
