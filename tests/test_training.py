"""Configs, checkpoints and training end to end through the CLI, on a tiny synthetic prepared
dataset (tests/synthetic.py)."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from saymotion import fileio
from saymotion.checkpoint import Checkpoint, ModelDims, build_model, load_checkpoint, save_checkpoint
from saymotion.cli import main as cli_main
from saymotion.config import ConfigError, ExperimentConfig, config_from_dict, config_to_dict, load_config
from saymotion.errors import CheckpointError
from saymotion.models.conditioning import ConditionBatch
from saymotion.settings import REPO_DIR
from synthetic import SPEECH_DIM, make_prepared_dataset, make_speech_corpus, synthetic_skeleton

CONFIGS = REPO_DIR / "configs"
TINY = CONFIGS / "tiny.toml"
TEXT_ONLY = "condition.modalities=['text']"

@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_prepared_dataset(tmp_path_factory.mktemp("prepared"))


@pytest.fixture(scope="module")
def speech(prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_speech_corpus(tmp_path_factory.mktemp("speech"), prepared)


def train_cli(*args: str) -> int:
    return cli_main(["train", *args, "--config", str(TINY), "--device", "cpu", "--threads", "1", "--no-progress"])


# --- configs ------------------------------------------------------------------------------------


def test_default_config_file_matches_the_dataclass_defaults():
    assert config_to_dict(load_config(CONFIGS / "default.toml")) == config_to_dict(ExperimentConfig())


def test_ablation_configs_change_only_what_their_table_varies():
    default = config_to_dict(ExperimentConfig())
    for path in sorted((CONFIGS / "ablations").glob("*.toml")):
        config = config_to_dict(load_config(path))
        sections = [name for name, value in default.items() if isinstance(value, dict)]
        changed = {f"{s}.{key}" for s in sections for key in default[s] if config[s][key] != default[s][key]}
        allowed = {"condition.modalities", "data.instruction_kinds", "data.speech_encoder", "condition.audio_encoder",
                   "condition.audio_tokens"}  # fmt: skip
        assert changed and changed <= allowed, (path.name, changed)
        assert config["train"] == default["train"], path.name  # same training budget as the shipped model


def test_config_files_compose_and_overrides_win(tmp_path: Path):
    tiny = load_config(TINY)
    assert tiny.generator.dim == 32 and tiny.sample.guidance_audio == ExperimentConfig().sample.guidance_audio
    child = tmp_path / "child.toml"
    child.write_text(f'extends = "{TINY}"\n[generator]\nlayers = 3\n[data]\nprepared_dir = "data/here"\n')
    config = load_config(child, ["generator.layers=2", "condition.modalities=['audio']", "train.length.lr=1"])
    assert config.generator.layers == 2 and config.generator.dim == 32
    assert config.condition.modalities == ["audio"]
    assert config.train.length.lr == 1.0 and isinstance(config.train.length.lr, float)
    assert config.data.prepared_dir == str(tmp_path / "data" / "here")  # relative to the file, not the cwd
    assert config_from_dict(config_to_dict(config)) == config


@pytest.mark.parametrize(
    "override,message",
    [
        ("generator.depth=3", "unknown key generator.depth"),
        ("generator.layers='four'", "generator.layers must be int"),
        ("condition.modalities=['smell']", "condition.modalities"),
        ("generator.dim=33", "divisible"),
        ("data.max_frames=50", "multiple"),
        ("condition.listener=true", "listener needs the meaning token"),
        ("data.balance_actions=1.5", "balance_actions must be between 0 and 1"),
        ("condition.meaning_layers=-1", "meaning_layers must be at least 0"),
        ("length.read_audio_tokens=false", "read_audio_tokens = false needs the meaning token"),
        ("sample.guidance_text=25", "guidance text must be between 0 and 20, got 25"),
        ("sample.top_k=-1", "top_k at least 0"),
        ("sample.choice_noise=-1", "choice_noise must be at least 0"),
        ("sample.repeat_penalty=-0.5", "sample.repeat_penalty must be at least 0, got -0.5"),
        ("sample.length_temperature=-1", "length_temperature must be at least 0"),
        ("sample.meaning_snap=1.5", "meaning_snap must be between 0 and 1, got 1.5"),
    ],
)
def test_bad_config_values_are_one_line_errors(override: str, message: str):
    with pytest.raises(ConfigError, match=message):
        load_config(TINY, [override])


@pytest.mark.parametrize("buckets", [True, False])
def test_code_batches_come_from_one_length_bucket_or_from_all_clips(buckets: bool):
    from saymotion.training.data import BUCKET_SIZE, ClipConditions, CodeSampler

    clips = 4 * BUCKET_SIZE
    codes = [np.zeros((1 + i % 40, 2), np.int16) for i in range(clips)]  # lengths 1..40, in every bucket order
    conditions = ClipConditions([[] for _ in codes], [[np.ones(384, np.float32)] for _ in codes], audio_dim=0)
    config = dataclasses.replace(ExperimentConfig(), data=dataclasses.replace(ExperimentConfig().data, length_buckets=buckets))
    sampler = CodeSampler(codes, conditions, config, max_tokens=49)
    rng = np.random.default_rng(0)
    spreads = [int(np.ptp(sampler.sample(rng, 32).lengths.numpy())) for _ in range(20)]
    # A bucket of 64 of these clips spans about 10 lengths; all clips span 39.
    assert (max(spreads) <= 12) if buckets else (min(spreads) >= 25), spreads


@pytest.mark.parametrize("kind", ["generator", "length"])
def test_only_the_length_predictor_learns_from_batches_of_all_lengths(kind: str):
    from saymotion.training.data import BUCKET_SIZE, ClipConditions, CodeSplit
    from saymotion.training.stages import CodeStage

    codes = [np.zeros((1 + i % 12, 2), np.int16) for i in range(4 * BUCKET_SIZE)]  # the tiny config's 1..12 tokens
    conditions = ClipConditions([[] for _ in codes], [[np.ones(384, np.float32)] for _ in codes], audio_dim=12)
    train = CodeSplit(codes, conditions, ["walk"] * len(codes))
    stage = CodeStage(kind, load_config(TINY), tiny_checkpoint("tokenizer"), train, CodeSplit([], conditions, []),
                      torch.device("cpu"))
    rng = np.random.default_rng(0)
    spreads = [int(np.ptp(stage.batch(rng, 32).lengths.numpy())) for _ in range(20)]
    # The generator's batches share a length bucket (it pads code sequences); the length
    # predictor's span the lengths it is to tell apart.
    assert (max(spreads) <= 4) if kind == "generator" else (min(spreads) >= 8), spreads


@pytest.mark.parametrize("buckets", [True, False])
def test_balanced_code_batches_draw_actions_by_their_clip_count_to_the_power_one_minus_balance(buckets: bool):
    from saymotion.training.data import ClipConditions, CodeSampler, action_weights

    actions = ["common"] * 300 + ["rare"] * 12
    codes = [np.zeros((5 + (i * 7) % 40, 2), np.int16) for i in range(len(actions))]  # both actions in every bucket
    conditions = ClipConditions([[] for _ in codes], [[np.ones(384, np.float32)] for _ in codes], audio_dim=0)
    weights = action_weights(actions, 0.5)
    assert weights.sum() == pytest.approx(1) and weights[-1] / weights[0] == pytest.approx(5)  # sqrt(300 / 12)
    rare_share = {}
    for balance in (0.0, 0.5, 1.0):
        data = dataclasses.replace(ExperimentConfig().data, length_buckets=buckets, balance_actions=balance)
        sampler = CodeSampler(codes, conditions, dataclasses.replace(ExperimentConfig(), data=data), 49, actions)
        rng = np.random.default_rng(0)
        drawn = np.concatenate([sampler._clips(rng, 32) for _ in range(400)])
        rare_share[balance] = float(np.mean(drawn >= 300))
    expected = {0.0: 12 / 312, 0.5: 12**0.5 / (12**0.5 + 300**0.5), 1.0: 0.5}
    assert rare_share == pytest.approx(expected, abs=0.03), rare_share


def test_speech_heard_in_advance_gives_the_losses_of_hearing_it_at_every_step():
    from saymotion.training.data import ClipConditions, CodeSampler
    from saymotion.training.stages import hear_utterances

    config = load_config(TINY, ["condition.align_weight=1", "condition.listener=true", "condition.meaning_layers=1",
                                "condition.dropout=0.5"])
    rng = np.random.default_rng(0)
    utterances = [rng.normal(size=(int(n), 8)).astype(np.float16) for n in rng.integers(3, 300, 12)]
    # Clips share utterances (an instruction may name several clips); speech longer than
    # data.max_audio_frames (200) is cut as in training.
    audio = [[(utterances[(3 * clip + k) % 12], rng.normal(size=384).astype(np.float32)) for k in range(clip % 3)]
             for clip in range(20)]
    conditions = ClipConditions(audio, [[rng.normal(size=384).astype(np.float32)] for _ in audio], audio_dim=8)
    codes = [rng.integers(0, 32, (int(n), 3)).astype(np.int16) for n in rng.integers(2, 12, 20)]
    torch.manual_seed(0)
    model = build_model("generator", config, ModelDims(feature_dim=7, audio_dim=8)).train()
    with pytest.raises(ValueError, match="fixed speech side"):
        hear_utterances(model.condition, conditions, config.data.max_audio_frames, torch.device("cpu"))
    model.condition.freeze_listener(dropout=False)
    assert not model.condition.speech_side_fixed  # the audio encoder still learns
    model.condition.freeze_audio_encoder()
    assert model.condition.speech_side_fixed

    def loss_and_batch(seed: int) -> tuple[float, ConditionBatch]:
        batch = CodeSampler(codes, conditions, config, max_tokens=12).sample(np.random.default_rng(seed), 16)
        torch.manual_seed(seed)  # the same masks and dropout in the rest of the model
        return model(batch.codes[..., 0], batch.lengths, batch.cond)[0].item(), batch.cond

    hearing = [loss_and_batch(seed) for seed in range(3)]
    conditions.heard = hear_utterances(model.condition, conditions, config.data.max_audio_frames, torch.device("cpu"))
    heard = [loss_and_batch(seed) for seed in range(3)]
    assert [loss for loss, _ in heard] == pytest.approx([loss for loss, _ in hearing], rel=1e-5)
    for (_, before), (_, after) in zip(hearing, heard):
        assert torch.equal(before.use_audio, after.use_audio) and bool(before.use_audio.any())
        assert before.audio.shape[1] > 1 and after.audio.shape[1] == 1  # the speech features are not carried
        assert after.heard_tokens.shape == (16, config.condition.audio_tokens, config.condition.dim)
    assert len({loss for loss, _ in heard}) == 3
    # A speech side that still trains, or keeps its dropout, cannot take speech heard in advance.
    model.condition.held_in_eval.discard("meaning_frames")
    with pytest.raises(ValueError, match="fixed speech side"):
        model.condition(heard[0][1])


# --- checkpoints --------------------------------------------------------------------------------


def tiny_checkpoint(kind: str, seed: int = 0) -> Checkpoint:
    torch.manual_seed(seed)
    config = load_config(TINY)
    dims = ModelDims(feature_dim=257, audio_dim=12)
    skeleton = synthetic_skeleton()
    rng = np.random.default_rng(seed)
    return Checkpoint(kind, config, dims, build_model(kind, config, dims).eval(), rng.standard_normal(257).astype(np.float32),
                      rng.uniform(0.5, 2, 257).astype(np.float32), skeleton, step=7, metrics={"val_loss": 1.5})


def test_checkpoint_round_trip_rebuilds_identical_models(tmp_path: Path):
    from saymotion.models.conditioning import ConditionBatch

    tokenizer = tiny_checkpoint("tokenizer")
    tokenizer.model.train()(torch.randn(4, 16, 257))  # initialise the codebooks
    tokenizer.model.eval()
    generator = tiny_checkpoint("generator")
    for checkpoint in (tokenizer, generator):
        save_checkpoint(tmp_path / f"{checkpoint.kind}.pt", checkpoint)
    loaded_tokenizer = load_checkpoint(tmp_path / "tokenizer.pt", "tokenizer")
    loaded_generator = load_checkpoint(tmp_path / "generator.pt", "generator")
    features = torch.randn(2, 16, 257)
    torch.testing.assert_close(loaded_tokenizer.model.decode(loaded_tokenizer.model.encode(features)),
                               tokenizer.model.decode(tokenizer.model.encode(features)), rtol=0, atol=0)
    cond = ConditionBatch.from_arrays([np.ones((5, 12), np.float32), None], [None, np.ones(384, np.float32)], 12)
    codes, lengths = torch.randint(0, 32, (2, 6)), torch.tensor([6, 4])
    with torch.no_grad():
        expected = generator.model.logits(codes, lengths, generator.model.encode_condition(cond))
        actual = loaded_generator.model.logits(codes, lengths, loaded_generator.model.encode_condition(cond))
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)
    assert loaded_generator.config == generator.config and loaded_generator.step == 7
    np.testing.assert_array_equal(loaded_tokenizer.std, tokenizer.std)
    assert loaded_tokenizer.skeleton == tokenizer.skeleton and loaded_tokenizer.id == tokenizer.id
    # fp16 export: half the size, nearly the same outputs
    save_checkpoint(tmp_path / "half.pt", generator, half=True)
    half = load_checkpoint(tmp_path / "half.pt")
    assert (tmp_path / "half.pt").stat().st_size < 0.6 * (tmp_path / "generator.pt").stat().st_size
    with torch.no_grad():
        approx = half.model.logits(codes, lengths, half.model.encode_condition(cond))
    torch.testing.assert_close(approx, expected, rtol=0, atol=2e-2)


def test_checkpoint_errors_are_checkpoint_errors(tmp_path: Path):
    save_checkpoint(tmp_path / "length.pt", tiny_checkpoint("length"))
    with pytest.raises(CheckpointError, match="holds a length model, expected a generator"):
        load_checkpoint(tmp_path / "length.pt", "generator")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((tmp_path / "length.pt").read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(truncated)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a saymotion checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")


def test_stored_config_is_forced_back_on_load(tmp_path: Path):
    checkpoint = tiny_checkpoint("residual")
    save_checkpoint(tmp_path / "residual.pt", checkpoint)
    loaded = load_checkpoint(tmp_path / "residual.pt")
    # The model is rebuilt with the tiny widths it was trained with, not today's defaults.
    assert loaded.config.residual.dim == 32 != ExperimentConfig().residual.dim
    assert sum(p.numel() for p in loaded.model.parameters()) == sum(p.numel() for p in checkpoint.model.parameters())


def test_checkpoint_from_before_the_meaning_token_rebuilds_without_it(tmp_path: Path):
    checkpoint = tiny_checkpoint("generator")
    checkpoint.config = dataclasses.replace(
        checkpoint.config, condition=dataclasses.replace(checkpoint.config.condition, align_weight=0.0)
    )
    checkpoint.model = build_model("generator", checkpoint.config, checkpoint.dims)
    save_checkpoint(tmp_path / "old.pt", checkpoint)
    payload = torch.load(tmp_path / "old.pt", weights_only=True)
    del payload["config"]["condition"]["align_weight"]  # as written before the setting existed
    torch.save(payload, tmp_path / "old.pt")
    loaded = load_checkpoint(tmp_path / "old.pt", "generator")
    assert loaded.config.condition.align_weight == 0.0 and loaded.model.condition.meaning is None


# --- training through the CLI -------------------------------------------------------------------


def state_of(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path).model.state_dict()


def assert_same_weights(a: Path, b: Path) -> None:
    first, second = state_of(a), state_of(b)
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


@pytest.fixture(scope="module")
def run(prepared: Path, speech: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All four stages of the tiny config, conditioned on speech and text."""
    out = tmp_path_factory.mktemp("run")
    assert train_cli("all", "--data", str(prepared), "--speech", str(speech), "--out", str(out)) == 0
    return out


