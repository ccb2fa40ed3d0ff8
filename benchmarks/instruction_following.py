"""Does the model move the side it is told to? Wrist travel (path length of each wrist relative to
the chest, metres, mean over 8 samples) for "wave your left/right hand" as text and for the
bundled recordings examples/wave_{left,right}_hand.wav ("could you wave your left/right hand like
a tired old man?", a voice held out of training). Writes benchmarks/results/instruction_following.json.

    .venv/bin/python benchmarks/instruction_following.py [--model DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from common import RESULTS_DIR, machine

from saymotion import Pipeline, fileio, settings
from saymotion.evaluation.metrics import wrist_travel

SAMPLES = 8
CONDITIONS = {
    "text: wave your left hand": {"text": "wave your left hand"},
    "text: wave your right hand": {"text": "wave your right hand"},
    **{
        f"audio: examples/wave_{side}_hand.wav": {"audio": settings.REPO_DIR / "examples" / f"wave_{side}_hand.wav"}
        for side in ("left", "right")
    },
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=settings.default_model_dir())
    args = parser.parse_args()
    torch.set_num_threads(2)
    pipeline = Pipeline.load(args.model)
    result = {"samples": SAMPLES, "model": str(args.model), **machine(), "conditions": {}}
    for name, condition in CONDITIONS.items():
        motions = pipeline.generate(**condition, seed=0, num_samples=SAMPLES)
        names = motions[0].skeleton.joint_names
        left = float(np.mean([wrist_travel(m.joints, names, "Hand_L") for m in motions]))
        right = float(np.mean([wrist_travel(m.joints, names, "Hand_R") for m in motions]))
        result["conditions"][name] = {"left_wrist_m": round(left, 3), "right_wrist_m": round(right, 3)}
        print(f"{name}: left wrist {left:.2f} m, right wrist {right:.2f} m")
    fileio.write_json(RESULTS_DIR / "instruction_following.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
