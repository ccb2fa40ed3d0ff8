"""Skeleton videos: frame counts, GIFs, captions, framing, side colours and one-line errors."""

from __future__ import annotations

import imageio
import numpy as np
import pytest
from PIL import Image

from saymotion import cli, render
from saymotion.bvh import read_bvh, resample
from saymotion.errors import SaymotionError
from saymotion.fileio import save_npy, write_json
from saymotion.motion_io import load_motion
from saymotion.render import SkeletonRenderer, clip_to_near_plane, joint_sides, render_motion

# A five-joint stick figure: pelvis, head, left foot, right foot, left hand.
PARENTS = [-1, 0, 0, 0, 1]
NAMES = ["Hips", "Head", "Foot_L", "Foot_R", "Hand_L"]
REST = np.array([[0.0, 0.9, 0.0], [0.0, 1.6, 0.0], [0.15, 0.05, 0.0], [-0.15, 0.05, 0.0], [0.3, 1.3, 0.1]])


def stick_figure(frames: int, speed: float) -> np.ndarray:
    """The figure walking along +Z at `speed` m/s, sampled at 20 fps, feet swinging."""
    t = np.arange(frames) / 20.0
    joints = np.repeat(REST[None], frames, axis=0)
    joints[:, :, 2] += speed * t[:, None]
    joints[:, 2, 2] += 0.2 * np.sin(2 * np.pi * t)
    joints[:, 3, 2] -= 0.2 * np.sin(2 * np.pi * t)
    return joints


def count_mp4_frames(path) -> int:
    with imageio.get_reader(path) as reader:
        return reader.count_frames()


def test_mp4_has_one_frame_per_motion_frame(tmp_path):
    out = render_motion(stick_figure(13, 1.0), PARENTS, tmp_path / "walk.mp4", size=64, joint_names=NAMES)
    assert count_mp4_frames(out) == 13
    with imageio.get_reader(out) as reader:
        meta = reader.get_meta_data()
    assert meta["fps"] == 20 and meta["size"] == (64, 64)
    assert not list(tmp_path.glob(".*.tmp")), "temporary file left behind"


def test_gif_is_written_and_readable(tmp_path):
    out = render_motion(stick_figure(7, 1.0), PARENTS, tmp_path / "walk.gif", fps=10, size=64, caption="go")
    with Image.open(out) as gif:
        assert gif.n_frames == 7 and gif.size == (64, 64)
        assert gif.info["duration"] == 100 and gif.info["loop"] == 0
        gif.seek(gif.n_frames - 1)
        last = np.asarray(gif.convert("RGB")).reshape(-1, 3).astype(int)
    # The trail first appears after frame 0, yet keeps its colour in the shared palette.
    assert (np.abs(last - render.TRAIL).max(axis=1) < 12).sum() > 5


def test_caption_is_drawn_in_a_band_above_the_figure():
    joints = stick_figure(3, 0.0)
    plain = np.asarray(SkeletonRenderer(joints, PARENTS, size=128).frame(1))
    captioned_renderer = SkeletonRenderer(joints, PARENTS, size=128, caption="a person waves")
    captioned = np.asarray(captioned_renderer.frame(1))
    band = captioned_renderer.caption.height
    assert 8 < band < 40
    assert np.abs(captioned[:band].astype(int) - plain[:band]).sum() > 0
    band_pixels = captioned[:band].reshape(-1, 3)
    assert (band_pixels == render.CAPTION_BAND).all(axis=1).mean() > 0.5
    assert (band_pixels.min(axis=1) > 180).sum() > 10, "no light text pixels on the dark band"


def test_long_caption_is_wrapped_to_two_lines():
    one_line = render.caption_strip("wave", 128)
    long = render.caption_strip("a person walks forward slowly and then waves with both hands " * 3, 128)
    assert long.width == 128
    assert long.height > one_line.height * 1.5
    assert long.height < one_line.height * 2.5


@pytest.mark.parametrize("speed, expect_fixed", [(0.0, True), (1.5, False)])
def test_camera_keeps_every_joint_in_view(speed, expect_fixed):
    joints = stick_figure(160, speed)  # 8 s: in place, or a 12 m walk the camera has to follow
    renderer = SkeletonRenderer(joints, PARENTS, size=200, caption="x")
    assert renderer.camera.follows != expect_fixed
    for frame in range(0, len(joints), 7):
        pixels, depth = renderer.camera.project(joints[frame], frame)
        assert (depth > 0.5).all()
        assert (pixels >= 0).all() and (pixels[:, 0] < 200).all()
        assert (pixels[:, 1] >= renderer.caption.height).all() and (pixels[:, 1] < 200).all()


def test_sides_are_drawn_in_their_colours():
    image = np.asarray(SkeletonRenderer(stick_figure(2, 0.0), PARENTS, size=256, joint_names=NAMES).frame(0))
    colours = image.reshape(-1, 3)
    for side in (render.LEFT, render.RIGHT):
        assert (colours == render.BONE_COLOURS[side]).all(axis=1).sum() > 20


