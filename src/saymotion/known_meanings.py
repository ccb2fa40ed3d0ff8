"""Known meanings: MiniLM embeddings of the instructions a model was trained to follow from speech,
which `sample.meaning_snap` draws the listener's heard meaning towards (saymotion.models.conditioning,
`drawn_to_known`). The listener hears phrasing it never heard less exactly, and the generator
reads meanings like those it trained on best (docs/design.md, "Known meanings").

    saymotion train meanings --run MODEL --speech SPEECH     # writes MODEL/meanings.pt

The training split's spoken instructions number about 20,000, more than the shipped model's size
limit leaves room for, so k-means over their embeddings keeps `count` cluster centres (on val they
served better than the instruction nearest each centre), stored as int8 with one scale per row.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from saymotion.config import KnownMeaningsConfig
from saymotion.errors import DataError

MEANINGS_FILE = "meanings.pt"
FORMAT = "saymotion-known-meanings"
FORMAT_VERSION = 1


@dataclass
class KnownMeanings:
    embeddings: torch.Tensor  # (N, E) float32, unit length
    config: KnownMeaningsConfig
    source: dict  # where the instructions came from: speech corpus, split, kinds, how many


def spoken_training_texts(speech_dir: Path, kinds: Sequence[str]) -> list[str]:
    """The distinct texts of the speech corpus's training-split utterances of the given kinds."""
    from saymotion.speech.corpus import read_manifest

    texts = sorted({u.text for u in read_manifest(speech_dir) if u.split == "train" and u.kind in kinds})
    if not texts:
        raise DataError(f"{speech_dir} has no training utterances of the kinds {list(kinds)}")
    return texts


def representatives(embeddings: np.ndarray, count: int, seed: int) -> np.ndarray:
    """At most `count` unit vectors standing for all the embeddings: themselves, or their k-means centres."""
    if len(embeddings) <= count:
        return embeddings
    from sklearn.cluster import KMeans

    centres = KMeans(count, n_init=1, random_state=seed).fit(embeddings).cluster_centers_
    return centres / np.linalg.norm(centres, axis=1, keepdims=True)


def build_known_meanings(texts: Sequence[str], config: KnownMeaningsConfig, source: dict) -> KnownMeanings:
    from saymotion.models.minilm import SentenceEncoder

    embeddings = SentenceEncoder().encode(list(texts))
    kept = representatives(embeddings, config.count, config.seed)
    return KnownMeanings(torch.from_numpy(kept).float(), config, dict(source, texts=len(texts), kept=len(kept)))


def save_known_meanings(path: str | os.PathLike, meanings: KnownMeanings) -> None:
    from saymotion.fileio import atomic_path

    scale = meanings.embeddings.abs().amax(1, keepdim=True).clamp_min(1e-8) / 127
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "int8": torch.round(meanings.embeddings / scale).to(torch.int8),
        "scale": scale.float(),
        "config": asdict(meanings.config),
        "source": meanings.source,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_known_meanings(model_dir: str | os.PathLike, device: str | torch.device = "cpu") -> KnownMeanings | None:
    """The known meanings of an exported model or run folder; None when it has none."""
    from saymotion.checkpoint import read_versioned_payload

    path = Path(model_dir) / MEANINGS_FILE
    if not path.is_file():
        return None
    payload = read_versioned_payload(path, device, FORMAT, FORMAT_VERSION, "known meanings file")
    embeddings = torch.nn.functional.normalize(payload["int8"].float() * payload["scale"], dim=-1)
    return KnownMeanings(embeddings, KnownMeaningsConfig(**payload["config"]), dict(payload["source"]))
