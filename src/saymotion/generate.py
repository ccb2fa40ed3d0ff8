"""Generation: condition (speech features and/or text) -> length -> base codes -> all codes ->
features -> joints.

    generator = MotionGenerator.load(model_dir)
    motion = generator.generate(audio_features=feats, text="like an exhausted old man", seed=0)
    motion.joints[0]  # (T, J, 3) metres at motion.fps

`audio_features` are the frames of the speech encoder the model was trained on
(`generator.encode_speech(waveform_16k)` computes them); text is embedded here with the frozen
MiniLM encoder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from saymotion.checkpoint import KINDS, Checkpoint, check_same_tokenizer, exported_file, load_checkpoint, run_file
from saymotion.config import AUDIO, TEXT, ExperimentConfig, SampleConfig, downsampling_factor, max_tokens
from saymotion.errors import CheckpointError, SaymotionError
from saymotion.models.conditioning import ConditionBatch
from saymotion.models.minilm import SentenceEncoder
from saymotion.representation import features_to_joints
from saymotion.skeleton import TARGET_FPS, Skeleton


@dataclass
class GeneratedMotion:
    features: list[np.ndarray]  # per sample (T_i, D), de-normalised
    joints: list[np.ndarray]  # per sample (T_i, J, 3), metres
    skeleton: Skeleton
    fps: float = TARGET_FPS
    token_counts: list[int] = field(default_factory=list)


def model_files(model_dir: Path) -> dict[str, Path]:
    """The checkpoint of each kind in an exported model folder (<kind>.pt) or a run folder (<kind>/model.pt)."""
    exported = {kind: exported_file(model_dir, kind) for kind in KINDS}
    if all(path.is_file() for path in exported.values()):
        return exported
    run = {kind: run_file(model_dir, kind) for kind in KINDS}
    if all(path.is_file() for path in run.values()):
        return run
    missing = [str(path) for path in exported.values() if not path.is_file()]
    raise CheckpointError(f"{model_dir} is not a saymotion model folder (missing {missing[0]})")


class MotionGenerator:
    def __init__(self, checkpoints: dict[str, Checkpoint], device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.checkpoints = checkpoints
        check_same_tokenizer(checkpoints)
        for checkpoint in checkpoints.values():
            checkpoint.model.to(self.device).eval()
        self._text_encoder: SentenceEncoder | None = None

    @classmethod
    def load(cls, model_dir: str | os.PathLike, device: str | torch.device = "cpu") -> "MotionGenerator":
        files = model_files(Path(model_dir))
        return cls({kind: load_checkpoint(path, kind, device) for kind, path in files.items()}, device)

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

    @torch.inference_mode()
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
        sample = sample or self.config.sample
        cond = self._condition(audio_features, text, num_samples).to(self.device)
        generator = torch.Generator(self.device).manual_seed(seed)
        lengths = self._token_counts(cond, seconds, num_samples, generator)
        base = self.checkpoints["generator"].model.generate(
            lengths, cond, iterations=sample.iterations, temperature=sample.temperature, top_k=sample.top_k,
            audio_scale=sample.guidance_audio, text_scale=sample.guidance_text, generator=generator,
        )
        codes = self.checkpoints["residual"].model.generate(
            base, lengths, cond, temperature=sample.residual_temperature, top_k=sample.top_k,
            scale=sample.guidance_residual, generator=generator,
        )
        return self._decode(codes, lengths)

    def _condition(self, audio: np.ndarray | None, text: str | None, count: int) -> ConditionBatch:
        if audio is None and not text:
            raise SaymotionError("give a spoken instruction, a text, or both")
        if count < 1:
            raise SaymotionError("the number of samples must be at least 1")
        audio_dim = self.checkpoints["generator"].dims.audio_dim
        if audio is not None:
            if AUDIO not in self.modalities:
                raise SaymotionError("this model was trained on text only; it cannot take a spoken instruction")
            if audio.ndim != 2 or audio.shape[1] != audio_dim or len(audio) == 0:
                raise SaymotionError(f"speech features must be (frames, {audio_dim}) from {self.speech_encoder}, got {audio.shape}")
            audio = np.asarray(audio[: self.config.data.max_audio_frames], np.float32)
        embedding = None
        if text:
            if TEXT not in self.modalities:
                raise SaymotionError("this model was trained on speech only; it cannot take a text")
            embedding = self.embed_text(text)
        return ConditionBatch.from_arrays([audio] * count, [embedding] * count, audio_dim)

    def _token_counts(self, cond: ConditionBatch, seconds: float | None, count: int, generator: torch.Generator) -> torch.Tensor:
        factor, limit = downsampling_factor(self.config), max_tokens(self.config)
        if seconds is None:
            return self.checkpoints["length"].model.predict(cond, generator)
        tokens = round(seconds * TARGET_FPS / factor)
        if not 1 <= tokens <= limit:
            raise SaymotionError(f"--seconds must be between {factor / TARGET_FPS:g} and {self.max_seconds:g}, got {seconds:g}")
        return torch.full((count,), tokens, device=self.device)

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