def data_args(prepared: Path, speech: Path) -> list[str]:
    return ["--data", str(prepared), "--speech", str(speech)]


def test_train_all_writes_models_logs_and_metrics(run: Path):
    for kind in ("tokenizer", "generator", "residual", "length"):
        assert (run / kind / "model.pt").is_file()
        rows = (run / kind / "train.csv").read_text().splitlines()
        assert [row.split(",")[0] for row in rows] == ["step", "1", "2", "3", "4"]
    tokenizer = load_checkpoint(run / "tokenizer" / "model.pt", "tokenizer")
    assert tokenizer.training_state is None and tokenizer.step == 4
    assert 0 < tokenizer.metrics["test_mpjpe_mm"] < tokenizer.metrics["test_global_mpjpe_mm"] < 5000
    generator = load_checkpoint(run / "generator" / "model.pt", "generator")
    assert generator.requires == {"tokenizer": tokenizer.id}
    assert generator.dims.audio_dim == SPEECH_DIM and generator.config.condition.modalities == ["audio", "text"]
    np.testing.assert_array_equal(generator.mean, tokenizer.mean)


def test_finished_stages_are_skipped(run: Path, prepared: Path, speech: Path):
    before = {kind: load_checkpoint(run / kind / "model.pt").id for kind in ("tokenizer", "length")}
    assert train_cli("all", "--out", str(run), *data_args(prepared, speech)) == 0
    after = {kind: load_checkpoint(run / kind / "model.pt").id for kind in ("tokenizer", "length")}
    assert before == after


