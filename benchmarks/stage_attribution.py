"""Which stage loses an action: the evaluator's action accuracy per action on the test clips, for
motion made with more and more of the generator's stages, every motion at its clip's length:

- real:               the clip itself;
- reconstructed:      the tokenizer's codes of the clip, all quantizer layers, decoded;
- real base layer:    only the first layer of those codes decoded;
- real base + residual: the clip's first-layer codes, the finer layers from the residual transformer;
- generated base layer: first-layer codes from the masked transformer, decoded alone;
- generated:          masked transformer, then residual transformer (what the model makes).

The instruction is each clip's first written instruction (the text path: one condition for every
stage, no speech in between). The masked transformer's token accuracy and mean negative
log-likelihood of the clip's first-layer codes, all masked in one pass with the instruction, are
reported per action beside them. Writes benchmarks/results/stage_attribution.json.

    .venv/bin/python benchmarks/stage_attribution.py --data DIR --evaluator DIR [--model DIR] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from common import RESULTS_DIR, machine

from saymotion import fileio, settings
from saymotion.checkpoint import model_files
from saymotion.config import downsampling_factor, max_tokens
from saymotion.datasets.prepared import PreparedDataset
from saymotion.errors import SaymotionError
from saymotion.evaluation.evaluator import Evaluator
from saymotion.evaluation.protocol import TestClip, accuracy_by_label, test_clips
from saymotion.generate import MotionGenerator
from saymotion.multistep import masked_sampling, residual_sampling

VARIANTS = ("real", "reconstructed", "real base layer", "real base + residual", "generated base layer", "generated")


class StageRun:
    """Every variant's motion for one clip, with the model's own sampling settings."""

    def __init__(self, generator: MotionGenerator, dataset: PreparedDataset, seed: int):
        self.generator = generator
        self.dataset = dataset
        self.tokenizer = generator.checkpoints["tokenizer"]
        self.masked = generator.checkpoints["generator"].model
        self.residual = generator.checkpoints["residual"].model
        self.factor = downsampling_factor(generator.config)
        self.max_tokens = max_tokens(generator.config)
        self.random = torch.Generator().manual_seed(seed)

    def motions(self, clip: TestClip) -> tuple[dict[str, np.ndarray], tuple[float, float]]:
        """The variants' features (T, D) and the masked transformer's (accuracy, NLL) on the clip's base codes."""
        features = self.dataset.load_features(clip.id)
        frames = min(len(features), self.max_tokens * self.factor) // self.factor * self.factor
        features = features[:frames]
        normalised = torch.from_numpy(self.tokenizer.normalise(features).astype(np.float32))[None]
        codes = self.tokenizer.model.encode(normalised)
        lengths = torch.tensor([codes.shape[1]])
        cond = self.generator.condition_rows([(None, clip.instructions[0].text)])
        sample = self.generator.config.sample
        completed = self.residual.generate(codes[..., 0], lengths, cond, **residual_sampling(sample), generator=self.random)
        base = self.masked.generate(lengths, cond, **masked_sampling(sample), generator=self.random)
        generated = self.residual.generate(base, lengths, cond, **residual_sampling(sample), generator=self.random)
        decode: Callable[[torch.Tensor], np.ndarray] = lambda c: self.tokenizer.denormalise(
            self.tokenizer.model.decode(c)[0].float().numpy())  # fmt: skip
        variants = {"real": features, "reconstructed": decode(codes), "real base layer": decode(codes[..., :1]),
                    "real base + residual": decode(completed), "generated base layer": decode(generated[..., :1]),
                    "generated": decode(generated)}  # fmt: skip
        return variants, self._one_pass_fit(codes[..., 0], lengths, cond)

    def _one_pass_fit(self, base: torch.Tensor, lengths: torch.Tensor, cond) -> tuple[float, float]:
        """Accuracy and mean NLL of the masked transformer's guess of every base code at once."""
        masked = torch.full_like(base, self.masked.mask_id)
        log_probs = self.masked.logits(masked, lengths, self.masked.encode_condition(cond)).log_softmax(-1)[0]
        target = base[0]
        picked = log_probs[torch.arange(len(target)), target]
        return float((log_probs.argmax(-1) == target).float().mean()), float(-picked.mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=settings.default_prepared_dir(), help="prepared dataset")
    parser.add_argument("--model", type=Path, default=settings.default_model_dir(), help="model folder or run")
    parser.add_argument("--evaluator", type=Path, required=True, help="evaluator folder (saymotion eval train)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        model_files(args.model)
        generator = MotionGenerator.load(args.model)
        evaluator = Evaluator.load(args.evaluator)
        dataset = PreparedDataset(args.data)
        clips = test_clips(dataset, "test", "text", None)
    except SaymotionError as error:
        print(f"stage_attribution: error: {error}", file=sys.stderr)
        return 2
    run = StageRun(generator, dataset, args.seed)
    made: dict[str, list[np.ndarray]] = {variant: [] for variant in VARIANTS}
    fits = []
    with torch.inference_mode():
        for clip in clips:
            variants, fit = run.motions(clip)
            for variant in VARIANTS:
                made[variant].append(variants[variant])
            fits.append(fit)
    actions = [clip.action for clip in clips]
    result = {"model": str(args.model), "evaluator": str(args.evaluator), "data": str(args.data), "seed": args.seed,
              "clips": len(clips), "clips_by_action": {a: actions.count(a) for a in sorted(set(actions))}, **machine()}
    for variant in VARIANTS:
        predicted = evaluator.evaluate_motions(made[variant]).actions
        result[variant] = {"action_accuracy": round(float(np.mean([p == a for p, a in zip(predicted, actions)])), 4),
                           "by_action": {a: round(v, 3) for a, v in accuracy_by_label(predicted, actions).items()}}
        print(f"{variant:>22}: action accuracy {result[variant]['action_accuracy']:.3f}")
    fits_array = np.array(fits)
    result["one_pass_base_codes"] = {
        action: {"token_accuracy": round(float(fits_array[rows, 0].mean()), 3), "nll": round(float(fits_array[rows, 1].mean()), 3)}
        for action in sorted(set(actions)) for rows in [[i for i, a in enumerate(actions) if a == action]]
    }  # fmt: skip
    out = RESULTS_DIR / "stage_attribution.json"
    fileio.write_json(out, result)
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
