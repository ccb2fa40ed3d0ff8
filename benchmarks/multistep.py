"""Multi-step seams: is the join between two instructions smoother than anything in real motion?

For a recording with three instructions (default examples/three_steps.wav), or with --text a text
of several sentences, it runs
`Pipeline.generate_steps` and measures, at each seam, the largest frame-to-frame joint step (joint
displacement between consecutive frames, mean over joints, metres) within the re-generated tokens
around it, for the inpainted motion and for the steps' own codes merely concatenated (same decode,
no inpainting). The bar is the largest frame-to-frame step in real data: every clip of a prepared
dataset (--data). With --evaluator (a folder of `saymotion eval train`) the evaluator's action
classifier labels each step's frames, checked against --expect, for --seed and for each of --seeds
seeds after it (one seed can be lucky). Writes benchmarks/results/multistep.json
(multistep_text.json with --text; --out names another file).

    .venv/bin/python benchmarks/multistep.py [--model DIR] [--data DIR] [--audio FILE | --text TEXT] \
        [--seed 0] [--evaluator DIR --expect walk,wave-left-hand,bow --seeds 20] [--set sample.KEY=VALUE]

examples/three_steps.wav was made with the repository's own speech command:

    saymotion speech say "Walk forward a few steps.|Now wave your left hand.|Then bow." --pause 0.8 \\
        -o examples/three_steps.wav
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch
from common import RESULTS_DIR, machine

from saymotion import fileio, settings
from saymotion.config import SampleConfig, downsampling_factor, override_sampling
from saymotion.datasets.prepared import PreparedDataset
from saymotion.errors import SaymotionError
from saymotion.evaluation.evaluator import Evaluator
from saymotion.generate import GeneratedSteps
from saymotion.multistep import SEAM_TOKENS
from saymotion.pipeline import Pipeline

DEFAULT_AUDIO = settings.REPO_DIR / "examples" / "three_steps.wav"
DEFAULT_EXPECTED = "walk,wave-left-hand,bow"  # the actions examples/three_steps.wav asks for, in order


def frame_steps(joints: np.ndarray) -> np.ndarray:
    """(T - 1,) joint displacement between consecutive frames, mean over joints, metres."""
    return np.linalg.norm(np.diff(joints, axis=0), axis=-1).mean(-1)


def seam_transitions(seam_frame: int, reach: int, count: int) -> range:
    """Indices into frame_steps of the transitions within `reach` frames of a seam (the re-made frames)."""
    return range(max(0, seam_frame - reach), min(count, seam_frame + reach))


def seam_steps(joints: np.ndarray, seam_frames: list[int], reach: int) -> list[float]:
    """At each seam, the largest step among its re-made frames."""
    steps = frame_steps(joints)
    return [float(steps[list(seam_transitions(frame, reach, len(steps)))].max()) for frame in seam_frames]


def real_steps(data: Path) -> tuple[float, float, str]:
    """The largest frame-to-frame step over every clip of a prepared dataset, its 99.9th percentile
    over all transitions, and the clip holding the largest."""
    dataset = PreparedDataset(data)
    largest, where, every = 0.0, "", []
    for clip_id in dataset.clips:
        steps = frame_steps(dataset.load_joints(clip_id))
        every.append(steps)
        if len(steps) and steps.max() > largest:
            largest, where = float(steps.max()), clip_id
    if not every:
        raise SystemExit(f"{data} holds no clips")
    return largest, float(np.percentile(np.concatenate(every), 99.9)), where


def step_actions(evaluator: Evaluator, generated: GeneratedSteps) -> list[str]:
    """The evaluator's action label for each step's frames of the continuous motion."""
    features = generated.motion.features[0]
    return evaluator.evaluate_motions([features[start:end] for start, end in generated.frame_ranges]).actions


def actions_over_seeds(pipeline: Pipeline, conditions: list, sample: SampleConfig, evaluator: Evaluator, seeds: range,
                       expected: list[str]) -> dict:
    """How often each step, and the whole motion, comes out as the expected actions over `seeds`."""
    labels = [step_actions(evaluator, pipeline.generator.generate_steps(conditions, seed=seed, sample=sample))
              for seed in seeds]
    return {
        "seeds": list(seeds),
        "step_actions": labels,
        "step_accuracy": [float(np.mean([row[i:i + 1] == [want] for row in labels])) for i, want in enumerate(expected)],
        "all_steps_right": float(np.mean([row == expected for row in labels])),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--audio", type=Path, default=DEFAULT_AUDIO, help="recording with several instructions")
    source.add_argument("--text", help="several instructions as sentences, instead of the recording")
    parser.add_argument("--model", type=Path, default=settings.default_model_dir())
    parser.add_argument("--data", type=Path, default=settings.default_prepared_dir(), help="prepared dataset folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--evaluator", type=Path, help="evaluator folder: classify each step's action")
    parser.add_argument("--expect", default=DEFAULT_EXPECTED, help="expected actions, comma-separated (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=20, help="with --evaluator, also classify the steps of this many "
                        "seeds after --seed (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="result file (default: benchmarks/results/multistep[_text].json)")
    parser.add_argument("--set", action="append", default=[], metavar="sample.KEY=VALUE", help="a sampling setting")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    torch.set_num_threads(args.threads)
    pipeline = Pipeline.load(args.model)
    audio = None if args.text else args.audio
    try:
        sample = override_sampling(pipeline.generator.config.sample, args.set)
        instructions, conditions = pipeline.split_steps(audio, args.text)
    except SaymotionError as error:
        print(f"multistep: error: {error}", file=sys.stderr)
        return 2
    # What Pipeline.generate_steps runs, kept whole here for the codes before inpainting.
    generated = pipeline.generator.generate_steps(conditions, seed=args.seed, sample=sample)
    joints = generated.motion.joints[0]
    concatenated = pipeline.generator.decode_sequence(generated.codes.concatenated).joints[0]
    seams = [start for start, _ in generated.frame_ranges[1:]]
    reach = SEAM_TOKENS * downsampling_factor(pipeline.generator.config)
    inpainted, plain = seam_steps(joints, seams, reach), seam_steps(concatenated, seams, reach)
    every = frame_steps(joints)
    inside = np.delete(every, [t for frame in seams for t in seam_transitions(frame, reach, len(every))])
    real_max, real_p999, real_clip = real_steps(args.data)
    steps = [instruction.step(*frames) for instruction, frames in zip(instructions, generated.frame_ranges)]
    result = {
        "audio": None if audio is None else str(audio),
        "text": args.text,
        "model": str(args.model),
        "data": str(args.data),
        "seed": args.seed,
        "sample": dataclasses.asdict(sample),
        "segments": len(steps),
        "steps": [step.to_dict(generated.motion.fps) for step in steps],
        "seam_frames": seams,
        "seam_window_frames": reach,
        "seam_max_step_m": inpainted,
        "concatenated_seam_max_step_m": plain,
        "inside_max_step_m": float(inside.max()) if len(inside) else None,
        "real_max_step_m": real_max,
        "real_p99_9_step_m": real_p999,
        "real_max_step_clip": real_clip,
        "seams_within_real_max": all(step <= real_max for step in inpainted),
        **machine(),
    }
    if args.evaluator:
        evaluator, expected = Evaluator.load(args.evaluator), args.expect.split(",")
        result["evaluator"] = str(args.evaluator)
        result["step_actions"] = step_actions(evaluator, generated)
        result["expected_actions"] = expected
        result["actions_as_expected"] = result["step_actions"] == expected
        later = range(args.seed + 1, args.seed + 1 + args.seeds)
        result["other_seeds"] = actions_over_seeds(pipeline, conditions, sample, evaluator, later, expected)
    output = args.out or RESULTS_DIR / ("multistep_text.json" if args.text else "multistep.json")
    fileio.write_json(output, result)
    print(f"segments: {result['segments']}")
    print(f"seam max step (m): {[round(step, 4) for step in inpainted]} "
          f"(concatenated without inpainting: {[round(step, 4) for step in plain]})")
    print(f"real max step (m): {real_max:.4f} ({real_clip}); 99.9th percentile {real_p999:.4f}")
    print(f"seams within the real maximum: {result['seams_within_real_max']}")
    if args.evaluator:
        print(f"step actions: {result['step_actions']} (expected {result['expected_actions']})")
        other = result["other_seeds"]
        print(f"over seeds {other['seeds'][0]}-{other['seeds'][-1]}: each step right "
              f"{[round(share, 2) for share in other['step_accuracy']]}, all steps right {other['all_steps_right']:.2f}")
    print(f"-> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
