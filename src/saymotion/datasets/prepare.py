"""`saymotion data prepare`: the Bandai Namco archive -> a prepared dataset (layout in docs/design.md).

The archive is streamed once; each BVH goes to a worker process that resamples it to 20 fps,
canonicalises it and writes `motions/<id>.npz`. Labels, splits, statistics and descriptions are
computed from the workers' summaries at the end. A clip whose npz exists and is valid is not
converted again, so a killed run resumes where it stopped; stats.json is written last and marks a
finished run.
"""

from __future__ import annotations

import multiprocessing
import os
import zipfile
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from tqdm import tqdm

from saymotion import fileio
from saymotion.bvh import forward_kinematics, read_bvh, resample
from saymotion.datasets.bandai import (
    BANDAI_CLIP_COUNT,
    BvhMember,
    ClipLabel,
    LabelMember,
    Rejection,
    VocabularyMember,
    iter_archive,
    resolve_labels,
    verify_archive,
)
from saymotion.datasets.moments import Moments, mean_and_std
from saymotion.datasets.splits import SplitConfig, Splits, make_splits
from saymotion.descriptions import MotionDetails, describe_dataset, label_conflict, measure_details
from saymotion.descriptions.vocabulary import ACTIONS, STYLES
from saymotion.errors import DataError
from saymotion.representation import canonicalize, motion_to_features
from saymotion.skeleton import BANDAI_JOINT_NAMES, BANDAI_PARENTS, TARGET_FPS, Skeleton

# Clips shorter than this after resampling hold too little motion to learn from or describe.
MIN_SECONDS = 1.0
MIN_FRAMES = int(MIN_SECONDS * TARGET_FPS)
# BVH texts queued per worker: enough to keep workers busy while the archive is decompressed,
# few enough that the queue stays a few megabytes.
QUEUE_PER_WORKER = 2
# Bump when the outputs change, so a finished older run is finished again (2: step commands).
FORMAT_VERSION = 2


@dataclass(frozen=True)
class PrepareConfig:
    archive: Path
    out: Path
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    limit: int | None = None
    seed: int = 0
    verify: bool = True

    def identity(self) -> dict:
        """What decides the outputs: a finished run with the same identity is not redone."""
        return {"format": FORMAT_VERSION, "limit": self.limit, "seed": self.seed}


@dataclass(frozen=True)
class ClipTask:
    clip_id: str
    bvh_text: str
    motion_path: Path


@dataclass(frozen=True)
class ConvertedClip:
    """A worker's summary of one clip's npz: all the finishing steps need without reloading it."""

    clip_id: str
    frames: int
    offsets: np.ndarray
    details: dict
    moments: Moments


@dataclass
class ArchiveIndex:
    """What the stream holds besides the BVH texts handed to workers."""

    sources: dict[str, str] = field(default_factory=dict)  # clip id -> member path of every BVH
    label_texts: dict[str, str] = field(default_factory=dict)
    vocabularies: list[VocabularyMember] = field(default_factory=list)


def prepare_dataset(config: PrepareConfig) -> dict:
    """Prepare (or finish preparing) the dataset in `config.out`; returns stats.json's content."""
    out = config.out.expanduser().resolve()
    archive = config.archive.expanduser().resolve()
    if config.workers < 1:
        raise DataError(f"--workers must be at least 1, got {config.workers}")
    if config.limit is not None and config.limit < 1:
        raise DataError(f"--limit must be at least 1, got {config.limit}")
    finished = _finished_stats(out, config)
    if finished is not None:
        return finished
    if config.verify:
        verify_archive(archive)
    elif not archive.is_file():
        raise DataError(f"archive not found: {archive}")
    # stats.json marks a finished run; an older one (other --limit or --seed) no longer applies.
    (out / "stats.json").unlink(missing_ok=True)
    _remove_temporary_files(out / "motions")
    converted, rejected, index = _convert_archive(archive, out / "motions", config)
    labels, label_rejections = _check_labels(converted, index)
    for rejection in label_rejections:
        # Converted before its label could be checked: remove it so motions/ holds only usable clips.
        (out / "motions" / f"{rejection.clip}.npz").unlink(missing_ok=True)
        del converted[rejection.clip]
    unpaired = sorted(set(index.label_texts) - set(index.sources))
    orphans = [Rejection(clip, "JSON label without a BVH file") for clip in unpaired]
    rejected = sorted(rejected + label_rejections + orphans, key=lambda r: r.clip)
    if not converted:
        raise DataError(f"no usable clip in {archive} ({len(rejected)} rejected)")
    # Only what the data is: the same archive and settings give the same file (and data hash).
    stats = _write_outputs(out, config, converted, labels, index.sources, rejected)
    fileio.write_json(out / "stats.json", stats)
    return stats


