"""The corpus plan, synthesis, manifest and resumption after kill -9."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from saymotion import cli
from saymotion.errors import DataError, SaymotionError
from saymotion.fileio import sha256_file
from saymotion.speech import engines
from saymotion.speech.corpus import (
    CorpusConfig,
    check_speech_file,
    plan_corpus,
    read_descriptions,
    read_manifest,
    synthesize_corpus,
)
from saymotion.speech.voices import heldout_voices, training_voices

pytestmark = pytest.mark.skipif(
    not all(shutil.which(program) for program in [*engines.PROGRAMS.values(), "sox"]),
    reason="speech engines are not installed (scripts/setup.sh)",
)

TEXTS = {
    "train": [
        "a person walks forward slowly.",
        "someone waves the left hand twice.",
        "the figure bows, then stands.",
    ],
    "val": ["a man kicks with the right leg."],
    "test": ["a person jumps on the spot."],
    "test_novel": ["someone turns left while walking."],
}
SMALL = CorpusConfig(target_train_utterances=5)  # 3 training texts -> 1 or 2 voices each


def write_descriptions(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "descriptions.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return folder


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    rows = [
        {
            "id": f"{split}{i}",
            "clip": f"clip_{split}_{i}",
            "kind": "oral",
            "text": text,
            "template": "t",
            "split": split,
        }
        for split, texts in TEXTS.items()
        for i, text in enumerate(texts)
    ]
    # A second clip with the same (extra-spaced) training description shares its utterances.
    rows.append(
        {**rows[0], "id": "extra", "clip": "clip_train_shared", "text": "a person  walks forward slowly. "}
    )
    return write_descriptions(tmp_path / "data", rows)


def test_descriptions_are_grouped_by_text(data_dir):
    descriptions = read_descriptions(data_dir)
    assert len(descriptions) == 6
    walk = next(d for d in descriptions if d.text == "a person walks forward slowly.")
    assert walk.clips == ("clip_train_0", "clip_train_shared")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"clip": "c", "kind": "oral", "text": "hi", "split": "dev"}, "unknown split 'dev'"),
        ({"clip": "c", "kind": "sung", "text": "hi", "split": "train"}, "unknown kind 'sung'"),
        ({"clip": "c", "kind": "oral", "text": "  ", "split": "train"}, "must have 1 to 300 characters"),
        ({"clip": "c", "kind": "oral", "split": "train"}, "KeyError"),
    ],
)
def test_bad_description_rows_name_their_line(tmp_path, row, message):
    folder = write_descriptions(tmp_path, [{"clip": "ok", "kind": "oral", "text": "walk", "split": "train"}, row])
    with pytest.raises(DataError, match=f"descriptions.jsonl:2: .*{message}"):
        read_descriptions(folder)


def test_missing_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="prepare the dataset first"):
        read_descriptions(tmp_path)


def test_plan_keeps_heldout_voices_for_the_test_splits(data_dir):
    planned = plan_corpus(
        read_descriptions(data_dir), CorpusConfig(target_train_utterances=9, test_utterances_per_text=2)
    )
    train_names = {voice.name for voice in training_voices()}
    heldout_names = {voice.name for voice in heldout_voices()}
    by_split = {split: [u for u in planned if u.description.split == split] for split in TEXTS}
    assert len(by_split["train"]) == 9 and len(by_split["val"]) == 1
    assert len(by_split["test"]) == 2 and len(by_split["test_novel"]) == 2
    for split, utterances in by_split.items():
        names = {u.voice.name for u in utterances}
        assert names <= (heldout_names if split.startswith("test") else train_names), split
        assert all((u.augment is not None) == (split == "train") for u in utterances)
    assert len({u.id for u in planned}) == len(planned)
    assert [u.id for u in plan_corpus(read_descriptions(data_dir), SMALL)] == [
        u.id for u in plan_corpus(read_descriptions(data_dir), SMALL)
    ]


def test_fractional_target_is_met_on_average(tmp_path):
    rows = [
        {"clip": f"c{i}", "kind": "original", "text": f"walk {i} steps.", "split": "train"} for i in range(400)
    ]
    planned = plan_corpus(
        read_descriptions(write_descriptions(tmp_path, rows)), CorpusConfig(target_train_utterances=600)
    )
    assert 560 <= len(planned) <= 640
    per_text = np.bincount(np.unique([u.description.key for u in planned], return_inverse=True)[1])
    assert set(per_text) == {1, 2}
    # Voices are used evenly enough: every training voice speaks.
    assert len({u.voice.name for u in planned}) == len(training_voices())


def test_synthesize_writes_a_valid_manifest_and_reuses_finished_audio(data_dir, tmp_path):
    out = tmp_path / "speech"
    rows = synthesize_corpus(data_dir, out, limit=4, workers=1, config=SMALL, progress=False)
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(manifest) == 4 and [row.id for row in read_manifest(out)] == [row["id"] for row in manifest]
    fields = {
        "id",
        "path",
        "clips",
        "text",
        "kind",
        "split",
        "engine",
        "voice",
        "augment",
        "duration",
        "sample_rate",
        "sha256",
    }
    for row in manifest:
        assert set(row) == fields
        audio = out / row["path"]
        assert sha256_file(audio) == row["sha256"]
        info = soundfile.info(audio)
        assert (info.samplerate, info.channels, row["sample_rate"]) == (16_000, 1, 16_000)
        assert row["duration"] == pytest.approx(info.duration, abs=1e-3)
        assert (row["augment"] is not None) == (row["split"] == "train")
    mtimes = {path: path.stat().st_mtime_ns for path in out.glob("audio/*/*.flac")}
    again = synthesize_corpus(data_dir, out, limit=4, workers=1, config=SMALL, progress=False)
    assert again == rows
    assert {path: path.stat().st_mtime_ns for path in out.glob("audio/*/*.flac")} == mtimes


def test_a_folder_made_with_other_settings_is_refused(data_dir, tmp_path):
    synthesize_corpus(data_dir, tmp_path / "s", limit=1, workers=1, config=SMALL, progress=False)
    with pytest.raises(SaymotionError, match="made with other settings"):
        synthesize_corpus(
            data_dir, tmp_path / "s", limit=1, workers=1, config=CorpusConfig(seed=1), progress=False
        )


def test_kill_9_midway_then_resume_gives_the_uninterrupted_manifest(data_dir, tmp_path):
    """The issue's bar, in small: same manifest, byte for byte, after a hard kill."""
    limit = 8
    complete, resumed = tmp_path / "complete", tmp_path / "resumed"
    cli.main(
        [
            "speech",
            "synthesize",
            "--data",
            str(data_dir),
            "--out",
            str(complete),
            "--limit",
            str(limit),
            "--workers",
            "1",
            "--quiet",
        ]
    )
    command = [
        sys.executable,
        "-m",
        "saymotion",
        "speech",
        "synthesize",
        "--data",
        str(data_dir),
        "--out",
        str(resumed),
    ]
    # The killed run's temporary files land in tmp_path, not the machine's /tmp.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    process = subprocess.Popen(
        [*command, "--limit", str(limit), "--workers", "2", "--quiet"],
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    deadline = time.monotonic() + 60
    while len(list(resumed.glob("audio/*/*.flac"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (resumed / "manifest.jsonl").exists()
    assert 2 <= len(list(resumed.glob("audio/*/*.flac"))) < limit
    assert cli.main([*command[3:], "--limit", str(limit), "--workers", "2", "--quiet"]) == 0
    assert (resumed / "manifest.jsonl").read_bytes() == (complete / "manifest.jsonl").read_bytes()


def test_written_audio_is_checked(tmp_path):
    good = tmp_path / "good.flac"
    text = "a person walks forward slowly."
    t = np.arange(32_000) / 16_000
    soundfile.write(good, 0.3 * np.sin(2 * np.pi * 200 * t), 16_000)
    assert check_speech_file(good, text) == pytest.approx(2.0)
    cases = {
        "sample rate 22050": (0.3 * np.sin(2 * np.pi * 200 * t), 22_050, text),
        "silent": (np.zeros(32_000), 16_000, text),
        "2.00 s for 300 characters": (0.3 * np.sin(2 * np.pi * 200 * t), 16_000, "x" * 300),
    }
    for message, (samples, rate, spoken) in cases.items():
        path = tmp_path / "bad.flac"
        soundfile.write(path, samples, rate)
        with pytest.raises(SaymotionError, match=message):
            check_speech_file(path, spoken)
