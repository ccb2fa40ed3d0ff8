"""`saymotion export`: a motion as a BVH file for Blender and other animation tools."""

from __future__ import annotations

import argparse
from pathlib import Path

from saymotion.commands.render import INPUT_HELP, SKELETON_HELP


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a motion as a BVH file (Blender, MotionBuilder, ...)",
        description=(
            "Write a motion as a BVH (centimetres, Y up, 20 fps). BVH clips are resampled and placed "
            "at the origin facing +Z; features keep their exact joint rotations; joint positions get "
            "rotations from an analytic IK, which cannot recover twist about the limbs."
        ),
    )
    parser.add_argument("input", type=Path, help=INPUT_HELP)
    parser.add_argument("-o", "--out", type=Path, required=True, help="output .bvh file")
    parser.add_argument("--skeleton", type=Path, help=SKELETON_HELP)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from saymotion.bvh import write_bvh
    from saymotion.errors import SaymotionError
    from saymotion.motion_io import load_motion, load_skeleton, motion_for_export

    if args.out.suffix.lower() != ".bvh":
        raise SaymotionError(f"export writes a .bvh file, got {args.out.name!r}")
    skeleton = load_skeleton(args.skeleton) if args.skeleton else None
    motion = motion_for_export(load_motion(args.input, skeleton))
    write_bvh(args.out, motion)
    print(f"wrote {args.out} ({motion.num_frames} frames at {motion.fps:g} fps)")
    return 0
