"""The training loop every stage shares: optimiser and schedule, seeding, DDP, CSV logs, progress
bar, periodic evaluation, resumable checkpoints.

Randomness is derived from (seed, rank, step) at every step instead of carried along, so a run
resumed from `last.pt` draws exactly the batches, masks and dropout an uninterrupted run would
have drawn, and ends with the same weights.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from saymotion.checkpoint import FINAL, LAST, Checkpoint, load_checkpoint, save_checkpoint
from saymotion.config import ExperimentConfig, TrainConfig, config_to_dict
from saymotion.errors import CheckpointError, SaymotionError
from saymotion.training.csvlog import CsvLog
from saymotion.training.distributed import RunContext, check_replicas_agree, wrap

# Config keys that may change between a run and its resumption without changing what is learned
# up to the resumed step (a longer schedule or another weighting of the clips acts from there on).
RESUMABLE_CHANGES = {"steps", "log_every", "checkpoint_every", "eval_every", "eval_batches", "prepared_dir", "speech_dir",
                     "balance_actions"}
# Groups and data keys (ignored at any depth) that only the conditioned stages see.
TOKENIZER_IGNORES = {"condition", "generator", "residual", "length", "sample", "speech_encoder", "max_audio_frames",
                     "instruction_kinds", "length_buckets", "unheard_voices", "unheard_phrasing"}
# Condition settings the listener never sees (it is the audio encoder and meaning head alone).
LISTENER_CONDITION_IGNORES = {"modalities", "drop_audio", "drop_text", "align_weight", "init_from_generator",
                              "listener_dropout", "train_audio_encoder", "meaning_noise"}
# Groups and data keys the listener stage never sees, besides those condition settings.
LISTENER_IGNORES = {"tokenizer", "generator", "residual", "length", "sample", "window_frames", "mirror", "max_frames",
                    "length_buckets"} | LISTENER_CONDITION_IGNORES
MIN_LR_FRACTION = 0.1


class Stage(Protocol):
    """What the loop needs from one training stage (tokenizer, listener, generator, residual, length)."""

    kind: str
    config: ExperimentConfig
    model: nn.Module
    started_from: str  # id of the model whose weights training started from; "" when from scratch

    def batch(self, rng: np.random.Generator, size: int) -> Any: ...

    def loss(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]: ...

    def evaluate(self, final: bool) -> dict[str, float]: ...

    def checkpoint(self, step: int, metrics: dict[str, float]) -> Checkpoint: ...


@dataclass
class StageResult:
    path: Path  # the finished model, or the last checkpoint when stopped early
    step: int
    finished: bool
    metrics: dict[str, float]


def learning_rate(step: int, train: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to MIN_LR_FRACTION of the peak."""
    if step < train.warmup_steps:
        return train.lr * (step + 1) / train.warmup_steps
    progress = (step - train.warmup_steps) / max(train.steps - train.warmup_steps, 1)
    cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return train.lr * (MIN_LR_FRACTION + (1 - MIN_LR_FRACTION) * cosine)


def seed_step(seed: int, rank: int, step: int) -> np.random.Generator:
    """Seed torch for one step on one rank and return the numpy generator of the same step."""
    sequence = np.random.SeedSequence([seed, rank, step])
    torch.manual_seed(int(sequence.generate_state(1, np.uint64)[0] >> 1))
    return np.random.default_rng(sequence)


def config_differences(old: ExperimentConfig, new: ExperimentConfig, kind: str) -> list[str]:
    """Dotted keys whose values differ among the settings that shape stage `kind` (the tokenizer
    never sees the condition or the transformers; no stage sees another's training settings),
    ignoring keys that may change on resume."""
    def relevant(config: ExperimentConfig) -> dict:
        values = config_to_dict(config)
        values["train"] = {kind: values["train"][kind]}
        return values

    ignore = RESUMABLE_CHANGES | {"tokenizer": TOKENIZER_IGNORES, "listener": LISTENER_IGNORES}.get(kind, set())
    return dict_differences(relevant(old), relevant(new), ignore)


def dict_differences(old: dict, new: dict, ignore: set[str], prefix: str = "") -> list[str]:
    """Dotted keys of two nested dicts whose values differ; keys named in `ignore` are skipped at any depth."""
    found = []
    for key in sorted((set(old) | set(new)) - ignore):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += dict_differences(a, b, ignore, f"{prefix}{key}.")
        elif a != b:
            found.append(f"{prefix}{key}")
    return found


def require_no_differences(path: Path, differences: list[str]) -> None:
    """Refuse to continue or reuse a checkpoint trained with another config."""
    if differences:
        raise CheckpointError(
            f"{path} was trained with a different config ({', '.join(differences[:5])}); "
            "train into a new --out folder or restore the config"
        )


def set_learning_rate(optimizer: torch.optim.Optimizer, step: int, train: TrainConfig) -> float:
    lr = learning_rate(step, train)
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


