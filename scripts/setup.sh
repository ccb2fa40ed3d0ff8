#!/usr/bin/env bash
# Sets up a fresh Debian machine with Python 3.11: system packages, then a virtual environment in
# .venv with saymotion installed (editable) and pinned dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=$(grep -v '^#' scripts/apt-packages.txt | tr '\n' ' ')
missing=$(for p in $apt_packages; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"; done)
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
fi
stamp=.venv/.saymotion-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  # torch first, pinned, so nothing pulls the CUDA build.
  .venv/bin/pip install -q torch==2.13.0
  .venv/bin/pip install -q -e ".[dev]"
  touch "$stamp"
fi
