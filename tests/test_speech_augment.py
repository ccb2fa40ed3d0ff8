"""Training-audio augmentation does what its recorded parameters say, and does it reproducibly."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from saymotion.audio import SAMPLE_RATE
from saymotion.speech.augment import (
    Augmentation,
    AugmentationRanges,
    Noise,
    Reverb,
    augment,
    coloured_noise,
    sample_augmentation,
)

needs_sox = pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed (scripts/setup.sh)")


def speech_like(seconds: float = 2.0) -> np.ndarray:
    """A 150 Hz voice (falling harmonics), gated like syllables."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    voiced = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 11))
    return (0.2 * voiced * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)


def plain(**changes) -> Augmentation:
    return Augmentation(
        **{"tempo": 1.0, "pitch_cents": 0.0, "reverb": None, "noise": None, "level_dbfs": -6.0, **changes}
    )


def test_samples_stay_in_their_ranges_and_round_trip_through_json():
    ranges = AugmentationRanges()
    rng = np.random.default_rng(3)
    draws = [sample_augmentation(rng, ranges) for _ in range(200)]
    for draw in draws:
        assert ranges.tempo[0] <= draw.tempo <= ranges.tempo[1]
        assert abs(draw.pitch_cents) <= 200
        assert draw.noise is None or 15 <= draw.noise.snr_db <= 40
        assert ranges.level_dbfs[0] <= draw.level_dbfs <= ranges.level_dbfs[1]
        assert Augmentation.from_json(draw.to_json()) == draw
    # Each optional effect is sometimes on, sometimes off.
    assert 0.3 < np.mean([draw.noise is not None for draw in draws]) < 0.7
    assert 0.15 < np.mean([draw.reverb is not None for draw in draws]) < 0.45
    assert sample_augmentation(np.random.default_rng(3), ranges) == draws[0]


@needs_sox
@pytest.mark.parametrize("tempo", [0.9, 1.1])
def test_tempo_scales_duration_but_not_pitch(tempo):
    waveform = speech_like()
    out = augment(waveform, plain(tempo=tempo))
    assert len(out) / len(waveform) == pytest.approx(1 / tempo, rel=0.02)
    assert _dominant_hz(out) == pytest.approx(_dominant_hz(waveform), rel=0.03)


@needs_sox
def test_pitch_shift_moves_frequencies_and_keeps_duration():
    waveform = speech_like()
    out = augment(waveform, plain(pitch_cents=200.0))
    assert len(out) == pytest.approx(len(waveform), rel=0.01)
    assert _dominant_hz(out) / _dominant_hz(waveform) == pytest.approx(2 ** (200 / 1200), rel=0.03)


@needs_sox
def test_reverb_smears_energy_into_the_gaps():
    waveform = speech_like()
    gaps = np.sin(2 * np.pi * 3 * np.arange(len(waveform)) / SAMPLE_RATE) <= 0
    out = augment(waveform, plain(reverb=Reverb(reverberance=60.0, room_scale=100.0)))
    assert len(out) == len(waveform)
    assert np.mean(out[gaps] ** 2) > 1e-4 * np.mean(out**2)
    assert np.mean(waveform[gaps] ** 2) == 0


@pytest.mark.parametrize("snr_db", [15.0, 40.0])
def test_noise_has_the_recorded_snr(snr_db):
    noise = coloured_noise(32_000, Noise("pink", snr_db, seed=1), signal_power=0.01)
    assert 10 * np.log10(0.01 / np.mean(noise**2)) == pytest.approx(snr_db, abs=0.01)


def test_noise_colours_have_their_spectral_tilt():
    def low_to_high_ratio(colour: str) -> float:
        power = np.abs(np.fft.rfft(coloured_noise(64_000, Noise(colour, 20.0, seed=2), 1.0))) ** 2
        return power[1:2000].mean() / power[-2000:].mean()

    assert low_to_high_ratio("white") == pytest.approx(1.0, rel=0.2)
    assert 100 < low_to_high_ratio("pink") < low_to_high_ratio("brown")


@needs_sox
def test_full_augmentation_is_reproducible_and_reaches_its_level():
    choice = Augmentation(1.05, -120.0, Reverb(30.0, 50.0), Noise("white", 20.0, seed=9), level_dbfs=-12.0)
    first, second = augment(speech_like(), choice), augment(speech_like(), choice)
    np.testing.assert_array_equal(first, second)
    assert 20 * np.log10(np.abs(first).max()) == pytest.approx(-12.0, abs=0.01)
    assert np.isfinite(first).all() and first.dtype == np.float32


def _dominant_hz(waveform: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(waveform))
    return float(np.fft.rfftfreq(len(waveform), 1 / SAMPLE_RATE)[spectrum.argmax()])
