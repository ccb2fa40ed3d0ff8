"""The Python API: a spoken and/or written instruction in, motions out.

    from saymotion import Pipeline
    pipeline = Pipeline.load()                      # the shipped model, offline
    motion = pipeline.generate(audio="say.wav", text="like a tired old man", seed=0)[0]
    motion.joints                                   # (frames, joints, 3) metres at motion.fps
    motion.save_bvh("wave.bvh"); motion.save_mp4("wave.mp4"); motion.save_pose2d("wave_pose.json")
    steps = pipeline.generate_steps(audio="three_steps.wav")   # several instructions, one motion
    steps.steps[1].start_frame                      # where the second instruction begins
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from saymotion import settings
from saymotion.audio import SAMPLE_RATE, AudioSource, prepare_waveform, read_audio
from saymotion.config import check_sampling
from saymotion.errors import SaymotionError
from saymotion.skeleton import Skeleton

if TYPE_CHECKING:  # multistep loads torch; the API stays light until a model is used
    from saymotion.multistep import Instruction, Step

AudioInput = AudioSource | np.ndarray | tuple[np.ndarray, int]


@dataclass
class Motion:
    """One generated motion on the model's skeleton."""

    joints: np.ndarray  # (frames, joints, 3), metres, +Y up, starting at the origin facing +Z
    features: np.ndarray  # (frames, D) de-normalised motion features (exact joint rotations)
    skeleton: Skeleton
    fps: float
    caption: str | None = None

    @property
    def seconds(self) -> float:
        return len(self.joints) / self.fps

    def save_npy(self, path: str | os.PathLike) -> Path:
        """Joint positions (frames x joints x 3, metres) as .npy."""
        from saymotion.fileio import save_npy

        save_npy(path, self.joints.astype(np.float32))
        return Path(path)

    def save_bvh(self, path: str | os.PathLike) -> Path:
        """A BVH (centimetres, Y up) with the generated joint rotations, for Blender."""
        from saymotion.bvh import write_bvh
        from saymotion.representation import features_to_motion

        write_bvh(path, features_to_motion(self.features, self.skeleton, self.fps))
        return Path(path)

    def save_mp4(self, path: str | os.PathLike, size: int = 480) -> Path:
        """A preview video (MP4, or GIF by suffix) of the skeleton."""
        from saymotion.render import render_motion

        return render_motion(self.joints, self.skeleton.parents, path, fps=self.fps, caption=self.caption,
                             size=size, joint_names=self.skeleton.joint_names)

    def save_pose2d(self, path: str | os.PathLike, layout: str = "body25", video: str | os.PathLike | None = None,
                    width: int = 512, height: int = 768) -> Path:
        """OpenPose keypoints (BODY_25 or COCO-18) through a front camera as one JSON file, and
        optionally the pose-skeleton video on black that pose-guided video generators take."""
        from PIL import Image

        from saymotion.pose2d import LAYOUTS, Camera, draw_pose_frames, project_openpose, save_openpose_json
        from saymotion.render import write_video

        if layout not in LAYOUTS:
            raise SaymotionError(f"unknown 2D pose layout {layout!r}; choose from {', '.join(sorted(LAYOUTS))}")
        camera = Camera.framing(self.joints, width, height)
        keypoints = project_openpose(self.joints, self.skeleton.joint_names, camera, layout)
        save_openpose_json(path, keypoints, camera, layout, self.fps)
        if video is not None:
            frames = (Image.fromarray(frame) for frame in draw_pose_frames(keypoints, layout, camera))
            write_video(frames, video, self.fps)
        return Path(path)


@dataclass
class MultiStepMotion(Motion):
    """One continuous motion made of several instructions; `steps` gives each one's frames and source."""

    steps: list[Step] = field(default_factory=list)

    def segments(self) -> dict:
        """Each step's frame range and source span (what `saymotion generate --steps` writes to segments.json)."""
        return {"fps": self.fps, "frames": len(self.joints), "segments": [step.to_dict(self.fps) for step in self.steps]}


