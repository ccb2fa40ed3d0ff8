"""How long a model took to train: for each stage, the sum over its training log of
sec_per_step x the steps since the previous row (step time only: data loading and validation are
not in it). Reads MODEL/logs/<stage>-train.csv, as `saymotion train export` copies them; writes
benchmarks/results/training_time.json.

    .venv/bin/python benchmarks/training_time.py [--model DIR]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from common import RESULTS_DIR

from saymotion import fileio, settings
from saymotion.config import TRAINING_STAGES


def stage_minutes(log: Path) -> tuple[int, float]:
    """(last step, minutes of step time) of one training log."""
    steps, seconds = 0, 0.0
    with log.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            step = int(row["step"])
            seconds += float(row["sec_per_step"]) * (step - steps)
            steps = step
    return steps, seconds / 60


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=settings.default_model_dir())
    args = parser.parse_args()
    stages = {}
    for kind in TRAINING_STAGES:
        log = args.model / "logs" / f"{kind}-train.csv"
        if log.is_file():
            steps, minutes = stage_minutes(log)
            stages[kind] = {"steps": steps, "minutes": round(minutes, 1)}
            print(f"{kind}: {steps} steps, {minutes:.1f} min")
    if not stages:
        raise SystemExit(f"{args.model}/logs holds no training logs")
    total = round(sum(stage["minutes"] for stage in stages.values()), 1)
    print(f"total: {total} min of step time")
    fileio.write_json(RESULTS_DIR / "training_time.json", {"model": str(args.model), "stages": stages, "total_minutes": total})
    return 0


if __name__ == "__main__":
    sys.exit(main())
