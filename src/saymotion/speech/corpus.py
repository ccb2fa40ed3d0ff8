"""The spoken-instruction corpus: every description of a prepared dataset spoken by several voices.

One utterance per (split, distinct description text, voice): clips that share a description share
its utterances. Training texts are spoken by training voices with augmentation, validation texts by
training voices without it, test texts only by held-out voices. The plan is a pure function of the
descriptions and the config, and each utterance's audio is a pure function of its plan entry, so an
interrupted run resumed later ends with exactly the manifest of an uninterrupted one.

Layout: SDIR/manifest.jsonl, SDIR/corpus.json (settings and voices), SDIR/audio/<split>/<id>.flac."""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from saymotion.audio import DEFAULT_MAX_SECONDS, SAMPLE_RATE, SILENCE_PEAK, write_audio
from saymotion.errors import DataError, SaymotionError
from saymotion.fileio import read_json, read_jsonl, sha256_file, write_json, write_jsonl
from saymotion.speech.augment import Augmentation, AugmentationRanges, augment, sample_augmentation
from saymotion.speech.engines import Synthesizer, require_engines
from saymotion.speech.parallel import run_parallel
from saymotion.speech.voices import Voice, heldout_voices, training_voices, voice_catalogue

SPLITS = ("train", "val", "test", "test_novel")
HELDOUT_SPLITS = ("test", "test_novel")
KINDS = ("original", "oral")
MANIFEST = "manifest.jsonl"
SETTINGS = "corpus.json"
# Bump when a change makes existing audio differ from what the code would now produce.
CORPUS_VERSION = 1

MAX_TEXT_CHARS = 300
# Plausible speaking speeds, for checking that an engine said the whole text: between 5 and 40
# characters per second, plus up to 2 s of leading/trailing silence.
MIN_CHARS_PER_SECOND = 5.0
MAX_CHARS_PER_SECOND = 40.0
SILENCE_ALLOWANCE_S = 2.0
MIN_DURATION_S = 0.2


@dataclass(frozen=True)
class CorpusConfig:
    # Training texts get as many voices as it takes to reach this many utterances, within the cap.
    target_train_utterances: int = 22_000
    max_train_utterances_per_text: int = 12
    val_utterances_per_text: int = 1
    test_utterances_per_text: int = 1
    seed: int = 0
    augmentation: AugmentationRanges = field(default_factory=AugmentationRanges)


@dataclass(frozen=True)
class Description:
    """One distinct description text of a split, with every clip it describes."""

    split: str
    kind: str
    text: str
    clips: tuple[str, ...]

    @property
    def key(self) -> str:
        return hashlib.sha1(f"{self.kind}\n{self.text}".encode()).hexdigest()[:12]


@dataclass(frozen=True)
class PlannedUtterance:
    id: str
    description: Description
    voice: Voice
    augment: Augmentation | None

    @property
    def path(self) -> str:
        return f"audio/{self.description.split}/{self.id}.flac"


@dataclass(frozen=True)
class Utterance:
    """One manifest row."""

    id: str
    path: str  # relative to SDIR
    clips: tuple[str, ...]
    text: str
    kind: str
    split: str
    engine: str
    voice: str
    augment: dict | None
    duration: float
    sample_rate: int
    sha256: str

    def to_json(self) -> dict:
        return {**asdict(self), "clips": list(self.clips)}

    @classmethod
    def from_json(cls, row: dict) -> Utterance:
        return cls(**{**row, "clips": tuple(row["clips"])})


def read_descriptions(data_dir: Path) -> list[Description]:
    """Distinct (split, kind, text) of DIR/descriptions.jsonl, each with its clips, sorted."""
    path = Path(data_dir) / "descriptions.jsonl"
    if not path.is_file():
        raise DataError(f"{path} not found: prepare the dataset first (saymotion data prepare)")
    clips: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                split, kind, text, clip = _parse_description(line, f"{path}:{number}")
                clips[(split, kind, text)].add(clip)
    if not clips:
        raise DataError(f"{path} holds no descriptions")
    return [
        Description(split, kind, text, tuple(sorted(ids))) for (split, kind, text), ids in sorted(clips.items())
    ]


