"""Skeleton animations as MP4 or GIF, drawn with a pinhole camera and PIL instead of matplotlib so
that a 10-second clip renders in well under a second: generation writes a video inside a short
command, and the web app renders on request.

Conventions: joints in metres, +Y up, ground at y = 0 (see docs/design.md). The camera looks at the
figure from the front right (canonical facing is +Z) and either stays fixed, framing the whole
motion, or follows the root when a fixed view would make the figure too small.
"""

from __future__ import annotations

import itertools
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Literal, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from saymotion.errors import SaymotionError
from saymotion.fileio import atomic_path
from saymotion.skeleton import side_of

CameraMode = Literal["auto", "fixed", "follow"]
VIDEO_SUFFIXES = (".mp4", ".gif")
MIN_SIZE, MAX_SIZE = 64, 2048

LEFT, CENTRE, RIGHT = 1, 0, -1

BACKGROUND = (246, 245, 240)
GRID = (212, 210, 202)
TRAIL = (236, 150, 40)
SHADOW = (218, 216, 208)
CAPTION_BAND = (40, 44, 52)
CAPTION_TEXT = (250, 250, 250)
BONE_COLOURS = {LEFT: (40, 110, 200), CENTRE: (70, 70, 78), RIGHT: (215, 55, 50)}
JOINT_COLOURS = {LEFT: (20, 70, 140), CENTRE: (35, 35, 40), RIGHT: (150, 30, 25)}

FIELD_OF_VIEW = np.radians(40.0)
AZIMUTH = np.radians(35.0)  # around +Y, from +Z (the canonical facing) towards +X
ELEVATION = np.radians(20.0)
FRAME_MARGIN = 0.08  # fraction of the view left free on each side
FOLLOW_RATIO = 1.8  # follow the root once a fixed view would shrink the figure below 1/1.8
FOLLOW_SMOOTHING_S = 1.5  # moving-average window of the followed root path
NEAR_PLANE = 0.05
GRID_STEP = 0.5
BONE_WIDTH = 0.035  # metres, scaled by perspective
JOINT_RADIUS = 0.025
CAPTION_LINES = 2


def joint_sides(joint_names: Sequence[str]) -> np.ndarray:
    """Side of each joint from its name (`Hand_L`, `LeftHand`, `l_hand`, ...): LEFT, CENTRE or RIGHT."""
    codes = {"left": LEFT, "right": RIGHT, None: CENTRE}
    return np.array([codes[side_of(name)] for name in joint_names], dtype=np.int8)


