"""The Python API and `saymotion generate` on a tiny model, with real audio files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from saymotion import Motion, Pipeline
from saymotion.bvh import read_bvh
from saymotion.cli import main as cli_main
from saymotion.config import max_tokens
from saymotion.errors import SaymotionError


def tone_with_syllables(seconds: float = 1.5, rate: int = 22_050) -> np.ndarray:
    """Voice-like audio: a buzzy 140 Hz tone switched on and off at syllable rate."""
    t = np.arange(int(seconds * rate)) / rate
    envelope = (np.sin(2 * np.pi * 3.0 * t) > -0.2).astype(float)
    return (0.3 * envelope * np.sign(np.sin(2 * np.pi * 140 * t))).astype(np.float32)


@pytest.fixture(scope="module")
def instruction(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "say.wav"
    soundfile.write(path, tone_with_syllables(), 22_050)
    return path


@pytest.fixture(scope="module")
def pipeline(tiny_speech_model: Path) -> Pipeline:
    return Pipeline.load(tiny_speech_model)


def test_generate_from_audio_file_array_or_text(pipeline: Pipeline, instruction: Path):
    from_file = pipeline.generate(audio=instruction, seconds=2.0, seed=1, num_samples=2)
    assert len(from_file) == 2 and all(isinstance(motion, Motion) for motion in from_file)
    assert from_file[0].joints.shape == (40, 21, 3) and from_file[0].fps == 20.0
    samples, rate = soundfile.read(instruction, dtype="float32")
    from_array = pipeline.generate(audio=(samples, rate), seconds=2.0, seed=1, num_samples=2)
    np.testing.assert_array_equal(from_array[1].joints, from_file[1].joints)
    assert not np.array_equal(from_file[0].joints, from_file[1].joints)
    both = pipeline.generate(audio=instruction, text="like an elderly person", seconds=2.0, seed=1)[0]
    assert not np.array_equal(both.joints, from_file[0].joints)
    with pytest.raises(SaymotionError, match="sample rate"):
        pipeline.generate(audio=samples)


def test_generate_rows_gives_each_instruction_its_own_condition_and_length(pipeline: Pipeline, instruction: Path):
    generator = pipeline.generator
    speech = pipeline.speech_features(instruction)
    rows = [(speech, None), (None, "walks forward"), (speech, "slowly")]
    batch = generator.generate_rows(rows, seconds=[1.0, 2.0, 1.6], seed=3)
    assert [len(j) for j in batch.joints] == [20, 40, 32] and batch.token_counts == [5, 10, 8]
    predicted = generator.generate_rows(rows, seed=3)
    assert all(1 <= count <= max_tokens(generator.config) for count in predicted.token_counts)
    with pytest.raises(SaymotionError, match="3 instructions"):
        generator.generate_rows(rows, seconds=[1.0])
    with pytest.raises(SaymotionError, match="a spoken instruction, a text, or both"):
        generator.generate_rows([(None, None)])
    # the cascade's rows where speech recognition heard nothing: sampled without a condition
    unconditional = generator.generate_rows([(None, None), (None, "walks forward")], seconds=[1.0, 1.0], seed=3,
                                            unconditional=True)  # fmt: skip
    assert len(unconditional.joints) == 2 and np.isfinite(unconditional.joints[0]).all()


def test_motion_files(pipeline: Pipeline, tmp_path: Path):
    motion = pipeline.generate(text="waves the left hand", seconds=1.6, seed=0)[0]
    np.testing.assert_array_equal(np.load(motion.save_npy(tmp_path / "m.npy")), motion.joints)
    bvh = read_bvh(motion.save_bvh(tmp_path / "m.bvh"))
    assert bvh.num_frames == len(motion.joints) and bvh.fps == 20.0
    assert motion.save_mp4(tmp_path / "m.mp4").stat().st_size > 1000
    motion.save_pose2d(tmp_path / "pose.json", "coco18", video=tmp_path / "pose.mp4")
    document = json.loads((tmp_path / "pose.json").read_text())
    assert len(document["frames"]) == len(motion.joints) and document["layout"] == "COCO18"
    assert len(document["frames"][0]["people"][0]["pose_keypoints_2d"]) == 18 * 3
    assert (tmp_path / "pose.mp4").stat().st_size > 1000


def test_generate_command_writes_the_three_files(tiny_speech_model: Path, instruction: Path, tmp_path: Path):
    out = tmp_path / "out"
    code = cli_main(["generate", "--model", str(tiny_speech_model), "--audio", str(instruction), "--text", "slowly",
                     "--seconds", "2", "--seed", "3", "--guidance", "2", "--pose2d", "-o", str(out)])
    assert code == 0
    joints = np.load(out / "motion.npy")
    assert joints.shape == (40, 21, 3) and joints.dtype == np.float32 and np.isfinite(joints).all()
    assert read_bvh(out / "motion.bvh").num_frames == 40
    assert (out / "preview.mp4").stat().st_size > 1000 and (out / "pose2d.json").is_file()
    summary = json.loads((out / "generation.json").read_text())
    assert summary["seed"] == 3 and summary["samples"][0]["frames"] == 40 and summary["guidance"] == 2.0


def test_generate_command_numbers_several_samples(tiny_speech_model: Path, tmp_path: Path):
    out = tmp_path / "many"
    assert cli_main(["generate", "--model", str(tiny_speech_model), "--text", "walks forward", "--num-samples", "3",
                     "--no-video", "-o", str(out)]) == 0
    assert sorted(path.name for path in out.glob("motion_*.npy")) == ["motion_1.npy", "motion_2.npy", "motion_3.npy"]
    assert not (out / "preview_1.mp4").exists()


@pytest.mark.parametrize(
    ("make_file", "message"),
    [
        (lambda path: path.write_bytes(b""), "empty"),
        (lambda path: soundfile.write(path, np.zeros(16000, np.float32), 16000), "silent"),
        (lambda path: path.write_text("not audio at all " * 50), "audio"),
        (lambda path: soundfile.write(path, tone_with_syllables(40.0, 8000), 8000), "longer than"),
    ],
    ids=["empty", "silent", "not-audio", "too-long"],
)
def test_generate_command_rejects_bad_audio_in_one_line(tiny_speech_model: Path, tmp_path: Path, capsys, make_file, message):
    bad = tmp_path / "bad.wav"
    make_file(bad)
    out = tmp_path / "out"
    assert cli_main(["generate", "--model", str(tiny_speech_model), "--audio", str(bad), "-o", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1 and "Traceback" not in error
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--audio FILE, --text TEXT, or both"),
        (["--text", "walk", "--num-samples", "0"], "--num-samples"),
        (["--text", "walk", "--seconds", "99"], "--seconds"),
        (["--text", "walk", "--guidance", "-1"], "guidance"),
    ],
)
def test_generate_command_rejects_bad_options(tiny_speech_model: Path, tmp_path: Path, capsys, args, message):
    assert cli_main(["generate", "--model", str(tiny_speech_model), *args, "-o", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err


def test_missing_model_is_a_one_line_error(tmp_path: Path, capsys):
    assert cli_main(["generate", "--model", str(tmp_path), "--text", "walk", "-o", str(tmp_path / "o")]) == 2
    assert "not a saymotion model folder" in capsys.readouterr().err
