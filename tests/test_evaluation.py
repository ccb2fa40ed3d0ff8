"""The evaluator (training, resuming, embeddings), the added metrics, and `saymotion eval run` on the
tiny synthetic model (tests/conftest.py tiny_speech_model)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from saymotion import fileio
from saymotion.cli import main as cli_main
from saymotion.datasets.prepared import PreparedDataset
from saymotion.evaluation import metrics
from saymotion.evaluation import protocol as p
from saymotion.evaluation.cascade import Transcripts, word_error_rate
from saymotion.evaluation.evaluator import EvaluatorConfig, Evaluator, load_evaluator_config
from saymotion.evaluation.provenance import speech_sha256
from saymotion.evaluation.training import contrastive_loss
from saymotion.settings import REPO_DIR
from synthetic import make_prepared_dataset, make_speech_corpus, synthetic_skeleton

METRICS = ("fid", "r_precision_top1", "r_precision_top2", "r_precision_top3", "mm_dist", "diversity",
           "action_accuracy", "style_accuracy", "foot_skating_ratio")  # fmt: skip
TINY_EVALUATOR = """\
extends = "{base}"
embed_dim = 32
width = 32
text_hidden = 32
max_frames = 48
[train]
steps = {steps}
batch_size = 16
warmup_steps = 5
log_every = 5
checkpoint_every = 20
eval_every = 20
"""


def tiny_evaluator_config(folder: Path, steps: int = 60) -> Path:
    path = folder / "tiny-evaluator.toml"
    path.write_text(TINY_EVALUATOR.format(base=REPO_DIR / "configs" / "evaluator.toml", steps=steps))
    return path


def eval_cli(*args: str) -> int:
    return cli_main(["eval", *args, "--device", "cpu", "--threads", "1", "--no-progress"])


def train_evaluator_cli(data: Path, out: Path, config: Path, *extra: str) -> None:
    assert eval_cli("train", "--data", str(data), "--out", str(out), "--config", str(config), *extra) == 0


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Six training takes per (action, style) pair: enough for the classifiers to generalise.
    return make_prepared_dataset(tmp_path_factory.mktemp("prepared"), takes=8)


@pytest.fixture(scope="module")
def trained_evaluator(prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("evaluator")
    train_evaluator_cli(prepared, folder / "run", tiny_evaluator_config(folder))
    return folder / "run"


@pytest.fixture(scope="module")
def model_evaluator(tiny_speech_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An evaluator trained on the data of the tiny speech model."""
    folder = tmp_path_factory.mktemp("model_evaluator")
    train_evaluator_cli(tiny_speech_model.parent / "prepared", folder / "run", tiny_evaluator_config(folder))
    return folder / "run"


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# --- metrics ------------------------------------------------------------------------------------


def sliding_feet(height: float, step_m: float, frames: int = 11) -> np.ndarray:
    """Joints (T, 5, 3) whose joint 4 moves `step_m` along x per frame at `height`."""
    joints = np.zeros((frames, 5, 3))
    joints[:, :, 1] = 1.0  # every other joint well above the ground
    joints[:, 4, 0] = step_m * np.arange(frames)
    joints[:, 4, 1] = height
    return joints


def test_the_speech_corpus_hash_names_its_content_not_the_order_it_was_written_in(tmp_path: Path):
    speech = make_speech_corpus(tmp_path / "speech", make_prepared_dataset(tmp_path / "prepared", takes=3))
    first = speech_sha256(speech, "whisper-base")
    rows = fileio.read_jsonl(speech / "manifest.jsonl")
    index_path = speech / "features" / "whisper-base" / "index.json"
    index = fileio.read_json(index_path)
    # Parallel workers finish in another order: rows and shard locations come out reordered.
    (speech / "features" / "whisper-base" / "shard-00000.npy").rename(speech / "features" / "whisper-base" / "shard-00007.npy")
    index["shards"] = ["shard-00007.npy"]
    index["utterances"] = dict(reversed(list(index["utterances"].items())))
    fileio.write_json(index_path, index)
    fileio.write_jsonl(speech / "manifest.jsonl", rows[::-1])
    assert speech_sha256(speech, "whisper-base") == first
    rows[0]["sha256"] = "1" * 64  # one utterance's audio differs
    fileio.write_jsonl(speech / "manifest.jsonl", rows)
    assert speech_sha256(speech, "whisper-base") != first


