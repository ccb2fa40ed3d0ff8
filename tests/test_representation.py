"""Motion features: canonical frame, exact inverses (joints, and BVH through the source skeleton),
foot contacts and left/right mirroring, on real Bandai clips and on a synthetic stick figure."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from saymotion.bvh import SkeletalMotion, forward_kinematics, read_bvh, resample, write_bvh
from saymotion.errors import SaymotionError
from saymotion.representation import (
    FOOT_CONTACT_SPEED,
    FeatureLayout,
    canonicalize,
    facing_yaw,
    features_to_joints,
    features_to_motion,
    mirror_features,
    mirror_motion,
    motion_to_features,
)
from saymotion.skeleton import TARGET_FPS, Skeleton

MM = 1e-3  # metres


def stick_figure() -> Skeleton:
    """A 13-joint figure with Mixamo-style names and world-aligned, mirror-symmetric offsets
    (facing +Z, its left at +X)."""
    joints = [
        ("Pelvis", -1, (0, 0, 0)), ("Spine", 0, (0, 0.3, 0)), ("Head", 1, (0, 0.3, 0.02)),
        ("LeftArm", 1, (0.2, 0.25, 0)), ("LeftHand", 3, (0.5, 0, 0)),
        ("RightArm", 1, (-0.2, 0.25, 0)), ("RightHand", 5, (-0.5, 0, 0)),
        ("LeftUpLeg", 0, (0.1, -0.05, 0)), ("LeftFoot", 7, (0, -0.8, 0)),
        ("LeftToeBase", 8, (0, -0.05, 0.12)),
        ("RightUpLeg", 0, (-0.1, -0.05, 0)), ("RightFoot", 10, (0, -0.8, 0)),
        ("RightToeBase", 11, (0, -0.05, 0.12)),
    ]  # fmt: skip
    return Skeleton.build(
        [n for n, _, _ in joints], [p for _, p, _ in joints], np.array([o for _, _, o in joints])
    )


def wandering_motion(skeleton: Skeleton, frames: int = 60, seed: int = 0) -> SkeletalMotion:
    """Smooth random joint rotations, a root that walks, turns and sways."""
    rng = np.random.default_rng(seed)
    time = np.arange(frames)[:, None, None] / TARGET_FPS
    frequencies = rng.uniform(0.3, 2.0, (1, skeleton.num_joints, 3))
    phases = rng.uniform(0, 2 * np.pi, (1, skeleton.num_joints, 3))
    rotvecs = 0.5 * np.sin(2 * np.pi * frequencies * time + phases)
    rotvecs[:, 0, 1] += 1.5 * time[:, 0, 0]  # keeps turning left
    rotations = Rotation.from_rotvec(rotvecs.reshape(-1, 3)).as_quat().reshape(frames, -1, 4)
    t = time[:, 0, 0]
    root = np.stack([3.0 + 0.3 * np.sin(t), 1.0 + 0.05 * np.sin(4 * t), -2.0 + 1.2 * t], axis=1)
    return SkeletalMotion(skeleton, rotations, root, TARGET_FPS)


def turned_and_moved(motion: SkeletalMotion, yaw: float, shift: tuple[float, float, float]) -> SkeletalMotion:
    """The same motion elsewhere in the world: turned about +Y and shifted."""
    turn = Rotation.from_rotvec([0, yaw, 0])
    rotations = motion.rotations.copy()
    rotations[:, 0] = (turn * Rotation.from_quat(rotations[:, 0])).as_quat()
    return replace(motion, rotations=rotations, root_positions=turn.apply(motion.root_positions) + shift)


@pytest.fixture(scope="module")
def clips(bandai_clips: dict[str, Path]) -> dict[str, SkeletalMotion]:
    return {clip: resample(read_bvh(path), TARGET_FPS) for clip, path in bandai_clips.items()}


def test_layout_covers_the_feature_vector() -> None:
    layout = FeatureLayout(21)
    assert layout.dim == 257 == 4 + 20 * 3 + 21 * 6 + 21 * 3 + 4
    stops = [0] + [part.stop for part in layout.parts.values()]
    assert [part.start for part in layout.parts.values()] == stops[:-1]  # contiguous, in order
    assert FeatureLayout.from_dim(257) == layout
    with pytest.raises(SaymotionError, match="not a feature size"):
        FeatureLayout.from_dim(256)


def test_canonical_frame(clips: dict[str, SkeletalMotion]) -> None:
    for clip, motion in clips.items():
        joints = forward_kinematics(canonicalize(motion))
        assert abs(joints[..., 1].min()) < 1e-12, clip
        np.testing.assert_allclose(joints[0, 0, [0, 2]], 0, atol=1e-12)
        assert abs(facing_yaw(joints[0], motion.skeleton)) < 1e-9, clip


def test_features_invert_to_canonical_joints_and_bvh(
    clips: dict[str, SkeletalMotion], tmp_path: Path
) -> None:
    """The issue's acceptance test: BVH -> features -> BVH within 1 mm on every sample clip."""
    for clip, motion in clips.items():
        expected = forward_kinematics(canonicalize(motion))
        features = motion_to_features(motion)
        assert features.dtype == np.float32 and features.shape == (motion.num_frames, 257)
        assert np.abs(features_to_joints(features, motion.skeleton) - expected).max() < MM, clip
        path = tmp_path / f"{clip}.bvh"
        write_bvh(path, features_to_motion(features, motion.skeleton))
        reread = read_bvh(path)
        assert reread.fps == TARGET_FPS
        assert np.abs(forward_kinematics(reread) - expected).max() < MM, clip


