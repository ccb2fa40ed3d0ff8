#!/usr/bin/env bash
# The main job on a fresh machine: set up, then generate motion from the bundled example recording
# with the shipped model (motion.npy, motion.bvh, preview.mp4 in out/wave_left_hand).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/saymotion generate --audio examples/wave_left_hand.wav -o "${SAYMOTION_OUT:-out/wave_left_hand}"
