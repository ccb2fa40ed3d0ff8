"""Tokenizer reconstruction: root-aligned MPJPE (mm, as MoMask reports it) and global MPJPE between
every clip of a split and its RVQ-VAE reconstruction with all quantizer layers, for a model folder.
With --evaluator (a folder of `saymotion eval train`), also the evaluator's action accuracy on the
test clips and on their reconstructions, overall and per action: the most a generator of these
codes can reach. Writes benchmarks/results/tokenizer.json.

    .venv/bin/python benchmarks/tokenizer.py --data /tmp/saymotion-prepared [--model DIR] [--evaluator DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import RESULTS_DIR, machine

from saymotion import fileio, settings
from saymotion.checkpoint import load_checkpoint
from saymotion.config import downsampling_factor
from saymotion.datasets.prepared import PreparedDataset
from saymotion.errors import SaymotionError
from saymotion.evaluation.evaluator import Evaluator
from saymotion.evaluation.protocol import accuracy_by_label
from saymotion.checkpoint import model_files
from saymotion.training.data import MotionSet
from saymotion.training.stages import Normalisation, joint_errors, reconstructions


def action_accuracy(evaluator: Evaluator, actions: list[str], real: list[np.ndarray], rebuilt: list[np.ndarray]) -> dict:
    """The evaluator's action accuracy on the real clips and on their reconstructions, overall and per action."""
    result = {}
    for name, features in (("real", real), ("reconstructed", rebuilt)):
        predicted = evaluator.evaluate_motions(features).actions
        result[f"action_accuracy_{name}"] = round(float(np.mean([p == a for p, a in zip(predicted, actions)])), 4)
        result[f"action_accuracy_{name}_by_action"] = {a: round(v, 4) for a, v in accuracy_by_label(predicted, actions).items()}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=settings.default_prepared_dir(), help="prepared dataset")
    parser.add_argument("--model", type=Path, default=settings.default_model_dir(), help="model folder or run")
    parser.add_argument("--splits", nargs="+", default=["test", "val"])
    parser.add_argument("--evaluator", type=Path, help="evaluator folder: action accuracy of the test reconstructions")
    args = parser.parse_args()
    torch.set_num_threads(2)
    try:
        path = model_files(args.model)["tokenizer"]
        tokenizer = load_checkpoint(path, "tokenizer")
        dataset = PreparedDataset(args.data)
        evaluator = Evaluator.load(args.evaluator) if args.evaluator else None
    except SaymotionError as error:
        print(f"tokenizer: error: {error}", file=sys.stderr)
        return 2
    norm = Normalisation(tokenizer.mean, tokenizer.std, tokenizer.skeleton)
    factor = downsampling_factor(tokenizer.config)
    result = {"model": str(path), "weights_sha256": fileio.sha256_file(path), "step": tokenizer.step,
              "num_quantizers": tokenizer.config.tokenizer.num_quantizers, **machine()}
    started = time.perf_counter()
    for split in args.splits:
        motions = MotionSet.load(dataset, split, tokenizer.mean, tokenizer.std, factor)
        rebuilt = reconstructions(tokenizer.model, motions.features, norm, torch.device("cpu"))
        errors = joint_errors(motions.features, rebuilt, norm)
        frames = sum(len(clip) for clip in motions.features)
        prefix = "" if split == "test" else f"{split}_"
        result |= {f"{prefix}{key}": round(value, 2) for key, value in errors.items()}
        result |= {f"{prefix}clips": len(motions), f"{prefix}frames": frames}
        print(f"{split}: mpjpe {errors['mpjpe_mm']:.2f} mm (root-aligned), global {errors['global_mpjpe_mm']:.2f} mm, "
              f"{len(motions)} clips, {frames} frames")
        if evaluator is not None and split == "test":
            actions = [dataset.clips[clip].action for clip in motions.ids]
            real = [clip * norm.std + norm.mean for clip in motions.features]
            result |= {"evaluator": str(args.evaluator), **action_accuracy(evaluator, actions, real, rebuilt)}
            print(f"test action accuracy: real {result['action_accuracy_real']:.3f}, "
                  f"reconstructed {result['action_accuracy_reconstructed']:.3f}")
    result["seconds"] = round(time.perf_counter() - started, 1)
    fileio.write_json(RESULTS_DIR / "tokenizer.json", result)
    print(f"-> {RESULTS_DIR / 'tokenizer.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
