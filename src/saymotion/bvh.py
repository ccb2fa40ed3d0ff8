"""BVH motion files: reading (fast, whole-block numeric parsing), writing, resampling and forward
kinematics. Motions are kept as local joint quaternions plus the root trajectory, in metres."""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from saymotion import fileio
from saymotion.errors import DataError, SaymotionError
from saymotion.skeleton import Skeleton

_POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
_ROTATION_AXES = {"Xrotation": "X", "Yrotation": "Y", "Zrotation": "Z"}
# Written rotation order: Z X Y, the order of the Bandai files (intrinsic, R = Rz Rx Ry).
_WRITE_ORDER = "ZXY"
# A non-root joint's position channels must hold its bone offset: it may not move more than this.
_MAX_BONE_DRIFT = 1e-3  # metres
# Frame times are written with few digits (0.0333333 s): rates this close to a whole number snap to it.
_FPS_SNAP = 1e-3


@dataclass(frozen=True, eq=False)
class SkeletalMotion:
    """A motion on a skeleton: local joint rotations (T x J x 4 quaternions, xyzw as scipy) relative
    to the parent's frame (the root's relative to the world), and root positions (T x 3, metres)."""

    skeleton: Skeleton
    rotations: np.ndarray
    root_positions: np.ndarray
    fps: float

    def __post_init__(self) -> None:
        frames, joints = len(self.root_positions), self.skeleton.num_joints
        if self.rotations.shape != (frames, joints, 4) or self.root_positions.shape != (frames, 3):
            raise SaymotionError(
                f"motion arrays do not match: rotations {self.rotations.shape}, root positions "
                f"{self.root_positions.shape}, skeleton of {joints} joints"
            )
        if frames == 0 or not self.fps > 0:
            raise SaymotionError("a motion needs at least one frame and a positive frame rate")

    @property
    def num_frames(self) -> int:
        return len(self.root_positions)

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame."""
        return (self.num_frames - 1) / self.fps


@dataclass
class _Joint:
    name: str
    parent: int
    offset: np.ndarray
    channels: list[str]
    first_column: int


def read_bvh(source: str | os.PathLike, scale: float = 0.01) -> SkeletalMotion:
    """Read a BVH file (a path, or text holding "HIERARCHY") into metres (`scale`: metres per
    file unit).

    A static single-child root such as Bandai's `joint_Root` is folded into its child, which
    becomes the root. Position channels of non-root joints must be constant: they are the offsets.
    """
    text, label = _load_text(source)
    try:
        header, motion_block = _split_sections(text)
        joints = _parse_hierarchy(header)
        values, fps = _parse_motion(motion_block, joints)
    except DataError as error:
        raise DataError(f"{label}: {error}") from None
    return _to_motion(joints, values, fps, scale, label)


def write_bvh(path: str | os.PathLike, motion: SkeletalMotion, scale: float = 100.0) -> None:
    """Write a standard BVH (root: position + Z X Y rotation channels; other joints: rotations only;
    one End Site per leaf) in the file unit `scale` per metre (100: centimetres), atomically."""
    skeleton = motion.skeleton
    lines = ["HIERARCHY"]
    _write_joint(lines, skeleton, 0, 0, scale)
    with warnings.catch_warnings():
        # At gimbal lock scipy sets one angle to zero; the angles still give the same rotation.
        warnings.filterwarnings("ignore", "Gimbal lock", UserWarning)
        angles = Rotation.from_quat(motion.rotations.reshape(-1, 4)).as_euler(_WRITE_ORDER, degrees=True)
    angles = angles.reshape(motion.num_frames, skeleton.num_joints * 3)
    frames = np.concatenate([motion.root_positions * scale, angles], axis=1)
    frame_time = 1.0 / motion.fps
    lines += ["MOTION", f"Frames: {motion.num_frames}", f"Frame Time: {frame_time:.8f}"]
    with fileio.atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
        np.savetxt(handle, frames, fmt="%.6f", delimiter=" ")


def resample(motion: SkeletalMotion, fps: float) -> SkeletalMotion:
    """Resample to `fps` over the same time span: slerp of local rotations, linear root positions."""
    if not fps > 0:
        raise SaymotionError(f"frame rate must be positive, got {fps}")
    if fps == motion.fps or motion.num_frames == 1:
        return replace(motion, fps=float(fps))
    # Target frames in source frame units; the last may not pass the last source frame.
    count = int(np.floor(motion.duration * fps + 1e-6)) + 1
    position = np.minimum(np.arange(count) * motion.fps / fps, motion.num_frames - 1)
    before = np.minimum(np.floor(position).astype(int), motion.num_frames - 2)
    weight = position - before
    root = (
        motion.root_positions[before] * (1 - weight[:, None])
        + motion.root_positions[before + 1] * weight[:, None]
    )
    # Slerp for all joints at once: rotate from the earlier frame along the shortest arc to the next.
    joints = motion.skeleton.num_joints
    start = Rotation.from_quat(motion.rotations[before].reshape(-1, 4))
    step = start.inv() * Rotation.from_quat(motion.rotations[before + 1].reshape(-1, 4))
    partial = Rotation.from_rotvec(step.as_rotvec() * np.repeat(weight, joints)[:, None])
    rotations = (start * partial).as_quat().reshape(count, joints, 4)
    return SkeletalMotion(motion.skeleton, rotations, root, float(fps))


def forward_kinematics(motion: SkeletalMotion) -> np.ndarray:
    """Global joint positions (T x J x 3, metres)."""
    frames, joints = motion.rotations.shape[:2]
    local = Rotation.from_quat(motion.rotations.reshape(-1, 4)).as_matrix().reshape(frames, joints, 3, 3)
    return joint_positions(motion.skeleton, local, motion.root_positions)


def joint_positions(skeleton: Skeleton, local_matrices: np.ndarray, root_positions: np.ndarray) -> np.ndarray:
    """Global joint positions (... x J x 3) from local rotation matrices (... x J x 3 x 3) and root
    positions (... x 3): forward kinematics without quaternions."""
    positions = np.empty(local_matrices.shape[:-1])
    matrices = np.empty_like(local_matrices)
    positions[..., 0, :] = root_positions
    matrices[..., 0, :, :] = local_matrices[..., 0, :, :]
    for joint, parent in enumerate(skeleton.parents[1:], start=1):
        parent_matrix = matrices[..., parent, :, :]
        positions[..., joint, :] = positions[..., parent, :] + parent_matrix @ skeleton.offsets[joint]
        matrices[..., joint, :, :] = parent_matrix @ local_matrices[..., joint, :, :]
    return positions


def _load_text(source: str | os.PathLike) -> tuple[str, str]:
    """The BVH text and a label for messages."""
    if isinstance(source, str) and "HIERARCHY" in source:
        return source, "BVH text"
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8", errors="replace"), path.name
    except OSError as error:
        raise DataError(f"cannot read BVH file {path}: {error.strerror or error}") from None


def _split_sections(text: str) -> tuple[list[str], str]:
    """(HIERARCHY tokens, text after MOTION)."""
    start = re.search(r"^\s*HIERARCHY\s*$", text, re.MULTILINE)
    split = re.search(r"^\s*MOTION\s*$", text, re.MULTILINE)
    if start is None or split is None or split.start() < start.end():
        raise DataError("not a BVH file (needs a HIERARCHY and then a MOTION section)")
    return text[start.end() : split.start()].split(), text[split.end() :]


class _Tokens:
    """A cursor over the whitespace-separated tokens of the HIERARCHY section."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens, self.position = tokens, 0

    @property
    def done(self) -> bool:
        return self.position >= len(self.tokens)

    def next(self) -> str:
        if self.done:
            raise DataError("hierarchy ends unexpectedly")
        self.position += 1
        return self.tokens[self.position - 1]

    def take(self, count: int) -> list[str]:
        return [self.next() for _ in range(count)]

    def expect(self, word: str) -> None:
        token = self.next()
        if token != word:
            raise DataError(f"expected {word!r} in the hierarchy, got {token!r}")


