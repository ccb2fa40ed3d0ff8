"""Left/right mirroring augmentation: a clip reflected through its sagittal plane, with its action
label and texts mirrored to match (waving the left hand becomes waving the right hand)."""

from __future__ import annotations

from dataclasses import replace

from saymotion.datasets.base import ClipSample
from saymotion.descriptions.mirror import mirror_action, mirror_text
from saymotion.representation import mirror_features
from saymotion.skeleton import Skeleton


def mirror_sample(sample: ClipSample, skeleton: Skeleton) -> ClipSample:
    return replace(
        sample,
        action=mirror_action(sample.action),
        features=mirror_features(sample.features, skeleton),
        texts=tuple(mirror_text(text) for text in sample.texts),
        mirrored=not sample.mirrored,
    )
