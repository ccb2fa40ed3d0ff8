"""Where a generator training step's time goes: the masked transformer's loss forward and backward on
a batch of the training's size, and within it the speech side: the audio encoder (trained) and the
frozen listener's frame reader (forward only, in eval mode as `condition.listener_dropout=false`
holds it); and the step when the audio encoder is frozen too, so that training hears every
utterance once in advance and a step runs without the speech side. Random speech features and
codes of the given durations stand in for data: only their shapes matter for time. Writes
benchmarks/results/generator_step.json.

    .venv/bin/python benchmarks/generator_step.py [--model DIR] [--seconds 5] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from common import RESULTS_DIR, machine

from saymotion import fileio, settings
from saymotion.config import downsampling_factor
from saymotion.errors import SaymotionError
from saymotion.generate import MotionGenerator
from saymotion.models.common import frame_pool
from saymotion.models.conditioning import ConditionBatch, listen
from saymotion.models.minilm import TEXT_EMBEDDING_DIM
from saymotion.skeleton import TARGET_FPS
from saymotion.speech.encoders import WhisperEncoder


HEARD_IN_ADVANCE = "step, speech side fixed and heard in advance"


def seconds_per_call(work: Callable[[], None], repeats: int) -> float:
    work()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        work()
    return (time.perf_counter() - start) / repeats


def random_batch(batch: int, seconds: float, audio_dim: int, rng: np.random.Generator) -> ConditionBatch:
    def vectors(shape: tuple[int, ...]) -> list[np.ndarray]:
        return [rng.standard_normal(shape).astype(np.float32) for _ in range(batch)]

    frames = int(seconds * WhisperEncoder.frame_rate)
    return ConditionBatch.from_arrays(vectors((frames, audio_dim)), vectors((TEXT_EMBEDDING_DIM,)), audio_dim,
                                      spoken_text=vectors((TEXT_EMBEDDING_DIM,)))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=settings.default_model_dir(), help="model folder or run")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each instruction and motion")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "generator_step.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        generator = MotionGenerator.load(args.model)
    except SaymotionError as error:
        print(f"generator_step: error: {error}", file=sys.stderr)
        return 2
    config = generator.config
    model = generator.checkpoints["generator"].model.float()
    condition = model.condition
    condition.freeze_listener(dropout=False)
    model.train()
    batch_size = config.train.generator.batch_size
    cond = random_batch(batch_size, args.seconds, generator.checkpoints["generator"].dims.audio_dim,
                        np.random.default_rng(0))  # fmt: skip
    tokens = int(args.seconds * TARGET_FPS) // downsampling_factor(config)
    codes = torch.randint(0, model.num_codes, (batch_size, tokens))
    lengths = torch.full((batch_size,), tokens)
    frames, frame_lengths = frame_pool(cond.audio, cond.audio_lengths, condition.audio_pool)

    def step() -> None:
        model(codes, lengths, cond)[0].backward()

    def audio_encoder() -> None:
        condition.audio(frames, frame_lengths).sum().backward()

    def frame_reader() -> None:
        with torch.no_grad():
            listen(None, condition.meaning, condition.meaning_frames, condition.audio_pool, cond)

    parts = {"step (forward + backward)": step, "audio encoder (forward + backward)": audio_encoder}
    if condition.meaning_frames is not None:
        parts["frozen listener's frame reader (forward)"] = frame_reader
    timings = {name: round(seconds_per_call(work, args.repeats), 4) for name, work in parts.items()}
    # With condition.train_audio_encoder = false as well, the speech side is fixed and training
    # hears every utterance once in advance (CodeStage.hear_speech_in_advance).
    condition.freeze_audio_encoder()
    with torch.no_grad():
        heard_tokens, heard_meaning = condition.hear(cond)
    heard = replace(cond, audio=cond.audio[:, :1], heard_tokens=heard_tokens, heard_meaning=heard_meaning)
    timings[HEARD_IN_ADVANCE] = round(seconds_per_call(lambda: model(codes, lengths, heard)[0].backward(), args.repeats), 4)
    total = timings["step (forward + backward)"]
    for name, seconds in timings.items():
        print(f"{name:>42}: {seconds:.3f} s ({seconds / total:.0%} of the step)")
    result = {"model": str(args.model), "batch_size": batch_size, "seconds": args.seconds, "motion_tokens": tokens,
              "threads": args.threads, "seconds_per_call": timings, **machine()}  # fmt: skip
    fileio.write_json(args.out, result)
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
