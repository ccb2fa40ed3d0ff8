"""Multi-step instructions: one recording or text with several instructions -> one continuous motion
whose seams are inpainted in token space."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from test_models import AUDIO_DIM, TEXT_DIM, TINY_CONDITION, TINY_TRANSFORMER, condition_batch
from test_pipeline import tone_with_syllables

from saymotion import Pipeline
from saymotion.cli import main as cli_main
from saymotion.commands.speech import pause_lengths
from saymotion.config import MaskedTransformerConfig, ResidualTransformerConfig
from saymotion.errors import SaymotionError
from saymotion.instructions import split_at_pauses
from saymotion.models.masked_transformer import MaskedTransformer, mix_conditions
from saymotion.models.residual_transformer import ResidualTransformer
from saymotion.multistep import SEAM_TOKENS, plan_seams, seam_window

RATE = 22_050
SEAMS_AT = (40, 80)  # frames, for three 2-s steps


def three_part_recording() -> np.ndarray:
    """Three voice-like bursts separated by 0.8 s of silence."""
    silence = np.zeros(int(0.8 * RATE), np.float32)
    lead = silence[: RATE // 4]
    return np.concatenate([lead, tone_with_syllables(1.5), silence, tone_with_syllables(1.2), silence,
                           tone_with_syllables(1.5), lead])


def frame_steps(joints: np.ndarray) -> np.ndarray:
    """Per frame-to-frame transition: the joint displacement in metres, averaged over joints."""
    return np.linalg.norm(np.diff(joints, axis=0), axis=-1).mean(-1)


@pytest.fixture(scope="module")
def pipeline(tiny_speech_model: Path) -> Pipeline:
    return Pipeline.load(tiny_speech_model)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("steps") / "three_steps.wav"
    soundfile.write(path, three_part_recording(), RATE)
    return path


@pytest.fixture(scope="module")
def three_steps(pipeline: Pipeline):
    return pipeline.generate_steps(audio=(three_part_recording(), RATE), seconds=2.0, seed=0)


# --- models: inpainting from known codes ---------------------------------------------------------


def tiny_masked() -> MaskedTransformer:
    torch.manual_seed(0)
    return MaskedTransformer(MaskedTransformerConfig(**TINY_TRANSFORMER), TINY_CONDITION, 20, 12, AUDIO_DIM, TEXT_DIM).eval()


SAMPLING = dict(iterations=4, temperature=1.0, top_k=0, audio_scale=2.0, text_scale=1.0)


def test_masked_transformer_fills_only_the_masked_positions():
    model, cond, lengths = tiny_masked(), condition_batch(), torch.tensor([12, 7, 3])
    fresh = model.generate(lengths, cond, generator=torch.Generator().manual_seed(3), **SAMPLING)
    all_masked = torch.full((3, 12), model.mask_id)
    from_masks = model.generate(lengths, cond, generator=torch.Generator().manual_seed(3), known=all_masked, **SAMPLING)
    assert torch.equal(fresh, from_masks)
    known = torch.randint(0, 20, (3, 12))
    fill = torch.zeros(3, 12, dtype=torch.bool)
    fill[0, 4:8] = fill[1, 0:2] = True
    filled = model.generate(lengths, cond, generator=torch.Generator().manual_seed(3), known=known.masked_fill(fill, model.mask_id),
                            **SAMPLING)
    valid = torch.arange(12)[None] < lengths[:, None]
    assert torch.equal(filled[valid & ~fill], known[valid & ~fill])
    assert bool((filled[fill] < 20).all()) and bool((filled[~valid] == model.pad_id).all())


def test_conditions_mix_per_position():
    logits = torch.arange(2 * 1 * 3 * 2, dtype=torch.float32).reshape(2, 3, 2)  # K=2 conditions, B=1, N=3, C=2
    weights = torch.tensor([[[1.0, 0.5, 0.0]], [[0.0, 0.5, 1.0]]])
    mixed = mix_conditions(logits, weights)
    torch.testing.assert_close(mixed[0], torch.stack([logits[0, 0], (logits[0, 1] + logits[1, 1]) / 2, logits[1, 2]]))
    assert mix_conditions(logits, None) is logits


def test_residual_transformer_regenerates_only_the_fill_positions():
    torch.manual_seed(0)
    model = ResidualTransformer(ResidualTransformerConfig(**TINY_TRANSFORMER), TINY_CONDITION, 20, 4, 12, AUDIO_DIM, TEXT_DIM).eval()
    known = torch.randint(0, 20, (1, 8, 4))
    fill = torch.zeros(1, 8, dtype=torch.bool)
    fill[0, 3:5] = True
    pair = condition_batch(audio_lengths=(9, 4), with_audio=(True, True), with_text=(True, True))
    mix = torch.stack([torch.ones(1, 8), torch.zeros(1, 8)])
    kwargs = dict(temperature=1.0, top_k=0, scale=2.0, known=known, fill=fill, mix=mix)
    outs = [model.generate(known[..., 0], torch.tensor([8]), pair, generator=torch.Generator().manual_seed(s), **kwargs)
            for s in range(4)]
    for out in outs:
        assert torch.equal(out[..., 0], known[..., 0]) and torch.equal(out[~fill], known[~fill])
    assert any(not torch.equal(out[fill], known[fill]) for out in outs)


# --- seam planning -------------------------------------------------------------------------------


def test_seam_windows_fit_the_positional_table_and_keep_both_steps():
    assert seam_window(0, 10, 20, 12) == (4, 16)  # trimmed evenly around the boundary
    assert seam_window(0, 3, 20, 12) == (0, 12)  # a short left step: more of the right one
    assert seam_window(30, 45, 48, 12) == (36, 48)
    seams = plan_seams([10, 10, 3, 1, 1], max_tokens=12)
    assert [seam.fill for seam in seams] == [(8, 12), (18, 21), (22, 23)]  # at most half a step each side
    assert [seam.left for seam in seams] == [0, 1, 2]  # the seam between the two one-token steps is left alone
    for seam in seams:
        assert seam.window[1] - seam.window[0] <= 12 and seam.window[0] <= seam.fill[0] < seam.fill[1] <= seam.window[1]
    weights = seams[0].handover(torch.device("cpu"))[:, 0]
    torch.testing.assert_close(weights.sum(0), torch.ones(12))
    assert weights[1, 4:8].tolist() == [0.125, 0.375, 0.625, 0.875]  # hand-over from the left to the right step


# --- the pipeline --------------------------------------------------------------------------------


def test_a_three_part_recording_becomes_three_steps_of_one_motion(three_steps):
    steps = three_steps.steps
    assert len(steps) == 3
    assert [(step.start_frame, step.end_frame) for step in steps] == [(0, 40), (40, 80), (80, 120)]
    assert three_steps.joints.shape == (120, 21, 3) and len(three_steps.features) == 120
    spans = [step.audio_span_s for step in steps]
    expected_starts = (0.25, 0.25 + 1.5 + 0.8, 0.25 + 1.5 + 0.8 + 1.2 + 0.8)
    assert [start for start, _ in spans] == pytest.approx([start - 0.1 for start in expected_starts], abs=0.1)
    assert all(step.text is None for step in steps)


def test_the_seams_have_no_jump(three_steps):
    steps = frame_steps(three_steps.joints)
    seam_transitions = [frame - 1 + offset for frame in SEAMS_AT for offset in range(-2, 3)]
    inside = np.delete(steps, seam_transitions)
    # Decoded as one sequence: were the steps decoded apart, the root would restart at the origin.
    assert steps[seam_transitions].max() <= 1.5 * inside.max()


def test_seam_tokens_are_generated_again_and_the_rest_is_kept(pipeline: Pipeline):
    changed = []
    for seed in range(3):
        result = pipeline.generator.generate_steps([(None, "walk"), (None, "wave"), (None, "bow")], seconds=2.0, seed=seed)
        codes, plain = result.codes.codes, result.codes.concatenated
        fills = [seam.fill for seam in result.codes.seams]
        assert fills == [(10 - SEAM_TOKENS, 10 + SEAM_TOKENS), (20 - SEAM_TOKENS, 20 + SEAM_TOKENS)]
        outside = torch.ones(len(codes), dtype=torch.bool)
        for start, end in fills:
            outside[start:end] = False
        assert torch.equal(codes[outside], plain[outside])
        changed.append(not torch.equal(codes[~outside], plain[~outside]))
        assert result.motion.joints[0].shape[0] == 4 * len(codes) == 120
    assert any(changed)


def test_steps_are_deterministic_for_a_seed(pipeline: Pipeline, three_steps):
    recording = (three_part_recording(), RATE)
    again = pipeline.generate_steps(audio=recording, seconds=2.0, seed=0)
    np.testing.assert_array_equal(again.joints, three_steps.joints)
    other = pipeline.generate_steps(audio=recording, seconds=2.0, seed=1)
    assert not np.array_equal(other.joints, three_steps.joints)


def test_a_text_with_three_sentences_gives_three_steps(pipeline: Pipeline):
    motion = pipeline.generate_steps(text="Walk forward a few steps. Now wave your left hand, then bow.", seed=2)
    assert [step.text for step in motion.steps] == ["Walk forward a few steps", "wave your left hand", "bow"]
    assert motion.steps[0].start_frame == 0 and motion.steps[-1].end_frame == len(motion.joints)
    assert all(a.end_frame == b.start_frame for a, b in zip(motion.steps, motion.steps[1:]))
    assert all(step.audio_span_s is None for step in motion.steps)


def test_audio_and_text_the_text_is_how_every_step_is_done(pipeline: Pipeline, three_steps):
    motion = pipeline.generate_steps(audio=(three_part_recording(), RATE), text="slowly", seconds=2.0, seed=0)
    assert [step.text for step in motion.steps] == ["slowly"] * 3
    assert not np.array_equal(motion.joints, three_steps.joints)


def test_a_recording_without_pauses_is_one_step(pipeline: Pipeline):
    motion = pipeline.generate_steps(audio=(tone_with_syllables(1.5), RATE), seconds=1.0, seed=0)
    assert len(motion.steps) == 1
    assert (motion.steps[0].start_frame, motion.steps[0].end_frame) == (0, 20) == (0, len(motion.joints))


def clicks() -> np.ndarray:
    silence = np.zeros(int(0.5 * RATE), np.float32)
    click = tone_with_syllables(0.05)
    return np.concatenate([silence, click, silence, click, silence])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "a spoken instruction, a text, or both"),
        ({"text": "... !"}, "found no instruction in the text"),
        ({"audio": (clicks(), RATE)}, "no spoken instruction in the audio"),
        ({"text": "walk. then bow.", "seconds": [1.0, 2.0, 3.0]}, "2 steps but 3 lengths"),
        ({"text": "walk. then bow.", "seconds": 99.0}, "--seconds must be between"),
        ({"text": "walk. then bow.", "min_pause": 0.0}, "minimum pause"),
        ({"audio": three_part_recording()}, "sample rate"),
    ],
)
def test_bad_inputs_are_one_line_errors(pipeline: Pipeline, kwargs, message):
    with pytest.raises(SaymotionError, match=message) as error:
        pipeline.generate_steps(**kwargs)
    assert "\n" not in str(error.value)


def test_generate_steps_command_writes_motion_and_segments(tiny_speech_model: Path, recording: Path, tmp_path: Path):
    out = tmp_path / "out"
    assert cli_main(["generate", "--steps", "--model", str(tiny_speech_model), "--audio", str(recording),
                     "--seconds", "1", "--seed", "4", "-o", str(out)]) == 0
    joints = np.load(out / "motion.npy")
    assert joints.shape == (60, 21, 3) and np.isfinite(joints).all()
    assert (out / "motion.bvh").is_file() and (out / "preview.mp4").stat().st_size > 1000
    segments = json.loads((out / "segments.json").read_text())
    assert segments["frames"] == 60 and segments["fps"] == 20.0
    assert [segment["frames"] for segment in segments["segments"]] == [[0, 20], [20, 40], [40, 60]]
    assert all(len(segment["audio_s"]) == 2 for segment in segments["segments"])


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--num-samples", "2"], "--steps makes one motion"), (["--min-pause", "0.5"], "--min-pause only applies")],
)
def test_generate_steps_command_rejects_bad_options(tiny_speech_model: Path, tmp_path: Path, capsys, args, message):
    steps = [] if "--min-pause" in args else ["--steps"]
    assert cli_main(["generate", *steps, "--model", str(tiny_speech_model), "--text", "walk. bow.", *args,
                     "-o", str(tmp_path / "o")]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1


# --- `saymotion speech say` with pauses: multi-step recordings -----------------------------------


def test_pause_lengths_once_for_all_gaps_or_once_per_gap():
    assert pause_lengths(None, 2) == [0.8, 0.8] and pause_lengths(None, 0) == []
    assert pause_lengths([0.5], 2) == [0.5, 0.5] and pause_lengths([0.5, 1.0], 2) == [0.5, 1.0]


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_say_speaks_parts_separated_by_pauses(tmp_path: Path):
    out = tmp_path / "steps.wav"
    assert cli_main(["speech", "say", "walk forward|now take a bow", "--voice", "espeak-en-us-f1-p30-s145",
                     "--pause", "0.8", "-o", str(out)]) == 0
    samples, rate = soundfile.read(out, dtype="float32")
    assert len(split_at_pauses(samples, rate)) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["walk", "--pause", "0.8"], "several parts"),
        (["a|b|c", "--pause", "0.5", "--pause", "0.6", "--pause", "0.7"], "2 gaps but 3 pauses"),
        (["walk||bow"], "no empty part"),
        (["walk|bow", "--pause", "0"], "between 0 and 10"),
    ],
)
def test_say_rejects_bad_pauses_in_one_line(tmp_path: Path, capsys, args, message):
    assert cli_main(["speech", "say", *args, "-o", str(tmp_path / "x.wav")]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1
    assert not (tmp_path / "x.wav").exists()
