"""Loading a motion to look at or to export, whatever form it comes in:

- `.bvh`: a mocap clip; resampled and canonicalised (floor at y = 0, starting at the origin and
  facing +Z) like the prepared data;
- `.npy` of shape T x J x 3: joint positions in metres at 20 fps;
- `.npy` of shape T x D: motion features (`saymotion.representation`) at 20 fps;
- `.npz` as written by `saymotion data prepare`: `features` and/or `joints`, and the clip's `offsets`.

Arrays carry no joint tree, so they need a skeleton: given explicitly, or a `skeleton.json` found
in the input's folder or the folder above it (where `data prepare` puts it for `motions/<id>.npz`).

Joint positions alone do not fix the joint rotations a BVH needs; `fit_rotations` recovers them with
an analytic swing IK (see there for what it cannot recover).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from saymotion.bvh import SkeletalMotion, forward_kinematics, read_bvh, resample
from saymotion.errors import SaymotionError
from saymotion.representation import canonicalize, features_to_joints, features_to_motion
from saymotion.skeleton import TARGET_FPS, Skeleton

INPUT_SUFFIXES = (".bvh", ".npy", ".npz")
SKELETON_FILE = "skeleton.json"
_MIN_BONE = 1e-6  # metres; shorter bones carry no direction


@dataclass(frozen=True)
class LoadedMotion:
    """A motion ready to render: joint positions (T x J x 3, metres) at `fps` on `skeleton`, and the
    joint rotations when the input has them (BVH and features inputs)."""

    joints: np.ndarray
    skeleton: Skeleton
    fps: float
    motion: SkeletalMotion | None = None

    @property
    def num_frames(self) -> int:
        return len(self.joints)


def load_skeleton(path: str | Path) -> Skeleton:
    """A skeleton from a `skeleton.json` (`Skeleton.to_dict()`, as written by `saymotion data prepare`)
    or from a model checkpoint (`.pt`), which stores the skeleton it was trained on."""
    path = Path(path)
    if not path.is_file():
        raise SaymotionError(f"skeleton file not found: {path}")
    if path.suffix.lower() == ".pt":
        from saymotion.checkpoint import load_checkpoint

        return load_checkpoint(path).skeleton
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SaymotionError(f"cannot read skeleton {path.name}: {error}") from None
    if not isinstance(data, dict):
        raise SaymotionError(f"{path.name} does not describe a skeleton (expected a JSON object)")
    return Skeleton.from_dict(data)


def load_motion(path: str | Path, skeleton: Skeleton | None = None, fps: float = TARGET_FPS) -> LoadedMotion:
    """Load any supported input (see the module docstring) at `fps` frames per second."""
    path = Path(path)
    if not path.is_file():
        raise SaymotionError(f"input not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in INPUT_SUFFIXES:
        raise SaymotionError(f"unsupported input {path.name!r}: expected a .bvh, .npy or .npz file")
    if not fps > 0:
        raise SaymotionError(f"frame rate must be positive, got {fps}")
    if suffix == ".bvh":
        return load_bvh(path, fps)
    loaded = load_arrays(path, skeleton or find_skeleton(path))
    return resample_loaded(loaded, fps)


def load_bvh(path: Path, fps: float) -> LoadedMotion:
    motion = canonicalize(resample(read_bvh(path), fps))
    return LoadedMotion(forward_kinematics(motion), motion.skeleton, motion.fps, motion)


def find_skeleton(path: Path) -> Skeleton:
    for folder in (path.parent, path.parent.parent):
        if (folder / SKELETON_FILE).is_file():
            return load_skeleton(folder / SKELETON_FILE)
    raise SaymotionError(
        f"{path.name} holds no joint tree: pass --skeleton SKELETON.json (as written by saymotion data prepare)"
    )


def load_arrays(path: Path, skeleton: Skeleton) -> LoadedMotion:
    """A 20-fps motion from a .npy (joints or features) or a prepared .npz."""
    arrays = read_arrays(path)
    if "offsets" in arrays:
        skeleton = clip_skeleton(skeleton, arrays["offsets"], path)
    if "joints" in arrays:
        joints = check_joints(arrays["joints"], skeleton, path)
        motion = features_to_motion(arrays["features"], skeleton) if "features" in arrays else None
        return LoadedMotion(joints, skeleton, TARGET_FPS, motion)
    features = np.asarray(arrays["features"], dtype=np.float64)
    if features.ndim != 2 or not np.isfinite(features).all():
        raise SaymotionError(f"{path.name}: features must be a finite T x D array, got shape {features.shape}")
    motion = features_to_motion(features, skeleton)
    return LoadedMotion(features_to_joints(features, skeleton), skeleton, TARGET_FPS, motion)


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """{'joints'?, 'features'?, 'offsets'?} from a .npy (told apart by shape) or a prepared .npz."""
    try:
        if path.suffix.lower() == ".npy":
            array = np.load(path, allow_pickle=False)
            arrays = {("joints" if array.ndim == 3 else "features"): array}
        else:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {key: archive[key] for key in ("joints", "features", "offsets") if key in archive}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise SaymotionError(f"cannot read {path.name}: {error}") from None
    if "joints" not in arrays and "features" not in arrays:
        raise SaymotionError(f"{path.name} holds neither 'features' nor 'joints'")
    return arrays


def clip_skeleton(skeleton: Skeleton, offsets: np.ndarray, path: Path) -> Skeleton:
    """The reference skeleton with the clip's own bone offsets (the actor's proportions)."""
    if offsets.shape != skeleton.offsets.shape:
        raise SaymotionError(
            f"{path.name}: offsets of shape {offsets.shape} do not fit a {skeleton.num_joints}-joint skeleton"
        )
    return skeleton.with_offsets(offsets)


def check_joints(joints: np.ndarray, skeleton: Skeleton, path: Path) -> np.ndarray:
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (skeleton.num_joints, 3) or len(joints) == 0:
        raise SaymotionError(
            f"{path.name}: joints must have shape (frames, {skeleton.num_joints}, 3) for this skeleton, "
            f"got {joints.shape}"
        )
    if not np.isfinite(joints).all():
        raise SaymotionError(f"{path.name}: joint positions contain NaN or infinite values")
    return joints


def resample_loaded(loaded: LoadedMotion, fps: float) -> LoadedMotion:
    """The motion at `fps` over the same time span (frame times as `bvh.resample`)."""
    if fps == loaded.fps or loaded.num_frames == 1:
        return loaded
    motion = resample(loaded.motion, fps) if loaded.motion is not None else None
    source_times = np.arange(loaded.num_frames) / loaded.fps
    count = motion.num_frames if motion else int(np.floor(source_times[-1] * fps + 1e-6)) + 1
    target_times = np.minimum(np.arange(count) / fps, source_times[-1])
    flat = loaded.joints.reshape(loaded.num_frames, -1)
    joints = np.stack([np.interp(target_times, source_times, column) for column in flat.T], axis=1)
    return LoadedMotion(joints.reshape(count, -1, 3), loaded.skeleton, float(fps), motion)


def motion_for_export(loaded: LoadedMotion) -> SkeletalMotion:
    """Joint rotations to write: the input's own, else fitted to its joint positions."""
    return loaded.motion if loaded.motion is not None else fit_rotations(loaded.joints, loaded.skeleton, loaded.fps)


