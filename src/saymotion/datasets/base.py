"""The read API shared by every dataset layout, so trainers and evaluators accept any of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Description:
    """One text describing a clip, or the part of it between `start` and `end` seconds."""

    id: str
    clip: str
    text: str
    split: str
    kind: str = "original"
    template: str | None = None
    claims: dict[str, int | str] | None = None  # measured details the text states; None: not recorded
    start: float | None = None
    end: float | None = None

    def frames(self, fps: float) -> slice:
        """The frames the text is about (the whole clip unless a segment is given)."""
        if self.start is None or self.end is None:
            return slice(None)
        return slice(int(self.start * fps), int(self.end * fps))


@dataclass(frozen=True, eq=False)
class ClipSample:
    """A labelled clip ready for training: features with its action, style and texts."""

    clip_id: str
    action: str
    style: str
    features: np.ndarray
    texts: tuple[str, ...]
    mirrored: bool = False


class MotionDataset(Protocol):
    name: str
    fps: float
    splits: tuple[str, ...]

    @property
    def mean(self) -> np.ndarray: ...

    @property
    def std(self) -> np.ndarray: ...

    @property
    def feature_dim(self) -> int: ...

    def split_ids(self, split: str) -> list[str]: ...

    def load_features(self, clip_id: str) -> np.ndarray: ...

    def descriptions(self, split: str | None = None) -> list[Description]: ...