def test_foot_skating_counts_only_feet_sliding_on_the_ground():
    feet = (4,)
    assert metrics.foot_skating_ratio([sliding_feet(0.01, 0.05)], feet) == 1.0
    assert metrics.foot_skating_ratio([sliding_feet(0.30, 0.05)], feet) == 0.0  # swinging in the air
    assert metrics.foot_skating_ratio([sliding_feet(0.01, 0.0)], feet) == 0.0  # planted
    # Pooled over motions by frame transitions: 10 skating of 10 + 20.
    mixed = metrics.foot_skating_ratio([sliding_feet(0.01, 0.05), sliding_feet(0.01, 0.0, frames=21)], feet)
    assert mixed == pytest.approx(10 / 30)


def test_accuracy_by_label_scores_each_true_label_apart():
    by_label = p.accuracy_by_label(["bow", "walk", "walk", "run"], ["bow", "bow", "walk", "walk"])
    assert by_label == {"bow": 0.5, "walk": 0.5}
    with pytest.raises(ValueError):
        p.accuracy_by_label(["bow"], ["bow", "walk"])


def test_word_error_rate_ignores_case_and_punctuation():
    assert word_error_rate(["Walk slowly forward."], ["walk, slowly forward"]) == 0.0
    assert word_error_rate(["walk slowly forward", "wave"], ["walk forward", "wave hello"]) == pytest.approx(2 / 4)


def test_contrastive_loss_does_not_push_apart_the_same_text():
    rng = np.random.default_rng(0)
    sentences = torch.nn.functional.normalize(torch.from_numpy(rng.normal(size=(4, 8))).float(), dim=-1)
    sentences[1] = sentences[0]  # clips 0 and 1 have the same description
    embeddings = sentences.clone()  # motion and text embeddings that match perfectly
    masked = contrastive_loss(embeddings, embeddings, sentences, temperature=0.05, false_negative_similarity=0.99)
    unmasked = contrastive_loss(embeddings, embeddings, sentences, temperature=0.05, false_negative_similarity=1.01)
    assert masked.item() < 0.05
    assert unmasked.item() > 0.3  # rows 0 and 1 cannot tell their positive from the duplicate


# --- evaluator ----------------------------------------------------------------------------------


def test_evaluator_config_file_matches_the_dataclass_defaults():
    assert load_evaluator_config(REPO_DIR / "configs" / "evaluator.toml") == EvaluatorConfig()


def test_evaluator_training_learns_retrieval_and_actions(trained_evaluator: Path, prepared: Path):
    rows = read_csv(trained_evaluator / "train.csv")
    first, last = float(rows[0]["contrastive"]), np.mean([float(r["contrastive"]) for r in rows[-3:]])
    assert last < 0.5 * first
    evaluator = Evaluator.load(trained_evaluator)
    dataset = PreparedDataset(prepared)
    held_out = dataset.split_ids("val") + dataset.split_ids("test")
    evaluation = evaluator.evaluate_motions([dataset.load_features(c) for c in held_out])
    accuracy = np.mean([p == dataset.clips[c].action for p, c in zip(evaluation.actions, held_out)])
    assert accuracy >= 0.75  # three actions: chance is 1/3
    assert np.allclose(np.linalg.norm(evaluation.embeddings, axis=1), 1.0, atol=1e-5)


def test_motion_embedding_does_not_depend_on_the_batch(trained_evaluator: Path, prepared: Path):
    evaluator = Evaluator.load(trained_evaluator)
    dataset = PreparedDataset(prepared)
    features = [dataset.load_features(c) for c in dataset.split_ids("test")]
    together = evaluator.evaluate_motions(features).embeddings
    alone = np.concatenate([evaluator.evaluate_motions([f]).embeddings for f in features])
    assert {len(f) for f in features} != {len(features[0])}  # the batch really pads
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_stopped_and_resumed_training_ends_with_the_same_weights(prepared: Path, tmp_path: Path):
    config = tiny_evaluator_config(tmp_path, steps=24)
    train_evaluator_cli(prepared, tmp_path / "straight", config)
    train_evaluator_cli(prepared, tmp_path / "resumed", config, "--stop-at", "10")
    assert not (tmp_path / "resumed" / "model.pt").exists()
    train_evaluator_cli(prepared, tmp_path / "resumed", config)
    straight = Evaluator.load(tmp_path / "straight").model.state_dict()
    resumed = Evaluator.load(tmp_path / "resumed").model.state_dict()
    assert all(torch.equal(straight[name], resumed[name]) for name in straight)
    logged = [(r["step"], r["loss"]) for r in read_csv(tmp_path / "resumed" / "train.csv")]
    assert logged == [(r["step"], r["loss"]) for r in read_csv(tmp_path / "straight" / "train.csv")]
    assert [step for step, _ in logged] == ["5", "10", "15", "20", "24"]


# --- eval run -----------------------------------------------------------------------------------