def _parse_hierarchy(tokens: list[str]) -> list[_Joint]:
    """Joints in file order (parents first) from the HIERARCHY tokens."""
    reader = _Tokens(tokens)
    reader.expect("ROOT")
    joints: list[_Joint] = []
    _parse_joint(reader, joints, parent=-1)
    if not reader.done:
        raise DataError(f"unexpected {reader.next()!r} after the root joint")
    return joints


def _parse_joint(reader: _Tokens, joints: list[_Joint], parent: int) -> None:
    """One joint block (after ROOT/JOINT), appending it and its descendants to `joints`."""
    index = len(joints)
    name = reader.next()
    reader.expect("{")
    reader.expect("OFFSET")
    offset = _floats(reader.take(3), f"OFFSET of {name}")
    reader.expect("CHANNELS")
    channels = reader.take(_count(reader.next(), f"CHANNELS count of {name}"))
    unknown = [c for c in channels if c not in _POSITION_CHANNELS and c not in _ROTATION_AXES]
    if unknown:
        raise DataError(f"unknown channel {unknown[0]!r} in joint {name}")
    rotation_axes = [_ROTATION_AXES[c] for c in channels if c in _ROTATION_AXES]
    if len(set(rotation_axes)) != len(rotation_axes):
        raise DataError(f"joint {name} repeats a rotation channel")
    first_column = sum(len(j.channels) for j in joints)
    joints.append(_Joint(name, parent, offset, channels, first_column))
    while (keyword := reader.next()) != "}":
        if keyword == "JOINT":
            _parse_joint(reader, joints, parent=index)
        elif keyword == "End":
            for word in ("Site", "{", "OFFSET"):
                reader.expect(word)
            _floats(reader.take(3), f"End Site OFFSET of {name}")
            reader.expect("}")
        else:
            raise DataError(f"unexpected {keyword!r} in joint {name}")


