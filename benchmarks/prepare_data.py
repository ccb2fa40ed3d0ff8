"""Benchmark `saymotion data prepare` on the shared archive: prints clips per second and total
seconds, and writes benchmarks/results/prepare_data.json.

    .venv/bin/python benchmarks/prepare_data.py --out /tmp/saymotion-prepared [--workers N] [--limit N]

Times a fresh run only: an output folder that already holds a finished dataset is refused.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from saymotion import fileio, settings
from saymotion.datasets.prepare import PrepareConfig, prepare_dataset
from saymotion.errors import SaymotionError

RESULTS = Path(__file__).resolve().parent / "results" / "prepare_data.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="output folder (must not hold a finished dataset)")
    parser.add_argument("--archive", type=Path, default=settings.default_archive())
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    if (args.out / "stats.json").exists():
        print(f"{args.out} already holds a prepared dataset; give a fresh --out to time a full run", file=sys.stderr)
        return 2
    config = PrepareConfig(archive=args.archive, out=args.out, workers=args.workers, limit=args.limit)
    started = time.perf_counter()
    try:
        stats = prepare_dataset(config)
    except SaymotionError as error:
        print(f"prepare_data: error: {error}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started  # the checksum included
    result = {
        "clips": stats["clips"],
        "rejected": len(stats["rejected"]),
        "frames": stats["frames"],
        "hours": stats["hours"],
        "seconds": round(seconds, 1),
        "clips_per_second": round((stats["clips"] + len(stats["rejected"])) / seconds, 2),
        "workers": args.workers,
        "limit": args.limit,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "out": str(args.out.resolve()),
    }
    fileio.write_json(RESULTS, result)
    print(f"{result['clips_per_second']} clips/s, {result['seconds']} s in total ({result['clips']} clips, "
          f"{result['rejected']} rejected, {result['hours']} h of motion) -> {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
