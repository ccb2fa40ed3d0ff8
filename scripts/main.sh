#!/usr/bin/env bash
# The main job on a fresh machine: set up, then prepare the real motion dataset from the shared archive.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/saymotion data prepare --out "${SAYMOTION_PREPARED:-$HOME/.cache/saymotion/bandai}"
