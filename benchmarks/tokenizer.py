"""Tokenizer reconstruction: root-aligned MPJPE (mm, as MoMask reports it) and global MPJPE between
every clip of a split and its RVQ-VAE reconstruction with all quantizer layers, for a model folder.
Writes benchmarks/results/tokenizer.json.

    .venv/bin/python benchmarks/tokenizer.py --data /tmp/saymotion-prepared [--model DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from common import RESULTS_DIR, machine

from saymotion import fileio, settings
from saymotion.checkpoint import load_checkpoint
from saymotion.config import downsampling_factor
from saymotion.datasets.prepared import PreparedDataset
from saymotion.errors import SaymotionError
from saymotion.generate import model_files
from saymotion.training.data import MotionSet
from saymotion.training.stages import Normalisation, reconstruction_errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=settings.default_prepared_dir(), help="prepared dataset")
    parser.add_argument("--model", type=Path, default=settings.default_model_dir(), help="model folder or run")
    parser.add_argument("--splits", nargs="+", default=["test", "val"])
    args = parser.parse_args()
    torch.set_num_threads(2)
    try:
        path = model_files(args.model)["tokenizer"]
        tokenizer = load_checkpoint(path, "tokenizer")
        dataset = PreparedDataset(args.data)
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
        errors = reconstruction_errors(tokenizer.model, motions.features, norm, torch.device("cpu"))
        frames = sum(len(clip) for clip in motions.features)
        prefix = "" if split == "test" else f"{split}_"
        result |= {f"{prefix}{key}": round(value, 2) for key, value in errors.items()}
        result |= {f"{prefix}clips": len(motions), f"{prefix}frames": frames}
        print(f"{split}: mpjpe {errors['mpjpe_mm']:.2f} mm (root-aligned), global {errors['global_mpjpe_mm']:.2f} mm, "
              f"{len(motions)} clips, {frames} frames")
    result["seconds"] = round(time.perf_counter() - started, 1)
    fileio.write_json(RESULTS_DIR / "tokenizer.json", result)
    print(f"-> {RESULTS_DIR / 'tokenizer.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
