"""Facts measured from a clip's joints: how far and which way it travels, how much it turns, how
many steps it takes and how long it lasts. Descriptions quote these, so they must come from the
motion itself and not from its label.

Conventions (the canonical frame of `saymotion.representation`): +Y is up and the character starts
facing +Z. Its left hip and shoulder then lie on the +X side, so +X is the character's left. Angles
are in degrees, positive towards the left (anticlockwise seen from above).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
from scipy.ndimage import uniform_filter1d

from saymotion.errors import DataError
from saymotion.skeleton import Skeleton

# Facing is averaged over this long at each end of a clip: the hips and shoulders swing by about
# 10 degrees within a gait cycle (about one second), so one frame would misjudge the heading.
FACING_WINDOW_S = 1.0
# Positions sampled this far apart give the path length; closer samples would add the hips'
# side-to-side sway (a few centimetres per step) to the distance travelled.
PATH_SAMPLE_S = 0.5
# Below this net displacement a clip stays in place and has no direction of travel.
MIN_HEADING_DISPLACEMENT_M = 0.25
# A foot is planted when it is this close to its lowest height in the clip and nearly still.
CONTACT_HEIGHT_M = 0.05
CONTACT_SPEED_MPS = 0.3
# Contacts and gaps shorter than this are jitter, not steps.
MIN_CONTACT_CHANGE_S = 0.1


@dataclass(frozen=True)
class MotionDetails:
    """What a clip does, measured from its joints (metres, seconds, degrees; + is left)."""

    duration_s: float
    displacement_m: float  # straight-line horizontal distance from the first to the last frame
    path_length_m: float  # horizontal distance along the root's track
    travel_heading_deg: float | None  # direction of the first half of the path vs the initial facing
    turn_deg: float  # net change of facing between the start and the end
    turn_path_deg: float  # total facing change, both ways: large against turn_deg means spinning or swaying
    steps: int  # foot plants after the first frame, both feet
    speed_mps: float  # path length over duration

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MotionDetails:
        names = {field.name for field in fields(cls)}
        if not isinstance(data, dict) or set(data) != names:
            missing = sorted(names - set(data)) if isinstance(data, dict) else sorted(names)
            extra = sorted(set(data) - names) if isinstance(data, dict) else []
            raise DataError(f"motion details need exactly {sorted(names)}; missing {missing}, unexpected {extra}")
        heading = data["travel_heading_deg"]
        return cls(
            duration_s=float(data["duration_s"]),
            displacement_m=float(data["displacement_m"]),
            path_length_m=float(data["path_length_m"]),
            travel_heading_deg=None if heading is None else float(heading),
            turn_deg=float(data["turn_deg"]),
            turn_path_deg=float(data["turn_path_deg"]),
            steps=int(data["steps"]),
            speed_mps=float(data["speed_mps"]),
        )

    def mirrored(self) -> MotionDetails:
        """The details of the left/right mirror image of the clip."""
        heading = None if self.travel_heading_deg is None else wrap_degrees(-self.travel_heading_deg)
        return replace(self, travel_heading_deg=heading, turn_deg=-self.turn_deg)


def measure_details(joints: np.ndarray, fps: float, skeleton: Skeleton) -> MotionDetails:
    """Measure a clip given as canonical joint positions (T x J x 3, metres, +Y up, facing +Z)."""
    joints = _checked_joints(joints, fps, skeleton)
    facing_yaw = np.unwrap(_facing_yaw(joints, skeleton))
    window = max(1, min(round(FACING_WINDOW_S * fps), len(joints) // 4))
    root = joints[:, 0, [0, 2]]  # (x, z) of the root (parents-first order puts it at index 0)
    track = _sampled_track(root, max(1, round(PATH_SAMPLE_S * fps)))
    path_length = float(np.linalg.norm(np.diff(track, axis=0), axis=1).sum())
    duration = len(joints) / fps
    initial_yaw = float(np.mean(facing_yaw[:window]))
    smoothed_yaw = uniform_filter1d(facing_yaw, size=window, mode="nearest")
    return MotionDetails(
        duration_s=round(duration, 3),
        displacement_m=round(float(np.linalg.norm(root[-1] - root[0])), 3),
        path_length_m=round(path_length, 3),
        travel_heading_deg=_travel_heading(track, initial_yaw),
        turn_deg=round(float(np.degrees(np.mean(facing_yaw[-window:]) - initial_yaw)), 1),
        turn_path_deg=round(float(np.degrees(np.abs(np.diff(smoothed_yaw)).sum())), 1),
        steps=count_steps(joints, fps, skeleton),
        speed_mps=round(path_length / duration, 3),
    )


def count_steps(joints: np.ndarray, fps: float, skeleton: Skeleton) -> int:
    """Foot plants after the first frame: each foot's (ankle or toe) landings, added up."""
    left_foot, left_toe, right_foot, right_toe = skeleton.feet
    min_frames = max(1, round(MIN_CONTACT_CHANGE_S * fps))
    steps = 0
    for ankle, toe in ((left_foot, left_toe), (right_foot, right_toe)):
        height = np.minimum(joints[:, ankle, 1], joints[:, toe, 1])
        speed = np.minimum(_horizontal_speed(joints[:, ankle], fps), _horizontal_speed(joints[:, toe], fps))
        planted = (height < height.min() + CONTACT_HEIGHT_M) & (speed < CONTACT_SPEED_MPS)
        planted = _drop_short_runs(_drop_short_runs(planted, False, min_frames), True, min_frames)
        steps += int(np.count_nonzero(planted[1:] & ~planted[:-1]))
    return steps