def test_exported_model_generates_from_audio_text_or_both(run: Path, tmp_path: Path):
    from saymotion.errors import SaymotionError
    from saymotion.generate import MotionGenerator

    assert cli_main(["train", "export", "--run", str(run), "--out", str(tmp_path / "model"), "--half"]) == 0
    assert (tmp_path / "model" / "logs" / "generator-train.csv").read_text() == (run / "generator" / "train.csv").read_text()
    generator = MotionGenerator.load(tmp_path / "model")
    audio = np.random.default_rng(0).standard_normal((20, SPEECH_DIM)).astype(np.float32)
    for condition in ({"audio_features": audio}, {"text": "like an elderly person"}, {"audio_features": audio, "text": "slowly"}):
        motion = generator.generate(**condition, seconds=2.0, num_samples=2, seed=3)
        assert [j.shape for j in motion.joints] == [(40, 21, 3), (40, 21, 3)]
        assert all(np.isfinite(j).all() for j in motion.joints)
    again = generator.generate(audio_features=audio, text="slowly", seconds=2.0, num_samples=2, seed=3)
    np.testing.assert_array_equal(again.joints[1], motion.joints[1])
    predicted = generator.generate(audio_features=audio, seed=0)
    assert 1 <= predicted.token_counts[0] <= 12 and len(predicted.joints[0]) == 4 * predicted.token_counts[0]
    with pytest.raises(SaymotionError, match=f"speech features must be \\(frames, {SPEECH_DIM}\\)"):
        generator.generate(audio_features=np.zeros((10, 512), np.float32))
    with pytest.raises(SaymotionError, match="--seconds"):
        generator.generate(text="walk", seconds=60.0)
    with pytest.raises(SaymotionError, match="spoken instruction, a text, or both"):
        generator.generate()