def run_eval(model: Path, evaluator: Path, condition: str, out: Path, *extra: str) -> int:
    return eval_cli("run", "--checkpoint", str(model), "--evaluator", str(evaluator), "--condition", condition,
                    "-o", str(out), *extra)  # fmt: skip


def check_report(report: dict, repetitions: int) -> None:
    for row, names in (("generated", (*METRICS, "multimodality")), ("real", METRICS)):
        details = {name for name in report[row] if name.startswith("detail_error_")}
        assert set(report[row]) - details == set(names), row
        assert "detail_error_duration_s" in details, row  # every action can state its length
        for name in (*names, *details):
            value = report[row][name]
            assert np.isfinite(value["mean"]) and value["ci95"] >= 0.0, (row, name)
    # Real motion misses the details its own descriptions state by their rounding alone.
    assert report["instructions_stating"]["duration_s"] > 0
    bounds = {"detail_error_duration_s": 0.5, "detail_error_distance_m": 0.5, "detail_error_steps": 0.0,
              "detail_error_turn_deg": 7.5}  # fmt: skip
    for name, value in report["real"].items():
        if name in bounds:
            assert value["mean"] <= bounds[name] + 1e-6, (name, value)
    assert report["protocol"]["repetitions"] == repetitions
    assert len(report["model"]["config_sha256"]) == 64 and len(report["data"]["prepared_sha256"]) == 64
    assert report["evaluator"]["trained_on_this_data"] is True
    assert report["commit"]
    for name in ("action_accuracy", "style_accuracy", "r_precision_top1", "foot_skating_ratio"):
        assert 0.0 <= report["generated"][name]["mean"] <= 1.0
    # Real motion is classified by an evaluator trained on such motion: well above the chance of 1/3.
    assert report["real"]["action_accuracy"]["mean"] > 0.6
    # Each repetition classifies the same clips, so the accuracy is the clip-weighted mean of the per-action ones.
    counts = report["clips_by_action"]
    assert sum(counts.values()) == report["clips"]
    for row in ("generated", "real"):
        by_action = report["action_accuracy_by_action"][row]
        assert set(by_action) == set(counts), row
        weighted = sum(counts[action] * by_action[action]["mean"] for action in counts) / report["clips"]
        assert weighted == pytest.approx(report[row]["action_accuracy"]["mean"]), row


@pytest.mark.parametrize("condition", ["text", "audio", "both"])
def test_quick_run_reports_every_metric_with_intervals(tiny_speech_model, model_evaluator, tmp_path, condition):
    out = tmp_path / "report.json"
    assert run_eval(tiny_speech_model, model_evaluator, condition, out, "--quick") == 0
    report = fileio.read_json(out)
    check_report(report, repetitions=3)
    assert report["condition"] == condition
    assert (report["data"]["speech_sha256"] is None) == (condition == "text")
    assert report["generation"]["motions"] == 3 * (report["clips"] + 2 * 4)  # one per clip + MultiModality samples


def test_fewer_multimodality_conditions_generate_fewer_motions(tiny_speech_model, model_evaluator, tmp_path):
    out = tmp_path / "report.json"
    assert run_eval(tiny_speech_model, model_evaluator, "text", out, "--quick", "--reps", "1", "--mm-conditions", "1") == 0
    report = fileio.read_json(out)
    assert report["protocol"]["mm_conditions"] == 1
    assert report["generation"]["motions"] == report["clips"] + 1 * 4


def test_sampling_settings_are_chosen_on_the_val_split(tiny_speech_model, model_evaluator, tmp_path):
    reports = {}
    for guidance in (0, 4):
        out = tmp_path / f"guidance{guidance}.json"
        assert run_eval(tiny_speech_model, model_evaluator, "text", out, "--quick", "--reps", "1", "--split", "val",
                        "--set", f"sample.guidance_text={guidance}") == 0  # fmt: skip
        reports[guidance] = fileio.read_json(out)
    for guidance, report in reports.items():
        assert report["split"] == "val" and report["sample"]["guidance_text"] == guidance
        assert report["model"]["config"]["sample"]["guidance_text"] == 4.0  # the model's own setting is kept
    # The val clips' real motion is measured against another real sample (test), so its FID is not zero.
    assert reports[4]["real"]["fid"]["mean"] > 0
    # Same seeds, other guidance: other motions.
    assert reports[0]["generated"]["fid"]["mean"] != reports[4]["generated"]["fid"]["mean"]