def _parse_motion(block: str, joints: list[_Joint]) -> tuple[np.ndarray, float]:
    """(frames x channels values, frames per second) from the text after MOTION."""
    head, sep, rest = block.partition("Frame Time:")
    frames_text = head.split()
    if not sep or len(frames_text) != 2 or frames_text[0] != "Frames:":
        raise DataError("MOTION must start with 'Frames: N' and 'Frame Time: S'")
    frame_count = _count(frames_text[1], "frame count")
    frame_time_text, _, data = rest.lstrip().partition("\n")
    frame_time = _floats(frame_time_text.split()[:1], "Frame Time")[0]
    if not frame_time > 0:
        raise DataError(f"Frame Time must be positive, got {frame_time}")
    fps = 1.0 / frame_time
    if abs(fps - round(fps)) < _FPS_SNAP:
        fps = float(round(fps))
    channel_count = sum(len(j.channels) for j in joints)
    try:
        values = np.fromstring(data, dtype=np.float64, sep=" ")  # whitespace-separated text
    except ValueError:
        raise DataError("motion data holds a non-numeric value") from None
    if frame_count == 0 or values.size != frame_count * channel_count:
        raise DataError(
            f"motion data has {values.size} values, expected {frame_count} frames x {channel_count} channels"
        )
    if not np.isfinite(values).all():
        raise DataError("motion data holds a non-finite value")
    return values.reshape(frame_count, channel_count), fps


def _to_motion(
    joints: list[_Joint], values: np.ndarray, fps: float, scale: float, label: str
) -> SkeletalMotion:
    names = [j.name for j in joints]
    parents = [j.parent for j in joints]
    translations = np.stack([_joint_translations(j, values) for j in joints], axis=1) * scale
    rotations = _local_rotations(joints, values)
    # Fold a single-child root (Bandai's dummy joint_Root) into its child, which becomes the root.
    while len(names) > 1 and parents.count(0) == 1:
        translations[:, 1] = translations[:, 0] + Rotation.from_quat(rotations[:, 0]).apply(
            translations[:, 1]
        )
        rotations[:, 1] = _quaternion_product(rotations[:, 0], rotations[:, 1])
        names, parents = names[1:], [p - 1 for p in parents[1:]]
        translations, rotations = translations[:, 1:], rotations[:, 1:]
    drift = np.abs(translations[:, 1:] - translations[:1, 1:]).max(initial=0.0)
    if drift > _MAX_BONE_DRIFT:
        raise DataError(f"{label}: a non-root joint translates over time (by {drift / scale:.3g} file units)")
    offsets = translations[0].copy()
    offsets[0] = 0.0  # the root's place comes from the trajectory
    try:
        skeleton = Skeleton.build(names, parents, offsets)
    except SaymotionError as error:
        raise DataError(f"{label}: {error}") from None
    return SkeletalMotion(skeleton, np.ascontiguousarray(rotations), translations[:, 0].copy(), fps)


def _joint_translations(joint: _Joint, values: np.ndarray) -> np.ndarray:
    """T x 3 local translation: the position channels where present, else the OFFSET."""
    translation = np.tile(joint.offset, (len(values), 1))
    for position, channel in enumerate(joint.channels):
        if channel in _POSITION_CHANNELS:
            translation[:, _POSITION_CHANNELS.index(channel)] = values[:, joint.first_column + position]
    return translation


