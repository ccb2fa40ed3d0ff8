"""What a result was computed from: the code commit, config digests and data digests."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

from saymotion import settings
from saymotion.fileio import read_json, sha256_file

# The files that define a prepared dataset's splits, labels, texts and normalisation (the motion
# files themselves are named by clips.jsonl and would take long to hash).
PREPARED_FILES = ("stats.json", "clips.jsonl", "descriptions.jsonl", "mean.npy", "std.npy", "skeleton.json")


def git_commit() -> str:
    """The checked-out commit of the source tree, or "unknown" outside a git checkout."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=settings.REPO_DIR, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def config_sha256(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def files_sha256(root: Path, names: list[str]) -> str:
    """One digest over the named files of a folder (a missing file counts as empty)."""
    digest = hashlib.sha256()
    for name in names:
        path = root / name
        digest.update(f"{name}\0{sha256_file(path) if path.is_file() else ''}\0".encode())
    return digest.hexdigest()


def prepared_sha256(root: Path) -> str:
    splits = sorted(f"splits/{path.name}" for path in (root / "splits").glob("*.txt"))
    return files_sha256(root, [*PREPARED_FILES, *splits])


def speech_sha256(root: Path, encoder: str) -> str:
    """The manifest's rows (each with its audio's digest) and the features' encoder, weights digest
    and format; not the order the rows were written in or how the features are sharded, which
    follow the order in which parallel workers finished."""
    from saymotion.speech.corpus import read_manifest
    from saymotion.speech.feature_store import INDEX, features_dir

    rows = sorted((dataclasses.asdict(u) for u in read_manifest(root)), key=lambda row: row["id"])
    index = read_json(features_dir(root, encoder) / INDEX)
    features = {key: index[key] for key in ("encoder", "dim", "frame_rate", "weights_sha256", "dtype")}
    return config_sha256({"utterances": rows, "features": features})