def optimisation_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor, values: dict[str, float],
                      train: TrainConfig, what: str, lr_key: str, step: int) -> None:
    """One update from `loss` (refused when it is not finite), with gradient clipping logged into `values`."""
    if not torch.isfinite(loss):
        raise SaymotionError(f"{what}: loss became {loss.item()} at step {step + 1}; lower {lr_key}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if train.grad_clip > 0:
        values["grad_norm"] = float(nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip))
    optimizer.step()


def run_stage(
    stage: Stage, stage_dir: Path, context: RunContext, *, stop_at: int | None = None, progress: bool = True,
    before_training: Callable[[], None] | None = None, saved: Checkpoint | None = None,
) -> StageResult:
    """Train `stage` until its configured step count (or `stop_at`), resuming from stage_dir/last.pt
    (`saved`, when the caller has read it already).
    `before_training` runs once before the first step this call takes, and not at all when it takes
    none (work only the steps need, such as hearing the speech in advance)."""
    train: TrainConfig = getattr(stage.config.train, stage.kind)
    final_path, last_path = stage_dir / FINAL, stage_dir / LAST
    per_rank_batch = _per_rank_batch(train.batch_size, context.world_size)
    optimizer = torch.optim.AdamW(stage.model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    start = _resume(stage, optimizer, last_path, context, saved)
    end = max(start, min(train.steps, stop_at)) if stop_at is not None else train.steps
    if final_path.is_file() and (start >= train.steps or not last_path.is_file()):
        return _finished(stage, final_path)

    if before_training is not None and start < end:
        before_training()
    model = wrap(stage.model, context)
    train_log = CsvLog(stage_dir / "train.csv", start) if context.is_main else None
    eval_log = CsvLog(stage_dir / "eval.csv", start) if context.is_main else None
    metrics: dict[str, float] = {}
    bar = tqdm(total=end, initial=start, desc=stage.kind, disable=not (progress and context.is_main), dynamic_ncols=True)
    tick = time.perf_counter()
    for step in range(start, end):
        rng = seed_step(stage.config.seed, context.rank, step)
        lr = set_learning_rate(optimizer, step, train)
        stage.model.train()
        loss, values = stage.loss(model, stage.batch(rng, per_rank_batch))
        optimisation_step(stage.model, optimizer, loss, values, train, stage.kind, f"train.{stage.kind}.lr", step)
        done = step + 1
        bar.update(1)
        if context.is_main and (done % train.log_every == 0 or done == end):
            seconds = (time.perf_counter() - tick) / (done - start)
            train_log.add(done, {"loss": loss.item(), "lr": lr, **values, "sec_per_step": seconds})
            train_log.flush()
            bar.set_postfix(loss=f"{loss.item():.4f}")
        if context.is_main and ((train.eval_every and done % train.eval_every == 0) or done == train.steps):
            metrics = stage.evaluate(final=done == train.steps)
            eval_log.add(done, metrics)
            eval_log.flush()
        if context.is_main and (done % train.checkpoint_every == 0 or done == end):
            _save_last(stage, optimizer, done, metrics, last_path)
    bar.close()
    if end < train.steps:
        return StageResult(last_path, end, False, metrics)
    if context.is_main and start == train.steps:  # stopped between the last checkpoint and the export
        metrics = stage.evaluate(final=True)
    digest = check_replicas_agree(stage.model, context)
    # One write per line: the ranks share the terminal.
    sys.stdout.write(f"{stage.kind}: finished {train.steps} steps on rank {context.rank}; weights digest {digest}\n")
    sys.stdout.flush()
    if context.is_main:
        save_checkpoint(final_path, stage.checkpoint(train.steps, metrics), resumable=False)
    return StageResult(final_path, train.steps, True, metrics)


def _per_rank_batch(batch_size: int, world_size: int) -> int:
    if batch_size % world_size:
        raise SaymotionError(f"batch size {batch_size} does not split evenly over {world_size} processes")
    return batch_size // world_size


def _finished(stage: Stage, final_path: Path) -> StageResult:
    """The stage's existing final model, if it was trained with the same config."""
    final = load_checkpoint(final_path, stage.kind)
    require_no_differences(final_path, config_differences(final.config, stage.config, stage.kind))
    return StageResult(final_path, final.step, True, final.metrics)


def _resume(stage: Stage, optimizer: torch.optim.Optimizer, last_path: Path, context: RunContext,
            saved: Checkpoint | None) -> int:
    if not last_path.is_file():
        return 0
    if saved is None:
        saved = load_checkpoint(last_path, stage.kind, device=context.device)
    require_no_differences(last_path, config_differences(saved.config, stage.config, stage.kind))
    if saved.training_state is None:
        raise CheckpointError(f"{last_path} holds no optimizer state and cannot be resumed")
    stage.model.load_state_dict(saved.model.state_dict())
    stage.started_from = saved.started_from
    optimizer.load_state_dict(saved.training_state["optimizer"])
    return saved.step


def _save_last(stage: Stage, optimizer: torch.optim.Optimizer, step: int, metrics: dict[str, float], path: Path) -> None:
    checkpoint = stage.checkpoint(step, metrics)
    checkpoint.training_state = {"optimizer": optimizer.state_dict()}
    save_checkpoint(path, checkpoint)
