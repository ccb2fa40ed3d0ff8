"""`saymotion data prepare`: turn the Bandai Namco archive into a prepared dataset."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from saymotion import settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="prepare the motion dataset", description=__doc__)
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    prepare = actions.add_parser(
        "prepare",
        help="convert the Bandai Namco archive into features, joints, labels, splits and descriptions",
        description="Stream the Bandai Namco archive once and write a prepared dataset: one .npz per clip "
        "(20 fps features and joints), clips.jsonl, splits, train mean/std, descriptions.jsonl and "
        "stats.json. Interrupted runs resume where they stopped.",
    )
    prepare.add_argument(
        "--out", type=Path, default=settings.default_prepared_dir(),
        help="output folder (default: %(default)s)",
    )
    prepare.add_argument(
        "--archive", type=Path, default=None,
        help=f"the {settings.ARCHIVE_NAME} archive (default: $SAYMOTION_DATA or ../shared/data)",
    )
    prepare.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: all cores, %(default)s)"
    )
    prepare.add_argument("--limit", type=int, default=None, help="convert only the first N clips of the archive")
    prepare.add_argument("--seed", type=int, default=0, help="seed of the splits and descriptions (default: 0)")
    prepare.add_argument(
        "--no-verify", dest="verify", action="store_false", help="skip the archive's sha256 check"
    )
    prepare.set_defaults(func=run_prepare)


def run_prepare(args: argparse.Namespace) -> int:
    from saymotion.datasets.prepare import PrepareConfig, prepare_dataset

    config = PrepareConfig(
        archive=args.archive or settings.default_archive(),
        out=args.out,
        workers=args.workers,
        limit=args.limit,
        seed=args.seed,
        verify=args.verify,
    )
    stats = prepare_dataset(config)
    print(
        f"{stats['clips']} clips, {stats['hours']:.2f} h at {stats['fps']:g} fps, "
        f"{len(stats['rejected'])} rejected -> {config.out}"
    )
    return 0
