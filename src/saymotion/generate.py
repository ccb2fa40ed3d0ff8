"""Generation: condition (speech features and/or text) -> length -> base codes -> all codes ->
features -> joints.

    generator = MotionGenerator.load(model_dir)
    motion = generator.generate(audio_features=feats, text="like an exhausted old man", seed=0)
    motion.joints[0]  # (T, J, 3) metres at motion.fps

`audio_features` are the frames of the speech encoder the model was trained on
(`generator.encode_speech(waveform_16k)` computes them); text is embedded here with the frozen
MiniLM encoder. `generator.generate_steps([(feats_1, None), (feats_2, None)])` makes one continuous
motion of several instructions in order (saymotion.multistep).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from saymotion.checkpoint import Checkpoint, check_same_tokenizer, load_checkpoint, model_files
from saymotion.config import AUDIO, STAGES, TEXT, ExperimentConfig, SampleConfig, downsampling_factor, max_tokens
from saymotion.errors import CheckpointError, SaymotionError
from saymotion.known_meanings import MEANINGS_FILE, KnownMeanings, load_known_meanings
from saymotion.models.conditioning import ConditionBatch
from saymotion.models.minilm import SentenceEncoder
from saymotion.multistep import StitchedCodes, masked_sampling, residual_sampling, step_seconds, stitch_steps
from saymotion.representation import features_to_joints
from saymotion.skeleton import TARGET_FPS, Skeleton
from saymotion.speech.encoders import WhisperEncoder


@dataclass
class GeneratedMotion:
    features: list[np.ndarray]  # per sample (T_i, D), de-normalised
    joints: list[np.ndarray]  # per sample (T_i, J, 3), metres
    skeleton: Skeleton
    fps: float = TARGET_FPS
    token_counts: list[int] = field(default_factory=list)


@dataclass
class GeneratedSteps:
    motion: GeneratedMotion  # one sample: the whole continuous motion
    codes: StitchedCodes
    frame_ranges: list[tuple[int, int]]  # [start, end) frames of each step


class MotionGenerator:
    def __init__(self, checkpoints: dict[str, Checkpoint], device: str | torch.device = "cpu",
                 known_meanings: KnownMeanings | None = None):
        self.device = torch.device(device)
        self.checkpoints = checkpoints
        self.known_meanings = known_meanings
        check_same_tokenizer(checkpoints)
        for checkpoint in checkpoints.values():
            checkpoint.model.to(self.device).eval()
        if known_meanings is not None:
            for checkpoint in checkpoints.values():  # the tokenizer has no condition
                condition = getattr(checkpoint.model, "condition", None)
                if condition is not None and condition.meaning is not None:
                    condition.know_meanings(known_meanings.embeddings)
        self._text_encoder: SentenceEncoder | None = None

    @classmethod
    def load(cls, model_dir: str | os.PathLike, device: str | torch.device = "cpu") -> "MotionGenerator":
        files = model_files(Path(model_dir))
        return cls({kind: load_checkpoint(path, kind, device) for kind, path in files.items()}, device,
                   load_known_meanings(model_dir))

    @property
    def config(self) -> ExperimentConfig:
        return self.checkpoints["generator"].config

    @property
    def modalities(self) -> list[str]:
        return list(self.config.condition.modalities)

    @property
    def speech_encoder(self) -> str:
        """The speech-encoder features the model was trained on."""
        return self.config.data.speech_encoder

    @property
    def max_audio_seconds(self) -> float:
        """The longest instruction the condition takes (data.max_audio_frames of Whisper's 50 Hz frames)."""
        return self.config.data.max_audio_frames / WhisperEncoder.frame_rate

    @property
    def max_seconds(self) -> float:
        return self.config.data.max_frames / TARGET_FPS

    def encode_speech(self, audio_16k: np.ndarray) -> np.ndarray:
        """Speech features (frames, dim) of a 16 kHz mono waveform, from the encoder the model was trained on."""
        from saymotion.speech.encoders import frame_features, load_encoder

        return frame_features(load_encoder(self.speech_encoder), audio_16k)

    def embed_text(self, text: str) -> np.ndarray:
        if self._text_encoder is None:
            self._text_encoder = SentenceEncoder(str(self.device))
        return self._text_encoder.encode([text])[0]

    def generate(
        self,
        *,
        audio_features: np.ndarray | None = None,
        text: str | None = None,
        seconds: float | None = None,
        num_samples: int = 1,
        seed: int = 0,
        sample: SampleConfig | None = None,
    ) -> GeneratedMotion:
        """`num_samples` motions for one instruction; `sample` overrides the model's sampling settings
        (guidance scales, iterations, temperature, top-k)."""
        if num_samples < 1:
            raise SaymotionError("the number of samples must be at least 1")
        lengths = None if seconds is None else [seconds] * num_samples
        return self.generate_rows([(audio_features, text)] * num_samples, seconds=lengths, seed=seed, sample=sample)

    @torch.inference_mode()
    def generate_rows(
        self,
        rows: Sequence[tuple[np.ndarray | None, str | None]],
        *,
        seconds: Sequence[float] | None = None,
        seed: int = 0,
        sample: SampleConfig | None = None,
        unconditional: bool = False,
    ) -> GeneratedMotion:
        """One motion per (speech features, text) row, all sampled as one batch (evaluation runs
        hundreds of instructions); `seconds` gives each row's length (default: predicted). With
        `unconditional`, a row with neither is sampled from the model's unconditional branch."""
        if not rows:
            raise SaymotionError("give at least one instruction")
        if seconds is not None and len(seconds) != len(rows):
            raise SaymotionError(f"got {len(seconds)} lengths for {len(rows)} instructions")
        sample = sample or self.config.sample
        cond = self.condition_rows(rows, unconditional, sample).to(self.device)
        generator = torch.Generator(self.device).manual_seed(seed)
        lengths = self._token_counts(cond, seconds, sample, generator)
        base = self.checkpoints["generator"].model.generate(lengths, cond, **masked_sampling(sample), generator=generator)
        codes = self.checkpoints["residual"].model.generate(
            base, lengths, cond, **residual_sampling(sample), generator=generator
        )
        return self._decode(codes, lengths)

    @torch.inference_mode()
    def generate_steps(
        self,
        steps: Sequence[tuple[np.ndarray | None, str | None]],
        *,
        seconds: float | Sequence[float] | None = None,
        seed: int = 0,
        sample: SampleConfig | None = None,
    ) -> GeneratedSteps:
        """One continuous motion for several instructions in order, each (speech features, text) with
        either part None; `seconds` is one length for every step or one per step (default: predicted).
        The seams are inpainted in code space (saymotion.multistep)."""
        if not steps:
            raise SaymotionError("give at least one instruction")
        sample = sample or self.config.sample
        lengths = step_seconds(seconds, len(steps))
        cond = self.condition_rows(steps, sample=sample).to(self.device)
        generator = torch.Generator(self.device).manual_seed(seed)
        counts = self._token_counts(cond, lengths, sample, generator)
        stitched = stitch_steps(self.checkpoints["generator"].model, self.checkpoints["residual"].model, cond, counts,
                                sample, max_tokens(self.config), generator)
        factor = downsampling_factor(self.config)
        frames = [(start * factor, end * factor) for start, end in stitched.token_ranges()]
        return GeneratedSteps(self.decode_sequence(stitched.codes), stitched, frames)

    def decode_sequence(self, codes: torch.Tensor) -> GeneratedMotion:
        """The motion of one code sequence (N, Q) of any length."""
        return self._decode(codes[None], torch.tensor([len(codes)]))

    def condition_rows(self, rows: Sequence[tuple[np.ndarray | None, str | None]], unconditional: bool = False,
                       sample: SampleConfig | None = None) -> ConditionBatch:
        """A batch with one (speech features, text) condition per row; each distinct text is embedded
        once; heard meanings drawn towards the known ones by `sample` (default: the model's)."""
        if not unconditional and any(audio is None and not text for audio, text in rows):
            raise SaymotionError("give a spoken instruction, a text, or both")
        texts = {text for _, text in rows if text}
        if texts and TEXT not in self.modalities:
            raise SaymotionError("this model was trained on speech only; it cannot take a text")
        embeddings = {text: self.embed_text(text) for text in texts}
        audio = [None if features is None else self._checked_speech(features) for features, _ in rows]
        audio_dim = self.checkpoints["generator"].dims.audio_dim
        cond = ConditionBatch.from_arrays(audio, [embeddings.get(text) for _, text in rows], audio_dim)
        snap = (sample or self.config.sample).meaning_snap
        if snap == 0 or not bool(cond.use_audio.any()):
            return cond
        if self.known_meanings is None:
            raise SaymotionError(f"sample.meaning_snap = {snap:g} needs the model's known meanings ({MEANINGS_FILE}, "
                                 "written by `saymotion train meanings`)")
        return replace(cond, meaning_snap=torch.full((len(rows),), float(snap)))

    def _checked_speech(self, audio: np.ndarray) -> np.ndarray:
        audio_dim = self.checkpoints["generator"].dims.audio_dim
        if AUDIO not in self.modalities:
            raise SaymotionError("this model was trained on text only; it cannot take a spoken instruction")
        if audio.ndim != 2 or audio.shape[1] != audio_dim or len(audio) == 0:
            raise SaymotionError(f"speech features must be (frames, {audio_dim}) from {self.speech_encoder}, got {audio.shape}")
        return np.asarray(audio[: self.config.data.max_audio_frames], np.float32)

    def _token_counts(self, cond: ConditionBatch, seconds: Sequence[float] | None, sample: SampleConfig,
                      generator: torch.Generator) -> torch.Tensor:
        """Each row's length in tokens: the given seconds, or drawn from the length predictor's guess."""
        if seconds is None:
            return self.checkpoints["length"].model.predict(cond, generator, sample.length_temperature)
        return torch.tensor([self._tokens_for_seconds(value) for value in seconds], device=self.device)

    def _tokens_for_seconds(self, seconds: float) -> int:
        factor, limit = downsampling_factor(self.config), max_tokens(self.config)
        tokens = round(seconds * TARGET_FPS / factor)
        if not 1 <= tokens <= limit:
            raise SaymotionError(f"--seconds must be between {factor / TARGET_FPS:g} and {self.max_seconds:g}, got {seconds:g}")
        return tokens

    def _decode(self, codes: torch.Tensor, lengths: torch.Tensor) -> GeneratedMotion:
        tokenizer = self.checkpoints["tokenizer"]
        features, joints = [], []
        # One sample at a time: the convolutional decoder would otherwise see the padding.
        for row, length in enumerate(lengths.tolist()):
            decoded = tokenizer.model.decode(codes[row : row + 1, :length])[0].float().cpu().numpy()
            motion = tokenizer.denormalise(decoded).astype(np.float32)
            features.append(motion)
            joints.append(features_to_joints(motion, tokenizer.skeleton).astype(np.float32))
        return GeneratedMotion(features, joints, tokenizer.skeleton, token_counts=lengths.tolist())

