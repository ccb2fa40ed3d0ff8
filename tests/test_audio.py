"""The one audio reader: every common format in, 16 kHz mono float32 out, bad input rejected with a
one-line AudioError."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from saymotion.audio import SAMPLE_RATE, prepare_waveform, read_audio, write_audio
from saymotion.errors import AudioError


def tone(seconds: float, rate: int, frequency: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def dominant_frequency(waveform: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(waveform))
    return float(np.fft.rfftfreq(len(waveform), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize(
    ("suffix", "subtype"),
    [(".wav", "PCM_16"), (".flac", "PCM_24"), (".ogg", "VORBIS"), (".mp3", "MPEG_LAYER_III")],
)
def test_reads_common_formats_as_16k_mono(tmp_path, suffix, subtype):
    path = tmp_path / f"tone{suffix}"
    soundfile.write(path, tone(1.5, 44_100, channels=2), 44_100, subtype=subtype)
    waveform = read_audio(path)
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    # MP3 encoders add up to a few frames of padding.
    assert abs(len(waveform) - 1.5 * SAMPLE_RATE) < 0.06 * SAMPLE_RATE
    assert dominant_frequency(waveform, SAMPLE_RATE) == pytest.approx(440, abs=2)
    assert 0.4 < np.abs(waveform).max() < 0.6


def test_reads_formats_only_ffmpeg_knows(tmp_path):
    """AAC in M4A (what phones record) goes through PyAV's bundled FFmpeg."""
    import av

    path = tmp_path / "voice.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=48_000, layout="mono")
        frame = av.AudioFrame.from_ndarray(tone(1.0, 48_000)[None, :], format="flt", layout="mono")
        frame.sample_rate = 48_000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    waveform = read_audio(path)
    assert abs(len(waveform) - SAMPLE_RATE) < 0.1 * SAMPLE_RATE
    assert dominant_frequency(waveform, SAMPLE_RATE) == pytest.approx(440, abs=2)


def test_reads_bytes_and_mixes_channels_to_mono():
    left_only = np.stack([tone(1.0, 16_000), np.zeros(16_000, np.float32)], axis=1)
    buffer = io.BytesIO()
    soundfile.write(buffer, left_only, 16_000, format="WAV", subtype="FLOAT")
    waveform = read_audio(buffer.getvalue())
    np.testing.assert_allclose(waveform, left_only[:, 0] / 2, atol=1e-6)


def test_integer_arrays_are_scaled():
    pcm = (tone(0.5, 8_000) * 32768).astype(np.int16)
    waveform = prepare_waveform(pcm, 8_000)
    assert len(waveform) == 8_000
    assert np.abs(waveform).max() == pytest.approx(0.5, abs=0.02)


def test_write_audio_round_trips(tmp_path):
    path = tmp_path / "out.flac"
    write_audio(path, tone(1.0, SAMPLE_RATE))
    assert [p.name for p in tmp_path.iterdir()] == ["out.flac"]  # no temporary left behind
    np.testing.assert_allclose(read_audio(path), tone(1.0, SAMPLE_RATE), atol=1e-4)


def _wav_bytes(samples: np.ndarray, rate: int = 16_000, subtype: str = "FLOAT") -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("make_source", "message"),
    [
        (lambda tmp: tmp / "missing.wav", "no such file"),
        (lambda tmp: _touch(tmp / "empty.wav", b""), "the file is empty"),
        (lambda tmp: _wav_bytes(np.zeros(0, np.float32)), "the audio is empty"),
        (lambda tmp: _wav_bytes(np.zeros(16_000, np.float32)), "the audio is silent"),
        (lambda tmp: _wav_bytes(tone(1.0, 16_000) * 1e-4), "the audio is silent"),
        (lambda tmp: _wav_bytes(np.where(np.arange(16_000) == 7, np.nan, tone(1.0, 16_000))), "NaN or infinite"),
        (lambda tmp: _touch(tmp / "notes.txt", b"walk forward then wave\n" * 50), "not a readable audio file"),
        (lambda tmp: _corrupt_header(_wav_bytes(tone(2.0, 16_000))), "not a readable audio file"),
        (lambda tmp: _wav_bytes(tone(31.0, 8_000), rate=8_000), "31.0 s of audio is longer than the 30 s limit"),
    ],
    ids=[
        "missing",
        "zero-bytes",
        "no-samples",
        "digital-silence",
        "inaudible",
        "nan",
        "text",
        "corrupt",
        "too-long",
    ],
)
def test_rejects_bad_audio_with_one_line(tmp_path, make_source, message):
    with pytest.raises(AudioError, match=message) as error:
        read_audio(make_source(tmp_path))
    assert "\n" not in str(error.value)


def test_length_limit_is_configurable():
    audio = _wav_bytes(tone(3.0, 16_000))
    assert len(read_audio(audio, max_seconds=3.0)) == 48_000
    with pytest.raises(AudioError, match="longer than the 2.5 s limit"):
        read_audio(audio, max_seconds=2.5)


def _corrupt_header(wav: bytes) -> bytes:
    """Overwrite the format chunk (channels, rate, sample format) with garbage."""
    return wav[:20] + b"\xff" * 16 + wav[36:]


def _touch(path, data: bytes):
    path.write_bytes(data)
    return path
