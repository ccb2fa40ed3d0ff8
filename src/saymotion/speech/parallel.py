"""Run a per-item job over a list with one worker process per core, in input order, with a progress
bar. Each process builds its (expensive) worker object once: an encoder or a TTS voice stays loaded."""

from __future__ import annotations

import ctypes
import multiprocessing
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tqdm import tqdm

_worker: Callable[[Any], Any] | None = None


def _die_with_parent() -> None:
    """Workers of a run killed with -9 stop at once instead of finishing a task nobody collects."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _initialize(factory: Callable[..., Callable[[Any], Any]], args: tuple) -> None:
    global _worker
    _die_with_parent()
    _worker = factory(*args)


def _call(item: Any) -> Any:
    assert _worker is not None, "worker process was not initialised"
    return _worker(item)


def run_parallel(
    items: Sequence[Any],
    factory: Callable[..., Callable[[Any], Any]],
    args: tuple,
    *,
    workers: int,
    description: str,
    unit: str,
    progress: bool = True,
    weight: Callable[[Any], int] = lambda item: 1,
) -> list[Any]:
    """`[factory(*args)(item) for item in items]`, spread over `workers` processes.
    `factory` must be importable at top level (processes are spawned); `weight` counts progress
    units per item (e.g. utterances in a shard)."""
    bar = tqdm(total=sum(weight(item) for item in items), desc=description, unit=unit, disable=not progress)
    with bar:
        results = []
        for item, result in zip(items, _results(items, factory, args, workers), strict=True):
            results.append(result)
            bar.update(weight(item))
        return results


def _results(items: Sequence[Any], factory: Callable, args: tuple, workers: int) -> Iterator[Any]:
    if workers <= 1 or len(items) <= 1:
        worker = factory(*args)
        yield from (worker(item) for item in items)
        return
    # spawn, not fork: onnxruntime and CTranslate2 keep thread pools that do not survive a fork.
    context = multiprocessing.get_context("spawn")
    with context.Pool(min(workers, len(items)), initializer=_initialize, initargs=(factory, args)) as pool:
        yield from pool.imap(_call, items, chunksize=1)
