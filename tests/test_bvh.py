"""BVH reading, writing, resampling and forward kinematics, checked against the geometry of real
Bandai clips and against the independent `bvhio` reader."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from saymotion.bvh import SkeletalMotion, forward_kinematics, read_bvh, resample, write_bvh
from saymotion.errors import DataError
from saymotion.skeleton import BANDAI_JOINT_NAMES, BANDAI_PARENTS

# A small humanoid under a dummy root, in centimetres: (name, parent, offset, channels).
ROTATION_CHANNELS = "Zrotation Xrotation Yrotation"
SIX_CHANNELS = f"Xposition Yposition Zposition {ROTATION_CHANNELS}"
Joint = tuple[str, int, tuple[float, float, float], str]
SYNTHETIC_JOINTS: tuple[Joint, ...] = (
    ("Root", -1, (0, 0, 0), SIX_CHANNELS),
    ("Hips", 0, (0, 90, 0), SIX_CHANNELS),
    ("UpperArm_L", 1, (20, 50, 0), "Xrotation Yrotation Zrotation"),
    ("UpperArm_R", 1, (-20, 50, 0), "Xrotation Yrotation Zrotation"),
    ("UpperLeg_L", 1, (10, -5, 0), ROTATION_CHANNELS),
    ("Foot_L", 4, (0, -80, 0), ROTATION_CHANNELS),
    ("Toes_L", 5, (0, -5, 12), ROTATION_CHANNELS),
    ("UpperLeg_R", 1, (-10, -5, 0), ROTATION_CHANNELS),
    ("Foot_R", 7, (0, -80, 0), ROTATION_CHANNELS),
    ("Toes_R", 8, (0, -5, 12), ROTATION_CHANNELS),
)


def synthetic_channels(
    frames: int, joints: tuple[Joint, ...] = SYNTHETIC_JOINTS, seed: int = 0
) -> np.ndarray:
    """Channel values per frame: a still dummy root, a wandering hips, random joint angles, and
    the offsets in other joints' position channels."""
    rng = np.random.default_rng(seed)
    columns = []
    for index, (_, _, offset, channels) in enumerate(joints):
        for channel in channels.split():
            if index == 0:
                columns.append(np.zeros(frames))
            elif channel.endswith("position"):
                axis = "XYZ".index(channel[0])
                columns.append(
                    rng.normal(offset[axis], 30, frames) if index == 1 else np.full(frames, offset[axis])
                )
            else:
                columns.append(rng.uniform(-90, 90, frames))
    return np.stack(columns, axis=1)


def synthetic_bvh(
    values: np.ndarray, joints: tuple[Joint, ...] = SYNTHETIC_JOINTS, frame_time: float = 1 / 30
) -> str:
    lines = [
        "HIERARCHY",
        *_joint_lines(joints, 0, 0),
        "MOTION",
        f"Frames: {len(values)}",
        f"Frame Time: {frame_time}",
    ]
    lines += [" ".join(f"{v:.17g}" for v in row) for row in values]
    return "\n".join(lines) + "\n"


def _joint_lines(joints: tuple[Joint, ...], index: int, depth: int) -> list[str]:
    name, parent, offset, channels = joints[index]
    pad = "  " * depth
    lines = [
        f"{pad}{'JOINT' if parent >= 0 else 'ROOT'} {name}",
        f"{pad}{{",
        f"{pad}  OFFSET {offset[0]} {offset[1]} {offset[2]}",
        f"{pad}  CHANNELS {len(channels.split())} {channels}",
    ]
    children = [child for child, joint in enumerate(joints) if joint[1] == index]
    for child in children:
        lines += _joint_lines(joints, child, depth + 1)
    if not children:
        lines += [f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET 0 0 1", f"{pad}  }}"]
    return [*lines, f"{pad}}}"]


