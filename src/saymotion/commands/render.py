"""`saymotion render`: a motion as a skeleton video (MP4 or GIF)."""

from __future__ import annotations

import argparse
from pathlib import Path

INPUT_HELP = (
    "a .bvh clip, a joints .npy (frames x joints x 3, metres, 20 fps), a features .npy (frames x D) "
    "or a prepared .npz (motions/<id>.npz)"
)
SKELETON_HELP = (
    "joint tree for array inputs: a skeleton.json as written by 'saymotion data prepare', or a model "
    "checkpoint (.pt); default: skeleton.json in the input's folder or the folder above"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "render",
        help="render a motion as a skeleton video (MP4 or GIF)",
        description=(
            "Draw a motion as a 3D skeleton video: bones and joints (left side blue, right side red), "
            "a ground grid, the root's trail and an optional caption. BVH clips are resampled and "
            "placed at the origin facing the camera."
        ),
    )
    parser.add_argument("input", type=Path, help=INPUT_HELP)
    parser.add_argument("-o", "--out", type=Path, required=True, help="output video, .mp4 or .gif")
    parser.add_argument("--caption", help="text shown above the figure, e.g. the instruction")
    parser.add_argument("--fps", type=float, default=None, help="video frame rate (default: 20, the motion rate)")
    parser.add_argument("--size", type=int, default=480, help="width and height in pixels, even (default: 480)")
    parser.add_argument("--skeleton", type=Path, help=SKELETON_HELP)
    parser.add_argument(
        "--camera",
        choices=("auto", "fixed", "follow"),
        default="auto",
        help="fixed: frame the whole motion; follow: track the root; auto: follow only when the "
        "figure would otherwise be small (default)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from saymotion.motion_io import load_motion, load_skeleton
    from saymotion.render import render_motion, validate_fps, validate_size, video_suffix
    from saymotion.skeleton import TARGET_FPS

    fps = TARGET_FPS if args.fps is None else args.fps
    # Check the cheap things before loading the motion.
    video_suffix(args.out)
    validate_fps(fps)
    validate_size(args.size)
    skeleton = load_skeleton(args.skeleton) if args.skeleton else None
    loaded = load_motion(args.input, skeleton, fps)
    render_motion(
        loaded.joints,
        loaded.skeleton.parents,
        args.out,
        fps=loaded.fps,
        caption=args.caption,
        size=args.size,
        joint_names=loaded.skeleton.joint_names,
        camera=args.camera,
    )
    print(f"wrote {args.out} ({loaded.num_frames} frames at {loaded.fps:g} fps)")
    return 0
