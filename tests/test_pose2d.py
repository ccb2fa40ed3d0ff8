"""2D pose output: OpenPose layouts, projection geometry and the pose video frames."""

from __future__ import annotations

import json

import numpy as np
import pytest

from saymotion import pose2d

NAMES = (
    "Hips", "Spine", "Chest", "Neck", "Head", "Shoulder_L", "UpperArm_L", "LowerArm_L", "Hand_L",
    "Shoulder_R", "UpperArm_R", "LowerArm_R", "Hand_R", "UpperLeg_L", "LowerLeg_L", "Foot_L",
    "Toes_L", "UpperLeg_R", "LowerLeg_R", "Foot_R", "Toes_R",
)  # fmt: skip


def t_pose(frames: int = 5) -> np.ndarray:
    """A character facing +Z (its left is +X) with arms spread, walking slowly towards +Z."""
    left = {
        "Shoulder_L": (0.05, 1.42, 0), "UpperArm_L": (0.18, 1.42, 0), "LowerArm_L": (0.45, 1.42, 0),
        "Hand_L": (0.70, 1.42, 0), "UpperLeg_L": (0.10, 0.95, 0), "LowerLeg_L": (0.10, 0.50, 0),
        "Foot_L": (0.10, 0.08, 0), "Toes_L": (0.10, 0.02, 0.12),
    }  # fmt: skip
    centre = {"Hips": (0, 1.0, 0), "Spine": (0, 1.1, 0), "Chest": (0, 1.25, 0), "Neck": (0, 1.45, 0), "Head": (0, 1.55, 0)}
    positions = dict(centre)
    for name, (x, y, z) in left.items():
        positions[name] = (x, y, z)
        positions[name.replace("_L", "_R")] = (-x, y, z)
    pose = np.array([positions[name] for name in NAMES], dtype=float)
    walk = np.zeros((frames, 1, 3))
    walk[:, 0, 2] = np.linspace(0.0, 0.4, frames)
    return pose[None] + walk


@pytest.mark.parametrize("layout, count", [("body25", 25), ("coco18", 18)])
def test_front_view_keypoints_are_in_the_image_with_left_on_the_right(layout, count):
    joints = t_pose()
    camera = pose2d.Camera.framing(joints)
    keypoints = pose2d.project_openpose(joints, NAMES, camera, layout)
    assert keypoints.shape == (5, count, 3)
    names = pose2d.LAYOUTS[layout]
    assert (keypoints[..., 2] > 0).all(), "every keypoint of a framed motion is visible"
    at = {name: keypoints[0, i] for i, name in enumerate(names)}
    # Facing the camera, the character's left side appears on the image's right.
    assert at["LWrist"][0] > at["Neck"][0] > at["RWrist"][0]
    # Image y grows downwards: the nose is above the neck, the ankles below the hips.
    assert at["Nose"][1] < at["Neck"][1] < at["LAnkle"][1]
    assert at["Nose"][2] == pose2d.PLACED_CONFIDENCE and at["Neck"][2] == pose2d.MEASURED_CONFIDENCE


def test_walking_towards_the_camera_makes_the_body_larger():
    joints = t_pose(frames=10)
    camera = pose2d.Camera.framing(joints)
    keypoints = pose2d.project_openpose(joints, NAMES, camera, "coco18")
    wrist_span = keypoints[:, 7, 0] - keypoints[:, 4, 0]  # LWrist - RWrist in pixels
    assert (np.diff(wrist_span) > 0).all()


def test_points_behind_the_camera_get_zero_confidence():
    joints = t_pose(frames=1)
    camera = pose2d.Camera(position=(0, 1, 0.3), target=(0, 1, 1.0), focal_px=500, width=256, height=256)
    keypoints = pose2d.project_openpose(joints, NAMES, camera, "body25")
    assert (keypoints[..., 2] == 0).all() and (keypoints[..., :2] == 0).all()


def test_json_and_frames(tmp_path):
    joints = t_pose()
    camera = pose2d.Camera.framing(joints, width=128, height=192)
    keypoints = pose2d.project_openpose(joints, NAMES, camera, "body25")
    path = tmp_path / "pose.json"
    pose2d.save_openpose_json(path, keypoints, camera, "body25", fps=20)
    document = json.loads(path.read_text())
    assert len(document["frames"]) == 5
    flat = document["frames"][2]["people"][0]["pose_keypoints_2d"]
    assert len(flat) == 75
    np.testing.assert_allclose(np.array(flat).reshape(25, 3), keypoints[2], atol=1e-3)
    frames = pose2d.draw_pose_frames(keypoints, "body25", camera)
    assert len(frames) == 5 and frames[0].shape == (192, 128, 3)
    assert frames[0].max() > 0 and (frames[0] == 0).mean() > 0.8, "coloured limbs on black"


def test_missing_joints_are_reported():
    with pytest.raises(ValueError, match="Head"):
        pose2d.project_openpose(t_pose()[:, :4], NAMES[:4], pose2d.Camera.framing(t_pose()), "body25")