def fit_rotations(joints: np.ndarray, skeleton: Skeleton, fps: float = TARGET_FPS) -> SkeletalMotion:
    """Joint rotations that put every bone of `skeleton` along the bones of `joints` (T x J x 3).

    Analytic, frame by frame, parents first. A joint with several children (hips, chest) gets the
    rotation that best maps its rest child offsets onto the observed ones (Kabsch); a joint with
    one child gets the smallest rotation, relative to its parent, that turns the bone to the
    observed direction (swing); a leaf keeps its parent's orientation. Bone lengths are set to the
    clip's median observed lengths, so positions are reproduced closely.

    Limitation: twist about a single-child bone (forearm roll, head and hand orientation, a
    foot's roll about the shin) is invisible in joint positions, so it is not recovered: limbs
    carry their parent's twist and leaf joints look where their parent looks.
    """
    skeleton = skeleton.with_offsets(observed_offsets(joints, skeleton))
    frames = len(joints)
    world = np.empty((frames, skeleton.num_joints, 3, 3))
    for joint, parent in enumerate(skeleton.parents):
        parent_world = np.broadcast_to(np.eye(3), (frames, 3, 3)) if parent < 0 else world[:, parent]
        children = [c for c, p in enumerate(skeleton.parents) if p == joint]
        children = [c for c in children if np.linalg.norm(skeleton.offsets[c]) > _MIN_BONE]
        rest = skeleton.offsets[children]  # in the joint's own frame
        observed = joints[:, children] - joints[:, joint : joint + 1]
        if len(children) == 0:
            world[:, joint] = parent_world
        elif len(children) == 1:
            rest_in_world = np.einsum("tij,j->ti", parent_world, rest[0])
            world[:, joint] = swing(rest_in_world, observed[:, 0]) @ parent_world
        else:
            world[:, joint] = kabsch(rest, observed)
    local = world.copy()
    for joint, parent in enumerate(skeleton.parents):
        if parent >= 0:
            local[:, joint] = np.swapaxes(world[:, parent], 1, 2) @ world[:, joint]
    rotations = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_quat().reshape(frames, -1, 4)
    return SkeletalMotion(skeleton, rotations, joints[:, 0].copy(), float(fps))


def observed_offsets(joints: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """The skeleton's rest bone directions with the clip's median bone lengths."""
    offsets = skeleton.offsets.copy()
    for joint, parent in enumerate(skeleton.parents):
        rest_length = np.linalg.norm(offsets[joint])
        if parent < 0 or rest_length <= _MIN_BONE:
            continue
        length = np.median(np.linalg.norm(joints[:, joint] - joints[:, parent], axis=-1))
        offsets[joint] *= length / rest_length
    return offsets


def swing(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Smallest rotations (T x 3 x 3) turning directions `source` onto `target` (T x 3 each)."""
    source = source / np.linalg.norm(source, axis=-1, keepdims=True)
    target = target / np.maximum(np.linalg.norm(target, axis=-1, keepdims=True), _MIN_BONE)
    axis = np.cross(source, target)
    sine, cosine = np.linalg.norm(axis, axis=-1), np.sum(source * target, axis=-1)
    # Opposite directions: any axis perpendicular to the source will do.
    opposite = sine < 1e-9
    helper = np.where(np.abs(source[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    axis[opposite] = np.cross(source[opposite], helper[opposite])
    axis /= np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), 1e-12)
    angle = np.arctan2(sine, cosine)
    return Rotation.from_rotvec(axis * angle[:, None]).as_matrix()


def kabsch(rest: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Rotations (T x 3 x 3) best mapping rest vectors (K x 3) onto observed ones (T x K x 3)."""
    covariance = np.einsum("tki,kj->tij", observed, rest)
    left, _, right = np.linalg.svd(covariance)
    handedness = np.sign(np.linalg.det(left @ right))
    left[:, :, 2] *= handedness[:, None]
    return left @ right