class Pipeline:
    """A loaded model: speech encoder, text encoder and the four trained parts."""

    def __init__(self, generator):
        self.generator = generator

    @classmethod
    def load(cls, model_dir: str | os.PathLike | None = None, device: str = "cpu") -> "Pipeline":
        """The model in `model_dir` (an exported model or a training run); default: the shipped model."""
        from saymotion.generate import MotionGenerator

        return cls(MotionGenerator.load(model_dir or settings.default_model_dir(), device))

    @property
    def max_audio_seconds(self) -> float:
        return self.generator.max_audio_seconds

    def speech_features(self, audio: AudioInput, sample_rate: int | None = None) -> np.ndarray:
        """Encoder features of an instruction given as a file path, file bytes, or samples with their rate."""
        return self.generator.encode_speech(self.waveform(audio, sample_rate))

    def waveform(self, audio: AudioInput, sample_rate: int | None = None, max_seconds: float | None = None) -> np.ndarray:
        """16 kHz mono float32 samples of any supported input, with the one-line audio errors; at most
        `max_seconds` long (default: the longest single instruction the model takes)."""
        limit = self.max_audio_seconds if max_seconds is None else max_seconds
        if isinstance(audio, tuple):
            audio, sample_rate = audio
        if isinstance(audio, np.ndarray):
            if sample_rate is None:
                raise SaymotionError("give the sample rate of an audio array: generate(audio=(samples, rate))")
            return prepare_waveform(audio, sample_rate, max_seconds=limit)
        return read_audio(audio, max_seconds=limit)

    def generate(
        self,
        audio: AudioInput | None = None,
        text: str | None = None,
        *,
        sample_rate: int | None = None,
        seconds: float | None = None,
        seed: int = 0,
        num_samples: int = 1,
        guidance_audio: float | None = None,
        guidance_text: float | None = None,
    ) -> list[Motion]:
        """`num_samples` motions for one instruction: audio says what to do, text how (either alone works)."""
        features = None if audio is None else self.speech_features(audio, sample_rate)
        sample = self.sample_settings(guidance_audio, guidance_text)
        result = self.generator.generate(audio_features=features, text=text, seconds=seconds,
                                         num_samples=num_samples, seed=seed, sample=sample)
        return [
            Motion(joints, features, result.skeleton, result.fps, caption=text)
            for joints, features in zip(result.joints, result.features)
        ]

    def generate_steps(
        self,
        audio: AudioInput | None = None,
        text: str | None = None,
        *,
        sample_rate: int | None = None,
        seconds: float | Sequence[float] | None = None,
        seed: int = 0,
        min_pause: float | None = None,
        guidance_audio: float | None = None,
        guidance_text: float | None = None,
    ) -> MultiStepMotion:
        """One continuous motion for several instructions in order: a recording split at its pauses
        (at least `min_pause` seconds, default 0.4) with `text` as the "how" of every step, or a text
        split into its sentences. `seconds`: one length for every step or one per step (default:
        predicted). The seams are inpainted in token space (see saymotion.multistep)."""
        instructions, conditions = self.split_steps(audio, text, sample_rate, min_pause)
        result = self.generator.generate_steps(conditions, seconds=seconds, seed=seed,
                                               sample=self.sample_settings(guidance_audio, guidance_text))
        steps = [instruction.step(start, end) for (start, end), instruction in zip(result.frame_ranges, instructions)]
        motion = result.motion
        return MultiStepMotion(motion.joints[0], motion.features[0], motion.skeleton, motion.fps, caption=text, steps=steps)

    def split_steps(self, audio: AudioInput | None, text: str | None, sample_rate: int | None = None,
                    min_pause: float | None = None) -> tuple[list[Instruction], list[tuple[np.ndarray | None, str | None]]]:
        """The instructions of a multi-step recording or text, and the condition (speech features of
        its own stretch of audio, text) of each."""
        from saymotion.multistep import DEFAULT_MIN_PAUSE_S, MAX_RECORDING_S, split_instructions

        limit = max(MAX_RECORDING_S, self.max_audio_seconds)
        waveform = None if audio is None else self.waveform(audio, sample_rate, limit)
        pause = DEFAULT_MIN_PAUSE_S if min_pause is None else min_pause
        instructions = split_instructions(waveform, text, pause, max_step_s=self.max_audio_seconds)
        # Each stretch is encoded alone, as every training utterance was.
        speech = [None if step.audio is None else self.generator.encode_speech(step.audio.slice(waveform, SAMPLE_RATE))
                  for step in instructions]
        return instructions, [(features, step.text) for features, step in zip(speech, instructions)]

    def sample_settings(self, guidance_audio: float | None, guidance_text: float | None):
        sample = self.generator.config.sample
        changes = {name: value for name, value in (("guidance_audio", guidance_audio), ("guidance_text", guidance_text))
                   if value is not None}
        sample = dataclasses.replace(sample, **changes)
        check_sampling(sample)
        return sample