def test_quick_cascade_transcribes_the_test_audio(tiny_speech_model, model_evaluator, tmp_path):
    speech = tmp_path / "speech"
    shutil.copytree(tiny_speech_model.parent / "speech", speech)
    for row in fileio.read_jsonl(speech / "manifest.jsonl"):
        if row["split"] == "test":  # the synthetic corpus has features but no audio: give it real speech
            (speech / row["path"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO_DIR / "examples" / "wave_left_hand.wav", speech / row["path"])
    out = tmp_path / "report.json"
    assert run_eval(tiny_speech_model, model_evaluator, "cascade", out, "--quick", "--reps", "2", "--speech", str(speech)) == 0
    report = fileio.read_json(out)
    check_report(report, repetitions=2)
    transcription = report["transcription"]
    assert transcription["utterances"] == report["clips"] and transcription["seconds"] > 0
    assert 0.0 < transcription["word_error_rate"]  # the recording does not say the synthetic texts
    assert transcription["empty_transcripts"] == 0


def test_cascade_gives_no_instruction_where_speech_recognition_heard_nothing():
    transcripts = Transcripts({"heard": "wave your hand", "silent": ""}, 1.0, 2.0, 0.5, empty=1)
    conditioner = p.Conditioner(p.CASCADE, None, transcripts)
    assert conditioner(p.Instruction("wave your left hand", "heard")) == (None, "wave your hand")
    assert conditioner(p.Instruction("bow", "silent")) == (None, None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a + ["--reps", "0"], "the number of repetitions must be at least 1"),
        (lambda a: a + ["--set", "generator.layers=2"], "only sampling settings can be changed here"),
        (lambda a: a + ["--set", "sample.iterations=0"], "sample.iterations must be at least 1"),
        (lambda a: a + ["--set", "sample.loudness=2"], "unknown key sample.loudness"),
        (lambda a: a + ["--mm-conditions", "0"], "protocol counts must be positive"),
        (lambda a: a + ["--speech", "/nonexistent/speech"], "manifest.jsonl not found"),
        (lambda a: [x if x != "EVALUATOR" else "/nonexistent/eval" for x in a], "evaluator not found"),
        (lambda a: [x if x != "EVALUATOR" else "MODEL/generator.pt" for x in a], "is not a saymotion evaluator"),
        (lambda a: a + ["--data", "/nonexistent/prepared"], "prepared dataset not found"),
        (lambda a: a[:-1], "fewer than one R-precision batch"),  # the full protocol's batches of 32 on 6 clips
    ],
)
def test_eval_run_rejects_bad_arguments_in_one_line(tiny_speech_model, model_evaluator, tmp_path, capsys, change, message):
    args = ["--checkpoint", "MODEL", "--evaluator", "EVALUATOR", "--condition", "audio", "-o", str(tmp_path / "r.json"), "--quick"]
    args = [x.replace("MODEL", str(tiny_speech_model)).replace("EVALUATOR", str(model_evaluator)) for x in change(args)]
    assert eval_cli("run", *args) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1, error
    assert not (tmp_path / "r.json").exists()


def test_eval_train_rejects_missing_data_in_one_line(tmp_path, capsys):
    assert eval_cli("train", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "ev")) == 2
    error = capsys.readouterr().err.strip()
    assert "prepared dataset not found" in error and len(error.splitlines()) == 1


def test_step_commands_are_evaluated_apart_from_speech_and_text(tmp_path):
    from synthetic import make_speech_corpus

    from saymotion.errors import SaymotionError
    from saymotion.training.sources import SpeechCorpus

    prepared = make_prepared_dataset(tmp_path / "prepared")
    rows = list(fileio.read_jsonl(prepared / "descriptions.jsonl"))
    val_oral = [row for row in rows if row["split"] == "val" and row["kind"] == "oral"]
    stepped = val_oral[: len(val_oral) // 2]  # half the val clips get a step command
    steps = [dict(row, id=f"{row['id']}:step", text=f"Then {row['text']}", template="step/then") for row in stepped]
    fileio.write_jsonl(prepared / "descriptions.jsonl", rows + steps)
    dataset = PreparedDataset(prepared)
    speech = SpeechCorpus(make_speech_corpus(tmp_path / "speech", prepared), "whisper-base")

    expected = {row["clip"]: [row["text"]] for row in steps}
    for condition in (p.TEXT, p.AUDIO):
        clips = p.test_clips(dataset, "val", condition, speech, p.STEP_COMMANDS)
        assert {clip.id: [i.text for i in clip.instructions] for clip in clips} == expected, condition
        every = p.test_clips(dataset, "val", condition, speech)  # all oral instructions, step commands among them
        assert len(every) > len(clips) and sum(len(clip.instructions) for clip in every) == len(val_oral) + len(steps)
    with pytest.raises(SaymotionError, match="no step-command instructions for the test split"):
        p.test_clips(dataset, "test", p.TEXT, None, p.STEP_COMMANDS)
