"""The model shipped inside the package: present, small, offline, and moving the side a written or
spoken instruction names (benchmarks/instruction_following.py measures the same wrist travel)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from saymotion import Pipeline
from saymotion.checkpoint import load_checkpoint
from saymotion.config import STAGES, TRAINING_STAGES, config_to_dict
from saymotion.evaluation.metrics import wrist_travel
from saymotion.checkpoint import model_files
from saymotion.settings import REPO_DIR, default_model_dir

MODEL = default_model_dir()
EXAMPLE = REPO_DIR / "examples" / "wave_left_hand.wav"
MAX_BYTES = 40 * 1000 * 1000


def test_shipped_model_generates_from_the_example_recording(tmp_path: Path):
    motion = Pipeline.load(MODEL).generate(audio=EXAMPLE, seed=0)[0]
    assert motion.joints.shape[1:] == (21, 3) and 20 <= len(motion.joints) <= 196
    assert np.isfinite(motion.joints).all()


@pytest.mark.parametrize("side, other", [("left", "right"), ("right", "left")])
@pytest.mark.parametrize("modality", ["text", "audio"])
def test_shipped_model_waves_the_hand_the_instruction_names(modality: str, side: str, other: str):
    # the recordings say "could you wave your left/right hand like a tired old man?" in a held-out voice
    instruction = f"wave your {side} hand" if modality == "text" else REPO_DIR / "examples" / f"wave_{side}_hand.wav"
    motions = Pipeline.load(MODEL).generate(**{modality: instruction}, seed=0, num_samples=8)
    names = motions[0].skeleton.joint_names
    travel = {hand: np.mean([wrist_travel(m.joints, names, f"Hand_{hand[0].upper()}") for m in motions])
              for hand in (side, other)}  # fmt: skip
    assert travel[side] > 1.5 * travel[other], travel


def test_shipped_model_is_complete_and_small():
    files = model_files(MODEL)
    assert sorted(files) == sorted(STAGES)
    total = sum(path.stat().st_size for path in MODEL.rglob("*") if path.is_file())
    assert total <= MAX_BYTES, f"shipped model folder is {total / 1e6:.1f} MB"
    config = json.loads((MODEL / "config.json").read_text())
    for kind, path in files.items():  # each stage's own training settings, as it ran them
        assert config["train"][kind] == config_to_dict(load_checkpoint(path, kind).config)["train"][kind], kind
    trained = [kind for kind in TRAINING_STAGES if kind in STAGES or config["condition"][kind]]
    assert set(config["train"]) >= set(trained)
    assert {path.name for path in (MODEL / "logs").glob("*.csv")} >= {f"{kind}-train.csv" for kind in trained}
