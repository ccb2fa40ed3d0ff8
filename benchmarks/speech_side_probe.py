"""Is the side an instruction names (left or right) in the speech features before any training of
ours? A logistic regression on the mean of each utterance's speech-encoder frames, trained on
training utterances that name exactly one side, scored on the validation ones. Writes
benchmarks/results/speech_side_probe.json.

    .venv/bin/python benchmarks/speech_side_probe.py --speech /tmp/saymotion-speech [--encoder whisper-base]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from common import RESULTS_DIR, machine

from saymotion import fileio, settings
from saymotion.descriptions.mirror import named_sides
from saymotion.errors import SaymotionError
from saymotion.training.sources import SpeechCorpus

def named_side(text: str) -> int | None:
    """1 for right, 0 for left, None when the text names neither or both."""
    sides = named_sides(text)
    return int("right" in sides) if len(sides) == 1 else None


def mean_frames(corpus: SpeechCorpus, split: str, limit: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    utterances = [u for u in corpus.split(split) if named_side(u.text) is not None]
    chosen = [utterances[i] for i in rng.choice(len(utterances), min(limit, len(utterances)), replace=False)]
    features = np.stack([np.asarray(corpus.features(u.id), np.float32).mean(0) for u in chosen])
    return torch.from_numpy(features), torch.tensor([named_side(u.text) for u in chosen], dtype=torch.float32)


def fit_logistic(x: torch.Tensor, y: torch.Tensor, steps: int = 300) -> torch.nn.Linear:
    model = torch.nn.Linear(x.shape[1], 1)
    optimiser = torch.optim.LBFGS(model.parameters(), max_iter=steps)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x)[:, 0], y) + 1e-3 * model.weight.square().sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speech", type=Path, default=settings.default_speech_dir(), help="speech corpus with cached features")
    parser.add_argument("--encoder", default="whisper-base")
    parser.add_argument("--train-utterances", type=int, default=4000)
    args = parser.parse_args()
    try:
        corpus = SpeechCorpus(args.speech, args.encoder)
        rng = np.random.default_rng(0)
        train_x, train_y = mean_frames(corpus, "train", args.train_utterances, rng)
        val_x, val_y = mean_frames(corpus, "val", 10**9, rng)
    except (SaymotionError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    model = fit_logistic((train_x - mean) / std, train_y)
    with torch.no_grad():
        accuracy = {name: float(((model((x - mean) / std)[:, 0] > 0).float() == y).float().mean())
                    for name, (x, y) in {"train": (train_x, train_y), "val": (val_x, val_y)}.items()}
    result = {"encoder": args.encoder, "train_utterances": len(train_y), "val_utterances": len(val_y),
              "train_accuracy": accuracy["train"], "val_accuracy": accuracy["val"], "machine": machine()}
    fileio.write_json(RESULTS_DIR / "speech_side_probe.json", result)
    print(f"side from mean {args.encoder} frames: train {accuracy['train']:.3f}, val {accuracy['val']:.3f} "
          f"({len(val_y)} validation utterances)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