def _convert_archive(
    archive: Path, motions: Path, config: PrepareConfig
) -> tuple[dict[str, ConvertedClip], list[Rejection], ArchiveIndex]:
    """Stream the archive through the workers: converted clips, rejected clips, and the labels."""
    index = ArchiveIndex()
    tasks = _clip_tasks(iter_archive(archive), index, motions, config.limit)
    total = config.limit or (BANDAI_CLIP_COUNT if config.verify else None)
    converted: dict[str, ConvertedClip] = {}
    rejected: list[Rejection] = []
    for result in tqdm(_run(tasks, config.workers), total=total, unit="clip", desc="prepare"):
        if isinstance(result, Rejection):
            rejected.append(result)
        else:
            converted[result.clip_id] = result
    return converted, rejected, index


def _check_labels(
    converted: dict[str, ConvertedClip], index: ArchiveIndex
) -> tuple[dict[str, ClipLabel], list[Rejection]]:
    """Labels of the clips that have a consistent label which their motion does not contradict
    (a "walk" that stays in place cannot be described truthfully)."""
    labels, rejected = resolve_labels(sorted(converted), index.label_texts, index.vocabularies)
    for clip_id, label in sorted(labels.items()):
        if label.action not in ACTIONS or label.style not in STYLES:
            reason = f"no description words for {label.action}/{label.style}"
        else:
            reason = label_conflict(label.action, MotionDetails.from_dict(converted[clip_id].details))
        if reason is not None:
            rejected.append(Rejection(clip_id, reason))
            del labels[clip_id]
    return labels, rejected


def _finished_stats(out: Path, config: PrepareConfig) -> dict | None:
    path = out / "stats.json"
    if not path.is_file():
        return None
    stats = fileio.read_json(path)
    return stats if stats.get("config") == config.identity() else None


def _remove_temporary_files(motions: Path) -> None:
    """Half-written npz files of a killed run (fileio's temporary names), never renamed into place."""
    for stale in motions.glob(".*.npz.*.tmp"):
        stale.unlink(missing_ok=True)


def _clip_tasks(members: Iterable, index: ArchiveIndex, motions: Path, limit: int | None) -> Iterator[ClipTask]:
    """Tasks for the first `limit` BVH files; the rest of the stream is still read for its labels."""
    for member in members:
        if isinstance(member, BvhMember):
            index.sources[member.clip_id] = member.source
            if limit is None or len(index.sources) <= limit:
                yield ClipTask(member.clip_id, member.text, motions / f"{member.clip_id}.npz")
        elif isinstance(member, LabelMember):
            index.label_texts[member.clip_id] = member.text
        else:
            index.vocabularies.append(member)


def _run(tasks: Iterator[ClipTask], workers: int) -> Iterator[ConvertedClip | Rejection]:
    """Results in completion order. One worker converts in this process (simpler to debug)."""
    if workers == 1:
        yield from map(convert_clip, tasks)
        return
    # spawn: workers start clean instead of inheriting the progress bar's thread and open archive.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending: set[Future] = set()
        for task in tasks:
            pending.add(pool.submit(convert_clip, task))
            if len(pending) >= QUEUE_PER_WORKER * workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (future.result() for future in done)
        for future in pending:
            yield future.result()


def convert_clip(task: ClipTask) -> ConvertedClip | Rejection:
    """Worker: reuse a valid npz or convert the BVH and write one. A bad clip becomes a Rejection
    (whatever the failure: one clip must never end the run)."""
    try:
        arrays = _load_valid_npz(task.motion_path)
        if arrays is None:
            arrays = _convert_bvh(task.bvh_text)
            fileio.save_npz(task.motion_path, **arrays)
        return _summarise(task.clip_id, arrays)
    except Exception as error:  # noqa: BLE001 - recorded in stats.json with its type
        reason = str(error) if isinstance(error, DataError) else f"{type(error).__name__}: {error}"
        return Rejection(task.clip_id, reason)