def _checked_joints(joints: np.ndarray, fps: float, skeleton: Skeleton) -> np.ndarray:
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (skeleton.num_joints, 3):
        raise DataError(f"joints must be T x {skeleton.num_joints} x 3, got {joints.shape}")
    if len(joints) < 2:
        raise DataError("a clip needs at least two frames to measure its motion")
    if not np.isfinite(joints).all():
        raise DataError("joint positions contain NaN or infinite values")
    if not fps > 0:
        raise DataError(f"frame rate must be positive, got {fps}")
    return joints


def _facing_yaw(joints: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """Per-frame facing angle about +Y, 0 along +Z and positive towards +X (the character's left)."""
    across = (joints[:, skeleton.left_hip] - joints[:, skeleton.right_hip]) + (
        joints[:, skeleton.left_shoulder] - joints[:, skeleton.right_shoulder]
    )
    if np.any(np.hypot(across[:, 0], across[:, 2]) < 1e-6):
        raise DataError("cannot tell which way the character faces: its hips and shoulders coincide")
    # Facing is the left-pointing vector turned a quarter clockwise: across x up = (-z, 0, x).
    return np.arctan2(-across[:, 2], across[:, 0])


def _sampled_track(root: np.ndarray, stride: int) -> np.ndarray:
    indices = np.unique(np.append(np.arange(0, len(root), stride), len(root) - 1))
    return root[indices]


def _travel_heading(track: np.ndarray, initial_yaw: float) -> float | None:
    """Where the first half of the path leads, relative to the initial facing; None if it barely moves."""
    if np.linalg.norm(track[-1] - track[0]) < MIN_HEADING_DISPLACEMENT_M:
        return None
    travelled = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(track, axis=0), axis=1))])
    halfway = int(np.searchsorted(travelled, travelled[-1] / 2))
    dx, dz = track[max(halfway, 1)] - track[0]
    return round(wrap_degrees(float(np.degrees(np.arctan2(dx, dz) - initial_yaw))), 1)


def _horizontal_speed(positions: np.ndarray, fps: float) -> np.ndarray:
    speed = np.linalg.norm(np.diff(positions[:, [0, 2]], axis=0), axis=1) * fps
    return np.concatenate([speed[:1], speed])


def _drop_short_runs(mask: np.ndarray, value: bool, min_frames: int) -> np.ndarray:
    """Flip runs of `value` shorter than `min_frames` that lie between two runs of the other value."""
    mask = mask.copy()
    edges = np.flatnonzero(np.diff(np.concatenate([[-1], mask.astype(np.int8), [-1]])))
    for start, end in zip(edges[:-1], edges[1:]):
        inside = 0 < start and end < len(mask)
        if inside and mask[start] == value and end - start < min_frames:
            mask[start:end] = not value
    return mask


def wrap_degrees(angle: float) -> float:
    """The same angle in (-180, 180]."""
    return float(-((-angle + 180.0) % 360.0 - 180.0))
