"""Shared by the benchmark scripts: where results go and what every result records."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from saymotion.evaluation.provenance import git_commit
from saymotion.settings import REPO_DIR

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def commit() -> str:
    """The checked-out commit, with '+dirty' when src/ has uncommitted changes."""
    head = git_commit()
    dirty = subprocess.run(["git", "status", "--porcelain", "src"], cwd=REPO_DIR, capture_output=True, text=True).stdout
    return head + ("+dirty" if dirty.strip() else "")


def machine() -> dict:
    return {"cpu_count": os.cpu_count(), "machine": platform.machine(), "processor": platform.processor(),
            "python": platform.python_version(), "commit": commit()}
