"""Generation speed on this machine, after loading: seconds per instruction for a 5-s spoken
instruction (speech encoder + length + masked and residual transformers + decoder; no video), for
audio, text and both; and the wall time of a whole `saymotion generate` command (start-up, model
loading, MP4 and BVH included) on a test utterance spoken by a held-out voice.
Writes benchmarks/results/latency.json.

    .venv/bin/python benchmarks/latency.py --speech /tmp/saymotion-speech [--model DIR] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import RESULTS_DIR, machine

from saymotion import fileio, settings
from saymotion.audio import SAMPLE_RATE, read_audio
from saymotion.pipeline import Pipeline
from saymotion.speech.corpus import read_manifest
from saymotion.speech.voices import heldout_voices

INSTRUCTION_SECONDS = 5.0
REPEATS = 10
TEXT = "like a tired old man"


def unseen_voice_utterance(speech_dir: Path, target_seconds: float) -> tuple[Path, str, str]:
    """The test-split utterance by a held-out voice whose length is closest to `target_seconds`."""
    heldout = {voice.name for voice in heldout_voices()}
    rows = [row for row in read_manifest(speech_dir) if row.split == "test" and row.voice in heldout]
    if not rows:
        raise SystemExit(f"{speech_dir} has no test utterance by a held-out voice")
    row = min(rows, key=lambda row: (abs(row.duration - target_seconds), row.id))
    return speech_dir / row.path, row.voice, row.text


def five_second_instruction(path: Path) -> np.ndarray:
    """The utterance cut or padded with silence to exactly INSTRUCTION_SECONDS."""
    waveform = read_audio(path)
    length = int(INSTRUCTION_SECONDS * SAMPLE_RATE)
    return np.pad(waveform, (0, max(0, length - len(waveform))))[:length]


def timed(function, repeats: int = REPEATS) -> float:
    function()  # warm-up: first-call allocations, lazy loads
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def command_seconds(model: Path, audio: Path, threads: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "saymotion", "generate", "--model", str(model), "--audio", str(audio),
                   "--threads", str(threads), "-o", out]
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        seconds = time.perf_counter() - started
        missing = [name for name in ("motion.npy", "motion.bvh", "preview.mp4") if not (Path(out) / name).is_file()]
        if missing:
            raise SystemExit(f"saymotion generate did not write {missing}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speech", type=Path, default=settings.default_speech_dir(), help="speech corpus")
    parser.add_argument("--model", type=Path, default=settings.default_model_dir())
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    audio_path, voice, spoken = unseen_voice_utterance(args.speech, INSTRUCTION_SECONDS)
    waveform = five_second_instruction(audio_path)
    started = time.perf_counter()
    pipeline = Pipeline.load(args.model)
    pipeline.generate(text=TEXT, seconds=INSTRUCTION_SECONDS)  # loads the speech-free parts (MiniLM)
    pipeline.speech_features((waveform, SAMPLE_RATE))  # and the speech encoder
    load_seconds = time.perf_counter() - started

    def run(**condition):
        return lambda: pipeline.generate(**condition, seed=0)

    audio = (waveform, SAMPLE_RATE)
    result = {
        "instruction_seconds": INSTRUCTION_SECONDS,
        "seconds_per_instruction": timed(run(audio=audio)),
        "seconds_per_instruction_audio_text": timed(run(audio=audio, text=TEXT)),
        "seconds_per_instruction_text": timed(run(text=TEXT)),
        "seconds_speech_encoder": timed(lambda: pipeline.speech_features(audio)),
        "seconds_load": load_seconds,
        "repeats": REPEATS,
        "statistic": "median",
        "command_seconds": command_seconds(args.model, audio_path, args.threads),
        "command_audio": str(audio_path.relative_to(args.speech)),
        "command_voice": voice,
        "command_spoken_text": spoken,
        "threads": args.threads,
        "model": str(args.model),
        **machine(),
    }
    result = {key: round(value, 3) if isinstance(value, float) else value for key, value in result.items()}
    fileio.write_json(RESULTS_DIR / "latency.json", result)
    for key in ("seconds_per_instruction", "seconds_per_instruction_audio_text", "seconds_per_instruction_text",
                "seconds_speech_encoder", "seconds_load", "command_seconds"):
        print(f"{key}: {result[key]}")
    print(f"-> {RESULTS_DIR / 'latency.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
