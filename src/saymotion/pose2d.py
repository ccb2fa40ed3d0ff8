"""2D keypoints for pose-guided video generators (VersaAnimator's interface): our 3D joints are
mapped to OpenPose's BODY_25 and COCO-18 layouts and projected through a pinhole camera.

The mocap skeleton has no face or heel markers, so nose, eyes, ears, heels and small toes are
placed from the head, the body's facing direction and the feet with fixed offsets; they get a lower
confidence so consumers can tell measured from placed keypoints."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saymotion.fileio import atomic_open

MEASURED_CONFIDENCE = 1.0
PLACED_CONFIDENCE = 0.5

# OpenPose keypoint orders (names as in the OpenPose documentation).
BODY_25 = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip",
    "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
    "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
)  # fmt: skip
COCO_18 = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
    "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
)  # fmt: skip
LAYOUTS = {"body25": BODY_25, "coco18": COCO_18}

# OpenPose keypoint -> mocap joint, for the keypoints the skeleton measures directly.
MEASURED_JOINTS = {
    "Neck": "Neck", "MidHip": "Hips",
    "RShoulder": "UpperArm_R", "RElbow": "LowerArm_R", "RWrist": "Hand_R",
    "LShoulder": "UpperArm_L", "LElbow": "LowerArm_L", "LWrist": "Hand_L",
    "RHip": "UpperLeg_R", "RKnee": "LowerLeg_R", "RAnkle": "Foot_R", "RBigToe": "Toes_R",
    "LHip": "UpperLeg_L", "LKnee": "LowerLeg_L", "LAnkle": "Foot_L", "LBigToe": "Toes_L",
}  # fmt: skip

# Limbs drawn in the pose video, OpenPose's BODY_25 pairs with its colour wheel.
LIMBS = (
    ("Neck", "MidHip"), ("Neck", "RShoulder"), ("Neck", "LShoulder"), ("RShoulder", "RElbow"),
    ("RElbow", "RWrist"), ("LShoulder", "LElbow"), ("LElbow", "LWrist"), ("MidHip", "RHip"),
    ("RHip", "RKnee"), ("RKnee", "RAnkle"), ("MidHip", "LHip"), ("LHip", "LKnee"),
    ("LKnee", "LAnkle"), ("Neck", "Nose"), ("Nose", "REye"), ("REye", "REar"), ("Nose", "LEye"),
    ("LEye", "LEar"), ("LAnkle", "LBigToe"), ("LBigToe", "LSmallToe"), ("LAnkle", "LHeel"),
    ("RAnkle", "RBigToe"), ("RBigToe", "RSmallToe"), ("RAnkle", "RHeel"),
)  # fmt: skip


@dataclass(frozen=True)
class Camera:
    """A pinhole camera looking at `target` from `position` (metres, +Y up)."""

    position: tuple[float, float, float]
    target: tuple[float, float, float]
    focal_px: float
    width: int
    height: int

    @classmethod
    def framing(cls, joints: np.ndarray, width: int = 512, height: int = 768, margin: float = 1.15) -> Camera:
        """A front camera (the character starts facing +Z) far enough to keep the whole motion in view."""
        low, high = joints.reshape(-1, 3).min(0), joints.reshape(-1, 3).max(0)
        center = (low + high) / 2.0
        focal = 1.2 * min(width, height)
        # Distance at which the motion's height and width fit the image, plus its depth extent.
        fit_height = (high[1] - low[1]) * margin * focal / height
        fit_width = (high[0] - low[0]) * margin * focal / width
        distance = max(fit_height, fit_width, 1.0) + (high[2] - center[2])
        position = (float(center[0]), float(center[1]), float(center[2] + distance))
        return cls(position, tuple(float(c) for c in center), focal, width, height)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (..., 2) with y down, and whether each point is in front of the camera."""
        position, target = np.asarray(self.position), np.asarray(self.target)
        forward = (target - position) / np.linalg.norm(target - position)
        right = np.cross(forward, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, forward)
        relative = points - position
        depth = relative @ forward
        safe_depth = np.where(depth > 1e-6, depth, 1e-6)
        x = self.focal_px * (relative @ right) / safe_depth + self.width / 2.0
        y = -self.focal_px * (relative @ up) / safe_depth + self.height / 2.0
        return np.stack([x, y], axis=-1), depth > 1e-6


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-9)


