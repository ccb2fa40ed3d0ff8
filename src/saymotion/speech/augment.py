"""Augmentation of training speech: tempo, pitch, room reverb (SoX), additive coloured noise at a
chosen SNR, and output level. Every choice is a field of `Augmentation`, stored in the manifest, and
drawn from a generator seeded by the utterance id, so re-running reproduces the same audio."""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass

import numpy as np

from saymotion.audio import SAMPLE_RATE
from saymotion.errors import SaymotionError

NOISE_EXPONENTS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power spectrum ~ 1 / f^exponent


@dataclass(frozen=True)
class AugmentationRanges:
    tempo: tuple[float, float] = (0.9, 1.1)
    pitch_probability: float = 0.5
    pitch_cents: tuple[float, float] = (-200.0, 200.0)
    reverb_probability: float = 0.3
    reverberance: tuple[float, float] = (10.0, 60.0)  # SoX percent
    room_scale: tuple[float, float] = (20.0, 100.0)  # SoX percent
    noise_probability: float = 0.5
    snr_db: tuple[float, float] = (15.0, 40.0)
    level_dbfs: tuple[float, float] = (-24.0, -1.0)  # output peak level


@dataclass(frozen=True)
class Reverb:
    reverberance: float
    room_scale: float


@dataclass(frozen=True)
class Noise:
    colour: str
    snr_db: float  # against the whole utterance's mean power
    seed: int


@dataclass(frozen=True)
class Augmentation:
    tempo: float  # > 1 is faster; pitch unchanged
    pitch_cents: float
    reverb: Reverb | None
    noise: Noise | None
    level_dbfs: float  # peak level the utterance is scaled to (the gain)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Augmentation:
        return cls(
            tempo=data["tempo"],
            pitch_cents=data["pitch_cents"],
            reverb=Reverb(**data["reverb"]) if data["reverb"] else None,
            noise=Noise(**data["noise"]) if data["noise"] else None,
            level_dbfs=data["level_dbfs"],
        )


def _uniform(rng: np.random.Generator, bounds: tuple[float, float], digits: int) -> float:
    return round(float(rng.uniform(*bounds)), digits)


def sample_augmentation(
    rng: np.random.Generator, ranges: AugmentationRanges = AugmentationRanges()
) -> Augmentation:
    """Draw one augmentation; values are rounded so the manifest shows exactly what was applied."""
    tempo = _uniform(rng, ranges.tempo, 3)
    pitch = _uniform(rng, ranges.pitch_cents, 0) if rng.random() < ranges.pitch_probability else 0.0
    reverb = None
    if rng.random() < ranges.reverb_probability:
        reverb = Reverb(_uniform(rng, ranges.reverberance, 0), _uniform(rng, ranges.room_scale, 0))
    noise = None
    if rng.random() < ranges.noise_probability:
        colour = str(rng.choice(list(NOISE_EXPONENTS)))
        noise = Noise(colour, _uniform(rng, ranges.snr_db, 1), int(rng.integers(2**31)))
    return Augmentation(tempo, pitch, reverb, noise, _uniform(rng, ranges.level_dbfs, 1))


def augment(waveform: np.ndarray, augmentation: Augmentation) -> np.ndarray:
    """Apply an augmentation to 16 kHz mono float32 speech."""
    out = _sox_effects(waveform, augmentation)
    if augmentation.noise is not None:
        out = out + coloured_noise(len(out), augmentation.noise, signal_power=float(np.mean(out**2)))
    peak = float(np.abs(out).max())
    if peak > 0:
        out = out * (10 ** (augmentation.level_dbfs / 20) / peak)
    return out.astype(np.float32)


def _sox_effects(waveform: np.ndarray, augmentation: Augmentation) -> np.ndarray:
    effects: list[str] = []
    if augmentation.pitch_cents:
        effects += ["pitch", f"{augmentation.pitch_cents:g}"]
    if augmentation.tempo != 1.0:
        effects += ["tempo", "-s", f"{augmentation.tempo:g}"]  # -s: tuned for speech
    if augmentation.reverb is not None:
        reverb = augmentation.reverb
        effects += ["reverb", f"{reverb.reverberance:g}", "50", f"{reverb.room_scale:g}"]
    if not effects:
        return waveform
    raw = ["-t", "f32", "-r", str(SAMPLE_RATE), "-c", "1"]
    command = ["sox", "-D", "-V1", *raw, "-", *raw, "-", *effects]  # -D: no dither, so output is exact
    try:
        result = subprocess.run(
            command, input=waveform.astype(np.float32).tobytes(), capture_output=True, check=False
        )
    except FileNotFoundError:
        raise SaymotionError("sox is not installed (run scripts/setup.sh)") from None
    if result.returncode != 0:
        raise SaymotionError(f"sox failed: {result.stderr.decode(errors='replace').strip()}")
    return np.frombuffer(result.stdout, dtype=np.float32).copy()


def coloured_noise(length: int, noise: Noise, signal_power: float) -> np.ndarray:
    """Gaussian noise shaped to 1/f^exponent and scaled to `noise.snr_db` below `signal_power`."""
    rng = np.random.default_rng(noise.seed)
    spectrum = np.fft.rfft(rng.standard_normal(length))
    frequencies = np.fft.rfftfreq(length)
    frequencies[0] = frequencies[1] if length > 1 else 1.0  # keep DC finite
    spectrum *= frequencies ** (-NOISE_EXPONENTS[noise.colour] / 2)
    shaped = np.fft.irfft(spectrum, n=length)
    shaped /= np.sqrt(np.mean(shaped**2)) + 1e-12
    return (shaped * np.sqrt(signal_power * 10 ** (-noise.snr_db / 10))).astype(np.float32)