def bvhio_positions(path: Path, frames: list[int], skip_joints: int = 0) -> np.ndarray:
    """World joint positions (frames x J x 3, file units) computed by the bvhio package."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # its "import glm"
        import bvhio

    root = bvhio.readAsHierarchy(str(path))
    positions = []
    for frame in frames:
        root.loadPose(frame)
        positions.append([list(joint.PositionWorld) for joint, _, _ in root.layout()][skip_joints:])
    return np.array(positions)


def bone_lengths(motion: SkeletalMotion) -> np.ndarray:
    joints = forward_kinematics(motion)
    parents = list(motion.skeleton.parents[1:])
    return np.linalg.norm(joints[:, 1:] - joints[:, parents], axis=-1)


def test_synthetic_bvh_matches_euler_angles(tmp_path: Path) -> None:
    values = synthetic_channels(5)
    motion = read_bvh(synthetic_bvh(values))
    assert motion.skeleton.joint_names == tuple(name for name, *_ in SYNTHETIC_JOINTS[1:])
    assert motion.fps == 30.0 and motion.num_frames == 5
    np.testing.assert_allclose(motion.root_positions, values[:, 6:9] / 100)
    # Channel order is the intrinsic rotation order, whatever it is.
    hips = Rotation.from_euler("ZXY", values[:, 9:12], degrees=True)
    arm = Rotation.from_euler("XYZ", values[:, 12:15], degrees=True)
    np.testing.assert_allclose(
        (Rotation.from_quat(motion.rotations[:, 0]) * hips.inv()).magnitude(), 0, atol=1e-9
    )
    np.testing.assert_allclose(
        (Rotation.from_quat(motion.rotations[:, 1]) * arm.inv()).magnitude(), 0, atol=1e-9
    )
    path = tmp_path / "synthetic.bvh"
    path.write_text(synthetic_bvh(values))
    expected = bvhio_positions(path, list(range(5)), skip_joints=1) / 100
    np.testing.assert_allclose(forward_kinematics(read_bvh(path)), expected, atol=1e-5)


def test_moving_dummy_root_is_folded_into_the_hips() -> None:
    values = synthetic_channels(4)
    still = forward_kinematics(read_bvh(synthetic_bvh(values)))
    rng = np.random.default_rng(1)
    values[:, :3] = rng.normal(0, 50, (4, 3))
    values[:, 3:6] = rng.uniform(-180, 180, (4, 3))
    moved = forward_kinematics(read_bvh(synthetic_bvh(values)))
    root = Rotation.from_euler("ZXY", values[:, 3:6], degrees=True).as_matrix()
    expected = values[:, None, :3] / 100 + np.einsum("tij,tkj->tki", root, still)
    np.testing.assert_allclose(moved, expected, atol=1e-9)


def test_reads_bandai_clips(bandai_clips: dict[str, Path]) -> None:
    for clip, path in bandai_clips.items():
        motion = read_bvh(path)
        header_frames = int(path.read_text().split("Frames:")[1].split()[0])
        assert motion.skeleton.joint_names == BANDAI_JOINT_NAMES
        assert motion.skeleton.parents == BANDAI_PARENTS
        assert (motion.fps, motion.num_frames) == (30.0, header_frames)
        lengths = bone_lengths(motion)
        assert lengths.std(axis=0).max() < 1e-9, clip
        np.testing.assert_allclose(lengths[0], np.linalg.norm(motion.skeleton.offsets[1:], axis=1))
        joints = forward_kinematics(motion)
        assert 0.75 < np.median(joints[:, 0, 1] - joints[..., 1].min(axis=1)) < 1.1, (
            clip
        )  # hip height, metres
        # Upright, Y up: the lowest joint is a foot or a toe, the head above the hips.
        lowest = joints[..., 1].argmin(axis=1)
        assert np.isin(lowest, motion.skeleton.feet).mean() > 0.95, clip
        assert np.median(joints[:, 4, 1] - joints[:, 0, 1]) > 0.4, clip


def test_bandai_reading_matches_bvhio(bandai_clips: dict[str, Path]) -> None:
    path = bandai_clips["dataset-2_walk-turn-left_normal_001"]
    frames = [0, 40, 80]
    expected = bvhio_positions(path, frames, skip_joints=1) / 100  # without joint_Root
    np.testing.assert_allclose(forward_kinematics(read_bvh(path))[frames], expected, atol=1e-5)


def test_resample_30_to_20_fps(bandai_clips: dict[str, Path]) -> None:
    motion = read_bvh(bandai_clips["dataset-1_walk_normal_001"])
    resampled = resample(motion, 20)
    assert resampled.fps == 20 and resampled.num_frames == (motion.num_frames - 1) * 2 // 3 + 1
    assert abs(resampled.duration - motion.duration) < 1 / 20

    def rotations(m: SkeletalMotion, frames: slice) -> Rotation:
        return Rotation.from_quat(m.rotations[frames].reshape(-1, 4))

    def angle(a: Rotation, b: Rotation) -> np.ndarray:
        return (a.inv() * b).magnitude()

    # Target frames 0, 2, 4, ... fall on source frames 0, 3, 6, ...
    on_source = slice(0, 60, 3)
    np.testing.assert_allclose(resampled.root_positions[0:40:2], motion.root_positions[on_source], atol=1e-12)
    assert angle(rotations(resampled, slice(0, 40, 2)), rotations(motion, on_source)).max() < 1e-9
    # Target frames 1, 3, ... lie halfway between source frames 1 and 2, 4 and 5, ...
    before, after = slice(1, 60, 3), slice(2, 60, 3)
    halfway = rotations(resampled, slice(1, 40, 2))
    middle = (motion.root_positions[before] + motion.root_positions[after]) / 2
    np.testing.assert_allclose(resampled.root_positions[1:40:2], middle, atol=1e-12)
    to_halfway = angle(rotations(motion, before), halfway)
    np.testing.assert_allclose(to_halfway, angle(halfway, rotations(motion, after)), atol=1e-9)
    np.testing.assert_allclose(
        2 * to_halfway, angle(rotations(motion, before), rotations(motion, after)), atol=1e-9
    )
    assert to_halfway.max() > 0.01  # the joints do move between frames
    assert resample(motion, 30).rotations is motion.rotations


def test_write_then_read_and_bvhio(bandai_clips: dict[str, Path], tmp_path: Path) -> None:
    motion = read_bvh(bandai_clips["dataset-2_wave-left-hand_elderly_001"])
    path = tmp_path / "out" / "wave.bvh"
    write_bvh(path, motion)
    assert [p.name for p in path.parent.iterdir()] == ["wave.bvh"]  # no temporary file left
    text = path.read_text()
    channel_lines = [line.split(maxsplit=1)[1] for line in text.splitlines() if "CHANNELS" in line]
    assert text.startswith("HIERARCHY\nROOT Hips\n")
    assert channel_lines == [f"6 {SIX_CHANNELS}"] + [f"3 {ROTATION_CHANNELS}"] * 20
    assert text.count("End Site") == 5  # head, hands, toes
    again = read_bvh(path)
    assert again.fps == motion.fps and again.skeleton == motion.skeleton
    expected = forward_kinematics(motion)
    np.testing.assert_allclose(forward_kinematics(again), expected, atol=1e-6)
    frames = list(range(0, motion.num_frames, 25))
    np.testing.assert_allclose(bvhio_positions(path, frames) / 100, expected[frames], atol=1e-4)


def test_non_root_position_channels_are_offsets() -> None:
    leg = ("UpperLeg_L", 1, (10, -5, 0), f"Xposition Yposition Zposition {ROTATION_CHANNELS}")
    joints = (*SYNTHETIC_JOINTS[:4], leg, *SYNTHETIC_JOINTS[5:])
    values = synthetic_channels(3, joints)
    leg_x = 6 + 6 + 3 + 3  # root, hips, two arms
    values[:, leg_x] = 12.5  # the channel value, not the OFFSET line, is the bone offset
    motion = read_bvh(synthetic_bvh(values, joints))
    np.testing.assert_allclose(motion.skeleton.offsets[3], [0.125, -0.05, 0.0])
    values[1, leg_x] = 13.0
    with pytest.raises(DataError, match="translates over time"):
        read_bvh(synthetic_bvh(values, joints))


VALID = synthetic_bvh(synthetic_channels(3))
LAST_ROW = VALID.rstrip("\n").rsplit("\n", 1)[1]


def last_row_starting(value: str) -> str:
    """VALID with the first number of its last frame replaced."""
    return VALID.replace(LAST_ROW, value + " " + LAST_ROW.split(" ", 1)[1])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("HIERARCHY\n", "not a BVH file"),
        (VALID.replace("MOTION", "MOTIONS"), "not a BVH file"),
        (VALID.replace(LAST_ROW, ""), "expected 3 frames x 36 channels"),
        (VALID.replace(LAST_ROW, LAST_ROW + " 1.0"), "expected 3 frames x 36 channels"),
        (last_row_starting("abc"), "non-numeric"),
        (last_row_starting("nan"), "non-finite"),
        (VALID.replace("Zrotation", "Wrotation", 1), "unknown channel 'Wrotation'"),
        (VALID.replace("CHANNELS 3", "CHANNELS three", 1), "CHANNELS count of UpperArm_L"),
        (VALID.replace("OFFSET 20 50 0", "OFFSET 20 x 0"), "OFFSET of UpperArm_L must be numbers"),
        (VALID.replace("\n}\nMOTION", "\nMOTION"), "hierarchy ends unexpectedly"),
        (VALID.replace("JOINT Hips", "BONE Hips"), "unexpected 'BONE' in joint Root"),
        (VALID.replace("Frame Time: ", "Frame Time: -"), "Frame Time must be positive"),
        (VALID.replace("Frames: 3", "Frames: 2.5"), "frame count"),
        (VALID.replace("Yrotation Zrotation", "Yrotation Yrotation", 1), "repeats a rotation channel"),
        (VALID.replace("UpperArm_R", "Hand_R"), "cannot find the right shoulder joint"),
    ],
)
def test_malformed_bvh_raises_data_error(text: str, message: str) -> None:
    assert text != VALID
    with pytest.raises(DataError, match=message) as caught:
        read_bvh(text)
    assert "\n" not in str(caught.value)


def test_missing_file_raises_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read BVH file"):
        read_bvh(tmp_path / "absent.bvh")