def openpose_keypoints_3d(joints: np.ndarray, joint_names: list[str] | tuple[str, ...]) -> tuple[dict[str, np.ndarray], set[str]]:
    """3D positions (T x 3) of every BODY_25 keypoint, and the names of those placed, not measured."""
    index = {name: i for i, name in enumerate(joint_names)}
    missing = sorted((set(MEASURED_JOINTS.values()) | {"Head"}) - set(index))
    if missing:
        raise ValueError(f"skeleton lacks joints needed for OpenPose keypoints: {missing}")
    points = {key: joints[:, index[joint]] for key, joint in MEASURED_JOINTS.items()}
    up = np.array([0.0, 1.0, 0.0])
    across = _unit(points["LHip"] - points["RHip"] + points["LShoulder"] - points["RShoulder"])
    forward = _unit(np.cross(across, up))
    head = joints[:, index["Head"]]
    points["Nose"] = head + 0.10 * forward + 0.04 * up
    for side, sign in (("L", 1.0), ("R", -1.0)):
        points[f"{side}Eye"] = head + 0.08 * forward + 0.07 * up + sign * 0.03 * across
        points[f"{side}Ear"] = head + 0.01 * forward + 0.05 * up + sign * 0.07 * across
        ankle, toe = points[f"{side}Ankle"], points[f"{side}BigToe"]
        foot_forward = _unit(toe - ankle)
        points[f"{side}Heel"] = ankle - 0.06 * foot_forward - 0.04 * up
        points[f"{side}SmallToe"] = toe + sign * 0.04 * across - 0.02 * foot_forward
    placed = set(BODY_25) - set(MEASURED_JOINTS)
    return points, placed


def project_openpose(
    joints: np.ndarray, joint_names: list[str] | tuple[str, ...], camera: Camera, layout: str = "body25"
) -> np.ndarray:
    """Per-frame OpenPose keypoints (T x K x 3: x, y, confidence) in the chosen layout."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose from {sorted(LAYOUTS)}")
    points, placed = openpose_keypoints_3d(joints, joint_names)
    names = LAYOUTS[layout]
    stacked = np.stack([points[name] for name in names], axis=1)
    pixels, in_front = camera.project(stacked)
    confidence = np.array([PLACED_CONFIDENCE if name in placed else MEASURED_CONFIDENCE for name in names])
    inside = (pixels[..., 0] >= 0) & (pixels[..., 0] < camera.width) & (pixels[..., 1] >= 0) & (pixels[..., 1] < camera.height)
    scores = np.where(in_front & inside, confidence[None, :], 0.0)
    # OpenPose writes (0, 0, 0) for keypoints it did not find.
    pixels = np.where(scores[..., None] > 0, pixels, 0.0)
    return np.concatenate([pixels, scores[..., None]], axis=-1).astype(np.float32)


def openpose_frame(keypoints: np.ndarray, layout: str) -> dict:
    """One frame in OpenPose's JSON output format (a single person)."""
    return {
        "version": 1.3,
        "layout": layout.upper(),
        "people": [
            {
                "person_id": [-1],
                "pose_keypoints_2d": [round(float(v), 3) for v in keypoints.reshape(-1)],
                "face_keypoints_2d": [],
                "hand_left_keypoints_2d": [],
                "hand_right_keypoints_2d": [],
            }
        ],
    }


def save_openpose_json(path: str | Path, keypoints: np.ndarray, camera: Camera, layout: str, fps: float) -> None:
    """All frames in one JSON file: OpenPose's per-frame records under "frames", plus the camera."""
    document = {
        "fps": fps,
        "layout": layout.upper(),
        "keypoint_names": list(LAYOUTS[layout]),
        "camera": {
            "position": list(camera.position),
            "target": list(camera.target),
            "focal_px": camera.focal_px,
            "width": camera.width,
            "height": camera.height,
        },
        "frames": [openpose_frame(frame, layout) for frame in keypoints],
    }
    with atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(document, handle)


def limb_colours(count: int) -> list[tuple[int, int, int]]:
    """OpenPose-style rainbow of distinct, saturated limb colours."""
    import colorsys

    return [tuple(int(255 * c) for c in colorsys.hsv_to_rgb(i / count, 1.0, 1.0)) for i in range(count)]


def draw_pose_frames(keypoints: np.ndarray, layout: str, camera: Camera) -> list[np.ndarray]:
    """OpenPose-style skeleton images on black (T x H x W x 3 uint8), one per frame."""
    from PIL import Image, ImageDraw

    names = LAYOUTS[layout]
    index = {name: i for i, name in enumerate(names)}
    limbs = [(index[a], index[b]) for a, b in LIMBS if a in index and b in index]
    colours = limb_colours(len(limbs))
    width = max(2, camera.width // 100)
    frames = []
    for frame in keypoints:
        image = Image.new("RGB", (camera.width, camera.height))
        draw = ImageDraw.Draw(image)
        for (a, b), colour in zip(limbs, colours):
            if frame[a, 2] > 0 and frame[b, 2] > 0:
                draw.line([tuple(frame[a, :2]), tuple(frame[b, :2])], fill=colour, width=width)
        for (x, y, score), colour in zip(frame, limb_colours(len(frame))):
            if score > 0:
                draw.ellipse([x - width, y - width, x + width, y + width], fill=colour)
        frames.append(np.asarray(image))
    return frames
