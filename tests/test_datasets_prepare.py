"""The prepare pipeline end to end on a small archive built from real clips, its resumption after
kill -9, and the read API on its output."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

from saymotion import cli
from saymotion.datasets.prepare import PrepareConfig, prepare_dataset
from saymotion.datasets.prepared import PreparedDataset
from saymotion.datasets.splits import SPLIT_NAMES
from saymotion.errors import DataError
from saymotion.evaluation.provenance import prepared_sha256
from saymotion.representation import features_to_joints
from saymotion.skeleton import BANDAI_JOINT_NAMES

pytestmark = pytest.mark.slow

COPIES = 3  # each sample clip under three take numbers, so resumption has work left to interrupt
SOURCE = "dataset-2_walk-turn-left_normal_001"
BAD_CLIPS = {
    "dataset-2_run_active_901": "motion data has",  # truncated file
    "dataset-2_run_active_902": "too short",
    "dataset-2_run_active_903": "non-finite",
    "dataset-2_run_youthful_904": "label says run/active but the file name says run/youthful",
    "dataset-2_run_active_905": "JSON label without a BVH file",
}


def take(clip: str, copy: int) -> str:
    """The clip id of copy `copy` (take 001 -> 101, 201, ...)."""
    stem, number = clip.rsplit("_", 1)
    return f"{stem}_{int(number) + 100 * copy:03d}"


def with_frames(bvh: str, lines: list[str]) -> str:
    header = bvh[: bvh.index("MOTION")]
    return f"{header}MOTION\nFrames: {len(lines)}\nFrame Time: 0.0333333\n" + "\n".join(lines) + "\n"


def bad_files(bvh: str) -> dict[str, str]:
    frames = bvh[bvh.index("Frame Time:") :].splitlines()[1:]
    poisoned = frames[:60]
    poisoned[30] = re.sub(r"^\S+", "nan", poisoned[30])
    run_active = '{"content": 3, "style": 0}'  # dataset-2's indices of run and active
    return {
        "dataset-2_run_active_901.bvh": bvh[: len(bvh) // 2],
        "dataset-2_run_active_901.json": run_active,
        "dataset-2_run_active_902.bvh": with_frames(bvh, frames[:15]),
        "dataset-2_run_active_902.json": run_active,
        "dataset-2_run_active_903.bvh": with_frames(bvh, poisoned),
        "dataset-2_run_active_903.json": run_active,
        "dataset-2_run_youthful_904.bvh": bvh,
        "dataset-2_run_youthful_904.json": run_active,
        "dataset-2_run_active_905.json": run_active,
    }


def vocabularies(labels: dict[str, str]) -> dict[str, list[str]]:
    """cfg/{content,style}_label.txt per dataset, placing each clip's names at its JSON indices."""
    files: dict[str, list[str]] = {}
    for name, text in labels.items():
        dataset, action, style, _ = name.removesuffix(".json").split("_")
        indices = json.loads(text)
        for kind, value in (("content", action), ("style", style)):
            names = files.setdefault(f"{dataset}/{kind}_label.txt", [])
            names.extend(f"{dataset}_unused-{i}" for i in range(len(names), indices[kind] + 1))
            names[indices[kind]] = f"{dataset}_{value}"
    return files


