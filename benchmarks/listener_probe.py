"""How well does a model's listener hear? For every utterance of the chosen splits, the cosine
between the meaning the generator predicts from the speech and the MiniLM embedding of the words
spoken, by split, by voice engine (val: training voices; test: held-out voices) and by utterance
length (short ones are what a multi-step recording is cut into); and, for a
recording of several instructions (default examples/three_steps.wav), the candidate sentences
each of its steps is heard nearest to. Writes benchmarks/results/listener_probe.json (--out names
another file).

    .venv/bin/python benchmarks/listener_probe.py --speech SPEECH [--model DIR] [--splits val,test] [--out FILE]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from common import RESULTS_DIR, machine

from saymotion import Pipeline, fileio, settings
from saymotion.errors import SaymotionError
from saymotion.models.conditioning import ConditionBatch
from saymotion.models.minilm import SentenceEncoder
from saymotion.training.sources import SpeechCorpus

CANDIDATES = ("Walk forward a few steps.", "Now wave your left hand.", "Then bow.", "Take a bow.", "Walk backward.",
              "Wave your right hand.", "Wave goodbye.", "Say bye.", "Run forward.", "Raise your left hand.")
BATCH = 64
# Utterance lengths the cosine is also broken down by: (label, shortest, longest) in seconds.
DURATIONS = (("under 2 s", 0.0, 2.0), ("2-3 s", 2.0, 3.0), ("3 s or more", 3.0, float("inf")))


class Listener:
    """The generator's speech -> meaning path."""

    def __init__(self, pipeline: Pipeline):
        self.condition = pipeline.generator.checkpoints["generator"].model.condition.eval()
        if self.condition.meaning is None:
            raise SaymotionError("this model has no listener (condition.align_weight = 0)")

    @torch.no_grad()
    def hear(self, features: list[np.ndarray]) -> np.ndarray:
        """(N, E) unit-length meanings predicted from each utterance's speech features."""
        rows = []
        for start in range(0, len(features), BATCH):
            chunk = [np.asarray(f, np.float32) for f in features[start : start + BATCH]]
            batch = ConditionBatch.from_arrays(chunk, [None] * len(chunk), chunk[0].shape[1])
            rows.append(self.condition.encode(batch)[1].numpy())
        return np.concatenate(rows)


def split_alignment(listener: Listener, corpus: SpeechCorpus, split: str, words: SentenceEncoder) -> dict:
    """Mean cosine to the words spoken over the split's utterances, overall and by voice engine."""
    utterances = corpus.split(split)
    if not utterances:
        raise SaymotionError(f"the speech corpus has no {split} utterances")
    heard = listener.hear([corpus.features(u.id) for u in utterances])
    cosine = np.sum(heard * words.encode([u.text for u in utterances]), axis=1)
    by_engine, by_duration = defaultdict(list), defaultdict(list)
    for utterance, value in zip(utterances, cosine):
        by_engine[utterance.engine].append(value)
        by_duration[next(label for label, low, high in DURATIONS if low <= utterance.duration < high)].append(value)
    return {"utterances": len(utterances), "cosine": round(float(cosine.mean()), 4),
            "by_engine": _means(by_engine), "by_duration": _means(by_duration)}


def _means(groups: dict[str, list[float]]) -> dict[str, dict]:
    return {name: {"utterances": len(values), "cosine": round(float(np.mean(values)), 4)} for name, values in sorted(groups.items())}


def recording_steps(listener: Listener, pipeline: Pipeline, recording: Path, words: SentenceEncoder) -> list[dict]:
    """Each step of the recording: the three candidates it is heard nearest to, with their cosines."""
    _, rows = pipeline.split_steps(recording, None)
    heard = listener.hear([features for features, _ in rows])
    similarity = heard @ words.encode(list(CANDIDATES)).T
    return [{"nearest": [{"text": CANDIDATES[i], "cosine": round(float(row[i]), 4)} for i in np.argsort(-row)[:3]]}
            for row in similarity]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speech", type=Path, default=settings.default_speech_dir(), help="speech corpus with cached features")
    parser.add_argument("--model", type=Path, default=settings.default_model_dir(), help="model folder (default: the shipped one)")
    parser.add_argument("--splits", default="val,test", help="comma-separated corpus splits")
    parser.add_argument("--recording", type=Path, default=settings.REPO_DIR / "examples" / "three_steps.wav")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "listener_probe.json")
    args = parser.parse_args()
    try:
        pipeline = Pipeline.load(args.model)
        listener = Listener(pipeline)
        corpus = SpeechCorpus(args.speech, pipeline.generator.speech_encoder)
        words = SentenceEncoder()
        splits = {split: split_alignment(listener, corpus, split, words) for split in args.splits.split(",")}
        steps = recording_steps(listener, pipeline, args.recording, words)
    except (SaymotionError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for split, result in splits.items():
        groups = ", ".join(f"{name} {value['cosine']:.3f} ({value['utterances']})"
                           for name, value in {**result["by_engine"], **result["by_duration"]}.items())
        print(f"{split}: cosine to the words spoken {result['cosine']:.3f} over {result['utterances']} utterances ({groups})")
    for number, step in enumerate(steps, 1):
        print(f"{args.recording.name} step {number}: " + ", ".join(f"{n['text']!r} {n['cosine']:.3f}" for n in step["nearest"]))
    fileio.write_json(args.out, {
        "model": str(args.model), "recording": str(args.recording), "splits": splits, "recording_steps": steps,
        "candidates": list(CANDIDATES), **machine(),
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