def test_the_exported_config_holds_each_stage_s_own_model_section_and_training():
    from types import SimpleNamespace

    from saymotion.training.runner import exported_config

    base = load_config(TINY)
    length = load_config(TINY, ["length.hidden=12", "train.length.steps=7"])
    checkpoints = {kind: SimpleNamespace(config=length if kind == "length" else base)
                   for kind in ("tokenizer", "generator", "residual", "length")}
    config = exported_config(checkpoints)
    assert config["length"]["hidden"] == 12 and config["train"]["length"]["steps"] == 7
    assert config["generator"] == config_to_dict(base)["generator"]
    assert config["train"]["generator"] == config_to_dict(base)["train"]["generator"]


def test_export_sets_the_sampling_settings_and_nothing_else(run: Path, tmp_path: Path, capsys):
    from saymotion.generate import MotionGenerator

    args = ["train", "export", "--run", str(run), "--out", str(tmp_path / "model")]
    assert cli_main([*args, "--set", "sample.top_k=10", "--set", "sample.guidance_audio=2"]) == 0
    generator = MotionGenerator.load(tmp_path / "model")
    trained = load_checkpoint(run / "generator" / "model.pt").config
    assert (generator.config.sample.top_k, generator.config.sample.guidance_audio) == (10, 2.0)
    assert generator.config.sample.guidance_text == trained.sample.guidance_text
    assert generator.config.generator == trained.generator and generator.config.train == trained.train
    assert fileio.read_json(tmp_path / "model" / "config.json")["sample"]["top_k"] == 10
    assert cli_main([*args[:-1], str(tmp_path / "other"), "--set", "generator.layers=9"]) == 2
    assert "only sampling settings" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()


def test_resumed_training_matches_an_uninterrupted_run(prepared: Path, speech: Path, tmp_path: Path, run: Path):
    common = [*data_args(prepared, speech), "--tokenizer", str(run / "tokenizer" / "model.pt")]
    for stage in ("tokenizer", "generator"):
        straight, interrupted = tmp_path / f"{stage}-straight", tmp_path / f"{stage}-interrupted"
        assert train_cli(stage, "--out", str(straight), *common) == 0
        assert train_cli(stage, "--out", str(interrupted), "--stop-at", "2", *common) == 0
        assert load_checkpoint(interrupted / stage / "last.pt").step == 2
        assert not (interrupted / stage / "model.pt").exists()
        assert train_cli(stage, "--out", str(interrupted), *common) == 0
        assert_same_weights(straight / stage / "model.pt", interrupted / stage / "model.pt")
        rows = (interrupted / stage / "train.csv").read_text().splitlines()
        assert [row.split(",")[0] for row in rows] == ["step", "1", "2", "3", "4"]
    # A stage may go on with its clips weighted otherwise (fine-tuning towards rare actions).
    balanced = tmp_path / "balanced"
    assert train_cli("generator", "--out", str(balanced), "--stop-at", "2", *common) == 0
    assert train_cli("generator", "--out", str(balanced), "--set", "data.balance_actions=1", *common) == 0
    assert load_checkpoint(balanced / "generator" / "model.pt").config.data.balance_actions == 1


def test_resume_with_a_different_model_config_is_refused(prepared: Path, tmp_path: Path, capsys):
    common = ["--data", str(prepared), "--out", str(tmp_path)]
    assert train_cli("tokenizer", "--stop-at", "2", *common) == 0
    capsys.readouterr()
    assert train_cli("tokenizer", "--set", "tokenizer.width=48", *common) == 2
    assert "different config (tokenizer.width)" in capsys.readouterr().err
    # Settings the tokenizer never sees, and other stages' training settings, do not block it.
    ignored = ["condition.align_weight=2", "train.generator.lr=1", "data.length_buckets=false"]
    assert train_cli("tokenizer", *[arg for value in ignored for arg in ("--set", value)], *common) == 0


def test_text_only_model_needs_no_speech_corpus(prepared: Path, run: Path, tmp_path: Path):
    from saymotion.errors import SaymotionError
    from saymotion.generate import MotionGenerator

    args = ["--data", str(prepared), "--out", str(tmp_path), "--set", TEXT_ONLY, "--tokenizer", str(run / "tokenizer" / "model.pt")]
    for stage in ("generator", "residual", "length"):
        assert train_cli(stage, *args) == 0
    (tmp_path / "tokenizer").symlink_to(run / "tokenizer")
    generator = MotionGenerator.load(tmp_path)
    assert generator.generate(text="a person walks forward", seconds=1.0).joints[0].shape == (20, 21, 3)
    with pytest.raises(SaymotionError, match="trained on text only"):
        generator.generate(audio_features=np.zeros((10, SPEECH_DIM), np.float32))


def test_meaning_token_trains_and_the_residual_starts_from_the_generators_condition(prepared: Path, speech: Path, run: Path,
                                                                                    tmp_path: Path, capsys):
    meaning = ["--set", "condition.align_weight=2", "--set", "condition.init_from_generator=true"]
    common = [*data_args(prepared, speech), "--out", str(tmp_path), "--tokenizer", str(run / "tokenizer" / "model.pt"), *meaning]
    assert train_cli("residual", *common) == 2
    assert "train the generator first" in capsys.readouterr().err
    assert train_cli("generator", *common) == 0
    log = (tmp_path / "generator" / "train.csv").read_text().splitlines()
    alignment = [float(row.split(",")[log[0].split(",").index("alignment")]) for row in log[1:]]
    assert 0 < min(alignment) and max(alignment) <= 2 * 2  # align_weight x (1 - cosine)
    assert train_cli("residual", *common, "--set", "train.residual.lr=0") == 0  # lr 0: it ends as it started
    generator = load_checkpoint(tmp_path / "generator" / "model.pt").model.condition.state_dict()
    residual = load_checkpoint(tmp_path / "residual" / "model.pt").model.condition.state_dict()
    assert "meaning.weight" in generator and residual.keys() == generator.keys()
    assert all(torch.equal(residual[name], generator[name]) for name in generator)


LISTENER = ["--set", "condition.align_weight=1", "--set", "condition.listener=true", "--set", "condition.init_from_generator=true"]
LISTENER_STEPS = ["--set", "train.listener.steps=40", "--set", "train.listener.eval_every=40", "--set", "train.listener.lr=0.003"]