def test_joint_sides_from_common_naming_schemes():
    names = ["Hips", "Hand_L", "Hand_R", "LeftFoot", "RightFoot", "l_hip", "r.hip", "Spine", "Neck"]
    expected = [0, 1, -1, 1, -1, 1, -1, 0, 0]
    assert joint_sides(names).tolist() == expected


def test_segments_crossing_the_near_plane_are_cut_there():
    segments = np.array([[[0.0, 0.0, -1.0], [0.0, 0.0, 1.0]], [[1.0, 0.0, -2.0], [1.0, 0.0, -1.0]]])
    clipped = clip_to_near_plane(segments)
    assert clipped.shape == (1, 2, 3)
    assert clipped[0, 0, 2] == pytest.approx(render.NEAR_PLANE)
    assert clipped[0, 1, 2] == 1.0


def test_segments_are_cut_to_the_image():
    segments = np.array(
        [
            [10.0, 10.0, 20.0, 20.0],  # inside: unchanged
            [-100.0, 50.0, 200.0, 50.0],  # crosses both sides
            [-5.0, -5.0, -1.0, 300.0],  # left of the image: dropped
            [50.0, -1e9, 50.0, 1e9],  # a near-plane blow-up
        ]
    )
    clipped = render.clip_to_viewport(segments, 100)
    np.testing.assert_allclose(clipped, [[10, 10, 20, 20], [0, 50, 99, 50], [50, 0, 50, 99]], atol=1e-6)


@pytest.mark.parametrize(
    "joints, parents, kwargs, message",
    [
        (np.zeros((4, 5)), PARENTS, {}, "shape"),
        (stick_figure(4, 0.0), [-1, 0, 0], {}, "parents"),
        (stick_figure(4, 0.0), [-1, 0, 0, 3, 9], {}, "indices"),
        (stick_figure(4, 0.0) * np.nan, PARENTS, {}, "NaN"),
        (stick_figure(4, 0.0), PARENTS, {"size": 65}, "even"),
        (stick_figure(4, 0.0), PARENTS, {"fps": 0}, "fps"),
    ],
)
def test_bad_input_raises_one_clear_error(tmp_path, joints, parents, kwargs, message):
    with pytest.raises(SaymotionError, match=message):
        render_motion(joints, parents, tmp_path / "x.mp4", **kwargs)


def test_unknown_video_suffix_is_refused(tmp_path):
    with pytest.raises(SaymotionError, match=r"\.mp4 or \.gif"):
        render_motion(stick_figure(2, 0.0), PARENTS, tmp_path / "x.avi")
    assert not (tmp_path / "x.avi").exists()


WAVE = "dataset-2_wave-left-hand_elderly_001"


def test_bvh_renders_one_video_frame_per_frame_at_20_fps(bandai_clips, tmp_path, capsys):
    out = tmp_path / "wave.mp4"
    assert cli.main(["render", str(bandai_clips[WAVE]), "-o", str(out), "--size", "64", "--caption", "wave"]) == 0
    expected = resample(read_bvh(bandai_clips[WAVE]), 20).num_frames
    assert expected == 155  # 232 frames at 30 fps
    assert count_mp4_frames(out) == expected
    assert f"{expected} frames" in capsys.readouterr().out


def test_real_clip_is_upright_and_facing_the_camera(bandai_clips):
    clip = load_motion(bandai_clips[WAVE])
    names = clip.skeleton.joint_names
    renderer = SkeletonRenderer(clip.joints, clip.skeleton.parents, size=128, joint_names=names)
    pixels, _ = renderer.camera.project(clip.joints[0], 0)
    head, left_foot, right_foot = (names.index(n) for n in ("Head", "Foot_L", "Foot_R"))
    assert pixels[head, 1] < pixels[[left_foot, right_foot], 1].min() - 40
    # Canonical facing is +Z, towards the camera: the figure's left appears on the image's right.
    assert pixels[names.index("Hand_L"), 0] > pixels[names.index("Hand_R"), 0]


def test_joints_npy_renders_with_the_skeleton_beside_it(bandai_clips, tmp_path):
    clip = load_motion(bandai_clips[WAVE])
    save_npy(tmp_path / "joints.npy", clip.joints[:12].astype(np.float32))
    write_json(tmp_path / "skeleton.json", clip.skeleton.to_dict())
    out = tmp_path / "wave.gif"
    assert cli.main(["render", str(tmp_path / "joints.npy"), "-o", str(out), "--size", "64", "--fps", "10"]) == 0
    with Image.open(out) as gif:
        # 12 frames at 20 fps span 0.55 s: 6 frames at 10 fps.
        assert gif.n_frames == 6 and gif.info["duration"] == 100
