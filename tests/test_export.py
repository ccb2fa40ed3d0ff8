"""BVH export and input loading: files an independent reader (bvhio) agrees with, exact rotations
from features, IK from joint positions, and one-line errors for bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from saymotion import cli
from saymotion.bvh import forward_kinematics, read_bvh, resample
from saymotion.fileio import save_npy, save_npz, write_json
from saymotion.motion_io import fit_rotations, load_motion, swing
from saymotion.render import joint_sides
from saymotion.representation import features_to_motion, motion_to_features
from saymotion.skeleton import BANDAI_JOINT_NAMES, BANDAI_PARENTS, Skeleton

with warnings.catch_warnings():  # bvhio imports PyGLM under a name PyGLM plans to deprecate
    warnings.simplefilter("ignore", PendingDeprecationWarning)
    import bvhio

WALK = "dataset-2_walk-turn-left_normal_001"
WAVE = "dataset-2_wave-left-hand_elderly_001"
OTHER_ACTOR = "dataset-1_bow_tired_001"


def bvhio_positions(path) -> np.ndarray:
    """World joint positions (T x J x 3, metres) as the independent reader bvhio computes them."""
    root = bvhio.readAsHierarchy(str(path))
    layout = root.layout()
    frames = len(read_bvh(path).root_positions)
    positions = []
    for frame in range(frames):
        root.loadPose(frame)
        positions.append([list(joint.PositionWorld) for joint, _, _ in layout])
    return np.array(positions) / 100.0


def bone_directions(joints: np.ndarray, parents) -> np.ndarray:
    bones = np.stack([joints[:, child] - joints[:, parent] for child, parent in enumerate(parents) if parent >= 0], 1)
    return bones / np.linalg.norm(bones, axis=-1, keepdims=True)


def test_bvh_export_matches_an_independent_reader(bandai_clips, tmp_path):
    out = tmp_path / "walk.bvh"
    assert cli.main(["export", str(bandai_clips[WALK]), "-o", str(out)]) == 0
    expected = load_motion(bandai_clips[WALK])
    assert len(expected.joints) == resample(read_bvh(bandai_clips[WALK]), 20).num_frames
    assert read_bvh(out).fps == 20
    theirs = bvhio_positions(out)
    assert np.abs(theirs - expected.joints).max() < 1e-3
    # Canonicalised: starts at the origin on the floor.
    assert np.abs(theirs[0, 0, [0, 2]]).max() < 1e-4
    assert theirs[..., 1].min() == pytest.approx(0.0, abs=1e-4)


def test_features_export_keeps_the_exact_rotations(bandai_clips, tmp_path):
    source = load_motion(bandai_clips[WAVE])
    features = motion_to_features(source.motion)
    save_npy(tmp_path / "wave.npy", features)
    write_json(tmp_path / "skel" / "skeleton.json", source.skeleton.to_dict())
    out = tmp_path / "wave.bvh"
    code = cli.main(["export", str(tmp_path / "wave.npy"), "-o", str(out), "--skeleton", str(tmp_path / "skel/skeleton.json")])
    assert code == 0
    ours = forward_kinematics(features_to_motion(features, source.skeleton))
    theirs = bvhio_positions(out)
    assert np.abs(theirs - ours).max() < 1e-3
    assert np.abs(theirs - source.joints).max() < 1e-3
    written = read_bvh(out)
    np.testing.assert_allclose(written.rotations[:, 1:] * np.sign(written.rotations[:, 1:, 3:]),
                               source.motion.rotations[:, 1:] * np.sign(source.motion.rotations[:, 1:, 3:]), atol=1e-5)


def test_prepared_clip_uses_its_own_offsets_and_the_dataset_skeleton(bandai_clips, tmp_path):
    clip = load_motion(bandai_clips[WAVE])
    reference = load_motion(bandai_clips[OTHER_ACTOR]).skeleton  # another actor's proportions
    write_json(tmp_path / "skeleton.json", reference.to_dict())
    save_npz(
        tmp_path / "motions" / f"{WAVE}.npz",
        features=motion_to_features(clip.motion),
        joints=clip.joints.astype(np.float32),
        offsets=clip.skeleton.offsets,
    )
    out = tmp_path / "wave.bvh"
    assert cli.main(["export", str(tmp_path / "motions" / f"{WAVE}.npz"), "-o", str(out)]) == 0
    written = read_bvh(out)
    np.testing.assert_allclose(written.skeleton.offsets[1:], clip.skeleton.offsets[1:], atol=1e-6)
    assert np.abs(bvhio_positions(out) - clip.joints).max() < 1e-3


def test_joint_positions_export_reproduces_them_by_ik(bandai_clips, tmp_path):
    clip = load_motion(bandai_clips[WALK])
    save_npy(tmp_path / "walk_joints.npy", clip.joints.astype(np.float32))
    # The skeleton file has another actor's proportions: bone lengths come from the joints.
    write_json(tmp_path / "skeleton.json", load_motion(bandai_clips[OTHER_ACTOR]).skeleton.to_dict())
    out = tmp_path / "walk.bvh"
    assert cli.main(["export", str(tmp_path / "walk_joints.npy"), "-o", str(out)]) == 0
    theirs = bvhio_positions(out)
    assert np.linalg.norm(theirs - clip.joints, axis=-1).max() < 3e-3
    angles = np.arccos(np.clip(np.sum(bone_directions(theirs, clip.skeleton.parents)
                                      * bone_directions(clip.joints, clip.skeleton.parents), -1), -1, 1))
    assert np.degrees(angles).max() < 0.5


def test_ik_points_every_single_child_bone_exactly_even_with_noisy_joints(bandai_clips):
    clip = load_motion(bandai_clips[WAVE])
    noisy = clip.joints + np.random.default_rng(0).normal(0.0, 0.01, clip.joints.shape)
    fitted = forward_kinematics(fit_rotations(noisy, clip.skeleton))
    parents = clip.skeleton.parents
    only_children = [c for c, p in enumerate(parents) if p >= 0 and parents.count(p) == 1]
    cosine = np.sum(bone_directions(fitted, parents) * bone_directions(noisy, parents), -1)
    bone_of = {child: index for index, child in enumerate(c for c, p in enumerate(parents) if p >= 0)}
    assert np.degrees(np.arccos(np.clip(cosine[:, [bone_of[c] for c in only_children]], -1, 1))).max() < 1e-3
    # Noise of 1 cm per joint gives errors of that order, not more.
    assert np.linalg.norm(fitted - noisy, axis=-1).mean() < 0.03


def test_swing_turns_opposite_directions_too():
    source = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    target = np.array([[0.0, -3.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    rotations = swing(source, target)
    turned = np.einsum("tij,tj->ti", rotations, source)
    np.testing.assert_allclose(turned / np.linalg.norm(turned, axis=-1, keepdims=True),
                               target / np.linalg.norm(target, axis=-1, keepdims=True), atol=1e-9)
    np.testing.assert_allclose(rotations[2], np.eye(3), atol=1e-9)


def missing_bvh(folder):
    return folder / "missing.bvh"


def text_file(folder):
    (folder / "motion.txt").write_text("walk")
    return folder / "motion.txt"


def corrupt_bvh(folder):
    (folder / "corrupt.bvh").write_text("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 0\n  CHANNELS 6 Xposition\n")
    return folder / "corrupt.bvh"


def bandai_joints(folder):
    save_npy(folder / "joints.npy", np.zeros((5, 21, 3)))
    return folder / "joints.npy"


def wrong_feature_size(folder):
    save_npy(folder / "features.npy", np.zeros((5, 7)))
    return folder / "features.npy"


def wrong_joint_count(folder):
    save_npy(folder / "joints.npy", np.zeros((5, 4, 3)))
    return folder / "joints.npy"


def not_a_zip(folder):
    (folder / "clip.npz").write_bytes(b"not a zip")
    return folder / "clip.npz"


def bandai_like_skeleton() -> Skeleton:
    """The Bandai joint tree with made-up symmetric offsets (bones along +X, sides along +-Z)."""
    sides = joint_sides(BANDAI_JOINT_NAMES)
    offsets = np.array([[0.1, 0.0, 0.05 * side] for side in sides])
    return Skeleton.build(BANDAI_JOINT_NAMES, BANDAI_PARENTS, offsets)


WITH_SKELETON = ["--skeleton", "skeleton.json"]


@pytest.mark.parametrize(
    "make_input, extra, message",
    [
        (missing_bvh, [], "input not found"),
        (text_file, [], "unsupported input"),
        (corrupt_bvh, [], "corrupt.bvh"),
        (bandai_joints, [], "--skeleton"),
        (wrong_feature_size, WITH_SKELETON, "do not fit a 21-joint skeleton"),
        (wrong_joint_count, WITH_SKELETON, "joints must have shape (frames, 21, 3)"),
        (not_a_zip, WITH_SKELETON, "cannot read clip.npz"),
        (bandai_joints, ["--skeleton", "nope.json"], "skeleton file not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, make_input, extra, message):
    inputs = tmp_path / "runs" / "in"
    inputs.mkdir(parents=True)
    # Outside the input's folder and the one above, so it is used only when passed.
    write_json(tmp_path / "skel" / "skeleton.json", bandai_like_skeleton().to_dict())
    source = make_input(inputs)
    extra = [str(tmp_path / "skel" / arg) if arg.endswith(".json") else arg for arg in extra]
    for command, out in (("export", "out.bvh"), ("render", "out.mp4")):
        assert cli.main([command, str(source), "-o", str(tmp_path / out), *extra]) == 2
        error = capsys.readouterr().err
        assert error.startswith("saymotion: error: ") and error.count("\n") == 1
        assert message in error
        assert not (tmp_path / out).exists()


def test_export_refuses_a_non_bvh_output(bandai_clips, tmp_path, capsys):
    assert cli.main(["export", str(bandai_clips[WAVE]), "-o", str(tmp_path / "out.fbx")]) == 2
    assert ".bvh" in capsys.readouterr().err
