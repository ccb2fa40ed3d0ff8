"""`saymotion generate`: a spoken and/or written instruction to motion files."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

DESCRIPTION = """\
Generate motion from a recording (WAV/FLAC/OGG/MP3, any rate, mono or stereo, up to 30 s), a text,
or both: the audio says what to do, the text how. Writes OUTDIR/motion.npy (joint positions,
frames x joints x 3, metres, 20 fps), OUTDIR/motion.bvh and OUTDIR/preview.mp4, and
OUTDIR/generation.json with the settings and timings. With --num-samples N > 1 the k-th sample
is written as motion_<k>.npy, motion_<k>.bvh and preview_<k>.mp4 (k = 1..N).

With --steps the recording (up to 120 s, each instruction up to 30 s) is split at its pauses, or
the text into its sentences, and every instruction becomes one step of a single continuous motion;
OUTDIR/segments.json then gives each step's frame range and where it came from (audio time span,
text)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate", help="generate motion from a spoken instruction and/or a text", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--audio", type=Path, help="the spoken instruction (audio file)")
    parser.add_argument("--text", help="a written instruction, alone or saying how to do what the audio says")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder OUTDIR")
    parser.add_argument("--model", type=Path, help="model folder (default: the shipped model, or $SAYMOTION_MODEL)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--num-samples", type=int, default=1, help="motions to sample (default: %(default)s)")
    parser.add_argument("--seconds", type=float, help="motion length in seconds (default: predicted)")
    parser.add_argument("--guidance", type=float,
                        help="classifier-free guidance scale for both audio and text (default: the model's)")
    parser.add_argument("--guidance-audio", type=float, help="guidance scale for the audio alone")
    parser.add_argument("--guidance-text", type=float, help="guidance scale for the text alone")
    parser.add_argument("--no-video", action="store_true", help="skip preview.mp4")
    parser.add_argument("--pose2d", action="store_true",
                        help="also write OpenPose 2D keypoints (pose2d.json) and a pose video on black (pose2d.mp4)")
    parser.add_argument("--pose2d-layout", choices=("body25", "coco18"), default="body25",
                        help="OpenPose keypoint layout (default: %(default)s)")
    parser.add_argument("--steps", action="store_true",
                        help="several instructions in a row: split the audio at pauses / the text into sentences "
                        "and make one continuous motion (--seconds is then the length of each step)")
    parser.add_argument("--min-pause", type=float, metavar="SECONDS",
                        help="with --steps: the shortest pause that separates two steps (default: 0.4)")
    parser.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from saymotion.errors import SaymotionError

    if args.audio is None and not args.text:
        raise SaymotionError("give --audio FILE, --text TEXT, or both")
    if args.num_samples < 1 or args.num_samples > 64:
        raise SaymotionError(f"--num-samples must be between 1 and 64, got {args.num_samples}")
    if args.steps and args.num_samples != 1:
        raise SaymotionError("--steps makes one motion; leave out --num-samples")
    if args.min_pause is not None and not args.steps:
        raise SaymotionError("--min-pause only applies with --steps")
    if args.out.exists() and not args.out.is_dir():
        raise SaymotionError(f"{args.out} exists and is not a folder")
    started = time.perf_counter()
    pipeline = load_pipeline(args)
    loaded = time.perf_counter()
    motions = generate_motions(pipeline, args)
    generated = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    written = [save_motion(motion, args, index) for index, motion in enumerate(motions, 1)]
    if args.steps:
        written[0].append(write_segments(args.out / "segments.json", motions[0]))
    timings = {"load": loaded - started, "generate": generated - loaded, "write": time.perf_counter() - generated}
    write_summary(args, motions, written, timings)
    for files in written:
        print(" ".join(str(path) for path in files))
    return 0


def load_pipeline(args: argparse.Namespace):
    import torch

    from saymotion.pipeline import Pipeline

    if args.threads:
        torch.set_num_threads(args.threads)
    return Pipeline.load(args.model)


def generate_motions(pipeline, args: argparse.Namespace) -> list:
    guidance = dict(guidance_audio=first_given(args.guidance_audio, args.guidance),
                    guidance_text=first_given(args.guidance_text, args.guidance))
    if args.steps:
        return [pipeline.generate_steps(audio=args.audio, text=args.text, seconds=args.seconds, seed=args.seed,
                                        min_pause=args.min_pause, **guidance)]
    return pipeline.generate(audio=args.audio, text=args.text, seconds=args.seconds, seed=args.seed,
                             num_samples=args.num_samples, **guidance)


def write_segments(path: Path, motion) -> Path:
    from saymotion.fileio import write_json

    write_json(path, motion.segments())
    return path


def first_given(*values: float | None) -> float | None:
    return next((value for value in values if value is not None), None)


def save_motion(motion, args: argparse.Namespace, index: int) -> list[Path]:
    suffix = "" if args.num_samples == 1 else f"_{index}"
    files = [motion.save_npy(args.out / f"motion{suffix}.npy"), motion.save_bvh(args.out / f"motion{suffix}.bvh")]
    if not args.no_video:
        files.append(motion.save_mp4(args.out / f"preview{suffix}.mp4"))
    if args.pose2d:
        files.append(motion.save_pose2d(args.out / f"pose2d{suffix}.json", args.pose2d_layout,
                                        video=args.out / f"pose2d{suffix}.mp4"))
    return files


def write_summary(args: argparse.Namespace, motions: list, written: list[list[Path]], timings: dict) -> None:
    from saymotion.fileio import write_json

    write_json(args.out / "generation.json", {
        "audio": str(args.audio) if args.audio else None,
        "text": args.text,
        "seed": args.seed,
        "seconds_requested": args.seconds,
        "guidance": args.guidance,
        "guidance_audio": args.guidance_audio,
        "guidance_text": args.guidance_text,
        "samples": [
            {"frames": len(motion.joints), "seconds": motion.seconds, "files": [path.name for path in files]}
            for motion, files in zip(motions, written)
        ],
        "fps": motions[0].fps,
        "joint_names": list(motions[0].skeleton.joint_names),
        "timings_s": {key: round(value, 3) for key, value in timings.items()},
    })
