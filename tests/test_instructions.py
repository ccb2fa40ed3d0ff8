"""Splitting multi-step instructions at pauses (audio) and at sentence/step boundaries (text)."""

from __future__ import annotations

import numpy as np
import pytest

from saymotion.instructions import split_at_pauses, split_text

RATE = 16000


def burst(seconds: float, rng: np.random.Generator, level: float = 0.3) -> np.ndarray:
    """Voice-like: a harmonic tone with a syllable-rate envelope."""
    t = np.arange(int(seconds * RATE)) / RATE
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t) ** 2
    return level * envelope * (np.sin(2 * np.pi * 180 * t) + 0.5 * np.sin(2 * np.pi * 360 * t)) + 0.01 * rng.normal(size=t.size)


def pause(seconds: float, rng: np.random.Generator) -> np.ndarray:
    return 0.003 * rng.normal(size=int(seconds * RATE))


def test_three_instructions_with_pauses_give_three_segments():
    rng = np.random.default_rng(0)
    pieces = [pause(0.5, rng), burst(1.2, rng), pause(0.8, rng), burst(0.9, rng), pause(0.7, rng), burst(1.5, rng), pause(0.4, rng)]
    segments = split_at_pauses(np.concatenate(pieces), RATE)
    assert len(segments) == 3
    expected = [(0.5, 1.7), (2.5, 3.4), (4.1, 5.6)]
    for segment, (start, end) in zip(segments, expected):
        assert segment.start_s == pytest.approx(start - 0.1, abs=0.06)
        assert segment.end_s == pytest.approx(end + 0.1, abs=0.06)


def test_short_gaps_inside_an_instruction_do_not_split_it_and_clicks_are_dropped():
    rng = np.random.default_rng(1)
    click = burst(0.06, rng, level=0.8)
    pieces = [pause(0.5, rng), burst(0.7, rng), pause(0.15, rng), burst(0.7, rng), pause(1.0, rng), click, pause(1.0, rng)]
    segments = split_at_pauses(np.concatenate(pieces), RATE)
    assert len(segments) == 1
    assert segments[0].end_s - segments[0].start_s == pytest.approx(1.55 + 0.2, abs=0.08)


def test_louder_recording_gives_the_same_segments():
    rng = np.random.default_rng(2)
    recording = np.concatenate([pause(0.5, rng), burst(1.0, rng), pause(0.6, rng), burst(1.0, rng), pause(0.5, rng)])
    quiet = split_at_pauses(recording * 0.05, RATE)
    loud = split_at_pauses(recording, RATE)
    assert [(s.start_s, s.end_s) for s in quiet] == [(s.start_s, s.end_s) for s in loud]
    assert len(loud) == 2


def test_segment_slice_returns_the_samples():
    rng = np.random.default_rng(3)
    recording = np.concatenate([pause(0.5, rng), burst(1.0, rng), pause(0.5, rng)])
    (segment,) = split_at_pauses(recording, RATE)
    assert len(segment.slice(recording, RATE)) == pytest.approx((segment.end_s - segment.start_s) * RATE, abs=2)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Walk forward a few steps... now wave your left hand... then bow.", ["Walk forward a few steps", "wave your left hand", "bow"]),
        ("Walk forward, then turn left and then bow", ["Walk forward", "turn left", "bow"]),
        ("Could you wave like a tired old man?", ["Could you wave like a tired old man"]),
        ("Run! After that, take a bow.", ["Run", "take a bow"]),
    ],
)
def test_split_text(text, expected):
    assert split_text(text) == expected