@pytest.fixture(scope="module")
def listener_run(prepared: Path, speech: Path, run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny config with a listener (reading the audio tokens), trained before the later stages,
    which run at a high learning rate to show that it stays frozen there."""
    out = tmp_path_factory.mktemp("listener-run")
    shutil.copytree(run / "tokenizer", out / "tokenizer")
    common = [*data_args(prepared, speech), "--out", str(out), *LISTENER]
    assert train_cli("listener", *common, *LISTENER_STEPS) == 0
    for stage in ("generator", "residual", "length"):
        assert train_cli(stage, *common, "--set", f"train.{stage}.lr=0.01") == 0
    return out


def test_listener_learns_the_words_spoken_and_stays_frozen_inside_the_later_stages(prepared: Path, speech: Path, run: Path,
                                                                                   listener_run: Path, tmp_path: Path, capsys):
    from saymotion.training.runner import training_stages

    common = [*data_args(prepared, speech), "--out", str(tmp_path), "--tokenizer", str(run / "tokenizer" / "model.pt"), *LISTENER]
    assert training_stages(load_config(TINY, LISTENER[1::2])) == ["tokenizer", "listener", "generator", "residual", "length"]
    assert training_stages(load_config(TINY)) == ["tokenizer", "generator", "residual", "length"]
    assert train_cli("listener", *data_args(prepared, speech), "--out", str(tmp_path)) == 2
    assert "the listener stage is off" in capsys.readouterr().err
    assert train_cli("generator", *common) == 2
    assert "train the listener first" in capsys.readouterr().err

    log = (listener_run / "listener" / "train.csv").read_text().splitlines()
    alignment = [float(row.split(",")[log[0].split(",").index("alignment")]) for row in log[1:]]
    assert np.mean(alignment[-5:]) < 0.7 * np.mean(alignment[:5])  # synthetic speech carries its action
    assert set(load_checkpoint(listener_run / "listener" / "model.pt").metrics) == {"val_alignment", "val_nearest_text", "val_side"}

    trained = load_checkpoint(listener_run / "listener" / "model.pt").model.state_dict()
    for stage in ("generator", "residual"):
        condition = load_checkpoint(listener_run / stage / "model.pt").model.condition.state_dict()
        assert all(torch.equal(condition[name], trained[name]) for name in trained), stage  # frozen at a high lr
    generator = load_checkpoint(listener_run / "generator" / "model.pt")
    fresh = build_model("generator", generator.config, generator.dims).condition.state_dict()
    assert not torch.equal(generator.model.condition.state_dict()["text.0.weight"], fresh["text.0.weight"])


def test_known_meanings_come_from_the_training_speech_and_go_with_the_exported_model(prepared: Path, speech: Path,
                                                                                   run: Path, listener_run: Path,
                                                                                   tmp_path: Path, capsys):
    from saymotion.errors import SaymotionError
    from saymotion.generate import MotionGenerator
    from saymotion.known_meanings import load_known_meanings, representatives, spoken_training_texts
    from saymotion.models.minilm import SentenceEncoder
    from saymotion.training.sources import SpeechCorpus

    assert cli_main(["train", "meanings", "--run", str(run), "--speech", str(speech)]) == 2
    assert "meaning token" in capsys.readouterr().err  # a model without one has no meaning to draw
    assert train_cli("generator", *data_args(prepared, speech), "--out", str(tmp_path / "unused"), "--count", "4") == 2
    assert "--count is an option of `saymotion train meanings`" in capsys.readouterr().err
    source = tmp_path / "run"
    shutil.copytree(listener_run, source)
    export = ["train", "export", "--run", str(source), "--half", "--set", "sample.meaning_snap=1", "--out"]
    assert cli_main([*export, str(tmp_path / "refused")]) == 2
    assert "train meanings" in capsys.readouterr().err and not (tmp_path / "refused").exists()

    assert cli_main(["train", "meanings", "--run", str(source), "--speech", str(speech), "--count", "4"]) == 0
    texts = spoken_training_texts(speech, load_checkpoint(source / "generator" / "model.pt").config.data.instruction_kinds)
    known = load_known_meanings(source)
    assert known.source["texts"] == len(texts) > 4 and known.embeddings.shape == (4, 384)
    # The k-means centres of the training instructions' embeddings (int8 costs a cosine of 1e-4 at most).
    centres = torch.from_numpy(representatives(SentenceEncoder().encode(texts), 4, seed=0)).float()
    assert (known.embeddings * centres).sum(1).min() > 0.9999

    assert cli_main([*export, str(tmp_path / "model")]) == 0
    generator = MotionGenerator.load(tmp_path / "model")
    torch.testing.assert_close(generator.known_meanings.embeddings, known.embeddings)
    corpus = SpeechCorpus(speech, generator.config.data.speech_encoder)
    features = corpus.features(corpus.split("val")[0].id).astype(np.float32)
    drawn = generator.condition_rows([(features, None), (None, "walks forward")])
    plain = generator.condition_rows([(features, None)], sample=dataclasses.replace(generator.config.sample, meaning_snap=0))
    assert drawn.meaning_snap.tolist() == [1.0, 1.0] and plain.meaning_snap is None
    condition = generator.checkpoints["generator"].model.condition
    nearest_known = lambda batch: (condition.hear(batch)[1][0] @ known.embeddings.T).max()
    assert nearest_known(plain) < nearest_known(drawn)
    # The length predictor reads the meaning as heard.
    lengths = generator.checkpoints["length"].model
    torch.testing.assert_close(lengths.logits(drawn.map(lambda t: t[:1])), lengths.logits(plain))
    assert len(generator.generate_rows([(features, None)], seconds=[1.0]).features) == 1

    without = MotionGenerator.load(source)  # the run itself has them too; a model without them refuses
    without.known_meanings = None
    with pytest.raises(SaymotionError, match="needs the model's known meanings"):
        without.condition_rows([(features, None)], sample=dataclasses.replace(without.config.sample, meaning_snap=0.5))


def test_a_frame_reading_listener_replaces_a_models_meaning_head_at_export(prepared: Path, speech: Path, listener_run: Path,
                                                                          tmp_path: Path, capsys):
    from saymotion.generate import MotionGenerator

    frames_run = tmp_path / "frames"
    common = [*data_args(prepared, speech), *LISTENER, *LISTENER_STEPS, "--set", "condition.meaning_layers=1"]
    frames = [*common, "--out", str(frames_run)]
    assert train_cli("listener", *frames, "--set", 'data.unheard_voices=["nobody-*"]') == 2
    assert "match no utterance" in capsys.readouterr().err
    # Trained without one phrasing, which its eval log measures apart.
    phrasing = [*common, "--out", str(tmp_path / "phrasing"), "--set", 'data.unheard_phrasing=["A PERSON *"]']
    assert train_cli("listener", *phrasing) == 0
    counts = re.search(r"listener: (\d+) training utterances, (\d+) validation utterances, (\d+) unheard", capsys.readouterr().out)
    kinds = Counter((row["split"], row["kind"]) for row in fileio.read_jsonl(speech / "manifest.jsonl"))
    assert tuple(map(int, counts.groups())) == (kinds["train", "oral"], kinds["val", "oral"], kinds["val", "original"])
    assert "unheard_alignment" in load_checkpoint(tmp_path / "phrasing" / "listener" / "model.pt").metrics
    # Trained without one voice, which its eval log measures apart.
    assert train_cli("listener", *frames, "--set", 'data.unheard_voices=["voice-1"]') == 0
    counts = re.search(r"listener: (\d+) training utterances, (\d+) validation utterances, (\d+) unheard", capsys.readouterr().out)
    voices = Counter((row["split"], row["voice"] == "voice-1") for row in fileio.read_jsonl(speech / "manifest.jsonl"))
    assert tuple(map(int, counts.groups())) == (voices["train", False], voices["val", False], voices["val", True])
    listener = load_checkpoint(frames_run / "listener" / "model.pt")
    assert {"val_alignment", "unheard_alignment", "unheard_nearest_text"} <= set(listener.metrics)
    assert listener.model.audio is None  # it reads the frames, not the audio encoder
    export = ["train", "export", "--run", str(listener_run), "--out"]
    # A listener that reads audio tokens fits only its own audio encoder; nothing is written.
    assert cli_main([*export, str(tmp_path / "refused"), "--listener-run", str(listener_run)]) == 2
    assert "meaning_layers = 0" in capsys.readouterr().err and not (tmp_path / "refused").exists()

    assert cli_main([*export, str(tmp_path / "model"), "--listener-run", str(frames_run)]) == 0
    new, old = listener.model.state_dict(), load_checkpoint(listener_run / "listener" / "model.pt").model.state_dict()
    exported = load_checkpoint(tmp_path / "model" / "generator.pt")
    trained = load_checkpoint(listener_run / "generator" / "model.pt")
    assert exported.config.condition.meaning_layers == 1 and exported.id != trained.id
    assert exported.config.data.unheard_voices == ["voice-1"]
    condition = exported.model.condition.state_dict()
    assert all(torch.equal(condition[name], new[name]) for name in new)
    # Everything else is the trained model's, the audio encoder it was trained with included.
    kept = {name: value for name, value in trained.model.state_dict().items() if not name.startswith("condition.meaning")}
    assert all(torch.equal(exported.model.state_dict()[name], value) for name, value in kept.items())
    assert any(name.startswith("audio.") for name in old)
    assert all(torch.equal(condition[name], old[name]) for name in old if name.startswith("audio."))
    # The residual transformer and length predictor keep the listener they were trained with.
    for kind in ("residual", "length"):
        exported, trained = load_checkpoint(tmp_path / "model" / f"{kind}.pt"), load_checkpoint(listener_run / kind / "model.pt")
        assert exported.id == trained.id and exported.config.condition.meaning_layers == 0
    assert (tmp_path / "model" / "logs" / "listener-train.csv").read_text() == (frames_run / "listener" / "train.csv").read_text()
    assert fileio.read_json(tmp_path / "model" / "config.json")["condition"]["meaning_layers"] == 1
    # The exported models hear with the new listener.
    audio = np.random.default_rng(0).standard_normal((20, SPEECH_DIM)).astype(np.float32)
    batch = ConditionBatch.from_arrays([audio], [None], SPEECH_DIM)
    generator = MotionGenerator.load(tmp_path / "model")
    heard = generator.checkpoints["generator"].model.condition.encode(batch)[1]
    torch.testing.assert_close(heard, listener.model.predict(batch))
    assert not torch.allclose(heard, load_checkpoint(listener_run / "listener" / "model.pt").model.predict(batch))
    assert np.isfinite(generator.generate(audio_features=audio, seconds=2.0, seed=3).joints[0]).all()

    # A generator trained with it from the start: the listener's meaning head stays frozen, the audio
    # encoder learns from the motion loss (it is neither frozen nor detached).
    shutil.copytree(listener_run / "tokenizer", frames_run / "tokenizer")
    assert train_cli("generator", *data_args(prepared, speech), "--out", str(frames_run), *LISTENER,
                     "--set", "condition.meaning_layers=1", "--set", "train.generator.lr=0.01") == 0
    trained = load_checkpoint(frames_run / "generator" / "model.pt")
    condition = trained.model.condition.state_dict()
    assert all(torch.equal(condition[name], new[name]) for name in new)
    torch.manual_seed(trained.config.seed)  # the stage's initial weights
    initial = build_model("generator", trained.config, trained.dims).condition.state_dict()
    assert not torch.equal(condition["audio.query.weight"], initial["audio.query.weight"])


def test_a_model_fine_tuned_to_hear_through_a_frame_reader_keeps_its_weights_and_exports_with_its_siblings(
        prepared: Path, speech: Path, listener_run: Path, tmp_path: Path, capsys):
    from saymotion.generate import MotionGenerator

    model = tmp_path / "model"
    chosen = ["--set", "sample.top_k=7", "--set", "sample.guidance_audio=1.5"]  # as if chosen on val
    assert cli_main(["train", "export", "--run", str(listener_run), "--out", str(model), *chosen]) == 0
    base = {kind: load_checkpoint(model / f"{kind}.pt") for kind in ("generator", "residual", "length")}
    tune = tmp_path / "tune"
    common = [*data_args(prepared, speech), "--out", str(tune), *LISTENER, "--set", "condition.meaning_layers=1"]
    assert train_cli("listener", *common, *LISTENER_STEPS) == 0
    fine_tune = [*common, "--tokenizer", str(model / "tokenizer.pt"), "--init-from", str(model)]
    assert train_cli("listener", *fine_tune) == 2
    assert "--init-from applies to the tokenizer, generator, residual and length stages" in capsys.readouterr().err
    assert train_cli("generator", *fine_tune, "--set", "generator.ff_dim=48") == 2
    assert "do not fit this model's settings" in capsys.readouterr().err

    # At a negligible learning rate the result is the model it started from, hearing through the
    # run's listener; interrupted and resumed without --init-from, it still records that start.
    tiny_lr = ["--set", "train.generator.lr=1e-12"]
    assert train_cli("generator", *fine_tune, *tiny_lr, "--stop-at", "2") == 0
    assert "generator: starts from the weights of" in capsys.readouterr().out
    assert train_cli("generator", *common, "--tokenizer", str(model / "tokenizer.pt"), *tiny_lr) == 0
    tuned = load_checkpoint(tune / "generator" / "model.pt")
    assert tuned.started_from == base["generator"].id and tuned.step == 4
    weights, listener = tuned.model.state_dict(), load_checkpoint(tune / "listener" / "model.pt").model.state_dict()
    for name, value in base["generator"].model.state_dict().items():
        expected = listener[name.removeprefix("condition.")] if name.startswith("condition.meaning") else value
        torch.testing.assert_close(weights[name], expected, rtol=0, atol=1e-6)
    assert all(torch.equal(weights[f"condition.{name}"], value) for name, value in listener.items())
    assert load_checkpoint(listener_run / "generator" / "model.pt").started_from == ""

    # Exported with the siblings of the model it started from, and each stage's logs.
    out = tmp_path / "tuned"
    assert cli_main(["train", "export", "--run", str(model), "--generator-run", str(tune), "--out", str(out)]) == 0
    assert load_checkpoint(out / "generator.pt").id == tuned.id
    assert all(load_checkpoint(out / f"{kind}.pt").id == base[kind].id for kind in ("residual", "length"))
    # The model's chosen sampling settings, not the fine-tuning run's defaults.
    assert tuned.config.sample.top_k != 7
    assert all(load_checkpoint(out / f"{kind}.pt").config.sample == base["generator"].config.sample
               for kind in ("generator", "residual", "length"))
    assert fileio.read_json(out / "config.json")["sample"]["top_k"] == 7
    for kind, source in (("generator", tune / "generator"), ("listener", tune / "listener"), ("residual", listener_run / "residual")):
        assert (out / "logs" / f"{kind}-train.csv").read_text() == (source / "train.csv").read_text(), kind
    assert np.isfinite(MotionGenerator.load(out).generate(text="wave", seconds=2.0, seed=1).joints[0]).all()


def test_a_residual_fine_tuned_alone_keeps_its_starting_condition_encoder_and_resumes(prepared: Path, speech: Path,
                                                                                    listener_run: Path, tmp_path: Path):
    # A run folder with neither generator nor listener: the started-from model brings its own
    # condition encoder (listener included), which stays frozen while the rest trains.
    model = tmp_path / "model"
    assert cli_main(["train", "export", "--run", str(listener_run), "--out", str(model)]) == 0
    tune = [*data_args(prepared, speech), "--out", str(tmp_path / "tune"), *LISTENER, "--tokenizer", str(model / "tokenizer.pt")]
    assert train_cli("residual", *tune) == 2  # nothing to start the condition from
    assert train_cli("residual", *tune, "--residual-run", str(model)) == 2  # an option of export only
    # Interrupted, it resumes when the same command runs again.
    fine_tune = [*tune, "--init-from", str(model), "--set", "train.residual.lr=0.01"]
    assert train_cli("residual", *fine_tune, "--stop-at", "2") == 0
    assert not (tmp_path / "tune" / "residual" / "model.pt").exists()
    first_steps = (tmp_path / "tune" / "residual" / "train.csv").read_text()  # their timings: kept only if resumed
    assert train_cli("residual", *fine_tune) == 0
    before = load_checkpoint(model / "residual.pt")
    after = load_checkpoint(tmp_path / "tune" / "residual" / "model.pt")
    log = (tmp_path / "tune" / "residual" / "train.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in log] == ["step", "1", "2", "3", "4"] and after.step == 4
    assert "\n".join(log[:3]) + "\n" == first_steps
    straight = [arg if arg != str(tmp_path / "tune") else str(tmp_path / "straight") for arg in fine_tune]
    assert train_cli("residual", *straight) == 0  # the same, uninterrupted
    uninterrupted = load_checkpoint(tmp_path / "straight" / "residual" / "model.pt").model.state_dict()
    assert all(torch.equal(value, uninterrupted[name]) for name, value in after.model.state_dict().items())
    listener = load_checkpoint(listener_run / "listener" / "model.pt").model.state_dict()
    weights = after.model.state_dict()
    assert after.started_from == before.id
    assert all(torch.equal(weights[f"condition.{name}"], value) for name, value in listener.items())
    assert not torch.equal(weights["head_weight"], before.model.state_dict()["head_weight"])

    # Exported beside the generator and length predictor it was fine-tuned for, with its own logs.
    out = tmp_path / "tuned"
    assert cli_main(["train", "export", "--run", str(model), "--residual-run", str(tmp_path / "tune"), "--out", str(out)]) == 0
    assert load_checkpoint(out / "residual.pt").id == after.id
    assert all(load_checkpoint(out / f"{kind}.pt").id == load_checkpoint(model / f"{kind}.pt").id for kind in ("generator", "length"))
    assert (out / "logs" / "residual-train.csv").read_text() == (tmp_path / "tune" / "residual" / "train.csv").read_text()
    assert (out / "logs" / "generator-train.csv").read_text() == (model / "logs" / "generator-train.csv").read_text()


def test_a_tokenizer_fine_tuned_from_a_model_learns_in_its_decoder_alone_and_exports_with_its_siblings(
        prepared: Path, speech: Path, run: Path, tmp_path: Path, capsys, monkeypatch):
    from saymotion.generate import MotionGenerator
    from saymotion.training import loop, runner

    model = tmp_path / "model"
    assert cli_main(["train", "export", "--run", str(run), "--out", str(model)]) == 0
    tune = [*data_args(prepared, speech), "--out", str(tmp_path / "tune"), "--set", "train.tokenizer.lr=0.01"]
    assert train_cli("tokenizer", *tune, "--condition-from", str(model)) == 2
    assert "--condition-from applies to the generator, residual and length stages" in capsys.readouterr().err
    # Interrupted and resumed without --init-from, it goes on fine-tuning the decoder alone.
    assert train_cli("tokenizer", *tune, "--init-from", str(model), "--stop-at", "2") == 0
    assert "tokenizer: fine-tunes the decoder of" in capsys.readouterr().out
    loaded = Counter()

    def counted_load(path, *args, **kwargs):
        loaded[Path(path).name] += 1
        return load_checkpoint(path, *args, **kwargs)

    for module in (loop, runner):
        monkeypatch.setattr(module, "load_checkpoint", counted_load)
    assert train_cli("tokenizer", *tune) == 0
    assert loaded["last.pt"] == 1  # read once, for the codes it fine-tunes on and to resume
    monkeypatch.undo()
    before = load_checkpoint(model / "tokenizer.pt")
    after = load_checkpoint(tmp_path / "tune" / "tokenizer" / "model.pt")
    assert after.step == 4 and after.started_from == before.id and after.codes_id == before.id != after.id
    np.testing.assert_array_equal(after.mean, before.mean)
    old, new = before.model.state_dict(), after.model.state_dict()
    for name, value in old.items():  # the codebooks' statistics included: the codes stay the same
        assert torch.equal(value, new[name]) != name.startswith("decoder."), name

    # Exported with the models trained on its codes, it decodes them into other motion.
    out = tmp_path / "tuned"
    assert cli_main(["train", "export", "--run", str(model), "--tokenizer-run", str(tmp_path / "tune"),
                     "--out", str(out)]) == 0
    assert load_checkpoint(out / "tokenizer.pt").id == after.id
    assert (out / "logs" / "tokenizer-train.csv").read_text() == (tmp_path / "tune" / "tokenizer" / "train.csv").read_text()
    motions = [MotionGenerator.load(folder).generate(text="wave", seconds=2.0, seed=1) for folder in (model, out)]
    assert motions[0].token_counts == motions[1].token_counts
    assert np.isfinite(motions[1].joints[0]).all() and not np.allclose(motions[0].joints[0], motions[1].joints[0])
    # A tokenizer trained anew makes other codes, which the generator was not trained on.
    assert train_cli("tokenizer", *data_args(prepared, speech), "--out", str(tmp_path / "anew")) == 0
    assert cli_main(["train", "export", "--run", str(model), "--tokenizer-run", str(tmp_path / "anew"),
                     "--out", str(tmp_path / "mixed")]) == 2
    assert "trained on a different tokenizer" in capsys.readouterr().err


def test_a_generator_fine_tuned_with_its_audio_encoder_frozen_keeps_that_encoder_and_trains_the_rest(
        prepared: Path, speech: Path, listener_run: Path, tmp_path: Path, capsys):
    model = tmp_path / "model"
    assert cli_main(["train", "export", "--run", str(listener_run), "--out", str(model)]) == 0
    tune = tmp_path / "tune"
    common = [*data_args(prepared, speech), "--out", str(tune), *LISTENER, "--set", "condition.meaning_layers=1"]
    assert train_cli("listener", *common, *LISTENER_STEPS) == 0
    frozen = [*common, "--tokenizer", str(model / "tokenizer.pt"), "--set", "condition.train_audio_encoder=false",
              "--set", "train.generator.lr=0.01"]
    assert train_cli("generator", *frozen) == 2  # nothing trained to keep
    assert "would freeze an untrained audio encoder" in capsys.readouterr().err
    assert train_cli("generator", *frozen, "--init-from", str(model)) == 0
    before = load_checkpoint(model / "generator.pt").model.state_dict()
    after = load_checkpoint(tune / "generator" / "model.pt").model.state_dict()
    audio = [name for name in before if name.startswith("condition.audio.")]
    assert audio and all(torch.equal(after[name], before[name]) for name in audio)
    assert not torch.equal(after["head.weight"], before["head.weight"])


def test_a_generator_retrained_from_scratch_keeps_the_condition_encoder_it_is_given(
        prepared: Path, speech: Path, listener_run: Path, tmp_path: Path, capsys):
    # --condition-from: the speech side, listener and text projection of a model, the transformer
    # new. At a learning rate too small to move anything, the condition encoder stays the model's
    # while the transformer keeps weights of its own.
    model = tmp_path / "model"
    assert cli_main(["train", "export", "--run", str(listener_run), "--out", str(model)]) == 0
    common = [*data_args(prepared, speech), "--out", str(tmp_path / "new"), *LISTENER,
              "--tokenizer", str(model / "tokenizer.pt"), "--set", "train.generator.lr=1e-9"]
    assert train_cli("generator", *common, "--condition-from", str(model), "--init-from", str(model)) == 2
    assert "not both" in capsys.readouterr().err
    assert train_cli("tokenizer", *common, "--condition-from", str(model)) == 2
    fixed = ["--set", "condition.train_audio_encoder=false", "--set", "condition.listener_dropout=false"]
    assert train_cli("generator", *common, "--condition-from", str(model), *fixed) == 0
    assert "every utterance heard in advance" in capsys.readouterr().out  # the speech side is fixed
    assert train_cli("generator", *common, "--condition-from", str(model), *fixed) == 0
    assert "heard in advance" not in capsys.readouterr().out  # finished: nothing left to train for
    before = load_checkpoint(model / "generator.pt")
    after = load_checkpoint(tmp_path / "new" / "generator" / "model.pt")
    assert after.started_from == before.id
    old, new = before.model.state_dict(), after.model.state_dict()
    condition = [name for name in old if name.startswith("condition.")]
    assert any(name.startswith("condition.audio.") for name in condition)
    assert all(torch.allclose(new[name], old[name], atol=1e-6) for name in condition)
    transformer = [name for name in old if name.startswith(("encoder.", "head.", "token_embedding."))]
    assert transformer and not any(torch.allclose(new[name], old[name], atol=1e-3) for name in transformer)


def _ranks_own_output(stderr: str) -> str:
    """What the ranks printed before torchrun's own report of their exit, which hides the cause."""
    own = stderr.split("elastic/multiprocessing/api.py")[0].rpartition("\n")[0]
    return own[-4000:] or stderr[-4000:]


@pytest.mark.slow
def test_ddp_two_cpu_processes_keep_replicas_identical(prepared: Path, speech: Path, run: Path, tmp_path: Path):
    """torchrun, 2 gloo processes: the tokenizer (EMA codebooks synchronised by hand), the generator
    (DDP gradients) and a decoder fine-tuned on a model's frozen codes end with the same weights on both ranks."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    model = tmp_path / "model"
    assert cli_main(["train", "export", "--run", str(run), "--out", str(model)]) == 0
    tokenizer = ["--tokenizer", str(run / "tokenizer" / "model.pt")]
    runs = [("tokenizer", tmp_path, tokenizer), ("generator", tmp_path, tokenizer),
            ("tokenizer", tmp_path / "tune", ["--init-from", str(model)])]
    for stage, out, extra in runs:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                   "-m", "saymotion", "train", stage, "--config", str(TINY), *data_args(prepared, speech),
                   "--out", str(out), *extra, "--device", "cpu", "--threads", "1", "--no-progress"]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, _ranks_own_output(result.stderr)
        digests = dict(re.findall(r"finished 4 steps on rank (\d); weights digest ([0-9a-f]{16})", result.stdout))
        assert sorted(digests) == ["0", "1"], result.stdout
        assert digests["0"] == digests["1"]
    old = load_checkpoint(model / "tokenizer.pt").model.state_dict()
    new = load_checkpoint(tmp_path / "tune" / "tokenizer" / "model.pt").model.state_dict()
    assert all(torch.equal(value, new[name]) != name.startswith("decoder.") for name, value in old.items())
    assert (tmp_path / "generator" / "model.pt").is_file()
