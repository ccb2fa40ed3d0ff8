"""Table 4 of the paper on this machine: end-to-end generation from speech against the cascade that
first transcribes the speech (faster-whisper, Whisper tiny.en, beam 5) and then generates from the
transcript, in one process on the same test utterances of held-out voices.

Both paths start from the audio file and end with joint positions (no video):
  end-to-end: read audio -> speech encoder features -> generator;
  cascade:    read audio -> speech recognition -> MiniLM text embedding -> generator.
Samples per second is instructions done one after another (what a user sees) over the timed set;
latency is the median over repeats for an instruction cut or padded to 5 s.
Writes benchmarks/results/table4.md and table4.json.

    .venv/bin/python benchmarks/table4_speed.py --speech /tmp/saymotion-speech [--model DIR] [--count 40]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from common import RESULTS_DIR, machine
from latency import INSTRUCTION_SECONDS, REPEATS, five_second_instruction, timed, unseen_voice_utterance

from saymotion import fileio, settings
from saymotion.audio import SAMPLE_RATE, read_audio
from saymotion.config import config_to_dict
from saymotion.evaluation.cascade import CASCADE_ASR, transcribe_waveform, word_error_rate
from saymotion.evaluation.provenance import config_sha256, speech_sha256
from saymotion.pipeline import Pipeline
from saymotion.speech.corpus import read_manifest
from saymotion.speech.encoders import load_encoder
from saymotion.speech.voices import heldout_voices


def test_utterances(speech_dir: Path, count: int) -> list:
    """`count` test-split utterances by held-out voices, spread evenly over the split."""
    heldout = {voice.name for voice in heldout_voices()}
    rows = sorted((r for r in read_manifest(speech_dir) if r.split == "test" and r.voice in heldout), key=lambda r: r.id)
    if len(rows) < count:
        raise SystemExit(f"{speech_dir} has {len(rows)} test utterances by held-out voices, fewer than {count}")
    return [rows[i * len(rows) // count] for i in range(count)]


class Paths:
    """The two ways from a waveform to motion, sharing one loaded model."""

    def __init__(self, pipeline: Pipeline, threads: int):
        self.pipeline = pipeline
        self.recogniser = load_encoder(CASCADE_ASR, threads).whisper_model

    def end_to_end(self, waveform):
        return self.pipeline.generate(audio=(waveform, SAMPLE_RATE), seed=0)

    def transcribe(self, waveform) -> str:
        return transcribe_waveform(self.recogniser, waveform)

    def cascade(self, waveform):
        return self.pipeline.generate(text=self.transcribe(waveform) or ".", seed=0)


def throughput(function, files: list[Path]) -> float:
    """Instructions per second, reading each file inside the timed loop."""
    function(read_audio(files[0]))  # warm-up
    started = time.perf_counter()
    for path in files:
        function(read_audio(path))
    return len(files) / (time.perf_counter() - started)


def markdown(result: dict) -> str:
    rows = [
        ("end-to-end (speech encoder -> generator)", result["samples_per_s_end2end"], result["latency_s_end2end"]),
        (f"cascade ({CASCADE_ASR} ASR -> text generator)", result["samples_per_s_cascade"], result["latency_s_cascade"]),
    ]
    lines = [
        "# Table 4 analog: end-to-end vs cascade speed",
        "",
        f"Command: `.venv/bin/python benchmarks/table4_speed.py`. Commit `{result['commit']}`, "
        f"{result['threads']} CPU threads ({result['cpu_count']} cores, {result['machine']}), "
        f"{result['utterances']} test utterances of held-out voices; latency: median of {result['repeats']} runs "
        f"on a {INSTRUCTION_SECONDS:g}-s instruction.",
        "",
        "| method | samples/s | latency 5-s instruction (s) |",
        "|---|---:|---:|",
        *[f"| {name} | {rate:.2f} | {latency:.3f} |" for name, rate, latency in rows],
        "",
        f"Speed-up of end-to-end: {result['speedup']:.2f}x. Cascade word error rate on these utterances: "
        f"{result['cascade_word_error_rate']:.3f}.",
        "",
        f"Model config sha256 `{result['model_config_sha256']}`, speech data sha256 `{result['speech_sha256']}`.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speech", type=Path, default=settings.default_speech_dir(), help="speech corpus")
    parser.add_argument("--model", type=Path, default=settings.default_model_dir())
    parser.add_argument("--count", type=int, default=40, help="utterances timed for samples/s")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipeline = Pipeline.load(args.model)
    paths = Paths(pipeline, args.threads)
    utterances = test_utterances(args.speech, args.count)
    files = [args.speech / row.path for row in utterances]
    transcripts = [paths.transcribe(read_audio(path)) for path in files]
    five_seconds = five_second_instruction(unseen_voice_utterance(args.speech, INSTRUCTION_SECONDS)[0])
    result = {
        "samples_per_s_end2end": throughput(paths.end_to_end, files),
        "samples_per_s_cascade": throughput(paths.cascade, files),
        "latency_s_end2end": timed(lambda: paths.end_to_end(five_seconds)),
        "latency_s_cascade": timed(lambda: paths.cascade(five_seconds)),
        "cascade_word_error_rate": word_error_rate([row.text for row in utterances], transcripts),
        "utterances": len(files),
        "repeats": REPEATS,
        "threads": args.threads,
        "model": str(args.model),
        "model_config_sha256": config_sha256(config_to_dict(pipeline.generator.config)),
        "speech_sha256": speech_sha256(args.speech, pipeline.generator.speech_encoder),
        **machine(),
    }
    result["speedup"] = result["samples_per_s_end2end"] / result["samples_per_s_cascade"]
    result = {key: round(value, 4) if isinstance(value, float) else value for key, value in result.items()}
    fileio.write_json(RESULTS_DIR / "table4.json", result)
    fileio.write_text(RESULTS_DIR / "table4.md", markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
