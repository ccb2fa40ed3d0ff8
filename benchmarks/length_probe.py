"""Does the generator read the length as part of the instruction? Each written instruction is
generated at fixed lengths (--seconds, 20 seeds each by default) and every motion labelled by the
evaluator's action classifier; beside it, the length predictor's likeliest and mean length for
the instruction, and the median length of the real clips of each action of a prepared dataset.
Writes benchmarks/results/length_probe.json (--out names another file).

    .venv/bin/python benchmarks/length_probe.py --data DIR --evaluator DIR [--model DIR] \\
        [--text "Now wave your left hand" ...] [--seconds 3,5,7,9] [--samples 20]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch
from common import RESULTS_DIR, machine

from saymotion import fileio, settings
from saymotion.config import downsampling_factor
from saymotion.datasets.prepared import PreparedDataset
from saymotion.errors import SaymotionError
from saymotion.evaluation.evaluator import Evaluator
from saymotion.generate import MotionGenerator
from saymotion.skeleton import TARGET_FPS

# The sentences examples/three_steps.wav says, as multi-step text splits them.
DEFAULT_TEXTS = ("Walk forward a few steps", "Now wave your left hand", "Then bow")


def median_seconds_by_action(dataset: PreparedDataset) -> dict[str, float]:
    lengths: dict[str, list[float]] = defaultdict(list)
    for clip in dataset.clips.values():
        lengths[clip.action].append(clip.seconds)
    return {action: round(float(np.median(values)), 2) for action, values in sorted(lengths.items())}


@torch.inference_mode()
def predicted_seconds(generator: MotionGenerator, text: str) -> dict[str, float]:
    """The length predictor's likeliest and mean length (s) for a written instruction."""
    logits = generator.checkpoints["length"].model.logits(generator.condition_rows([(None, text)]))[0].float()
    probs = logits.softmax(-1)
    seconds = torch.arange(1, len(probs) + 1) * downsampling_factor(generator.config) / TARGET_FPS
    return {"likeliest": round(float(seconds[probs.argmax()]), 2), "mean": round(float((probs * seconds).sum()), 2)}


def labels_at_lengths(generator: MotionGenerator, evaluator: Evaluator, text: str, seconds: list[float],
                      samples: int) -> dict[str, dict[str, int]]:
    """For each length, how many of `samples` seeds' motions the classifier gives each action."""
    counts = {}
    for length in seconds:
        motions = generator.generate(text=text, seconds=length, num_samples=samples, seed=0)
        labels = evaluator.evaluate_motions(list(motions.features)).actions
        counts[f"{length:g}"] = dict(Counter(labels).most_common())
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=settings.default_prepared_dir(), help="prepared dataset")
    parser.add_argument("--model", type=Path, default=settings.default_model_dir(), help="model folder or run")
    parser.add_argument("--evaluator", type=Path, required=True, help="evaluator folder (saymotion eval train)")
    parser.add_argument("--text", action="append", help="a written instruction (repeatable; default: the three steps)")
    parser.add_argument("--seconds", default="3,5,7,9", help="lengths, comma-separated (default: %(default)s)")
    parser.add_argument("--samples", type=int, default=20, help="seeds per length (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "length_probe.json")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        seconds = [float(value) for value in args.seconds.split(",")]
        generator = MotionGenerator.load(args.model)
        evaluator = Evaluator.load(args.evaluator)
        medians = median_seconds_by_action(PreparedDataset(args.data))
        texts = args.text or list(DEFAULT_TEXTS)
        probe = {text: labels_at_lengths(generator, evaluator, text, seconds, args.samples) for text in texts}
        predicted = {text: predicted_seconds(generator, text) for text in texts}
    except (SaymotionError, ValueError) as error:
        print(f"length_probe: error: {error}", file=sys.stderr)
        return 2
    result = {"model": str(args.model), "evaluator": str(args.evaluator), "data": str(args.data),
              "samples": args.samples, "median_seconds_by_action": medians, "predicted_seconds": predicted,
              "labels_by_seconds": probe, **machine()}
    fileio.write_json(args.out, result)
    for text, rows in probe.items():
        print(f"{text!r}: predicted {predicted[text]['likeliest']:g} s (likeliest), {predicted[text]['mean']:g} s (mean)")
        for length, counts in rows.items():
            print(f"{text!r} at {length} s: {counts}")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
