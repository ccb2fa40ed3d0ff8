"""Does the generator read the length as part of the instruction? Each written instruction is
generated at fixed lengths (--seconds, 20 seeds each by default) and every motion labelled by the
evaluator's action classifier; beside it, the length predictor's likeliest and mean length for
the instruction and the share of its probability below --short seconds, the same for each spoken
step of a multi-step recording (cut as `saymotion generate --steps` cuts it), and the median
length of the real clips of each action of a prepared dataset.
Writes benchmarks/results/length_probe.json (--out names another file).

    .venv/bin/python benchmarks/length_probe.py --data DIR --evaluator DIR [--model DIR] \\
        [--text "Now wave your left hand" ...] [--recording WAV] [--seconds 3,5,7,9] [--samples 20]
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
from saymotion.pipeline import Pipeline
from saymotion.skeleton import TARGET_FPS

# The sentences examples/three_steps.wav says, as multi-step text splits them.
DEFAULT_TEXTS = ("Walk forward a few steps", "Now wave your left hand", "Then bow")
DEFAULT_RECORDING = Path(__file__).resolve().parents[1] / "examples" / "three_steps.wav"


def median_seconds_by_action(dataset: PreparedDataset) -> dict[str, float]:
    lengths: dict[str, list[float]] = defaultdict(list)
    for clip in dataset.clips.values():
        lengths[clip.action].append(clip.seconds)
    return {action: round(float(np.median(values)), 2) for action, values in sorted(lengths.items())}


@torch.inference_mode()
def predicted_seconds(generator: MotionGenerator, row: tuple[np.ndarray | None, str | None],
                      short_s: float) -> dict[str, float]:
    """The length predictor's likeliest and mean length (s) for one (speech features, text)
    instruction, and the probability it gives lengths under `short_s` seconds."""
    logits = generator.checkpoints["length"].model.logits(generator.condition_rows([row]))[0].float()
    probs = logits.softmax(-1)
    seconds = torch.arange(1, len(probs) + 1) * downsampling_factor(generator.config) / TARGET_FPS
    return {"likeliest": round(float(seconds[probs.argmax()]), 2), "mean": round(float((probs * seconds).sum()), 2),
            f"below_{short_s:g}_s": round(float(probs[seconds < short_s].sum()), 3)}


def spoken_steps_seconds(pipeline: Pipeline, recording: Path, short_s: float) -> list[dict]:
    """predicted_seconds for each spoken step of a multi-step recording, with where it lies in the audio."""
    instructions, rows = pipeline.split_steps(recording, None)
    return [{"audio_s": [round(step.audio.start_s, 2), round(step.audio.end_s, 2)],
             **predicted_seconds(pipeline.generator, row, short_s)} for step, row in zip(instructions, rows)]


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
    parser.add_argument("--recording", type=Path, default=DEFAULT_RECORDING,
                        help="a multi-step recording whose spoken steps' lengths to predict (default: %(default)s)")
    parser.add_argument("--short", type=float, default=3.0,
                        help="report the probability of lengths under this many seconds (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "length_probe.json")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        seconds = [float(value) for value in args.seconds.split(",")]
        pipeline = Pipeline(MotionGenerator.load(args.model))
        generator = pipeline.generator
        evaluator = Evaluator.load(args.evaluator)
        medians = median_seconds_by_action(PreparedDataset(args.data))
        texts = args.text or list(DEFAULT_TEXTS)
        probe = {text: labels_at_lengths(generator, evaluator, text, seconds, args.samples) for text in texts}
        predicted = {text: predicted_seconds(generator, (None, text), args.short) for text in texts}
        spoken = spoken_steps_seconds(pipeline, args.recording, args.short)
    except (SaymotionError, ValueError) as error:
        print(f"length_probe: error: {error}", file=sys.stderr)
        return 2
    result = {"model": str(args.model), "evaluator": str(args.evaluator), "data": str(args.data),
              "samples": args.samples, "median_seconds_by_action": medians, "predicted_seconds": predicted,
              "recording": str(args.recording), "spoken_steps_predicted_seconds": spoken,
              "labels_by_seconds": probe, **machine()}
    fileio.write_json(args.out, result)
    for text, rows in probe.items():
        print(f"{text!r}: predicted {predicted[text]['likeliest']:g} s (likeliest), {predicted[text]['mean']:g} s (mean)")
        for length, counts in rows.items():
            print(f"{text!r} at {length} s: {counts}")
    for number, step in enumerate(spoken, 1):
        print(f"spoken step {number} ({step['audio_s'][0]:g}-{step['audio_s'][1]:g} s of the recording): "
              f"predicted {step['likeliest']:g} s (likeliest), {step['mean']:g} s (mean)")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