def _local_rotations(joints: list[_Joint], values: np.ndarray) -> np.ndarray:
    """T x J x 4 local quaternions from the rotation channels, composed in channel order
    ("Zrotation Xrotation Yrotation" is the intrinsic rotation Rz Rx Ry).

    Composed here, for all joints at once: scipy's from_euler takes about 1 us per rotation, 20x
    this, and the archive holds 9 million joint rotations."""
    frames, count = len(values), len(joints)
    # Per joint, its rotation channels as (axis index, value column), in channel order.
    channels = [
        [
            ("XYZ".index(_ROTATION_AXES[c]), joint.first_column + i)
            for i, c in enumerate(joint.channels)
            if c in _ROTATION_AXES
        ]
        for joint in joints
    ]
    rotation = np.zeros((frames, count, 4))
    rotation[..., 3] = 1.0
    for slot in range(3):  # every joint's first, then second, then third rotation channel
        axes, angles = np.zeros(count, dtype=int), np.zeros((frames, count))
        for index, joint_channels in enumerate(channels):
            if slot < len(joint_channels):
                axes[index] = joint_channels[slot][0]
                angles[:, index] = values[:, joint_channels[slot][1]]
        half_angles = np.radians(angles) / 2
        elementary = np.zeros((frames, count, 4))
        elementary[:, np.arange(count), axes] = np.sin(half_angles)
        elementary[..., 3] = np.cos(half_angles)
        rotation = _quaternion_product(rotation, elementary)
    return rotation


def _quaternion_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of xyzw quaternions (... x 4): the rotation a then b in the local frame."""
    vector_a, scalar_a = a[..., :3], a[..., 3:]
    vector_b, scalar_b = b[..., :3], b[..., 3:]
    vector = scalar_a * vector_b + scalar_b * vector_a + np.cross(vector_a, vector_b)
    scalar = scalar_a * scalar_b - np.sum(vector_a * vector_b, axis=-1, keepdims=True)
    return np.concatenate([vector, scalar], axis=-1)


def _write_joint(lines: list[str], skeleton: Skeleton, joint: int, depth: int, scale: float) -> None:
    indent = "  " * depth
    is_root = joint == 0
    # The root's OFFSET is zero: its place is in the motion data, and importers disagree on
    # whether position channels add to the OFFSET or replace it.
    offset = np.zeros(3) if is_root else skeleton.offsets[joint] * scale
    channels = "6 Xposition Yposition Zposition " if is_root else "3 "
    channels += " ".join(f"{axis}rotation" for axis in _WRITE_ORDER)
    lines += [
        f"{indent}{'ROOT' if is_root else 'JOINT'} {skeleton.joint_names[joint]}",
        f"{indent}{{",
        f"{indent}  OFFSET {_format_vector(offset)}",
        f"{indent}  CHANNELS {channels}",
    ]
    children = [c for c, p in enumerate(skeleton.parents) if p == joint]
    for child in children:
        _write_joint(lines, skeleton, child, depth + 1, scale)
    if not children:
        # Leaf joints get an End Site so importers can give the last bone a length.
        end = _end_site(skeleton, joint) * scale
        lines += [
            f"{indent}  End Site",
            f"{indent}  {{",
            f"{indent}    OFFSET {_format_vector(end)}",
            f"{indent}  }}",
        ]
    lines.append(f"{indent}}}")


def _end_site(skeleton: Skeleton, joint: int) -> np.ndarray:
    """Half the leaf's own bone, along the same local direction: a tip that gives the last bone a
    length in viewers (the Bandai files use zero End Sites). Rigs with bones along a local axis
    (Bandai) or with world-aligned frames (SMPL) both continue the limb this way."""
    return skeleton.offsets[joint] * 0.5


def _format_vector(vector: np.ndarray) -> str:
    return " ".join(f"{value:.6f}" for value in vector)


def _floats(tokens: list[str], what: str) -> np.ndarray:
    try:
        values = np.array([float(t) for t in tokens])
    except ValueError:
        raise DataError(f"{what} must be numbers, got {' '.join(tokens)!r}") from None
    if len(values) == 0 or not np.isfinite(values).all():
        raise DataError(f"{what} must be finite numbers")
    return values


def _count(token: str, what: str) -> int:
    if not token.isdigit():
        raise DataError(f"{what} must be a non-negative integer, got {token!r}")
    return int(token)
