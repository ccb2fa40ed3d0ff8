"""The kinematic skeleton: joint tree, bone offsets, and the joints the motion representation needs
by role (hips, shoulders, feet), found by name so that nothing depends on one particular rig."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from saymotion.errors import SaymotionError

# Processed motion runs at this frame rate everywhere (HumanML3D and MoMask use 20 fps too).
TARGET_FPS = 20

# The Bandai Namco rig once its dummy `joint_Root` is folded into Hips (see bvh.read_bvh).
BANDAI_JOINT_NAMES: tuple[str, ...] = (
    "Hips", "Spine", "Chest", "Neck", "Head",
    "Shoulder_L", "UpperArm_L", "LowerArm_L", "Hand_L",
    "Shoulder_R", "UpperArm_R", "LowerArm_R", "Hand_R",
    "UpperLeg_L", "LowerLeg_L", "Foot_L", "Toes_L",
    "UpperLeg_R", "LowerLeg_R", "Foot_R", "Toes_R",
)  # fmt: skip
BANDAI_PARENTS: tuple[int, ...] = (
    -1, 0, 1, 2, 3,
    2, 5, 6, 7,
    2, 9, 10, 11,
    0, 13, 14, 15,
    0, 17, 18, 19,
)  # fmt: skip

# Role -> accepted base names (side marker removed, lower case, no separators), best first.
# Covers the Bandai, SMPL and Mixamo namings; e.g. SMPL calls the ankle joint "ankle" and the
# toe-ball joint "foot", Mixamo calls the upper arm "arm" and the clavicle "shoulder".
_ROLE_BASE_NAMES: dict[str, tuple[str, ...]] = {
    "hip": ("upperleg", "upleg", "thigh", "hip"),
    "shoulder": ("upperarm", "arm", "shoulder"),
    "foot": ("ankle", "foot"),
    "toe": ("toes", "toe", "toebase", "foot"),
}

_SIDE_SWAP = {"L": "R", "R": "L", "l": "r", "r": "l", "Left": "Right", "Right": "Left",
              "left": "right", "right": "left", "LEFT": "RIGHT", "RIGHT": "LEFT"}  # fmt: skip
_SIDE_WORD = r"Left|Right|left|right|LEFT|RIGHT"
# A side marker is a whole word at the start ("LeftArm", "left_hip", "mixamorig:LeftArm") or the
# end ("Hand_L", "hand.l", "HandLeft", "hand_left"), or a single letter before a separator
# ("L_Hand"); so "LowerLeg", "Leftover" and "Upright" mark no side.
_SIDE_PATTERNS = (
    re.compile(rf"^(?P<pre>(?:[^:]*:)?)(?P<side>{_SIDE_WORD})(?P<post>[_.\-A-Z0-9].*)$"),
    re.compile(r"^(?P<pre>(?:[^:]*:)?)(?P<side>[LRlr])(?P<post>[_.\-].+)$"),
    re.compile(rf"^(?P<pre>.*[_.\-])(?P<side>{_SIDE_WORD}|[LRlr])(?P<post>)$"),
    re.compile(r"^(?P<pre>.*[a-z0-9])(?P<side>Left|Right)(?P<post>)$"),
)

# Candidate mirror reflections of a joint's local frame (sign flips of its axes, determinant -1).
_REFLECTIONS = np.array([(-1, -1, -1), (-1, 1, 1), (1, -1, 1), (1, 1, -1)], dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Skeleton:
    """A joint tree in parent-before-child order with bone offsets in metres.

    `offsets[j]` is joint j's position in its parent's frame when the parent's rotation is the
    identity; the root's offset is unused (motions carry the root trajectory).
    `mirror_permutation[j]` is the joint on the other side (itself for centre joints).
    `mirror_signs[j]` are the axis flips (+-1, product -1) that express the left/right reflection in
    joint j's local frame: the mirrored pose, with global joint rotations
    G'_j = M G_m(j) diag(mirror_signs[j]) (M = diag(-1, 1, 1), m the mirror permutation), keeps
    every bone on the same skeleton. Rigs that mirror their joint axes ("behaviour" mirroring, as
    in the Bandai data) get (-1, -1, -1) on the side chains; world-aligned rigs (SMPL) get
    (-1, 1, 1) everywhere.
    """

    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    left_hip: int
    right_hip: int
    left_shoulder: int
    right_shoulder: int
    feet: tuple[int, int, int, int]  # left foot, left toe, right foot, right toe
    mirror_permutation: tuple[int, ...]
    mirror_signs: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        num_joints = len(self.joint_names)
        offsets = np.array(self.offsets, dtype=np.float64)
        signs = np.array(self.mirror_signs, dtype=np.float64)
        offsets.setflags(write=False)
        signs.setflags(write=False)
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        object.__setattr__(self, "parents", tuple(int(p) for p in self.parents))
        object.__setattr__(self, "feet", tuple(int(j) for j in self.feet))
        object.__setattr__(self, "mirror_permutation", tuple(int(j) for j in self.mirror_permutation))
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "mirror_signs", signs)
        _check_tree(self.joint_names, self.parents)
        if offsets.shape != (num_joints, 3) or signs.shape != (num_joints, 3):
            raise SaymotionError(f"skeleton offsets and mirror signs must be {num_joints} x 3")
        permutation = self.mirror_permutation
        is_involution = all(0 <= j < num_joints and permutation[j] == i for i, j in enumerate(permutation))
        if len(permutation) != num_joints or not is_involution:
            raise SaymotionError("skeleton mirror permutation must pair the joints up (an involution)")
        if not (np.all(np.abs(signs) == 1) and np.all(signs.prod(axis=1) == -1)):
            raise SaymotionError("skeleton mirror signs must be axis flips (+-1) of determinant -1")
        roles = (self.left_hip, self.right_hip, self.left_shoulder, self.right_shoulder, *self.feet)
        if any(not 0 <= j < num_joints for j in roles):
            raise SaymotionError("skeleton role joints must be valid joint indices")

    @classmethod
    def build(cls, joint_names: Sequence[str], parents: Sequence[int], offsets: np.ndarray) -> Skeleton:
        """A skeleton whose role joints, mirror permutation and mirror frames are derived from the
        joint names and the bone offsets."""
        names, parents = tuple(joint_names), tuple(int(p) for p in parents)
        _check_tree(names, parents)
        roles = {
            f"{side}_{role}": _side_role(names, side, role)
            for role in ("hip", "shoulder", "foot", "toe")
            for side in ("left", "right")
        }
        permutation = _mirror_permutation(names)
        mirrored_parents = [-1 if p < 0 else permutation[p] for p in parents]
        if any(parents[permutation[j]] != mirrored_parents[j] for j in range(len(names))):
            raise SaymotionError(
                "skeleton is not left/right symmetric: mirrored joints have different parents"
            )
        offsets = np.asarray(offsets, dtype=np.float64)
        return cls(
            joint_names=names,
            parents=parents,
            offsets=offsets,
            left_hip=roles["left_hip"],
            right_hip=roles["right_hip"],
            left_shoulder=roles["left_shoulder"],
            right_shoulder=roles["right_shoulder"],
            feet=(roles["left_foot"], roles["left_toe"], roles["right_foot"], roles["right_toe"]),
            mirror_permutation=permutation,
            mirror_signs=_mirror_signs(parents, offsets, permutation),
        )

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """(parent, child) index pairs, one per non-root joint: what a renderer draws."""
        return tuple((p, j) for j, p in enumerate(self.parents) if p >= 0)

    def with_offsets(self, offsets: np.ndarray) -> Skeleton:
        """The same rig with other bone offsets (another actor's proportions)."""
        return replace(self, offsets=np.asarray(offsets, dtype=np.float64))

    def same_topology(self, other: Skeleton) -> bool:
        """Same joints, tree, roles and mirroring; offsets may differ."""
        return self.to_dict(offsets=False) == other.to_dict(offsets=False)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Skeleton):
            return NotImplemented
        return self.same_topology(other) and np.array_equal(self.offsets, other.offsets)

    __hash__ = None  # type: ignore[assignment]  # holds arrays; equality is by value

    def to_dict(self, offsets: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "joint_names": list(self.joint_names),
            "parents": list(self.parents),
            "left_hip": self.left_hip,
            "right_hip": self.right_hip,
            "left_shoulder": self.left_shoulder,
            "right_shoulder": self.right_shoulder,
            "feet": list(self.feet),
            "mirror_permutation": list(self.mirror_permutation),
            "mirror_signs": self.mirror_signs.astype(int).tolist(),
        }
        if offsets:
            data["offsets"] = self.offsets.tolist()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Skeleton:
        try:
            return cls(
                joint_names=tuple(data["joint_names"]),
                parents=tuple(data["parents"]),
                offsets=np.asarray(data["offsets"], dtype=np.float64),
                left_hip=data["left_hip"],
                right_hip=data["right_hip"],
                left_shoulder=data["left_shoulder"],
                right_shoulder=data["right_shoulder"],
                feet=tuple(data["feet"]),
                mirror_permutation=tuple(data["mirror_permutation"]),
                mirror_signs=np.asarray(data["mirror_signs"], dtype=np.float64),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise SaymotionError(f"invalid skeleton description: {error!r}") from None


def _check_tree(names: tuple[str, ...], parents: tuple[int, ...]) -> None:
    if len(set(names)) != len(names):
        raise SaymotionError("skeleton joint names must be unique")
    if len(parents) != len(names) or not parents or parents[0] != -1:
        raise SaymotionError("skeleton needs one parent per joint, with the root (-1) first")
    if any(not 0 <= p < j for j, p in enumerate(parents[1:], start=1)):
        raise SaymotionError("skeleton joints must be listed parents first")


def split_side(name: str) -> tuple[str, str, str] | None:
    """(prefix, side marker, suffix) when the joint name marks a body side, else None."""
    for pattern in _SIDE_PATTERNS:
        match = pattern.match(name)
        if match:
            return match["pre"], match["side"], match["post"]
    return None


def side_of(name: str) -> str | None:
    """ "left", "right", or None for a centre joint, from the joint's name."""
    parts = split_side(name)
    return None if parts is None else ("left" if parts[1].lower() in ("l", "left") else "right")


def _base_name(name: str) -> str:
    parts = split_side(name)
    stem = name if parts is None else parts[0] + parts[2]
    stem = stem.rsplit(":", 1)[-1]  # drop a namespace such as "mixamorig:"
    return re.sub(r"[^a-z0-9]", "", stem.lower())


def _side_role(names: tuple[str, ...], side: str, role: str) -> int:
    joints = {_base_name(n): j for j, n in enumerate(names) if side_of(n) == side}
    # SMPL names its toe-ball joint "foot" (its foot role is "ankle"): a "foot" is a toe only
    # when it is not already the foot.
    excluded = {_side_role(names, side, "foot")} if role == "toe" else set()
    for base in _ROLE_BASE_NAMES[role]:
        if base in joints and joints[base] not in excluded:
            return joints[base]
    raise SaymotionError(f"cannot find the {side} {role} joint by name among {', '.join(names)}")


def _mirror_permutation(names: tuple[str, ...]) -> tuple[int, ...]:
    lookup = {n: j for j, n in enumerate(names)}
    permutation = []
    for name in names:
        parts = split_side(name)
        if parts is None:
            permutation.append(lookup[name])
            continue
        counterpart = parts[0] + _SIDE_SWAP[parts[1]] + parts[2]
        if counterpart not in lookup:
            raise SaymotionError(f"joint {name!r} has no mirrored counterpart {counterpart!r}")
        permutation.append(lookup[counterpart])
    return tuple(permutation)


def _mirror_signs(parents: tuple[int, ...], offsets: np.ndarray, permutation: tuple[int, ...]) -> np.ndarray:
    """Pick, per joint, the axis reflection that maps its children's offsets onto their mirrored
    counterparts' (C o_child = o_mirror(child)); a joint and its counterpart share one reflection.

    Several reflections can fit equally (a joint with a single child on an axis, or none): then the
    parent's choice is kept if it fits, else the first fitting of _REFLECTIONS, which puts
    (-1, -1, -1), the "behaviour" mirroring of animation rigs, first.
    """
    num_joints = len(parents)
    signs = np.zeros((num_joints, 3))
    for joint in range(num_joints):  # parents first, so a parent's choice is known
        pair = sorted({joint, permutation[joint]})
        if joint != pair[0]:
            signs[joint] = signs[pair[0]]
            continue
        children = [c for c in range(num_joints) if parents[c] in pair]
        errors = np.zeros(len(_REFLECTIONS))
        for child in children:
            target = offsets[permutation[child]]
            own = offsets[child] * _REFLECTIONS
            errors += np.linalg.norm(own - target, axis=1) / max(np.linalg.norm(target), 1e-9)
        # Reflections within 5% relative bone error (per child) of the best one fit equally well.
        slack = 0.05 * max(len(children), 1)
        fitting = [k for k in range(len(_REFLECTIONS)) if errors[k] <= errors.min() + slack]
        parent = parents[joint]
        inherited = [k for k in fitting if parent >= 0 and np.array_equal(_REFLECTIONS[k], signs[parent])]
        signs[joint] = _REFLECTIONS[(inherited or fitting)[0]]
    return signs
