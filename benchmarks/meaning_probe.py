"""Is a spoken instruction lost in the listener or in the generator that reads it?

For one recording and the words spoken in it, it generates the motion for --seeds seeds three ways
and lets the evaluator's action classifier label each: from the recording as a user would (the
listener's meaning token), with the meaning token replaced by the MiniLM embedding of the words
(a perfect listener, everything else from the recording), and from the words written. It also
prints the listener's cosine to the words. If the second way comes out right and the first does not,
the generator reads an imperfect meaning badly. Writes benchmarks/results/meaning_probe.json (--out
names another file).

    .venv/bin/python benchmarks/meaning_probe.py --audio WALK.wav --words "Walk forward a few steps." \
        --expect walk --evaluator EVAL [--model DIR] [--seeds 20]
"""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn
from common import RESULTS_DIR, machine

from saymotion import fileio, settings
from saymotion.errors import SaymotionError
from saymotion.evaluation.evaluator import Evaluator
from saymotion.models.conditioning import ConditionEncoder
from saymotion.pipeline import Pipeline


class WordsAsMeaning(nn.Module):
    """A meaning head that hears `words` (E,) whatever the speech: a perfect listener."""

    def __init__(self, words: torch.Tensor):
        super().__init__()
        self.register_buffer("words", words)

    def forward(self, summary: torch.Tensor) -> torch.Tensor:
        return self.words.to(summary.dtype).expand(len(summary), -1)


@contextmanager
def meaning_replaced(encoders: list[ConditionEncoder], words: torch.Tensor):
    """Every encoder's meaning head swapped for one that hears `words`, so the encoder builds its
    meaning token from them by its own path."""
    heads = [encoder.meaning for encoder in encoders]
    for encoder in encoders:
        encoder.meaning = WordsAsMeaning(words)
    try:
        yield
    finally:
        for encoder, head in zip(encoders, heads):
            encoder.meaning = head


def labels_over_seeds(pipeline: Pipeline, evaluator: Evaluator, condition: tuple, seeds: range) -> list[str]:
    motions = [pipeline.generator.generate_steps([condition], seed=seed).motion.features[0] for seed in seeds]
    return evaluator.evaluate_motions(motions).actions


def summary(labels: list[str], expected: str) -> dict:
    return {"actions": labels, "right": sum(label == expected for label in labels), "of": len(labels)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio", type=Path, required=True, help="recording of one instruction")
    parser.add_argument("--words", required=True, help="the words spoken in it")
    parser.add_argument("--expect", required=True, help="the action it asks for")
    parser.add_argument("--evaluator", type=Path, required=True, help="evaluator folder (saymotion eval train)")
    parser.add_argument("--model", type=Path, default=settings.default_model_dir())
    parser.add_argument("--seeds", type=int, default=20, help="seeds 1..N (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "meaning_probe.json")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    torch.set_num_threads(args.threads)
    pipeline, evaluator = Pipeline.load(args.model), Evaluator.load(args.evaluator)
    try:
        features = pipeline.speech_features(args.audio)
    except SaymotionError as error:
        print(f"meaning_probe: error: {error}", file=sys.stderr)
        return 2
    generator = pipeline.generator
    words = torch.tensor(generator.embed_text(args.words), device=generator.device)
    words = torch.nn.functional.normalize(words, dim=-1)
    encoders = [checkpoint.model.condition for checkpoint in generator.checkpoints.values()
                if getattr(getattr(checkpoint.model, "condition", None), "meaning", None) is not None]
    if not encoders:
        print("meaning_probe: error: this model has no meaning token", file=sys.stderr)
        return 2
    with torch.inference_mode():
        heard = encoders[0].encode(generator.condition_rows([(features, None)]).to(generator.device))[1][0]
    seeds = range(1, args.seeds + 1)
    spoken = labels_over_seeds(pipeline, evaluator, (features, None), seeds)
    with meaning_replaced(encoders, words):
        perfect = labels_over_seeds(pipeline, evaluator, (features, None), seeds)
    written = labels_over_seeds(pipeline, evaluator, (None, args.words), seeds)
    result = {
        "audio": str(args.audio), "words": args.words, "expected_action": args.expect, "model": str(args.model),
        "evaluator": str(args.evaluator), "seeds": list(seeds),
        "listener_cosine_to_words": float(torch.dot(heard.float(), words.float())),
        "spoken": summary(spoken, args.expect),
        "spoken_with_the_words_as_meaning": summary(perfect, args.expect),
        "written": summary(written, args.expect),
        **machine(),
    }
    fileio.write_json(args.out, result)
    print(f"listener cosine to the words: {result['listener_cosine_to_words']:.3f}")
    for key in ("spoken", "spoken_with_the_words_as_meaning", "written"):
        print(f"{key}: {result[key]['right']} of {result[key]['of']} {args.expect}")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