def _parse_description(line: str, where: str) -> tuple[str, str, str, str]:
    try:
        row = json.loads(line)
        split, kind, text, clip = row["split"], row["kind"], " ".join(str(row["text"]).split()), str(row["clip"])
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise DataError(f"{where}: not a description row ({type(error).__name__}: {error})") from None
    if split not in SPLITS:
        raise DataError(f"{where}: unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    if kind not in KINDS:
        raise DataError(f"{where}: unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    if not text or len(text) > MAX_TEXT_CHARS:
        raise DataError(f"{where}: description text must have 1 to {MAX_TEXT_CHARS} characters, has {len(text)}")
    return split, kind, text, clip


def utterance_counts(split: str, train_texts: int, config: CorpusConfig) -> tuple[int, float]:
    """(n, p): each text of `split` gets n utterances, plus one more with probability p. Training
    texts are mostly distinct, so the target is reached on average over texts."""
    if split == "train":
        per_text = config.target_train_utterances / max(train_texts, 1)
        per_text = min(max(per_text, 1.0), config.max_train_utterances_per_text, len(training_voices()))
        return math.floor(per_text), per_text - math.floor(per_text)
    if split == "val":
        return min(config.val_utterances_per_text, len(training_voices())), 0.0
    return min(config.test_utterances_per_text, len(heldout_voices())), 0.0


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("\n".join(map(str, parts)).encode()).digest()[:8], "little")


def plan_corpus(descriptions: list[Description], config: CorpusConfig) -> list[PlannedUtterance]:
    """Every utterance of the corpus, in a fixed pseudo-random order so that any prefix (--limit)
    samples all splits, voices and engines."""
    train_texts = sum(description.split == "train" for description in descriptions)
    planned = []
    for description in descriptions:
        pool = heldout_voices() if description.split in HELDOUT_SPLITS else training_voices()
        count, extra_probability = utterance_counts(description.split, train_texts, config)
        rng = np.random.default_rng(_seed(config.seed, description.split, description.key))
        count += int(rng.random() < extra_probability)
        for index in sorted(rng.choice(len(pool), size=count, replace=False)):
            voice = pool[index]
            utterance_id = f"{description.split}-{description.key}-{voice.name}"
            augmentation = None
            if description.split == "train":
                augmentation = sample_augmentation(
                    np.random.default_rng(_seed(config.seed, utterance_id)), config.augmentation
                )
            planned.append(PlannedUtterance(utterance_id, description, voice, augmentation))
    return sorted(planned, key=lambda utterance: hashlib.sha1(utterance.id.encode()).digest())


def check_speech_file(path: Path, text: str) -> float:
    """Validate a written utterance (rate, channels, finite, audible, plausible length for its
    text); returns its duration in seconds."""
    try:
        samples, sample_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except soundfile.LibsndfileError as error:
        raise SaymotionError(f"{path}: unreadable audio ({error})") from None
    duration = samples.shape[0] / sample_rate
    shortest = max(MIN_DURATION_S, len(text) / MAX_CHARS_PER_SECOND)
    longest = min(DEFAULT_MAX_SECONDS, len(text) / MIN_CHARS_PER_SECOND + SILENCE_ALLOWANCE_S)
    problems = [
        (sample_rate != SAMPLE_RATE, f"sample rate {sample_rate}, expected {SAMPLE_RATE}"),
        (samples.shape[1] != 1, f"{samples.shape[1]} channels, expected mono"),
        (not np.isfinite(samples).all(), "non-finite samples"),
        (samples.size == 0 or np.abs(samples).max() < SILENCE_PEAK, "silent"),
        (not shortest <= duration <= longest, f"{duration:.2f} s for {len(text)} characters of text"),
    ]
    for failed, message in problems:
        if failed:
            raise SaymotionError(f"{path}: bad speech audio: {message}")
    return duration


class CorpusWorker:
    """Makes (or reuses) one utterance's audio file and returns its manifest row."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.synthesizer = Synthesizer()

    def __call__(self, planned: PlannedUtterance) -> Utterance:
        path = self.out_dir / planned.path
        text = planned.description.text
        try:
            duration = check_speech_file(path, text) if path.is_file() else None
        except SaymotionError:
            duration = None  # a damaged earlier file is simply made again
        if duration is None:
            waveform = self.synthesizer(text, planned.voice)
            if planned.augment is not None:
                waveform = augment(waveform, planned.augment)
            write_audio(path, waveform)
            duration = check_speech_file(path, text)
        return _manifest_row(planned, duration, sha256_file(path))


def _manifest_row(planned: PlannedUtterance, duration: float, sha256: str) -> Utterance:
    description = planned.description
    return Utterance(
        id=planned.id,
        path=planned.path,
        clips=description.clips,
        text=description.text,
        kind=description.kind,
        split=description.split,
        engine=planned.voice.engine,
        voice=planned.voice.name,
        augment=planned.augment.to_json() if planned.augment else None,
        duration=round(duration, 4),
        sample_rate=SAMPLE_RATE,
        sha256=sha256,
    )


def corpus_settings(config: CorpusConfig) -> dict:
    """What the audio depends on besides the text; a folder made with other settings is refused."""
    return {
        "version": CORPUS_VERSION,
        "config": asdict(config),
        "voices": [voice.to_json() for voice in voice_catalogue()],
    }


def _claim_output(out_dir: Path, config: CorpusConfig) -> None:
    settings = corpus_settings(config)
    settings_path = out_dir / SETTINGS
    if settings_path.is_file():
        if json.loads(json.dumps(settings)) != read_json(settings_path):
            raise SaymotionError(f"{out_dir} holds a corpus made with other settings; choose a new --out folder")
    else:
        write_json(settings_path, settings)


def _remove_partial_files(audio_dir: Path) -> None:
    """Temporary files of a killed run (never renamed into place) are only clutter."""
    for path in audio_dir.glob("*/.*.flac.*.tmp"):
        path.unlink(missing_ok=True)


def synthesize_corpus(
    data_dir: Path,
    out_dir: Path,
    *,
    limit: int | None = None,
    workers: int = 2,
    config: CorpusConfig = CorpusConfig(),
    progress: bool = True,
) -> list[Utterance]:
    """Synthesize the corpus (or its first `limit` planned utterances) into `out_dir`, skipping
    utterances whose audio is already there and valid, and write the manifest."""
    if limit is not None and limit < 1:
        raise SaymotionError(f"--limit must be at least 1, got {limit}")
    out_dir = Path(out_dir)
    planned = plan_corpus(read_descriptions(Path(data_dir)), config)[:limit]
    require_engines([utterance.voice for utterance in planned])
    out_dir.mkdir(parents=True, exist_ok=True)
    _claim_output(out_dir, config)
    _remove_partial_files(out_dir / "audio")
    rows = run_parallel(
        planned, CorpusWorker, (out_dir,), workers=workers, description="synthesize", unit="utt", progress=progress
    )
    rows.sort(key=lambda row: (SPLITS.index(row.split), row.id))
    write_jsonl(out_dir / MANIFEST, [row.to_json() for row in rows])
    return rows


def read_manifest(speech_dir: Path) -> list[Utterance]:
    path = Path(speech_dir) / MANIFEST
    if not path.is_file():
        raise DataError(f"{path} not found: run `saymotion speech synthesize` first")
    return [Utterance.from_json(row) for row in read_jsonl(path)]
