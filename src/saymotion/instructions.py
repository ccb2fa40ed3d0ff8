"""Splitting one recording or one text with several instructions ("walk forward a few steps...
now wave your left hand... then bow") into single instructions.

Audio is split at pauses found by frame energy against the recording's own noise floor, which
needs no model and adapts to the microphone's level; text is split at sentence ends and at the
connectives people use to chain instructions."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

FRAME_SECONDS = 0.02
# Energy this far above the quietest frames counts as speech.
SPEECH_MARGIN_DB = 15.0
# A speech frame must also be within this range of the loudest frames, so steady background
# noise in a recording without real pauses is not taken for speech.
SPEECH_FLOOR_BELOW_PEAK_DB = 35.0


@dataclass(frozen=True)
class AudioSegment:
    start_s: float
    end_s: float

    def slice(self, waveform: np.ndarray, sample_rate: int) -> np.ndarray:
        return waveform[int(self.start_s * sample_rate) : int(self.end_s * sample_rate)]


def frame_energy_db(waveform: np.ndarray, sample_rate: int) -> np.ndarray:
    frame = max(1, int(FRAME_SECONDS * sample_rate))
    count = len(waveform) // frame
    frames = waveform[: count * frame].reshape(count, frame).astype(np.float64)
    return 10.0 * np.log10((frames**2).mean(axis=1) + 1e-12)


def speech_frames(waveform: np.ndarray, sample_rate: int) -> np.ndarray:
    """Boolean mask of 20-ms frames that hold speech."""
    energy = frame_energy_db(waveform, sample_rate)
    noise_floor = np.percentile(energy, 10)
    peak = np.percentile(energy, 99)
    threshold = max(noise_floor + SPEECH_MARGIN_DB, peak - SPEECH_FLOOR_BELOW_PEAK_DB)
    return energy > threshold


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index ranges where mask is True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2], edges[1::2]))


def split_at_pauses(
    waveform: np.ndarray, sample_rate: int, min_pause_s: float = 0.4, min_speech_s: float = 0.3, pad_s: float = 0.1
) -> list[AudioSegment]:
    """Instruction segments of a mono recording: speech runs joined across pauses shorter than
    `min_pause_s`, runs shorter than `min_speech_s` dropped (clicks, breaths), `pad_s` kept around."""
    mask = speech_frames(waveform, sample_rate)
    min_gap = int(round(min_pause_s / FRAME_SECONDS))
    merged: list[list[int]] = []
    for start, end in _runs(mask):
        if merged and start - merged[-1][1] < min_gap:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    duration = len(waveform) / sample_rate
    return [
        AudioSegment(max(0.0, start * FRAME_SECONDS - pad_s), min(duration, end * FRAME_SECONDS + pad_s))
        for start, end in merged
        if (end - start) * FRAME_SECONDS >= min_speech_s
    ]


# Sentence ends, and connectives that start a new instruction ("..., then bow").
_TEXT_BOUNDARY = re.compile(
    r"(?:[.!?;]+|\.\.\.|…)\s*|,?\s+(?:and\s+)?(?=(?:then|after that|afterwards|next|now|finally)\b)",
    re.IGNORECASE,
)
_LEADING_CONNECTIVE = re.compile(r"^(?:and\s+)?(?:then|after that|afterwards|next|now|finally)\b[,\s]*", re.IGNORECASE)


def split_text(text: str) -> list[str]:
    """Single instructions of a text with several sentences or chained steps."""
    parts = (_LEADING_CONNECTIVE.sub("", part.strip(" ,")) for part in _TEXT_BOUNDARY.split(text))
    return [part for part in parts if re.search(r"[A-Za-z]{2,}", part)]
