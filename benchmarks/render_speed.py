"""Rendering speed: frames per second for a 10-second clip (200 frames at 20 fps), drawing only and
with MP4 / GIF writing, for the fixed and the following camera.

    .venv/bin/python benchmarks/render_speed.py [--bvh CLIP.bvh] [--size 480]

Without --bvh it takes a 16-s walk from the shared archive ($SAYMOTION_DATA) and keeps 10 s.
"""

from __future__ import annotations

import argparse
import tarfile
import tempfile
import time
from pathlib import Path

from saymotion import fileio
from saymotion.motion_io import load_motion
from saymotion.render import SkeletonRenderer, render_motion
from saymotion.settings import default_archive
from saymotion.skeleton import TARGET_FPS

DEFAULT_CLIP = "dataset-1_walk_not-confident_001.bvh"
SECONDS = 10
REPEATS = 2


def extract_clip(folder: Path) -> Path:
    archive_path = default_archive()
    if not archive_path.is_file():
        raise SystemExit(f"archive not found at {archive_path}; pass --bvh CLIP.bvh")
    with tarfile.open(archive_path, "r:xz") as archive:
        for member in archive:
            if member.isfile() and Path(member.name).name == DEFAULT_CLIP:
                with fileio.atomic_open(folder / DEFAULT_CLIP, "wb") as handle:
                    handle.write(archive.extractfile(member).read())
                return folder / DEFAULT_CLIP
    raise SystemExit(f"{DEFAULT_CLIP} is not in {archive_path}")


def best_rate(frames: int, action) -> float:
    """Frames per second of the fastest of REPEATS runs (the machine is shared)."""
    best = min(timed(action) for _ in range(REPEATS))
    return frames / best


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bvh", type=Path, help="clip to render (default: a walk from the archive)")
    parser.add_argument("--size", type=int, default=480, help="frame size in pixels (default: 480)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        clip = load_motion(args.bvh or extract_clip(scratch))
        joints = clip.joints[: SECONDS * TARGET_FPS]
        parents, names = clip.skeleton.parents, clip.skeleton.joint_names
        frames = len(joints)
        print(f"{frames} frames ({frames / TARGET_FPS:g} s at {TARGET_FPS} fps), {args.size} px")
        for camera in ("fixed", "follow"):
            renderer = SkeletonRenderer(joints, parents, size=args.size, caption="a person walks forward",
                                        joint_names=names, camera=camera)
            drawing = best_rate(frames, lambda: [None for _ in renderer.frames()])
            rates = {
                suffix: best_rate(frames, lambda: render_motion(joints, parents, scratch / f"clip{suffix}",
                                                                caption="a person walks forward",
                                                                size=args.size, joint_names=names, camera=camera))
                for suffix in (".mp4", ".gif")
            }
            print(f"camera {camera:6}  drawing {drawing:7.0f} frames/s  "
                  f"mp4 {rates['.mp4']:5.0f} frames/s  gif {rates['.gif']:5.0f} frames/s")


if __name__ == "__main__":
    main()
