"""Skeleton: role joints found by name on several rig namings, mirror pairing and mirror frames,
serialisation and validation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from saymotion.errors import SaymotionError
from saymotion.skeleton import BANDAI_JOINT_NAMES, BANDAI_PARENTS, Skeleton, split_side

# SMPL's 22 body joints (names as in the SMPL paper's code), world-aligned rest frames.
SMPL_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)  # fmt: skip
SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)


def smpl_offsets() -> np.ndarray:
    """Symmetric SMPL-like offsets: a joint's x is the negated x of its mirror joint."""
    left = {
        "left_hip": (0.06, -0.09, 0.0), "left_knee": (0.04, -0.38, 0.0),
        "left_ankle": (-0.01, -0.4, -0.04), "left_foot": (0.04, -0.06, 0.12),
        "left_collar": (0.08, 0.11, -0.02), "left_shoulder": (0.12, 0.05, 0.0),
        "left_elbow": (0.26, -0.01, -0.02), "left_wrist": (0.25, 0.01, 0.0),
    }  # fmt: skip
    centre = {"spine1": (0, 0.11, 0), "spine2": (0, 0.13, 0), "spine3": (0, 0.05, 0.01),
              "neck": (0, 0.21, -0.03), "head": (0, 0.06, 0.05)}  # fmt: skip
    offsets = np.zeros((len(SMPL_NAMES), 3))
    for index, name in enumerate(SMPL_NAMES):
        if name in centre:
            offsets[index] = centre[name]
        elif name.startswith("left_"):
            offsets[index] = left[name]
        elif name.startswith("right_"):
            offsets[index] = np.multiply(left["left_" + name[6:]], (-1, 1, 1))
    return offsets


def bandai_like_offsets() -> np.ndarray:
    """Offsets with the Bandai rig's conventions (bones along local x, right side chains with
    negated offsets), rounded from dataset-1_walk_normal_001."""
    centre = {1: (0.157, 0, 0), 2: (0.09, -0.004, 0), 3: (0.164, 0, 0), 4: (0.065, 0, 0)}
    left = {5: (0.13, -0.002, 0.05), 6: (0.053, 0, 0), 7: (0.243, 0, 0), 8: (0.223, 0, 0),
            13: (-0.022, -0.065, 0), 14: (0.391, 0, 0), 15: (0.41, 0, 0), 16: (0.118, 0, 0)}  # fmt: skip
    offsets = np.zeros((21, 3))
    for joint, offset in centre.items():
        offsets[joint] = offset
    for joint, offset in left.items():
        offsets[joint] = offset
        # The right chains: shoulder and hip mirrored in the parent's lateral axis, then negated.
        lateral = {5: (1, 1, -1), 13: (1, -1, 1)}.get(joint, (-1, -1, -1))
        offsets[joint + 4] = np.multiply(offset, lateral)
    return offsets


def test_bandai_roles_and_mirror_pairs() -> None:
    skeleton = Skeleton.build(BANDAI_JOINT_NAMES, BANDAI_PARENTS, bandai_like_offsets())
    names = skeleton.joint_names
    assert (names[skeleton.left_hip], names[skeleton.right_hip]) == ("UpperLeg_L", "UpperLeg_R")
    assert (names[skeleton.left_shoulder], names[skeleton.right_shoulder]) == ("UpperArm_L", "UpperArm_R")
    assert [names[j] for j in skeleton.feet] == ["Foot_L", "Toes_L", "Foot_R", "Toes_R"]
    for joint, mirror in enumerate(skeleton.mirror_permutation):
        assert names[mirror] == names[joint].replace("_L", "_X").replace("_R", "_L").replace("_X", "_R")
    assert skeleton.bones[:3] == ((0, 1), (1, 2), (2, 3))
    assert len(skeleton.bones) == skeleton.num_joints - 1


def test_bandai_mirror_frames_follow_the_rig() -> None:
    skeleton = Skeleton.build(BANDAI_JOINT_NAMES, BANDAI_PARENTS, bandai_like_offsets())
    signs = {name: tuple(skeleton.mirror_signs[j]) for j, name in enumerate(skeleton.joint_names)}
    assert signs["Hips"] == (1, -1, 1)  # the hips' lateral axis is local y (legs at -+y)
    assert signs["Chest"] == signs["Neck"] == signs["Head"] == (1, 1, -1)  # shoulders at +-z
    assert all(signs[n] == (-1, -1, -1) for n in BANDAI_JOINT_NAMES if n.endswith(("_L", "_R")))


def test_smpl_names_and_world_aligned_mirror_frames() -> None:
    skeleton = Skeleton.build(SMPL_NAMES, SMPL_PARENTS, smpl_offsets())
    names = skeleton.joint_names
    assert names[skeleton.left_hip] == "left_hip"
    assert names[skeleton.right_shoulder] == "right_shoulder"  # not the collar
    assert [names[j] for j in skeleton.feet] == ["left_ankle", "left_foot", "right_ankle", "right_foot"]
    np.testing.assert_array_equal(skeleton.mirror_signs, np.tile([-1.0, 1.0, 1.0], (22, 1)))