def test_features_ignore_where_the_motion_happens(clips: dict[str, SkeletalMotion]) -> None:
    motion = clips["dataset-1_bye_feminine_001"]
    elsewhere = turned_and_moved(motion, yaw=2.0, shift=(5.0, 0.3, -7.0))
    np.testing.assert_allclose(motion_to_features(elsewhere), motion_to_features(motion), atol=1e-5)


def test_walks_go_forward_and_turns_turn(clips: dict[str, SkeletalMotion]) -> None:
    walk = clips["dataset-1_walk_normal_001"]
    path = features_to_joints(motion_to_features(walk), walk.skeleton)[:, 0]
    assert path[-1, 2] > 3.0 and abs(path[-1, 0]) < 0.15 * path[-1, 2]  # metres along +Z
    turn = clips["dataset-2_walk-turn-left_normal_001"]
    features = motion_to_features(turn)
    assert np.degrees(features[:-1, 0].sum()) > 60  # yaw grows: towards the walker's left (+X)
    assert features_to_joints(features, turn.skeleton)[-1, 0, 0] > 1.0


def test_foot_contacts_follow_the_gait(clips: dict[str, SkeletalMotion]) -> None:
    walk = clips["dataset-1_walk_normal_001"]
    contacts = motion_to_features(walk)[:, FeatureLayout(21).contacts]
    assert np.all((contacts.mean(axis=0) > 0.3) & (contacts.mean(axis=0) < 0.8))  # planted, then swung
    assert np.mean(contacts[:, 0] * contacts[:, 2]) < 0.35  # both heels rarely down together
    feet = forward_kinematics(walk)[:, list(walk.skeleton.feet)]
    speed = np.linalg.norm(np.diff(feet, axis=0), axis=-1) * walk.fps
    assert np.all(speed[contacts[:-1] == 1] < FOOT_CONTACT_SPEED)


