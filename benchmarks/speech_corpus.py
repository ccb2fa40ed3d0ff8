"""Benchmark the spoken-instruction corpus: `speech synthesize` then `speech features` on a prepared
dataset, timed from an empty folder. Prints utterances per second for each stage, checks the bar
(training utterances, voices, no held-out voice in training, features for every utterance) and
writes benchmarks/results/speech_corpus.json (speech_corpus-limit<N>.json for a --limit run).

    .venv/bin/python benchmarks/speech_corpus.py --data /tmp/saymotion-prepared --out /tmp/saymotion-speech
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from saymotion import fileio, settings
from saymotion.errors import SaymotionError
from saymotion.speech.corpus import HELDOUT_SPLITS, SPLITS, Utterance, synthesize_corpus
from saymotion.speech.encoders import DEFAULT_ENCODER
from saymotion.speech.feature_store import FeatureStore, extract_features
from saymotion.speech.voices import heldout_voices

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def summarize(rows: list[Utterance], store: FeatureStore) -> dict:
    heldout = {voice.name for voice in heldout_voices()}
    train = [row for row in rows if row.split == "train"]
    test_voices = sorted({row.voice for row in rows if row.split in HELDOUT_SPLITS})
    return {
        "utterances": len(rows),
        "train_utterances": len(train),
        "utterances_per_split": {split: sum(row.split == split for row in rows) for split in SPLITS},
        "audio_hours": round(sum(row.duration for row in rows) / 3600, 2),
        "voices_train": len({row.voice for row in train}),
        "voices_heldout": len(test_voices),
        "voices_heldout_names": test_voices,
        "heldout_voice_rows_in_train": sum(row.voice in heldout for row in train),
        "utterances_with_features": sum(row.id in store and store[row.id].shape[0] > 0 for row in rows),
        "encoder": store.encoder,
        "feature_dim": store.dim,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data", type=Path, default=settings.default_prepared_dir(), help="prepared dataset folder"
    )
    parser.add_argument("--out", type=Path, required=True, help="corpus folder; must be empty or absent")
    parser.add_argument("--limit", type=int, default=None, help="only the first N planned utterances")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--encoder", default=DEFAULT_ENCODER)
    args = parser.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        print(f"{args.out} is not empty; give a fresh --out so nothing is skipped", file=sys.stderr)
        return 2
    try:
        started = time.perf_counter()
        rows = synthesize_corpus(args.data, args.out, limit=args.limit, workers=args.workers)
        seconds_synthesize = time.perf_counter() - started
        started = time.perf_counter()
        extract_features(args.out, args.encoder, workers=args.workers)
        seconds_features = time.perf_counter() - started
        result = summarize(rows, FeatureStore(args.out, args.encoder))
    except SaymotionError as error:
        print(f"speech_corpus: error: {error}", file=sys.stderr)
        return 2
    result |= {
        "seconds_synthesize": round(seconds_synthesize, 1),
        "seconds_features": round(seconds_features, 1),
        "seconds_total": round(seconds_synthesize + seconds_features, 1),
        "utterances_per_second_synthesize": round(len(rows) / seconds_synthesize, 2),
        "utterances_per_second_features": round(len(rows) / seconds_features, 2),
        "limit": args.limit,
        "workers": args.workers,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "data": str(args.data.resolve()),
        "out": str(args.out.resolve()),
    }
    name = "speech_corpus.json" if args.limit is None else f"speech_corpus-limit{args.limit}.json"
    fileio.write_json(RESULTS_DIR / name, result)
    print(
        f"synthesize: {result['utterances_per_second_synthesize']} utterances/s ({result['seconds_synthesize']} s)"
    )
    print(f"features:   {result['utterances_per_second_features']} utterances/s ({result['seconds_features']} s)")
    print(
        f"{result['train_utterances']} training utterances from {result['voices_train']} voices, "
        f"{result['voices_heldout']} held-out voices, "
        f"{result['utterances_with_features']}/{len(rows)} with features -> {RESULTS_DIR / name}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
