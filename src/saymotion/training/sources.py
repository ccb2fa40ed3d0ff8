"""The adapter between the training code and the prepared data: the motion dataset
(`saymotion data prepare`) and the speech corpus with cached encoder features
(`saymotion speech synthesize`)."""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from saymotion.config import AUDIO, TEXT, ExperimentConfig, prepared_dir, speech_dir
from saymotion.descriptions.mirror import mirror_text
from saymotion.errors import DataError
from saymotion.models.minilm import TEXT_EMBEDDING_DIM
from saymotion.training.data import ClipConditions, TextEmbeddingCache, UtteranceSet


class SpeechCorpus:
    """The utterances of a speech corpus and their cached (memory-mapped) encoder features."""

    def __init__(self, root: Path, encoder: str):
        from saymotion.speech.corpus import read_manifest
        from saymotion.speech.feature_store import FeatureStore

        self.root = root
        self.utterances = read_manifest(root)
        self.store = FeatureStore(root, encoder)

    @property
    def feature_dim(self) -> int:
        return self.store.dim

    def split(self, name: str) -> list:
        return [utterance for utterance in self.utterances if utterance.split == name]

    def features(self, utterance_id: str) -> np.ndarray:
        return self.store[utterance_id]


@dataclass
class TrainingSources:
    motion: Any  # a saymotion.datasets MotionDataset with a `skeleton`
    speech: SpeechCorpus | None


def open_sources(config: ExperimentConfig, with_speech: bool) -> TrainingSources:
    """The motion dataset, and the speech corpus when asked for and the model listens to speech."""
    from saymotion.datasets.prepared import PreparedDataset

    motion = PreparedDataset(prepared_dir(config))
    use_speech = with_speech and AUDIO in config.condition.modalities
    speech = SpeechCorpus(speech_dir(config), config.data.speech_encoder) if use_speech else None
    return TrainingSources(motion, speech)


def load_conditions(
    config: ExperimentConfig, sources: TrainingSources, clip_ids: list[str], split: str, cache: TextEmbeddingCache
) -> ClipConditions:
    """Per clip (in `clip_ids` order), the speech features (with the embedding of the words
    spoken, when the model has a meaning token) and text embeddings of the split's instructions of
    the kinds in data.instruction_kinds."""
    kinds = set(config.data.instruction_kinds)
    index = {clip: row for row, clip in enumerate(clip_ids)}
    audio: list[list[tuple[np.ndarray, np.ndarray | None]]] = [[] for _ in clip_ids]
    text: list[list[np.ndarray]] = [[] for _ in clip_ids]
    if sources.speech is not None:
        utterances = [
            u for u in sources.speech.split(split) if u.kind in kinds and any(clip in index for clip in u.clips)
        ]
        spoken = cache.embed([u.text for u in utterances]) if config.condition.has_meaning_token else {}
        for utterance in utterances:
            features = sources.speech.features(utterance.id)
            for clip in utterance.clips:
                if clip in index:
                    audio[index[clip]].append((features, spoken.get(utterance.text)))
    if TEXT in config.condition.modalities:
        texts_by_clip = defaultdict(list)
        for description in sources.motion.descriptions(split):
            if description.clip in index and description.kind in kinds:
                texts_by_clip[description.clip].append(description.text)
        embeddings = cache.embed([t for texts in texts_by_clip.values() for t in texts])
        for clip, texts in texts_by_clip.items():
            text[index[clip]] = [embeddings[t] for t in texts]
    return ClipConditions(audio, text, sources.speech.feature_dim if sources.speech is not None else 0)


def is_unheard(config: ExperimentConfig, voice: str, words: str) -> bool:
    """Whether the listener stage leaves an utterance of `words` by `voice` out of its training
    (data.unheard_voices, data.unheard_phrasing)."""
    words = words.lower()
    return (any(fnmatch.fnmatchcase(voice, pattern) for pattern in config.data.unheard_voices)
            or any(fnmatch.fnmatchcase(words, pattern.lower()) for pattern in config.data.unheard_phrasing))


def load_utterances(config: ExperimentConfig, sources: TrainingSources, split: str, cache: TextEmbeddingCache,
                    unheard: bool = False) -> UtteranceSet:
    """The split's utterances of the kinds in data.instruction_kinds, for the listener stage: those
    whose voice and phrasing it hears or, with `unheard`, those by data.unheard_voices or in
    data.unheard_phrasing."""
    if sources.speech is None:
        raise DataError("the listener stage needs the speech corpus and audio among condition.modalities")
    kinds = set(config.data.instruction_kinds)
    utterances = [u for u in sources.speech.split(split) if u.kind in kinds and is_unheard(config, u.voice, u.text) == unheard]
    mirrored = [mirror_text(u.text) for u in utterances]
    embeddings = cache.embed([u.text for u in utterances] + mirrored)
    spoken = np.array([embeddings[u.text] for u in utterances], np.float32).reshape(-1, TEXT_EMBEDDING_DIM)
    no_side = np.zeros(TEXT_EMBEDDING_DIM, np.float32)
    sides = np.array([embeddings[m] if m != u.text else no_side for u, m in zip(utterances, mirrored)],
                     np.float32).reshape(-1, TEXT_EMBEDDING_DIM)
    return UtteranceSet([sources.speech.features(u.id) for u in utterances], spoken, sides, [u.text for u in utterances],
                        sources.speech.feature_dim, config.data.max_audio_frames)