def test_mirroring_real_motion(clips: dict[str, SkeletalMotion]) -> None:
    turn = clips["dataset-2_walk-turn-left_normal_001"]
    skeleton, permutation = turn.skeleton, list(turn.skeleton.mirror_permutation)
    mirrored = mirror_motion(turn)
    expected = forward_kinematics(turn)[:, permutation] * [-1, 1, 1]
    np.testing.assert_allclose(forward_kinematics(mirrored), expected, atol=1e-12)
    # The mirrored pose fits the same rig: mirrored bones keep their offsets (up to capture noise).
    assert np.abs(mirrored.skeleton.offsets - skeleton.offsets).max() < 2 * MM
    twice = mirror_motion(mirrored)
    assert twice.skeleton == skeleton
    np.testing.assert_allclose(forward_kinematics(twice), forward_kinematics(turn), atol=1e-12)

    features = motion_to_features(turn)
    mirrored_features = mirror_features(features, skeleton)
    np.testing.assert_allclose(mirrored_features, motion_to_features(mirrored), atol=1e-5)
    np.testing.assert_array_equal(mirror_features(mirrored_features, skeleton), features)
    assert features_to_joints(mirrored_features, skeleton)[-1, 0, 0] < -1.0  # now a right turn


def test_mirrored_rotations_look_like_real_ones(clips: dict[str, SkeletalMotion]) -> None:
    """A walk is nearly symmetric: each joint's mean rotation barely changes under mirroring when
    the mirror respects the rig's joint frames (a wrong frame flips limbs by about 180 degrees)."""
    walk = canonicalize(clips["dataset-1_walk_normal_001"])
    mirrored = mirror_motion(walk)
    for joint, name in enumerate(walk.skeleton.joint_names):
        original = Rotation.from_quat(walk.rotations[:, joint]).mean()
        reflected = Rotation.from_quat(mirrored.rotations[:, joint]).mean()
        assert np.degrees((original.inv() * reflected).magnitude()) < 20, name


def test_stick_figure_round_trips_and_mirrors() -> None:
    skeleton = stick_figure()
    motion = wandering_motion(skeleton)
    expected = forward_kinematics(canonicalize(motion))
    features = motion_to_features(motion)
    assert features.shape == (60, FeatureLayout(13).dim)
    np.testing.assert_allclose(features_to_joints(features, skeleton), expected, atol=1e-5)
    np.testing.assert_allclose(
        forward_kinematics(features_to_motion(features, skeleton)), expected, atol=1e-5
    )
    mirrored = mirror_motion(motion)
    assert mirrored.skeleton == skeleton  # a symmetric, world-aligned rig mirrors onto itself
    mirrored_features = mirror_features(features, skeleton)
    np.testing.assert_allclose(mirrored_features, motion_to_features(mirrored), atol=1e-5)
    # A batch of clips decodes like the clips one by one.
    batch = features_to_joints(np.stack([features, mirrored_features]), skeleton)
    np.testing.assert_allclose(batch[1], features_to_joints(mirrored_features, skeleton))
    np.testing.assert_array_equal(mirror_features(np.stack([features]), skeleton)[0], mirrored_features)


def test_standing_still_and_single_frames() -> None:
    skeleton = stick_figure()
    still = wandering_motion(skeleton, frames=1)
    still = replace(
        still,
        rotations=np.repeat(still.rotations, 10, 0),
        root_positions=np.repeat(still.root_positions, 10, 0),
    )
    features = motion_to_features(still)
    layout = FeatureLayout(skeleton.num_joints)
    np.testing.assert_allclose(features[:, layout.velocities], 0, atol=1e-7)
    np.testing.assert_allclose(features[:, layout.root_angular_velocity], 0, atol=1e-7)
    assert np.all(features[:, layout.contacts] == 1)
    single = motion_to_features(wandering_motion(skeleton, frames=1))
    np.testing.assert_allclose(
        features_to_joints(single, skeleton), features_to_joints(features[:1], skeleton), atol=1e-6
    )


def test_rejects_features_of_another_skeleton() -> None:
    skeleton = stick_figure()
    with pytest.raises(SaymotionError, match="do not fit a 13-joint skeleton"):
        features_to_joints(np.zeros((5, 257)), skeleton)
    with pytest.raises(SaymotionError, match="one clip"):
        features_to_motion(np.zeros((2, 5, FeatureLayout(13).dim)), skeleton)
    with pytest.raises(SaymotionError, match="do not fit"):
        mirror_features(np.zeros(FeatureLayout(13).dim), skeleton)