def _convert_bvh(text: str) -> dict[str, np.ndarray]:
    motion = read_bvh(text)
    skeleton = motion.skeleton
    if (skeleton.joint_names, skeleton.parents) != (BANDAI_JOINT_NAMES, BANDAI_PARENTS):
        raise DataError(f"not the Bandai rig: joints {', '.join(skeleton.joint_names)}")
    motion = canonicalize(resample(motion, TARGET_FPS))
    if motion.num_frames < MIN_FRAMES:
        raise DataError(f"too short: {motion.num_frames} frames at {TARGET_FPS} fps (under {MIN_SECONDS:g} s)")
    features = motion_to_features(motion)
    joints = forward_kinematics(motion).astype(np.float32)
    if not (np.isfinite(features).all() and np.isfinite(joints).all()):
        raise DataError("non-finite features or joint positions")
    return {"features": features, "joints": joints, "offsets": skeleton.offsets}


def _load_valid_npz(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of a finished clip, or None when the file is absent or not a complete clip."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            arrays = {key: data[key] for key in ("features", "joints", "offsets")}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    features, joints, offsets = arrays["features"], arrays["joints"], arrays["offsets"]
    joint_count = len(BANDAI_JOINT_NAMES)
    valid = (
        features.ndim == 2
        and features.shape[0] >= MIN_FRAMES
        and joints.shape == (features.shape[0], joint_count, 3)
        and offsets.shape == (joint_count, 3)
        and all(np.isfinite(array).all() for array in arrays.values())
    )
    return arrays if valid else None


def _summarise(clip_id: str, arrays: dict[str, np.ndarray]) -> ConvertedClip:
    skeleton = Skeleton.build(BANDAI_JOINT_NAMES, BANDAI_PARENTS, arrays["offsets"])
    details = measure_details(arrays["joints"], TARGET_FPS, skeleton).to_dict()
    frames = len(arrays["features"])
    return ConvertedClip(clip_id, frames, arrays["offsets"], details, Moments.of(arrays["features"]))


def _write_outputs(
    out: Path,
    config: PrepareConfig,
    converted: dict[str, ConvertedClip],
    labels: dict[str, ClipLabel],
    sources: dict[str, str],
    rejected: list[Rejection],
) -> dict:
    clip_ids = sorted(converted)
    rows = [_clip_row(converted[c], labels[c], sources[c]) for c in clip_ids]
    skeleton = Skeleton.build(
        BANDAI_JOINT_NAMES, BANDAI_PARENTS, np.mean([converted[c].offsets for c in clip_ids], axis=0)
    )
    splits = make_splits({c: (labels[c].action, labels[c].style) for c in clip_ids}, SplitConfig(seed=config.seed))
    mean, std = mean_and_std(converted[c].moments for c in splits.train)
    fileio.write_jsonl(out / "clips.jsonl", rows)
    fileio.write_json(out / "skeleton.json", skeleton.to_dict())
    splits.save(out / "splits")
    fileio.save_npy(out / "mean.npy", mean)
    fileio.save_npy(out / "std.npy", std)
    split_of = {clip: name for name, ids in splits.as_dict().items() for clip in ids}
    fileio.write_jsonl(out / "descriptions.jsonl", describe_dataset(rows, split_of, config.seed))
    return _stats(config, rows, splits, rejected, feature_dim=len(mean))


def _clip_row(clip: ConvertedClip, label: ClipLabel, source: str) -> dict:
    return {
        "id": clip.clip_id,
        "dataset": label.dataset,
        "action": label.action,
        "style": label.style,
        "source": source,
        "frames": clip.frames,
        "seconds": round(clip.frames / TARGET_FPS, 3),
        "details": clip.details,
    }


def _stats(
    config: PrepareConfig, rows: list[dict], splits: Splits, rejected: list[Rejection], feature_dim: int
) -> dict:
    frames = sum(row["frames"] for row in rows)
    return {
        "clips": len(rows),
        "frames": frames,
        "hours": round(frames / TARGET_FPS / 3600, 4),
        "fps": TARGET_FPS,
        "feature_dim": feature_dim,
        "joints": len(BANDAI_JOINT_NAMES),
        "per_dataset": dict(sorted(Counter(row["dataset"] for row in rows).items())),
        "per_content": dict(sorted(Counter(row["action"] for row in rows).items())),
        "per_style": dict(sorted(Counter(row["style"] for row in rows).items())),
        "splits": {name: len(ids) for name, ids in splits.as_dict().items()},
        "novel_pairs": [list(pair) for pair in splits.novel_pairs],
        "rejected": [rejection.to_dict() for rejection in rejected],
        "config": config.identity(),
    }
