"""Shared fixtures. Real-data tests use a handful of clips pulled once from the shared archive and
skip cleanly when the archive is not there."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from saymotion.settings import default_archive

# A small, varied set of real clips: locomotion with and without turns, one-handed gestures,
# dataset-1 and dataset-2 skeletons, several styles.
SAMPLE_CLIPS = (
    "dataset-1_walk_normal_001",
    "dataset-1_bow_tired_001",
    "dataset-1_walk-left_tired_001",
    "dataset-1_bye_feminine_001",
    "dataset-2_walk-turn-left_normal_001",
    "dataset-2_walk-turn-left_normal_002",
    "dataset-2_wave-left-hand_elderly_001",
    "dataset-2_wave-left-hand_elderly_002",
)


@pytest.fixture(scope="session")
def bandai_archive() -> Path:
    archive = default_archive()
    if not archive.is_file():
        pytest.skip(f"shared archive not found at {archive}")
    return archive


@pytest.fixture(scope="session")
def bandai_clips(bandai_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Map clip id -> extracted BVH path (the JSON label file sits beside it)."""
    out = tmp_path_factory.mktemp("bandai_clips")
    wanted = {f"{clip}{ext}" for clip in SAMPLE_CLIPS for ext in (".bvh", ".json")}
    with tarfile.open(bandai_archive, "r:xz") as archive:
        for member in archive:
            name = Path(member.name).name
            if member.isfile() and name in wanted:
                (out / name).write_bytes(archive.extractfile(member).read())
                wanted.discard(name)
                if not wanted:
                    break
    assert not wanted, f"clips missing from the archive: {sorted(wanted)}"
    return {clip: out / f"{clip}.bvh" for clip in SAMPLE_CLIPS}


@pytest.fixture(scope="session")
def tiny_speech_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An exported tiny model conditioned on 512-d whisper-base frames and text, trained for a few
    steps on the synthetic dataset: real audio files go through the whole generation path."""
    from synthetic import make_prepared_dataset, make_speech_corpus

    from saymotion.cli import main as cli_main
    from saymotion.settings import REPO_DIR

    root = tmp_path_factory.mktemp("tiny_speech_model")
    prepared = make_prepared_dataset(root / "prepared")
    speech = make_speech_corpus(root / "speech", prepared, dim=512)
    common = ["--config", str(REPO_DIR / "configs" / "tiny.toml"), "--device", "cpu", "--threads", "1", "--no-progress"]
    assert cli_main(["train", "all", "--data", str(prepared), "--speech", str(speech), "--out", str(root / "run"), *common]) == 0
    assert cli_main(["train", "export", "--run", str(root / "run"), "--out", str(root / "model"), "--half"]) == 0
    return root / "model"
