"""The one way audio enters saymotion: any user's file or array becomes 16 kHz mono float32, or is
rejected with a one-line `AudioError`.

soundfile (libsndfile) decodes WAV, FLAC, OGG and MP3; PyAV (FFmpeg libraries shipped in its wheel,
no system ffmpeg) decodes whatever else a phone or browser records (M4A/AAC, WebM/Opus, ...)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import soundfile
import soxr

from saymotion.errors import AudioError
from saymotion.fileio import atomic_path

SAMPLE_RATE = 16_000
DEFAULT_MAX_SECONDS = 30.0
# Peak below -60 dBFS: nothing a microphone picked up can be a spoken instruction.
SILENCE_PEAK = 10 ** (-60 / 20)

AudioSource = str | os.PathLike | bytes


def read_audio(source: AudioSource, *, max_seconds: float = DEFAULT_MAX_SECONDS) -> np.ndarray:
    """Decode a file (path or its bytes) into a 16 kHz mono float32 waveform."""
    name = _describe(source)
    if isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
        raise AudioError(f"{name}: no such file")
    if _byte_size(source) == 0:
        raise AudioError(f"{name}: the file is empty")
    samples, sample_rate = _decode(source, name, max_seconds)
    return prepare_waveform(samples, sample_rate, max_seconds=max_seconds, name=name)


def prepare_waveform(
    samples: np.ndarray, sample_rate: int, *, max_seconds: float = DEFAULT_MAX_SECONDS, name: str = "audio"
) -> np.ndarray:
    """Check a decoded (frames,) or (frames, channels) array and return it 16 kHz mono float32."""
    samples = np.asarray(samples)
    if samples.ndim not in (1, 2) or not np.issubdtype(samples.dtype, np.number):
        raise AudioError(
            f"{name}: expected a 1-D or (frames, channels) array of samples, got shape {samples.shape}"
        )
    if sample_rate <= 0:
        raise AudioError(f"{name}: invalid sample rate {sample_rate}")
    if samples.shape[0] == 0:
        raise AudioError(f"{name}: the audio is empty")
    seconds = samples.shape[0] / sample_rate
    if seconds > max_seconds:
        raise AudioError(f"{name}: {seconds:.1f} s of audio is longer than the {max_seconds:g} s limit")
    samples = _as_float(samples)
    if not np.isfinite(samples).all():
        raise AudioError(f"{name}: the audio contains NaN or infinite samples")
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    if np.abs(mono).max() < SILENCE_PEAK:
        raise AudioError(f"{name}: the audio is silent")
    return resample(mono, sample_rate)


def resample(waveform: np.ndarray, sample_rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    if sample_rate == target_rate:
        return np.ascontiguousarray(waveform, dtype=np.float32)
    return soxr.resample(waveform.astype(np.float32), sample_rate, target_rate, quality="HQ").astype(np.float32)


def write_audio(path: str | os.PathLike, waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write 16-bit audio (format from the suffix: .flac, .wav, ...) atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        soundfile.write(
            tmp, np.clip(waveform, -1.0, 1.0), sample_rate, subtype="PCM_16", format=path.suffix[1:].upper()
        )


def _describe(source: AudioSource) -> str:
    return "audio bytes" if isinstance(source, bytes) else str(source)


def _byte_size(source: AudioSource) -> int:
    return len(source) if isinstance(source, bytes) else Path(source).stat().st_size


def _decode(source: AudioSource, name: str, max_seconds: float) -> tuple[np.ndarray, int]:
    try:
        return _decode_soundfile(source, name, max_seconds)
    except soundfile.LibsndfileError:
        pass
    try:
        return _decode_av(source)
    except Exception as error:  # PyAV raises many FFmpeg error types; all mean "not decodable".
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise AudioError(f"{name}: not a readable audio file ({reason})") from None


def _decode_soundfile(source: AudioSource, name: str, max_seconds: float) -> tuple[np.ndarray, int]:
    handle = io.BytesIO(source) if isinstance(source, bytes) else source
    with soundfile.SoundFile(handle) as audio:
        # Refuse an hour-long file before decoding it.
        if audio.frames > max_seconds * audio.samplerate:
            seconds = audio.frames / audio.samplerate
            raise AudioError(f"{name}: {seconds:.1f} s of audio is longer than the {max_seconds:g} s limit")
        return audio.read(dtype="float32", always_2d=True), audio.samplerate


def _decode_av(source: AudioSource) -> tuple[np.ndarray, int]:
    import av

    handle = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    with av.open(handle) as container:
        if not container.streams.audio:
            raise ValueError("no audio stream")
        stream = container.streams.audio[0]
        channels = stream.codec_context.channels
        # Packed float32 keeps the channel layout, so mixing to mono stays here, not in FFmpeg.
        converter = av.AudioResampler(format="flt", layout=stream.layout, rate=stream.rate)
        chunks = [
            converted.to_ndarray().reshape(-1, channels)
            for frame in container.decode(stream)
            for converted in converter.resample(frame)
        ]
        chunks += [flushed.to_ndarray().reshape(-1, channels) for flushed in converter.resample(None)]
        if not chunks:
            return np.zeros((0, channels), np.float32), stream.rate
        return np.concatenate(chunks), stream.rate


def _as_float(samples: np.ndarray) -> np.ndarray:
    """Integer PCM to [-1, 1) floats; floats unchanged."""
    if np.issubdtype(samples.dtype, np.integer):
        return samples.astype(np.float32) / float(np.iinfo(samples.dtype).max + 1)
    return samples.astype(np.float32, copy=False)
