"""Cached frame features of every corpus utterance: fp16, sharded, memory-mapped, with an index.

Layout, under SDIR/features/<encoder>/:
  shard-00000.npy   all frames of up to 256 utterances, concatenated: (frames, dim) float16
  shard-00000.json  the shard's record: encoder, weights checksum, and per utterance
                    [id, audio sha256, first frame, frame count]; written after the .npy, so a
                    shard with a record is complete
  index.json        encoder, dim, frame rate, weights checksum, shard names, and
                    utterance id -> [shard, first frame, frame count]

A re-run keeps every shard whose record matches the manifest (same utterances, same audio
checksums, same encoder weights) and encodes only the rest."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saymotion.audio import read_audio
from saymotion.errors import DataError, SaymotionError
from saymotion.fileio import read_json, save_npy, write_json
from saymotion.speech.corpus import Utterance, read_manifest
from saymotion.speech.encoders import DEFAULT_ENCODER, encoder_folder_name, frame_features, load_encoder
from saymotion.speech.parallel import run_parallel

SHARD_UTTERANCES = 256
INDEX = "index.json"


@dataclass(frozen=True)
class ShardPlan:
    number: int
    utterances: tuple[Utterance, ...]

    @property
    def stem(self) -> str:
        return f"shard-{self.number:05d}"


def features_dir(speech_dir: Path, encoder: str) -> Path:
    return Path(speech_dir) / "features" / encoder_folder_name(encoder)


def plan_shards(utterances: list[Utterance], shard_utterances: int = SHARD_UTTERANCES) -> list[ShardPlan]:
    return [
        ShardPlan(number, tuple(utterances[start : start + shard_utterances]))
        for number, start in enumerate(range(0, len(utterances), shard_utterances))
    ]


class ShardWorker:
    """Encodes one shard (or confirms a finished one) and returns its record."""

    def __init__(self, speech_dir: Path, encoder: str):
        self.speech_dir = Path(speech_dir)
        self.encoder = load_encoder(encoder, threads=1)  # one process per core
        self.out_dir = features_dir(speech_dir, encoder)

    def __call__(self, shard: ShardPlan) -> dict:
        record_path = self.out_dir / f"{shard.stem}.json"
        if record_path.is_file():
            record = read_json(record_path)
            if self._is_current(record, shard):
                return record
        features = [
            frame_features(self.encoder, read_audio(self.speech_dir / row.path)) for row in shard.utterances
        ]
        starts = np.cumsum([0] + [len(frames) for frames in features])
        save_npy(self.out_dir / f"{shard.stem}.npy", np.concatenate(features))
        record = {
            "encoder": self.encoder.name,
            "weights_sha256": self.encoder.weights_sha256,
            "dim": self.encoder.dim,
            "frame_rate": self.encoder.frame_rate,
            "utterances": [
                [row.id, row.sha256, int(start), len(frames)]
                for row, start, frames in zip(shard.utterances, starts[:-1], features, strict=True)
            ],
        }
        write_json(record_path, record)
        return record

    def _is_current(self, record: dict, shard: ShardPlan) -> bool:
        expected = [[row.id, row.sha256] for row in shard.utterances]
        if (
            record["weights_sha256"] != self.encoder.weights_sha256
            or [u[:2] for u in record["utterances"]] != expected
        ):
            return False
        array_path = self.out_dir / f"{shard.stem}.npy"
        if not array_path.is_file():
            return False
        frames = sum(count for *_, count in record["utterances"])
        return np.load(array_path, mmap_mode="r").shape == (frames, self.encoder.dim)


def extract_features(
    speech_dir: Path,
    encoder: str = DEFAULT_ENCODER,
    *,
    workers: int = 2,
    shard_utterances: int = SHARD_UTTERANCES,
    progress: bool = True,
) -> dict:
    """Encode every manifest utterance into the feature cache and write its index."""
    utterances = read_manifest(speech_dir)
    if not utterances:
        raise SaymotionError(f"{speech_dir}: the manifest is empty")
    shards = plan_shards(utterances, shard_utterances)
    records = run_parallel(
        shards,
        ShardWorker,
        (Path(speech_dir), encoder),
        workers=workers,
        description=f"features {encoder}",
        unit="utt",
        progress=progress,
        weight=lambda shard: len(shard.utterances),
    )
    out_dir = features_dir(speech_dir, encoder)
    index = {
        "encoder": records[0]["encoder"],
        "dim": records[0]["dim"],
        "frame_rate": records[0]["frame_rate"],
        "weights_sha256": records[0]["weights_sha256"],
        "dtype": "float16",
        "shards": [f"{shard.stem}.npy" for shard in shards],
        "utterances": {
            utterance_id: [number, start, count]
            for number, record in enumerate(records)
            for utterance_id, _, start, count in record["utterances"]
        },
    }
    write_json(out_dir / INDEX, index)
    _remove_stale_shards(out_dir, {shard.stem for shard in shards})
    _store.cache_clear()
    return index


def _remove_stale_shards(out_dir: Path, current: set[str]) -> None:
    """Shards of an earlier, larger manifest would only confuse a reader of the folder."""
    for path in out_dir.glob("shard-*.*"):
        if path.suffix in (".npy", ".json") and path.stem not in current:
            path.unlink()


class FeatureStore:
    """Read access to one encoder's cached features; shards are memory-mapped on first use."""

    def __init__(self, speech_dir: Path, encoder: str = DEFAULT_ENCODER):
        self.folder = features_dir(speech_dir, encoder)
        index_path = self.folder / INDEX
        if not index_path.is_file():
            raise DataError(f"no {encoder} features in {speech_dir}: run `saymotion speech features` first")
        index = read_json(index_path)
        self.encoder: str = index["encoder"]
        self.dim: int = index["dim"]
        self.frame_rate: float = index["frame_rate"]
        self.weights_sha256: str = index["weights_sha256"]
        self._shards: list[str] = index["shards"]
        self._locations: dict[str, list[int]] = index["utterances"]
        self._arrays: dict[int, np.ndarray] = {}

    @property
    def ids(self) -> list[str]:
        return list(self._locations)

    def __len__(self) -> int:
        return len(self._locations)

    def __contains__(self, utterance_id: str) -> bool:
        return utterance_id in self._locations

    def __getitem__(self, utterance_id: str) -> np.ndarray:
        """(frames, dim) float16, a read-only view into the memory-mapped shard."""
        if utterance_id not in self._locations:
            raise DataError(f"utterance {utterance_id!r} has no cached {self.encoder} features")
        shard, start, count = self._locations[utterance_id]
        if shard not in self._arrays:
            self._arrays[shard] = np.load(self.folder / self._shards[shard], mmap_mode="r")
        return self._arrays[shard][start : start + count]


@functools.lru_cache(maxsize=8)
def _store(speech_dir: Path, encoder: str) -> FeatureStore:
    return FeatureStore(speech_dir, encoder)


def load_features(speech_dir: str | Path, encoder: str, utterance_id: str) -> np.ndarray:
    """(frames, dim) float16 features of one utterance, memory-mapped via the cached index."""
    return _store(Path(speech_dir).resolve(), encoder)[utterance_id]
