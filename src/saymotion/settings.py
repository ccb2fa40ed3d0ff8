"""Where things live. Nothing is relative to the working directory: defaults are derived from the
repository layout or set through environment variables."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# The source checkout (src/saymotion -> repo root); only meaningful for an editable install.
REPO_DIR = PACKAGE_DIR.parent.parent

ARCHIVE_NAME = "bandai-namco-motion.tar.xz"
ARCHIVE_SHA256 = "8070eb26418d4a3dbfafd0d4561c83feec7653ad1ee7d2fceca5a870772c2f6b"


def default_archive() -> Path:
    """The Bandai Namco archive: $SAYMOTION_DATA (a file, or a folder holding it), else ../shared/data."""
    override = os.environ.get("SAYMOTION_DATA")
    if override:
        path = Path(override).expanduser()
        return path / ARCHIVE_NAME if path.is_dir() else path
    return REPO_DIR.parent / "shared" / "data" / ARCHIVE_NAME


def cache_dir() -> Path:
    """Scratch space for derived files (extracted archives, prepared data): $SAYMOTION_CACHE or ~/.cache/saymotion."""
    return Path(os.environ.get("SAYMOTION_CACHE", Path.home() / ".cache" / "saymotion")).expanduser()


def default_prepared_dir() -> Path:
    return cache_dir() / "bandai"


def default_speech_dir() -> Path:
    return cache_dir() / "speech"


def default_model_dir() -> Path:
    """The model `generate` uses: $SAYMOTION_MODEL, else the one shipped inside the package."""
    override = os.environ.get("SAYMOTION_MODEL")
    return Path(override).expanduser() if override else PACKAGE_DIR / "assets" / "model"
