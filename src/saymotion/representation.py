"""HumanML3D-style motion features for any skeleton, with exact inverses and left/right mirroring.

Per frame, in this order (see `FeatureLayout`): root angular velocity about +Y, root velocity on the
ground in the facing frame, root height, joint positions relative to the root on the ground (heights
kept absolute, as HumanML3D) in the facing frame, local joint rotations in continuous 6D (Zhou et
al. 2019; the root's relative to the facing direction), joint velocities in the facing frame, and
four foot contacts. Velocities at frame t are x[t+1] - x[t]; the last frame repeats the one before,
so no frame is lost. The facing direction is horizontal, perpendicular to the hips-and-shoulders
across vector.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.spatial.transform import Rotation

from saymotion.bvh import SkeletalMotion, forward_kinematics, joint_positions
from saymotion.errors import SaymotionError
from saymotion.skeleton import TARGET_FPS, Skeleton

# HumanML3D's contact test: squared displacement under 0.002 m^2 per frame at 20 fps, as a speed.
FOOT_CONTACT_SPEED = float(np.sqrt(0.002) * 20)  # m/s
# ... and, as the contact test's height part, a foot joint near its lowest height in the clip.
FOOT_CONTACT_HEIGHT = 0.05  # metres above the joint's lowest point

_MIRROR = np.array([-1.0, 1.0, 1.0])  # the reflection x -> -x, as axis signs


@dataclass(frozen=True)
class FeatureLayout:
    """Where each part lies in a feature vector for a skeleton of `num_joints` joints."""

    num_joints: int

    @classmethod
    def from_dim(cls, dim: int) -> FeatureLayout:
        num_joints, remainder = divmod(dim - 5, 12)
        if remainder or num_joints < 2:
            raise SaymotionError(f"{dim} is not a feature size (12 x joints + 5)")
        return cls(num_joints)

    @property
    def root_angular_velocity(self) -> slice:
        return slice(0, 1)

    @property
    def root_linear_velocity(self) -> slice:
        return slice(1, 3)

    @property
    def root_height(self) -> slice:
        return slice(3, 4)

    @property
    def positions(self) -> slice:
        """(J - 1) x 3: non-root joints."""
        return slice(4, 4 + (self.num_joints - 1) * 3)

    @property
    def rotations(self) -> slice:
        """J x 6: every joint, root first."""
        start = self.positions.stop
        return slice(start, start + self.num_joints * 6)

    @property
    def velocities(self) -> slice:
        """J x 3: every joint, root first."""
        start = self.rotations.stop
        return slice(start, start + self.num_joints * 3)

    @property
    def contacts(self) -> slice:
        """4: left foot, left toe, right foot, right toe."""
        start = self.velocities.stop
        return slice(start, start + 4)

    @property
    def dim(self) -> int:
        return self.contacts.stop

    @property
    def parts(self) -> dict[str, slice]:
        """Every part by name, in feature order (for per-part statistics or loss weights)."""
        names = ("root_angular_velocity", "root_linear_velocity", "root_height", "positions",
                 "rotations", "velocities", "contacts")  # fmt: skip
        return {name: getattr(self, name) for name in names}


def facing_yaw(joints: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """Facing angle about +Y per frame (... x T; 0 faces +Z, pi/2 faces +X) from joint positions."""
    across = (
        joints[..., skeleton.right_hip, :]
        - joints[..., skeleton.left_hip, :]
        + joints[..., skeleton.right_shoulder, :]
        - joints[..., skeleton.left_shoulder, :]
    )
    # forward = up x across = (across_z, 0, -across_x): the body's front for a right-handed Y-up scene.
    return np.arctan2(across[..., 2], -across[..., 0])


def canonicalize(motion: SkeletalMotion) -> SkeletalMotion:
    """The same motion with the floor (lowest joint over the clip) at y = 0, the root starting at
    x = z = 0 and the first frame facing +Z."""
    joints = forward_kinematics(motion)
    floor = joints[..., 1].min()
    turn = _yaw_matrices(-facing_yaw(joints[0], motion.skeleton))
    start = motion.root_positions[0] * [1.0, 0.0, 1.0] + [0.0, floor, 0.0]
    root_positions = (motion.root_positions - start) @ turn.T
    rotations = motion.rotations.copy()
    rotations[:, 0] = (Rotation.from_matrix(turn) * Rotation.from_quat(rotations[:, 0])).as_quat()
    return replace(motion, rotations=rotations, root_positions=root_positions)


def motion_to_features(motion: SkeletalMotion) -> np.ndarray:
    """T x D float32 features of the canonicalised motion."""
    motion = canonicalize(motion)
    skeleton, frames = motion.skeleton, motion.num_frames
    local = _local_matrices(motion)
    joints = joint_positions(skeleton, local, motion.root_positions)
    yaw = facing_yaw(joints, skeleton)
    to_facing = _yaw_matrices(-yaw)  # T x 3 x 3, world -> facing frame

    root = joints[:, 0]
    root_velocity = np.einsum("tij,tj->ti", to_facing, _forward_difference(root))
    on_ground = joints[:, 1:] - root[:, None] * [1.0, 0.0, 1.0]
    positions = np.einsum("tij,tkj->tki", to_facing, on_ground)
    rotations = local.copy()
    rotations[:, 0] = to_facing @ local[:, 0]
    velocities = np.einsum("tij,tkj->tki", to_facing, _forward_difference(joints))
    parts = [
        _wrap_angle(_forward_difference(yaw))[:, None],
        root_velocity[:, [0, 2]],
        root[:, 1:2],
        positions.reshape(frames, -1),
        _matrix_to_6d(rotations).reshape(frames, -1),
        velocities.reshape(frames, -1),
        foot_contacts(joints, skeleton, motion.fps),
    ]
    return np.concatenate(parts, axis=1).astype(np.float32)


def foot_contacts(joints: np.ndarray, skeleton: Skeleton, fps: float) -> np.ndarray:
    """T x 4 (left foot, left toe, right foot, right toe) in {0, 1}: slow and near the ground."""
    feet = joints[:, list(skeleton.feet)]
    speed = np.linalg.norm(_forward_difference(feet), axis=-1) * fps
    height = feet[..., 1]
    low = height < height.min(axis=0) + FOOT_CONTACT_HEIGHT
    return ((speed < FOOT_CONTACT_SPEED) & low).astype(np.float32)


def features_to_joints(features: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """Joint positions (... x T x J x 3) from features (... x T x D): the heading and root path
    are integrated from their velocities, the other joints placed from their root-relative
    positions (HumanML3D's recover_from_ric)."""
    features = np.asarray(features, dtype=np.float64)
    layout = _layout(features, skeleton)
    yaw, root = _integrate_root(features, layout)
    positions = features[..., layout.positions].reshape(*features.shape[:-1], -1, 3)
    positions = np.einsum("...ij,...kj->...ki", _yaw_matrices(yaw), positions)
    positions += (root * [1.0, 0.0, 1.0])[..., None, :]
    return np.concatenate([root[..., None, :], positions], axis=-2)


def features_to_motion(features: np.ndarray, skeleton: Skeleton, fps: float = TARGET_FPS) -> SkeletalMotion:
    """A motion on `skeleton` from features (T x D): integrated root path and heading, and the
    joint rotations decoded from their 6D form (for BVH export on the source skeleton)."""
    features = np.asarray(features, dtype=np.float64)
    layout = _layout(features, skeleton)
    if features.ndim != 2:
        raise SaymotionError(f"features_to_motion takes one clip (T x D), got shape {features.shape}")
    yaw, root = _integrate_root(features, layout)
    local = _matrix_from_6d(features[:, layout.rotations].reshape(len(features), -1, 6))
    local[:, 0] = _yaw_matrices(yaw) @ local[:, 0]
    rotations = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_quat().reshape(*local.shape[:2], 4)
    return SkeletalMotion(skeleton, rotations, root, fps)


def mirror_motion(motion: SkeletalMotion) -> SkeletalMotion:
    """The motion reflected x -> -x (left and right exchanged: the sagittal plane of a canonical
    motion) on the mirrored skeleton (left and right offsets exchanged)."""
    skeleton = motion.skeleton
    permutation = list(skeleton.mirror_permutation)
    before, after = _mirror_signs(skeleton)
    local = _local_matrices(motion)[:, permutation]
    local = before[:, :, None] * local * after[:, None, :]
    rotations = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_quat().reshape(motion.rotations.shape)
    # A bone stays on the mirrored skeleton when its offset is reflected in its parent's frame.
    offsets = skeleton.offsets[permutation] * before
    offsets[0] = skeleton.offsets[0]
    return SkeletalMotion(
        skeleton.with_offsets(offsets), rotations, motion.root_positions * _MIRROR, motion.fps
    )


def mirror_features(features: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """Features (... x T x D) of the mirrored motion: motion_to_features(mirror_motion(m))."""
    features = np.asarray(features)
    layout = _layout(features, skeleton)
    permutation = list(skeleton.mirror_permutation)
    if permutation[0] != 0:
        raise SaymotionError("the skeleton's root must be a centre joint to mirror features")
    before, after = _mirror_signs(skeleton)
    leading = features.shape[:-1]
    mirrored = np.array(features, copy=True)
    mirrored[..., layout.root_angular_velocity] *= -1
    mirrored[..., layout.root_linear_velocity.start] *= -1  # x
    non_root = [p - 1 for p in permutation[1:]]
    mirrored[..., layout.positions] = _reflect_vectors(features[..., layout.positions], non_root)
    # R' = diag(before) R diag(after): each 6D column (first two of R) flips per row and column.
    columns = features[..., layout.rotations].reshape(*leading, -1, 2, 3)[..., permutation, :, :]
    columns = columns * before[:, None, :] * after[:, :2, None]
    mirrored[..., layout.rotations] = columns.reshape(*leading, -1)
    mirrored[..., layout.velocities] = _reflect_vectors(features[..., layout.velocities], permutation)
    mirrored[..., layout.contacts] = features[..., layout.contacts][..., [2, 3, 0, 1]]
    return mirrored


def _reflect_vectors(values: np.ndarray, order: list[int]) -> np.ndarray:
    """Per-joint 3-vectors (... x 3K) taken in `order` and reflected x -> -x."""
    vectors = values.reshape(*values.shape[:-1], -1, 3)[..., order, :] * _MIRROR
    return vectors.reshape(values.shape)


def _mirror_signs(skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """Per joint j, the axis signs a, b of its mirrored local rotation R'_j = diag(a) R_m(j) diag(b)
    (m the mirror permutation): a is the parent's mirror reflection (for the root the world's,
    x -> -x), b the joint's own."""
    parent_signs = [_MIRROR if p < 0 else skeleton.mirror_signs[p] for p in skeleton.parents]
    return np.array(parent_signs), skeleton.mirror_signs


def _layout(features: np.ndarray, skeleton: Skeleton) -> FeatureLayout:
    """The skeleton's layout, checking that the features (... x T x D) follow it."""
    layout = FeatureLayout(skeleton.num_joints)
    if features.ndim < 2 or features.shape[-1] != layout.dim:
        raise SaymotionError(
            f"features of shape {features.shape} do not fit a {skeleton.num_joints}-joint skeleton "
            f"(... x T x {layout.dim})"
        )
    return layout


def _integrate_root(features: np.ndarray, layout: FeatureLayout) -> tuple[np.ndarray, np.ndarray]:
    """Heading (... x T) and root positions (... x T x 3), starting at yaw 0 and x = z = 0."""
    yaw_steps = features[..., :-1, layout.root_angular_velocity.start]
    yaw = np.concatenate([np.zeros_like(yaw_steps[..., :1]), np.cumsum(yaw_steps, axis=-1)], axis=-1)
    velocity = features[..., layout.root_linear_velocity]
    steps = np.stack([velocity[..., 0], np.zeros_like(velocity[..., 0]), velocity[..., 1]], axis=-1)
    steps = np.einsum("...ij,...j->...i", _yaw_matrices(yaw[..., :-1]), steps[..., :-1, :])
    root = np.concatenate([np.zeros_like(steps[..., :1, :]), np.cumsum(steps, axis=-2)], axis=-2)
    root[..., 1] = features[..., layout.root_height.start]
    return yaw, root


def _local_matrices(motion: SkeletalMotion) -> np.ndarray:
    frames, joints = motion.rotations.shape[:2]
    return Rotation.from_quat(motion.rotations.reshape(-1, 4)).as_matrix().reshape(frames, joints, 3, 3)


def _yaw_matrices(yaw: np.ndarray) -> np.ndarray:
    """Rotations about +Y by `yaw` (... -> ... x 3 x 3); yaw 0 keeps +Z, pi/2 turns +Z to +X."""
    cos, sin = np.cos(yaw), np.sin(yaw)
    zero, one = np.zeros_like(yaw), np.ones_like(yaw)
    rows = [np.stack([cos, zero, sin], -1), np.stack([zero, one, zero], -1), np.stack([-sin, zero, cos], -1)]
    return np.stack(rows, axis=-2)


def _forward_difference(values: np.ndarray) -> np.ndarray:
    """x[t+1] - x[t] along the first axis, the last frame repeating the one before (0 for T = 1)."""
    steps = np.diff(values, axis=0)
    return np.concatenate([steps, steps[-1:]] if len(steps) else [np.zeros_like(values)], axis=0)


def _wrap_angle(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi


def _matrix_to_6d(matrices: np.ndarray) -> np.ndarray:
    """... x 3 x 3 -> ... x 6: the first two columns, one after the other."""
    return np.swapaxes(matrices[..., :, :2], -1, -2).reshape(*matrices.shape[:-2], 6)


def _matrix_from_6d(sixd: np.ndarray) -> np.ndarray:
    """... x 6 -> ... x 3 x 3 by Gram-Schmidt (Zhou et al. 2019)."""
    first = sixd[..., :3] / np.linalg.norm(sixd[..., :3], axis=-1, keepdims=True)
    second = sixd[..., 3:] - np.sum(first * sixd[..., 3:], axis=-1, keepdims=True) * first
    second /= np.linalg.norm(second, axis=-1, keepdims=True)
    return np.stack([first, second, np.cross(first, second)], axis=-1)