def test_mixamo_names() -> None:
    bare = ("Hips", "Spine", "LeftShoulder", "LeftArm", "RightShoulder", "RightArm",
            "LeftUpLeg", "LeftFoot", "LeftToeBase", "RightUpLeg", "RightFoot", "RightToeBase")  # fmt: skip
    names = tuple(f"mixamorig:{name}" for name in bare)
    parents = (-1, 0, 1, 2, 1, 4, 0, 6, 7, 0, 9, 10)
    skeleton = Skeleton.build(names, parents, np.zeros((12, 3)))
    assert (skeleton.left_shoulder, skeleton.right_shoulder) == (3, 5)  # the arm, not the clavicle
    assert skeleton.feet == (7, 8, 10, 11)
    assert skeleton.mirror_permutation == (0, 1, 4, 5, 2, 3, 9, 10, 11, 6, 7, 8)


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("Hand_L", ("Hand_", "L", "")),
        ("hand.r", ("hand.", "r", "")),
        ("LeftArm", ("", "Left", "Arm")),
        ("right_knee", ("", "right", "_knee")),
        ("L_Hand", ("", "L", "_Hand")),
        ("HandRight", ("Hand", "Right", "")),
        ("LowerLeg_L", ("LowerLeg_", "L", "")),
        ("hand_left", ("hand_", "left", "")),
        ("mixamorig:RightFoot", ("mixamorig:", "Right", "Foot")),
        ("LowerLeg", None),
        ("Leftover", None),
        ("Upright", None),
        ("Hips", None),
        ("Wheel", None),
    ],
)
def test_split_side(name: str, parts: tuple[str, str, str] | None) -> None:
    assert split_side(name) == parts


def test_dict_round_trip_and_offsets() -> None:
    skeleton = Skeleton.build(SMPL_NAMES, SMPL_PARENTS, smpl_offsets())
    restored = Skeleton.from_dict(json.loads(json.dumps(skeleton.to_dict())))
    assert restored == skeleton
    assert restored.to_dict() == skeleton.to_dict()
    taller = skeleton.with_offsets(skeleton.offsets * 1.1)
    assert taller != skeleton and taller.same_topology(skeleton)
    np.testing.assert_allclose(taller.offsets[4], skeleton.offsets[4] * 1.1)
    with pytest.raises(ValueError):
        skeleton.offsets[1, 0] = 5.0  # shared, so read-only


# The fewest joints with every role: hips, shoulders, feet and toes on both sides.
MINIMAL_NAMES = (
    "Hips",
    "UpperArm_L",
    "UpperArm_R",
    "UpperLeg_L",
    "Foot_L",
    "Toes_L",
    "UpperLeg_R",
    "Foot_R",
    "Toes_R",
)
MINIMAL_PARENTS = (-1, 0, 0, 0, 3, 4, 0, 6, 7)


def test_minimal_skeleton_is_valid() -> None:
    skeleton = Skeleton.build(MINIMAL_NAMES, MINIMAL_PARENTS, np.zeros((9, 3)))
    assert skeleton.mirror_permutation == (0, 2, 1, 6, 7, 8, 3, 4, 5)


@pytest.mark.parametrize(
    ("names", "parents", "message"),
    [
        ((*MINIMAL_NAMES, "Eye_L"), (*MINIMAL_PARENTS, 0), "no mirrored counterpart"),
        ((*MINIMAL_NAMES[:-1], "Hips"), MINIMAL_PARENTS, "unique"),
        (MINIMAL_NAMES, (-1, 0, 0, 4, 0, 4, 0, 6, 7), "parents first"),
        (MINIMAL_NAMES, (0, 0, 0, 0, 3, 4, 0, 6, 7), "root"),
        (("Hips", "Hand_L", "Hand_R"), (-1, 0, 0), "left hip"),
        (MINIMAL_NAMES, (-1, 0, 0, 0, 3, 4, 0, 0, 7), "not left/right symmetric"),
    ],
)
def test_invalid_skeletons(names: tuple[str, ...], parents: tuple[int, ...], message: str) -> None:
    with pytest.raises(SaymotionError, match=message):
        Skeleton.build(names, parents, np.zeros((len(names), 3)))


def test_from_dict_rejects_broken_descriptions() -> None:
    data = Skeleton.build(SMPL_NAMES, SMPL_PARENTS, smpl_offsets()).to_dict()
    with pytest.raises(SaymotionError, match="invalid skeleton"):
        Skeleton.from_dict({k: v for k, v in data.items() if k != "offsets"})
    with pytest.raises(SaymotionError, match="involution"):
        Skeleton.from_dict({**data, "mirror_permutation": [0, 2, 3, 1, *range(4, 22)]})
    with pytest.raises(SaymotionError, match="determinant"):
        Skeleton.from_dict({**data, "mirror_signs": [[1, 1, 1]] * 22})
