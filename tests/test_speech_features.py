"""Frozen speech encoders and the sharded fp16 feature cache."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from saymotion import cli
from saymotion.audio import read_audio
from saymotion.errors import AudioError, DataError, SaymotionError
from saymotion.speech import engines
from saymotion.speech.corpus import CorpusConfig, read_manifest, synthesize_corpus
from saymotion.speech.encoders import (
    WhisperEncoder,
    encoder_spec,
    frame_features,
    load_encoder,
    speech_features,
)
from saymotion.speech.feature_store import FeatureStore, extract_features, features_dir, load_features

TINY = "whisper-tiny.en"


@pytest.fixture(scope="module")
def tiny_encoder():
    return load_encoder(TINY)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    if not all(shutil.which(program) for program in [*engines.PROGRAMS.values(), "sox"]):
        pytest.skip("speech engines are not installed (scripts/setup.sh)")
    root = tmp_path_factory.mktemp("features")
    texts = ["a person walks forward.", "someone waves the left hand.", "the figure bows slowly."]
    rows = [{"clip": f"c{i}", "kind": "oral", "text": text, "split": "train"} for i, text in enumerate(texts)]
    (root / "data").mkdir()
    (root / "data" / "descriptions.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    synthesize_corpus(
        root / "data", root / "speech", workers=1, config=CorpusConfig(target_train_utterances=5), progress=False
    )
    return root / "speech"


@pytest.mark.parametrize("seconds", [0.5, 1.23, 3.0])
def test_whisper_frames_follow_the_real_length(tiny_encoder, seconds):
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(int(seconds * 16_000))).astype(np.float32)
    features = frame_features(tiny_encoder, audio)
    assert features.shape == (int(seconds * 16_000) // 320, 384)
    assert features.dtype == np.float16
    np.testing.assert_array_equal(features, frame_features(tiny_encoder, audio))
    assert tiny_encoder.frame_rate == 50.0


def test_whisper_refuses_too_little_audio(tiny_encoder):
    with pytest.raises(AudioError, match="at least 320"):
        tiny_encoder.encode(np.ones(100, np.float32))


def test_logmel_frames_line_up_with_whisper_frames(tiny_encoder):
    logmel = load_encoder("logmel")
    t = np.arange(int(1.23 * 16_000)) / 16_000
    tone = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    features = frame_features(logmel, tone)
    assert features.shape == (len(tone) // 320, 160) == (len(frame_features(tiny_encoder, tone)), 160)
    assert logmel.frame_rate == tiny_encoder.frame_rate
    # Whisper's mel band of 440 Hz is the loudest of both stacked 10-ms frames, mid-clip.
    middle = features[len(features) // 2].astype(np.float32).reshape(2, 80)
    assert middle.argmax(1)[0] == middle.argmax(1)[1] and 5 <= middle.argmax(1)[0] <= 15
    with pytest.raises(AudioError, match="at least 320"):
        logmel.encode(np.ones(100, np.float32))


def test_weights_are_checked_against_their_checksum():
    files = {"model.bin": b"not the weights"}
    with pytest.raises(SaymotionError, match="do not match their checksum"):
        WhisperEncoder("whisper-base", files, "0" * 64)


def test_unknown_encoder_lists_the_known_ones():
    with pytest.raises(SaymotionError, match="known: logmel, whisper-base, whisper-tiny.en, or hf:"):
        encoder_spec("wavlm")


def test_feature_cache_matches_direct_encoding_and_resumes(corpus, tiny_encoder):
    index = extract_features(corpus, TINY, workers=1, shard_utterances=2, progress=False)
    manifest = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines()]
    assert set(index["utterances"]) == {row["id"] for row in manifest}
    assert (index["dim"], index["frame_rate"], index["dtype"]) == (384, 50.0, "float16")
    for row in manifest:
        cached = load_features(corpus, TINY, row["id"])
        assert isinstance(cached, np.memmap) and cached.dtype == np.float16
        np.testing.assert_array_equal(cached, frame_features(tiny_encoder, read_audio(corpus / row["path"])))
    # Inference goes through the same function: a user's file gives exactly the cached features.
    first = corpus / manifest[0]["path"]
    np.testing.assert_array_equal(speech_features(first, TINY), load_features(corpus, TINY, manifest[0]["id"]))
    np.testing.assert_array_equal(
        speech_features(read_audio(first), TINY), speech_features(first.read_bytes(), TINY)
    )
    folder = features_dir(corpus, TINY)
    shards = sorted(folder.glob("shard-*.npy"))
    assert len(shards) == (len(manifest) + 1) // 2
    mtimes = {path: path.stat().st_mtime_ns for path in shards}

    # A re-run encodes nothing; a changed utterance re-encodes only its shard.
    extract_features(corpus, TINY, workers=1, shard_utterances=2, progress=False)
    assert {path: path.stat().st_mtime_ns for path in shards} == mtimes
    manifest[-1]["sha256"] = "0" * 64
    (corpus / "manifest.jsonl").write_text("".join(json.dumps(row) + "\n" for row in manifest))
    extract_features(corpus, TINY, workers=1, shard_utterances=2, progress=False)
    changed = [path for path in shards if path.stat().st_mtime_ns != mtimes[path]]
    assert changed == [shards[-1]]


def test_unknown_utterance_or_missing_cache_is_a_clear_error(corpus, tmp_path):
    extract_features(corpus, TINY, workers=1, progress=False)
    with pytest.raises(DataError, match="has no cached whisper-tiny.en features"):
        FeatureStore(corpus, TINY)["nope"]
    with pytest.raises(DataError, match="run `saymotion speech features` first"):
        FeatureStore(tmp_path, TINY)


def test_cli_caches_default_encoder_features(corpus, capsys):
    assert cli.main(["speech", "features", "--speech", str(corpus), "--workers", "2", "--quiet"]) == 0
    assert "512-d at 50 Hz" in capsys.readouterr().out
    store = FeatureStore(corpus)
    assert store.encoder == "whisper-base" and store.dim == 512
    assert sorted(store.ids) == sorted(row.id for row in read_manifest(corpus))
    assert all(store[utterance_id].shape[1] == 512 for utterance_id in store.ids)


def test_transformers_models_plug_in_by_name(tmp_path):
    """An `hf:` encoder from a local folder, here a tiny untrained WavLM (no download)."""
    transformers = pytest.importorskip("transformers")
    config = transformers.WavLMConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
    )  # fmt: skip
    transformers.WavLMModel(config).save_pretrained(tmp_path)
    transformers.Wav2Vec2FeatureExtractor().save_pretrained(tmp_path)
    encoder = encoder_spec(f"hf:{tmp_path}").load(1)
    features = frame_features(encoder, np.random.default_rng(0).standard_normal(16_000).astype(np.float32))
    assert encoder.dim == 32 and encoder.frame_rate == 50.0
    assert features.shape == (49, 32) and features.dtype == np.float16
    assert encoder.weights_sha256 == encoder_spec(f"hf:{tmp_path}").load(1).weights_sha256
