"""Which stage loses an action: the evaluator's action accuracy per action on the test clips, for
motion made with more and more of the generator's stages, every motion at its clip's length:

- real:               the clip itself;
- reconstructed:      the tokenizer's codes of the clip, all quantizer layers, decoded;
- real base layer:    only the first layer of those codes decoded;
- real base + residual: the clip's first-layer codes, the finer layers from the residual transformer;
- generated base layer: first-layer codes from the masked transformer, decoded alone;
- generated:          masked transformer, then residual transformer (what the model makes).

The instruction is each clip's first written instruction (the text path: one condition for every
stage, no speech in between). Beside each variant's action accuracy per action: the mean speed of
the root over the ground (start to end, m/s). The masked transformer's token accuracy and mean
negative log-likelihood of the clip's first-layer codes, all masked in one pass with the
instruction, are reported per action too, and how often a base code repeats the one before it in the
clip's own base layer and in the generated one (a repeated code is the same short pose chunk again:
locomotion that stutters instead of striding), with the probability the masked transformer gives a
masked position the code of its left neighbour when that neighbour is the only code shown and when
every other code is shown. Whether it knows which code follows which: shown every other code of
the clip, how often its likeliest code at each masked position is the clip's own, against a lookup
table of the train split's code triples (the code most often between two codes two apart), and how
far its guesses move when the shown codes are shuffled among their positions. --split, --actions
and sampling settings (--set sample.KEY=VALUE) narrow or vary it. Writes benchmarks/results/stage_attribution.json (--out
names another file).

    .venv/bin/python benchmarks/stage_attribution.py --data DIR --evaluator DIR [--model DIR] [--seed 0] \
        [--split test] [--actions run,walk] [--set sample.guidance_text=4] [--out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from common import RESULTS_DIR, machine

from saymotion import fileio, settings
from saymotion.config import downsampling_factor, max_tokens, override_sampling
from saymotion.datasets.prepared import PreparedDataset
from saymotion.errors import SaymotionError
from saymotion.evaluation.evaluator import Evaluator
from saymotion.evaluation.protocol import TestClip, accuracy_by_label, test_clips
from saymotion.generate import MotionGenerator
from saymotion.multistep import masked_sampling, residual_sampling
from saymotion.representation import features_to_joints
from saymotion.skeleton import Skeleton, TARGET_FPS

VARIANTS = ("real", "reconstructed", "real base layer", "real base + residual", "generated base layer", "generated")


class StageRun:
    """Every variant's motion for one clip, with the model's own sampling settings."""

    def __init__(self, generator: MotionGenerator, dataset: PreparedDataset, seed: int, sample_overrides: list[str]):
        self.generator = generator
        self.sample = override_sampling(generator.config.sample, sample_overrides)
        self.dataset = dataset
        self.tokenizer = generator.checkpoints["tokenizer"]
        self.masked = generator.checkpoints["generator"].model
        self.residual = generator.checkpoints["residual"].model
        self.factor = downsampling_factor(generator.config)
        self.max_tokens = max_tokens(generator.config)
        self.random = torch.Generator().manual_seed(seed)
        self.shuffling = torch.Generator().manual_seed(seed)  # apart, so that generation draws as before
        self.triples = code_triples(self.base_codes, dataset)

    def encode(self, features: np.ndarray) -> torch.Tensor:
        """The tokenizer's codes (1, N, Q) of features (T, D) whose length is a multiple of its factor."""
        return self.tokenizer.model.encode(torch.from_numpy(self.tokenizer.normalise(features).astype(np.float32))[None])

    def base_codes(self, features: np.ndarray) -> torch.Tensor:
        """The tokenizer's first-layer codes (N,) of a clip's features, whole."""
        return self.encode(features[: len(features) // self.factor * self.factor])[0, :, 0]

    def motions(self, clip: TestClip) -> tuple[dict[str, np.ndarray], tuple[float, float], tuple[float, ...]]:
        """The variants' features (T, D), the masked transformer's (accuracy, NLL) on the clip's base
        codes, and its repeat habits: the repeat rates of the real and the generated base codes, the
        neighbour probes (`_neighbour_probes`) and the train split's code triples' guess of the same
        codes."""
        features = self.dataset.load_features(clip.id)
        frames = min(len(features), self.max_tokens * self.factor) // self.factor * self.factor
        features = features[:frames]
        codes = self.encode(features)
        lengths = torch.tensor([codes.shape[1]])
        cond = self.generator.condition_rows([(None, clip.instructions[0].text)])
        sample = self.sample
        completed = self.residual.generate(codes[..., 0], lengths, cond, **residual_sampling(sample), generator=self.random)
        base = self.masked.generate(lengths, cond, **masked_sampling(sample), generator=self.random)
        generated = self.residual.generate(base, lengths, cond, **residual_sampling(sample), generator=self.random)
        def decode(codes: torch.Tensor) -> np.ndarray:
            return self.generator.decode_sequence(codes[0]).features[0]

        variants = {"real": features, "reconstructed": decode(codes), "real base layer": decode(codes[..., :1]),
                    "real base + residual": decode(completed), "generated base layer": decode(generated[..., :1]),
                    "generated": decode(generated)}  # fmt: skip
        tokens = self.masked.encode_condition(cond)  # the instruction, once for both probes below
        habits = (repeat_rate(codes[0, :, 0]), repeat_rate(generated[0, :, 0]),
                  *self._neighbour_probes(codes[..., 0], lengths, tokens), triple_accuracy(self.triples, codes[0, :, 0]))
        return variants, self._one_pass_fit(codes[..., 0], lengths, tokens), habits

    def _neighbour_probes(self, base: torch.Tensor, lengths: torch.Tensor,
                          tokens: torch.Tensor) -> tuple[float, float, float, float]:
        """Mean probability of a masked position's left neighbour's code: with that code (mid-clip) the
        only one shown, and with every other code shown (the odd positions masked). Shown every other
        code: how often the likeliest code at a masked position is the clip's own, and how far (total
        variation) the guesses move when the shown codes are shuffled among their positions."""
        middle = (base.shape[1] - 1) // 2
        lone = torch.full_like(base, self.masked.mask_id)
        lone[0, middle] = base[0, middle]
        lone_copy = self.masked.logits(lone, lengths, tokens).softmax(-1)[0, middle + 1, base[0, middle]]
        alternate = base.clone()
        alternate[0, 1::2] = self.masked.mask_id
        odd = torch.arange(1, base.shape[1], 2)
        probs = self.masked.logits(alternate, lengths, tokens).softmax(-1)[0, odd]
        shown = torch.arange(0, base.shape[1], 2)
        shuffled = alternate.clone()
        shuffled[0, shown] = alternate[0, shown[torch.randperm(len(shown), generator=self.shuffling)]]
        moved = 0.5 * (self.masked.logits(shuffled, lengths, tokens).softmax(-1)[0, odd] - probs).abs().sum(-1)
        order = (probs.argmax(-1) == base[0, odd]).float().mean()
        return float(lone_copy), float(probs[torch.arange(len(odd)), base[0, odd - 1]].mean()), float(order), float(moved.mean())

    def _one_pass_fit(self, base: torch.Tensor, lengths: torch.Tensor, tokens: torch.Tensor) -> tuple[float, float]:
        """Accuracy and mean NLL of the masked transformer's guess of every base code at once."""
        masked = torch.full_like(base, self.masked.mask_id)
        log_probs = self.masked.logits(masked, lengths, tokens).log_softmax(-1)[0]
        target = base[0]
        picked = log_probs[torch.arange(len(target)), target]
        return float((log_probs.argmax(-1) == target).float().mean()), float(-picked.mean())


def code_triples(encode: Callable[[np.ndarray], torch.Tensor], dataset: PreparedDataset,
                 split: str = "train") -> dict[tuple[int, int], int]:
    """The order of base codes as a lookup table learns it from a split: for each pair of codes two
    apart, the code most often between them (the reference for the masked transformer's guess)."""
    counts: dict[tuple[int, int], Counter] = defaultdict(Counter)
    for clip_id in dataset.split_ids(split):
        base = encode(dataset.load_features(clip_id)).tolist()
        for left, middle, right in zip(base, base[1:], base[2:]):
            counts[(left, right)][middle] += 1
    return {pair: counter.most_common(1)[0][0] for pair, counter in counts.items()}


def triple_accuracy(triples: dict[tuple[int, int], int], base: torch.Tensor) -> float:
    """How often the table names the code at each odd position of base (N,) from its two neighbours."""
    codes = base.tolist()
    return float(np.mean([triples.get((codes[i - 1], codes[i + 1])) == codes[i] for i in range(1, len(codes) - 1, 2)]))


def repeat_rate(codes: torch.Tensor) -> float:
    """Fraction of a code sequence's neighbouring pairs that hold the same code."""
    return float((codes[1:] == codes[:-1]).float().mean())


def ground_speed(features: np.ndarray, skeleton: Skeleton) -> float:
    """Root displacement over the ground from first to last frame per second (m/s)."""
    root = features_to_joints(features, skeleton)[:, 0]
    return float(np.linalg.norm(root[-1, [0, 2]] - root[0, [0, 2]]) * TARGET_FPS / max(len(root) - 1, 1))


def per_action(values: list[float], actions: list[str]) -> dict[str, float]:
    return {a: round(float(np.mean([v for v, b in zip(values, actions) if b == a])), 3) for a in sorted(set(actions))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=settings.default_prepared_dir(), help="prepared dataset")
    parser.add_argument("--model", type=Path, default=settings.default_model_dir(), help="model folder or run")
    parser.add_argument("--evaluator", type=Path, required=True, help="evaluator folder (saymotion eval train)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="test")
    parser.add_argument("--actions", help="only the clips of these actions (comma-separated)")
    parser.add_argument("--set", action="append", default=[], metavar="sample.KEY=VALUE", help="a sampling setting")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "stage_attribution.json")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        generator = MotionGenerator.load(args.model)
        evaluator = Evaluator.load(args.evaluator)
        dataset = PreparedDataset(args.data)
        clips = test_clips(dataset, args.split, "text", None)
        if args.actions:
            clips = [clip for clip in clips if clip.action in args.actions.split(",")]
        if not clips:
            raise SaymotionError(f"no {args.split} clip of the actions {args.actions}")
        run = StageRun(generator, dataset, args.seed, args.set)
    except SaymotionError as error:
        print(f"stage_attribution: error: {error}", file=sys.stderr)
        return 2
    made: dict[str, list[np.ndarray]] = {variant: [] for variant in VARIANTS}
    fits, habits = [], []
    with torch.inference_mode():
        for clip in clips:
            variants, fit, habit = run.motions(clip)
            for variant in VARIANTS:
                made[variant].append(variants[variant])
            fits.append(fit)
            habits.append(habit)
    actions = [clip.action for clip in clips]
    result = {"model": str(args.model), "evaluator": str(args.evaluator), "data": str(args.data), "seed": args.seed,
              "split": args.split, "sample": dataclasses.asdict(run.sample), "clips": len(clips),
              "clips_by_action": {a: actions.count(a) for a in sorted(set(actions))}, **machine()}
    for variant in VARIANTS:
        predicted = evaluator.evaluate_motions(made[variant]).actions
        speeds = [ground_speed(features, dataset.skeleton) for features in made[variant]]
        result[variant] = {"action_accuracy": round(float(np.mean([p == a for p, a in zip(predicted, actions)])), 4),
                           "by_action": {a: round(v, 3) for a, v in accuracy_by_label(predicted, actions).items()},
                           "ground_speed_m_s_by_action": per_action(speeds, actions)}
        print(f"{variant:>22}: action accuracy {result[variant]['action_accuracy']:.3f}")
    accuracy, nll = (per_action([fit[index] for fit in fits], actions) for index in (0, 1))
    result["one_pass_base_codes"] = {a: {"token_accuracy": accuracy[a], "nll": nll[a]} for a in accuracy}
    real, generated, lone, alternate, order, moved, triples = (per_action([habit[index] for habit in habits], actions)
                                                               for index in range(7))
    result["base_code_repeats"] = {a: {"real": real[a], "generated": generated[a]} for a in real}
    result["neighbour_copy_probability"] = {a: {"lone_code": lone[a], "every_other_code": alternate[a]} for a in real}
    result["every_other_code_guessed"] = {a: {"masked_transformer": order[a], "train_split_triples": triples[a],
                                              "guesses_moved_by_shuffling_the_shown_codes": moved[a]} for a in real}
    print(f"every other base code guessed from its neighbours: masked transformer {np.mean([h[4] for h in habits]):.3f}, "
          f"the train split's code triples {np.mean([h[6] for h in habits]):.3f}; shuffling the shown codes moves "
          f"its guesses by {np.mean([h[5] for h in habits]):.3f} (total variation)")
    print(f"base codes repeating the one before: real {np.mean([h[0] for h in habits]):.3f}, "
          f"generated {np.mean([h[1] for h in habits]):.3f}")
    fileio.write_json(args.out, result)
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