@pytest.fixture(scope="module")
def small_archive(bandai_clips: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    files: dict[str, str] = {}
    for clip, bvh_path in bandai_clips.items():
        for copy in range(COPIES):
            files[f"{take(clip, copy)}.bvh"] = bvh_path.read_text()
            files[f"{take(clip, copy)}.json"] = bvh_path.with_suffix(".json").read_text()
    files.update(bad_files(bandai_clips[SOURCE].read_text()))
    # The vocabularies agree with every label but the deliberately mislabelled clip's.
    labels = {name: text for name, text in files.items() if name.endswith(".json") and "_904" not in name}
    members = {}
    for name, text in files.items():
        dataset = name.split("_")[0]
        members[f"dataset/Bandai-Namco-Research-Motiondataset-{dataset[-1]}/data/{name}"] = text
    # Like the real archive, the label vocabularies come after the data.
    for path, names in vocabularies(labels).items():
        dataset, file_name = path.split("/")
        members[f"dataset/Bandai-Namco-Research-Motiondataset-{dataset[-1]}/cfg/{file_name}"] = "\n".join(names)
    archive = tmp_path_factory.mktemp("archive") / "small.tar.xz"
    with tarfile.open(archive, "w:xz", preset=0) as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


@pytest.fixture(scope="module")
def prepared(small_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("prepared")
    prepare_dataset(PrepareConfig(archive=small_archive, out=out, workers=1, verify=False))
    return out


def good_clips(bandai_clips: dict[str, Path]) -> list[str]:
    return sorted(take(clip, copy) for clip in bandai_clips for copy in range(COPIES))


def test_prepare_writes_the_documented_layout(prepared: Path, bandai_clips: dict[str, Path]) -> None:
    stats = json.loads((prepared / "stats.json").read_text())
    clips = good_clips(bandai_clips)
    assert stats["clips"] == len(clips) and stats["fps"] == 20
    assert {r["clip"]: r["reason"] for r in stats["rejected"]}.keys() == BAD_CLIPS.keys()
    for rejection in stats["rejected"]:
        assert BAD_CLIPS[rejection["clip"]] in rejection["reason"]
    assert sorted(p.stem for p in (prepared / "motions").glob("*.npz")) == clips
    assert stats["per_content"]["wave-left-hand"] == 2 * COPIES and stats["per_style"]["elderly"] == 2 * COPIES

    rows = [json.loads(line) for line in (prepared / "clips.jsonl").read_text().splitlines()]
    assert [row["id"] for row in rows] == clips
    wave = next(row for row in rows if row["id"] == "dataset-2_wave-left-hand_elderly_001")
    assert (wave["dataset"], wave["action"], wave["style"]) == ("dataset-2", "wave-left-hand", "elderly")
    assert sum(row["frames"] for row in rows) == stats["frames"]
    assert stats["hours"] == pytest.approx(stats["frames"] / 20 / 3600, abs=1e-4)

    source_frames = int(re.search(r"Frames:\s*(\d+)", bandai_clips[wave["id"]].read_text())[1])
    with np.load(prepared / "motions" / f"{wave['id']}.npz") as motion:
        features, joints = motion["features"], motion["joints"]
    assert wave["frames"] == len(features) == len(joints) == (source_frames - 1) * 2 // 3 + 1
    assert features.dtype == joints.dtype == np.float32 and joints.shape[1:] == (21, 3)
    # Canonical: the floor at y = 0 and the root starting above the origin.
    assert joints[..., 1].min() == pytest.approx(0.0, abs=1e-5)
    np.testing.assert_allclose(joints[0, 0, [0, 2]], 0.0, atol=1e-5)
    assert wave["details"]["duration_s"] == pytest.approx(len(features) / 20, abs=0.01)


def test_splits_statistics_and_skeleton_are_consistent(prepared: Path, bandai_clips: dict[str, Path]) -> None:
    splits = {name: (prepared / "splits" / f"{name}.txt").read_text().split() for name in SPLIT_NAMES}
    assigned = [clip for ids in splits.values() for clip in ids]
    assert sorted(assigned) == good_clips(bandai_clips) and len(set(assigned)) == len(assigned)

    train = [np.load(prepared / "motions" / f"{clip}.npz")["features"] for clip in splits["train"]]
    stacked = np.concatenate(train).astype(np.float64)
    mean, std = np.load(prepared / "mean.npy"), np.load(prepared / "std.npy")
    np.testing.assert_allclose(mean, stacked.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, np.maximum(stacked.std(axis=0), 1e-3), rtol=1e-4, atol=1e-6)

    skeleton = json.loads((prepared / "skeleton.json").read_text())
    assert skeleton["joint_names"] == list(BANDAI_JOINT_NAMES)
    offsets = [np.load(path)["offsets"] for path in sorted((prepared / "motions").glob("*.npz"))]
    np.testing.assert_allclose(skeleton["offsets"], np.mean(offsets, axis=0), atol=1e-9)

    descriptions = [json.loads(line) for line in (prepared / "descriptions.jsonl").read_text().splitlines()]
    split_of = {clip: name for name, ids in splits.items() for clip in ids}
    assert {row["clip"] for row in descriptions} == set(split_of)
    assert all(row["split"] == split_of[row["clip"]] for row in descriptions)


def test_rerun_skips_finished_work_and_redoes_only_what_is_missing(prepared: Path, small_archive: Path) -> None:
    config = PrepareConfig(archive=small_archive, out=prepared, workers=1, verify=False)
    motions = sorted((prepared / "motions").glob("*.npz"))
    stamps = {path: path.stat().st_mtime_ns for path in motions}
    stats = json.loads((prepared / "stats.json").read_text())
    assert prepare_dataset(config) == stats
    assert {path: path.stat().st_mtime_ns for path in motions} == stamps

    lost = motions[0]
    before = dict(np.load(lost))
    data_hash = prepared_sha256(prepared)
    lost.unlink()
    (prepared / "stats.json").unlink()
    assert prepare_dataset(config) == stats
    assert prepared_sha256(prepared) == data_hash  # the data's hash, which every report names, is reproducible
    assert all(path.stat().st_mtime_ns == stamp for path, stamp in stamps.items() if path != lost)
    after = np.load(lost)
    for key, array in before.items():
        np.testing.assert_array_equal(after[key], array)


def test_kill_9_mid_run_then_rerun_gives_the_uninterrupted_result(
    prepared: Path, small_archive: Path, tmp_path: Path
) -> None:
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "saymotion", "data", "prepare", "--out", str(out),
               "--archive", str(small_archive), "--no-verify", "--workers", "2"]  # fmt: skip
    log = tmp_path / "first-run.log"
    with log.open("w") as stderr:
        run = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 60
        while len(list(out.glob("motions/*.npz"))) < 3 and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        os.killpg(run.pid, signal.SIGKILL)  # the main process and its workers
        run.wait()
    assert not (out / "stats.json").exists(), "the run finished before it could be interrupted"
    done_before = len(list(out.glob("motions/*.npz")))
    assert 3 <= done_before < len(list(prepared.glob("motions/*.npz"))), log.read_text()[-2000:]

    rerun = subprocess.run(command, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    for path in sorted(prepared.glob("motions/*.npz")):
        with np.load(path) as expected, np.load(out / "motions" / path.name) as actual:
            assert expected.files == actual.files
            for key in expected.files:
                np.testing.assert_array_equal(actual[key], expected[key])
    for name in ("clips.jsonl", "skeleton.json", "descriptions.jsonl", *(f"splits/{s}.txt" for s in SPLIT_NAMES)):
        assert (out / name).read_text() == (prepared / name).read_text(), name
    for name in ("mean.npy", "std.npy"):
        np.testing.assert_array_equal(np.load(out / name), np.load(prepared / name))
    assert (out / "stats.json").read_text() == (prepared / "stats.json").read_text()
    assert not list(out.glob("motions/.*"))  # no temporary files left behind


def test_checksum_mismatch_is_a_one_line_error(small_archive: Path, tmp_path: Path, capsys) -> None:
    argv = ["data", "prepare", "--out", str(tmp_path / "out"), "--archive", str(small_archive)]
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("saymotion: error: archive ") and "use --no-verify" in error
    assert error.count("\n") == 1
    with pytest.raises(DataError, match="archive not found"):
        prepare_dataset(PrepareConfig(archive=tmp_path / "absent.tar.xz", out=tmp_path / "o", verify=False))


def test_prepared_dataset_read_api(prepared: Path, bandai_clips: dict[str, Path]) -> None:
    dataset = PreparedDataset(prepared)
    assert sorted(dataset.clips) == good_clips(bandai_clips)
    assert (dataset.fps, dataset.feature_dim) == (20.0, 257)
    assert dataset.mean.shape == dataset.std.shape == (257,)
    with pytest.raises(ValueError, match="read-only"):
        dataset.mean -= 1.0
    assert dataset.skeleton.joint_names == BANDAI_JOINT_NAMES
    train = dataset.split_ids("train")
    features = dataset.load_features(train[0])
    assert features.shape == (dataset.clips[train[0]].frames, 257)
    assert dataset.load_joints(train[0]).shape == (len(features), 21, 3)
    assert {d.clip for d in dataset.descriptions("train")} == set(train)
    assert len(dataset.descriptions()) == sum(len(dataset.descriptions(s)) for s in SPLIT_NAMES)

    with pytest.raises(DataError, match="no clip 'dataset-9_fly_normal_001'"):
        dataset.load_features("dataset-9_fly_normal_001")
    with pytest.raises(DataError, match="unknown split 'dev'"):
        dataset.split_ids("dev")


def test_prepared_dataset_rejects_missing_or_unfinished_folders(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="prepared dataset not found"):
        PreparedDataset(tmp_path / "absent")
    with pytest.raises(DataError, match="not a finished prepared dataset"):
        PreparedDataset(tmp_path)


def test_mirrored_wave_left_hand_clip_waves_the_right_hand(prepared: Path) -> None:
    dataset = PreparedDataset(prepared)
    clip = "dataset-2_wave-left-hand_elderly_001"
    split = next(name for name in SPLIT_NAMES if clip in dataset.split_ids(name))
    samples = [s for s in dataset.samples(split, mirror=True) if s.clip_id == clip]
    original, mirrored = samples
    assert (original.mirrored, mirrored.mirrored) == (False, True)
    assert (mirrored.action, mirrored.style) == ("wave-right-hand", "elderly")
    assert any("left" in text for text in original.texts)
    for before, after in zip(original.texts, mirrored.texts):
        assert after.replace("right", "left") == before.replace("right", "left")
        assert after.count("right") == before.count("left")

    skeleton = dataset.skeleton
    left_hand, right_hand = BANDAI_JOINT_NAMES.index("Hand_L"), BANDAI_JOINT_NAMES.index("Hand_R")
    joints = features_to_joints(original.features, skeleton)
    mirrored_joints = features_to_joints(mirrored.features, skeleton)
    # The waving hand is the one raised highest; the mirror raises the other hand exactly as high.
    assert joints[:, left_hand, 1].max() > joints[:, right_hand, 1].max() + 0.2
    np.testing.assert_allclose(mirrored_joints[:, right_hand] * [-1, 1, 1], joints[:, left_hand], atol=1e-4)


def test_limit_converts_the_first_clips_and_still_finds_their_labels(small_archive: Path, tmp_path: Path) -> None:
    with tarfile.open(small_archive) as tar:
        first = [Path(m.name).stem for m in tar if m.name.endswith(".bvh")][:4]
    stats = prepare_dataset(PrepareConfig(archive=small_archive, out=tmp_path, workers=1, limit=4, verify=False))
    converted = sorted(p.stem for p in (tmp_path / "motions").glob("*.npz"))
    assert converted == sorted(set(first) - BAD_CLIPS.keys())
    assert stats["clips"] == len(converted) and stats["config"]["limit"] == 4
    # The label vocabularies sit at the end of the archive, past the limit, yet every clip is labelled.
    rows = [json.loads(line) for line in (tmp_path / "clips.jsonl").read_text().splitlines()]
    assert all(row["action"] in row["id"] and row["style"] in row["id"] for row in rows)