@dataclass(frozen=True)
class Camera:
    """A pinhole camera with a fixed orientation whose look-at point may move from frame to frame."""

    targets: np.ndarray  # (T, 3) look-at point per frame
    distance: float
    focal: float  # pixels
    centre: tuple[float, float]  # principal point in pixels
    rotation: np.ndarray  # (3, 3) rows: camera right, up, forward in world coordinates
    follows: bool  # whether the look-at point tracks the root

    def eye(self, frame: int) -> np.ndarray:
        return self.targets[frame] - self.distance * self.rotation[2]

    def to_camera(self, points: np.ndarray, frame: int) -> np.ndarray:
        return (points - self.eye(frame)) @ self.rotation.T

    def project(self, points: np.ndarray, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (N, 2) and depths (N,) of world points (N, 3) in front of the camera."""
        local = self.to_camera(points, frame)
        return self.camera_to_pixels(local), local[:, 2]

    def camera_to_pixels(self, local: np.ndarray) -> np.ndarray:
        depth = np.maximum(local[:, 2:3], NEAR_PLANE)
        pixels = self.focal * local[:, :2] / depth
        return np.stack([self.centre[0] + pixels[:, 0], self.centre[1] - pixels[:, 1]], axis=1)


def camera_rotation(azimuth: float, elevation: float) -> np.ndarray:
    """Rows right, up, forward of a camera looking at the origin from the given direction."""
    towards_eye = np.array(
        [np.sin(azimuth) * np.cos(elevation), np.sin(elevation), np.cos(azimuth) * np.cos(elevation)]
    )
    forward = -towards_eye
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return np.stack([right, up, forward])


def fitting_distance(offsets: np.ndarray, rotation: np.ndarray, half_tan: tuple[float, float]) -> float:
    """Smallest distance from the look-at point at which all `offsets` (N, 3, relative to it) fit
    inside the view; `half_tan` is the tangent of the usable half field of view (x, y)."""
    local = offsets @ rotation.T
    needed = np.maximum(np.abs(local[:, 0]) / half_tan[0], np.abs(local[:, 1]) / half_tan[1]) - local[:, 2]
    return float(needed.max())


def moving_average(path: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along axis 0 with edge padding, so the ends do not drift to zero."""
    if window <= 1 or len(path) < 2:
        return path.copy()
    half = window // 2
    padded = np.concatenate([np.repeat(path[:1], half, 0), path, np.repeat(path[-1:], half, 0)])
    kernel = np.ones(2 * half + 1) / (2 * half + 1)
    return np.stack([np.convolve(padded[:, axis], kernel, mode="valid") for axis in range(path.shape[1])], 1)


def frame_camera(
    joints: np.ndarray, size: int, top_free: int, fps: float, mode: CameraMode = "auto"
) -> Camera:
    """A camera that frames the whole motion, or follows the root when that would make the figure small.
    `top_free` pixels at the top are kept for the caption."""
    if mode not in ("auto", "fixed", "follow"):
        raise SaymotionError(f"unknown camera mode {mode!r}; use auto, fixed or follow")
    rotation = camera_rotation(AZIMUTH, ELEVATION)
    focal = 0.5 * size / np.tan(FIELD_OF_VIEW / 2)
    usable_height = size - top_free
    half_tan = (
        (0.5 - FRAME_MARGIN) * size / focal,
        (0.5 - FRAME_MARGIN) * usable_height / focal,
    )
    centre = (size / 2, top_free + usable_height / 2)
    grounded = np.concatenate([joints, joints * [1.0, 0.0, 1.0]], axis=1)  # keep shadows in view

    low, high = grounded.reshape(-1, 3).min(0), grounded.reshape(-1, 3).max(0)
    fixed_target = (low + high) / 2
    fixed_distance = fitting_distance(grounded.reshape(-1, 3) - fixed_target, rotation, half_tan)

    # Per-frame targets: the root's ground path smoothed so the camera does not shake with the gait.
    height = fixed_target[1]
    window = max(1, int(round(FOLLOW_SMOOTHING_S * fps)))
    follow_targets = moving_average(grounded[:, 0] * [1.0, 0.0, 1.0], window) + [0.0, height, 0.0]
    follow_distance = max(
        fitting_distance(grounded[frame] - follow_targets[frame], rotation, half_tan)
        for frame in range(len(joints))
    )
    follow = mode == "follow" or (mode == "auto" and fixed_distance > FOLLOW_RATIO * follow_distance)
    if follow:
        targets, distance = follow_targets, follow_distance
    else:
        targets, distance = np.repeat(fixed_target[None], len(joints), 0), fixed_distance
    return Camera(targets, distance, focal, centre, rotation, follows=follow)


def ground_grid(joints: np.ndarray, reach: float) -> np.ndarray:
    """Grid line segments (N, 2, 3) on y = 0 covering the motion's ground area plus `reach` metres."""
    ground = joints.reshape(-1, 3)[:, [0, 2]]
    low = np.floor((ground.min(0) - reach) / GRID_STEP) * GRID_STEP
    high = np.ceil((ground.max(0) + reach) / GRID_STEP) * GRID_STEP
    xs = np.arange(low[0], high[0] + GRID_STEP / 2, GRID_STEP)
    zs = np.arange(low[1], high[1] + GRID_STEP / 2, GRID_STEP)
    along_z = [[[x, 0.0, low[1]], [x, 0.0, high[1]]] for x in xs]
    along_x = [[[low[0], 0.0, z], [high[0], 0.0, z]] for z in zs]
    return np.array(along_z + along_x, dtype=np.float64)


def clip_to_near_plane(local: np.ndarray) -> np.ndarray:
    """Cut camera-space segments (N, 2, 3) at the near plane; segments wholly behind it are dropped."""
    depth = local[:, :, 2]
    keep = (depth > NEAR_PLANE).any(axis=1)
    local, depth = local[keep].copy(), depth[keep]
    for end in (0, 1):
        behind = depth[:, end] <= NEAR_PLANE
        other = 1 - end
        t = (NEAR_PLANE - depth[behind, other]) / (depth[behind, end] - depth[behind, other])
        local[behind, end] = local[behind, other] + t[:, None] * (local[behind, end] - local[behind, other])
    return local


def clip_to_viewport(segments: np.ndarray, size: int) -> np.ndarray:
    """Cut pixel segments (N, 4: x0 y0 x1 y1) to the square image (Liang-Barsky), dropping those
    outside it: PIL walks a line's whole length, so far-away grid ends would cost time."""
    start, delta = segments[:, :2], segments[:, 2:] - segments[:, :2]
    enter, leave = np.zeros(len(segments)), np.ones(len(segments))
    for axis in (0, 1):
        for boundary, sign in ((0.0, -1.0), (float(size - 1), 1.0)):
            # Inside where sign * (start + t * delta - boundary) <= 0.
            rate = sign * delta[:, axis]
            excess = sign * (start[:, axis] - boundary)
            moving = rate != 0
            t = np.divide(-excess, rate, out=np.zeros_like(rate), where=moving)
            enter = np.where(moving & (rate < 0), np.maximum(enter, t), enter)
            leave = np.where(moving & (rate > 0), np.minimum(leave, t), leave)
            leave = np.where(~moving & (excess > 0), -1.0, leave)
    keep = enter <= leave
    return np.concatenate([start + enter[:, None] * delta, start + leave[:, None] * delta], axis=1)[keep]


def caption_font(size: int) -> ImageFont.FreeTypeFont:
    # Pillow's bundled font: no dependency on fonts installed on the system.
    return ImageFont.load_default(size=max(10, size // 26))


def caption_strip(caption: str, size: int) -> Image.Image:
    """The caption as a band for the top of each frame: wrapped to the frame width, at most two lines."""
    font = caption_font(size)
    average_char = font.getlength("abcdefghijklmnopqrstuvwxyz") / 26
    width_chars = max(8, int((size * 0.92) / average_char))
    lines = textwrap.wrap(" ".join(caption.split()), width=width_chars) or [""]
    if len(lines) > CAPTION_LINES:
        lines = lines[:CAPTION_LINES]
        lines[-1] = textwrap.shorten(lines[-1] + " ...", width=width_chars, placeholder=" ...")
    line_height = int(font.size * 1.3)
    padding = max(4, size // 60)
    strip = Image.new("RGB", (size, 2 * padding + line_height * len(lines)), CAPTION_BAND)
    draw = ImageDraw.Draw(strip)
    for row, line in enumerate(lines):
        draw.text((size / 2, padding + row * line_height), line, font=font, fill=CAPTION_TEXT, anchor="ma")
    return strip


class SkeletonRenderer:
    """Draws frame after frame of a joint animation: grid, root trail, ground shadow, bones ordered
    far to near, joints, and an optional caption band."""

    def __init__(
        self,
        joints: np.ndarray,
        parents: Sequence[int],
        *,
        size: int = 480,
        fps: float = 20.0,
        caption: str | None = None,
        joint_names: Sequence[str] | None = None,
        camera: CameraMode = "auto",
    ) -> None:
        self.joints = validate_joints(joints, parents)
        validate_size(size)
        self.size = size
        self.parents = np.asarray(parents, dtype=np.int64)
        self.bones = np.array([(parent, child) for child, parent in enumerate(self.parents) if parent >= 0])
        sides = joint_sides(joint_names) if joint_names is not None else np.zeros(len(self.parents), np.int8)
        if len(sides) != len(self.parents):
            raise SaymotionError(f"{len(sides)} joint names for {len(self.parents)} joints")
        self.bone_colours = [BONE_COLOURS[int(sides[child])] for _, child in self.bones]
        self.joint_colours = [JOINT_COLOURS[int(side)] for side in sides]
        self.caption = caption_strip(caption, size) if caption else None
        top_free = self.caption.height if self.caption else 0
        self.camera = frame_camera(self.joints, size, top_free, fps, camera)
        # A following camera sees ground far beyond the path; a fixed one only around it.
        reach = 2.0 * self.camera.distance if self.camera.follows else 1.5
        self.grid = ground_grid(self.joints, reach)
        self.trail = self.joints[:, 0] * [1.0, 0.0, 1.0]
        self.fixed_background = None if self.camera.follows else self.background(0)

    def __len__(self) -> int:
        return len(self.joints)

    def background(self, frame: int) -> Image.Image:
        image = Image.new("RGB", (self.size, self.size), BACKGROUND)
        draw = ImageDraw.Draw(image)
        local = clip_to_near_plane((self.grid - self.camera.eye(frame)) @ self.camera.rotation.T)
        pixels = self.camera.camera_to_pixels(local.reshape(-1, 3)).reshape(-1, 4)
        for segment in clip_to_viewport(pixels, self.size).tolist():
            draw.line(segment, fill=GRID, width=1)
        return image

    def frame(self, index: int) -> Image.Image:
        if not 0 <= index < len(self):
            raise IndexError(f"frame {index} out of range for {len(self)} frames")
        image = self.fixed_background.copy() if self.fixed_background is not None else self.background(index)
        draw = ImageDraw.Draw(image)
        self.draw_trail(draw, index)
        self.draw_figure(draw, index)
        if self.caption is not None:
            image.paste(self.caption, (0, 0))
        return image

    def draw_trail(self, draw: ImageDraw.ImageDraw, index: int) -> None:
        if index == 0:
            return
        pixels, _ = self.camera.project(self.trail[: index + 1], index)
        draw.line([tuple(point) for point in pixels.tolist()], fill=TRAIL, width=max(2, self.size // 160))

    def draw_figure(self, draw: ImageDraw.ImageDraw, index: int) -> None:
        pose = self.joints[index]
        shadow_pixels, shadow_depth = self.camera.project(pose * [1.0, 0.0, 1.0], index)
        pixels, depth = self.camera.project(pose, index)
        scale = self.camera.focal / np.maximum(depth, NEAR_PLANE)
        shadow_scale = self.camera.focal / np.maximum(shadow_depth, NEAR_PLANE)
        shadow_points, points = shadow_pixels.tolist(), pixels.tolist()
        for parent, child in self.bones:
            width = max(1, int(BONE_WIDTH * shadow_scale[child]))
            draw.line(shadow_points[parent] + shadow_points[child], fill=SHADOW, width=width)
        bone_depth = depth[self.bones].mean(axis=1)
        for bone in np.argsort(-bone_depth):
            parent, child = self.bones[bone]
            width = max(1, int(BONE_WIDTH * scale[child]))
            draw.line(points[parent] + points[child], fill=self.bone_colours[bone], width=width)
        for joint in np.argsort(-depth):
            x, y = points[joint]
            radius = max(1.0, JOINT_RADIUS * scale[joint])
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=self.joint_colours[joint])

    def frames(self) -> Iterator[Image.Image]:
        return (self.frame(index) for index in range(len(self)))


def validate_joints(joints: np.ndarray, parents: Sequence[int]) -> np.ndarray:
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[2] != 3 or joints.shape[0] == 0:
        raise SaymotionError(f"joint positions must have shape (frames, joints, 3), got {joints.shape}")
    if not np.isfinite(joints).all():
        raise SaymotionError("joint positions contain NaN or infinite values")
    parents = np.asarray(parents)
    if len(parents) != joints.shape[1]:
        raise SaymotionError(f"{len(parents)} parents for {joints.shape[1]} joints")
    if np.any((parents < -1) | (parents >= len(parents)) | (parents == np.arange(len(parents)))):
        raise SaymotionError("parents must be indices of other joints, or -1 for the root")
    return joints


def validate_size(size: int) -> None:
    if not (MIN_SIZE <= size <= MAX_SIZE and size % 2 == 0):
        raise SaymotionError(f"size must be an even number of pixels from {MIN_SIZE} to {MAX_SIZE}, got {size}")


def validate_fps(fps: float) -> None:
    if not 1 <= fps <= 120:
        raise SaymotionError(f"fps must be between 1 and 120, got {fps}")


def video_suffix(out_path: str | Path) -> str:
    suffix = Path(out_path).suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise SaymotionError(f"video output must end in .mp4 or .gif, got {Path(out_path).name!r}")
    return suffix


def write_video(frames: Iterable[Image.Image], out_path: str | Path, fps: float) -> Path:
    """Write RGB frames of one size as an MP4 (H.264, bundled ffmpeg) or a looping GIF, atomically."""
    out_path = Path(out_path)
    suffix = video_suffix(out_path)
    validate_fps(fps)
    with atomic_path(out_path) as tmp:
        if suffix == ".mp4":
            write_mp4(frames, tmp, fps)
        else:
            write_gif(frames, tmp, fps)
    return out_path


def write_mp4(frames: Iterable[Image.Image], path: Path, fps: float) -> None:
    import imageio_ffmpeg

    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise SaymotionError("cannot write a video without frames")
    writer = imageio_ffmpeg.write_frames(
        str(path),
        first.size,
        fps=fps,
        codec="libx264",
        macro_block_size=2,
        # The temporary name has no .mp4 suffix; faststart lets browsers play while loading.
        output_params=["-f", "mp4", "-movflags", "+faststart", "-preset", "veryfast", "-crf", "23"],
    )
    writer.send(None)
    try:
        for image in itertools.chain([first], frames):
            writer.send(image.tobytes())
    finally:
        writer.close()


def write_gif(frames: Iterable[Image.Image], path: Path, fps: float) -> None:
    images = list(frames)
    if not images:
        raise SaymotionError("cannot write a video without frames")
    palette = shared_palette([images[0], images[len(images) // 2], images[-1]])
    paletted = [image.quantize(palette=palette, dither=Image.Dither.NONE) for image in images]
    paletted[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=paletted[1:],
        duration=int(round(1000 / fps)),
        loop=0,
        optimize=False,
    )


def shared_palette(samples: list[Image.Image], colours: int = 64) -> Image.Image:
    """One GIF palette for the whole clip, from a few frames side by side (first, middle, last: the
    trail only appears after the first), so colours do not flicker from frame to frame."""
    width, height = samples[0].size
    montage = Image.new("RGB", (width * len(samples), height))
    for index, sample in enumerate(samples):
        montage.paste(sample, (index * width, 0))
    return montage.quantize(colors=colours, method=Image.Quantize.MEDIANCUT)


def render_motion(
    joints: np.ndarray,
    parents: Sequence[int],
    out_path: str | Path,
    fps: float = 20.0,
    caption: str | None = None,
    size: int = 480,
    joint_names: Sequence[str] | None = None,
    camera: CameraMode = "auto",
) -> Path:
    """Render joints (T, J, 3, metres, one frame per 1/fps s) as an MP4 or GIF chosen by suffix.

    Bones are coloured by side when `joint_names` are given (`_L`/`_R`, `Left`/`Right`)."""
    renderer = SkeletonRenderer(
        joints, parents, size=size, fps=fps, caption=caption, joint_names=joint_names, camera=camera
    )
    return write_video(renderer.frames(), out_path, fps)
