"""`saymotion train`: train the tokenizer, the listener (optional), generator, residual transformer and
length predictor."""

from __future__ import annotations

import argparse
from pathlib import Path

from saymotion import settings
from saymotion.config import KnownMeaningsConfig

STAGE_CHOICES = ("tokenizer", "listener", "generator", "residual", "length", "all", "export", "meanings")
# The stages export can take from runs of their own, with what each one is.
STAGE_RUN_KINDS = {"tokenizer": "tokenizer", "generator": "generator", "residual": "residual transformer",
                   "length": "length predictor"}

DESCRIPTION = """\
Train one stage, or all of them in order, into a run folder (the listener stage runs only when
condition.listener is on, as in configs/meaning-token.toml). Every stage resumes from its last
checkpoint (RUN/<stage>/last.pt) and is skipped when already finished. `tokenizer --init-from MODEL`
fine-tunes MODEL's tokenizer's decoder alone: its codes stay, so MODEL's other models still fit
it (export them together with --tokenizer-run). `export` copies a finished
run's models (without training state) into a folder that `saymotion generate --model` reads, with
its known meanings when it has them. `meanings` writes RUN/meanings.pt for a finished run or
exported model (--run): the known meanings that sample.meaning_snap draws heard speech towards,
from the texts of the speech corpus's training split.

Several processes: torchrun --nproc-per-node 2 -m saymotion train all --config FILE --out RUN
(gloo on CPU, NCCL on CUDA; train.<stage>.batch_size is the total over all processes)."""


def default_config() -> Path:
    return settings.REPO_DIR / "configs" / "default.toml"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train the motion tokenizer and generators", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("stage", choices=STAGE_CHOICES, help="what to train (or export, or give known meanings)")
    parser.add_argument("--config", type=Path, default=default_config(), help="TOML config (default: configs/default.toml)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config value, e.g. --set train.generator.steps=2000 (repeatable; "
                             "export: only sample.KEY=VALUE, the sampling settings the model ships with)")
    parser.add_argument("--out", type=Path, help="run folder (default: $SAYMOTION_CACHE/runs/<config name>)")
    parser.add_argument("--data", type=Path, help="prepared motion dataset (overrides data.prepared_dir)")
    parser.add_argument("--speech", type=Path, help="speech corpus with cached features (overrides data.speech_dir)")
    parser.add_argument("--tokenizer", type=Path, help="tokenizer checkpoint for the later stages (default: RUN/tokenizer/model.pt)")
    parser.add_argument("--init-from", type=Path, metavar="MODEL",
                        help="generator, residual, length: start from the weights of the same model in this exported "
                             "model or run folder (fine-tuning; give its tokenizer with --tokenizer); tokenizer: "
                             "fine-tune its tokenizer's decoder alone, on its unchanged codes, so the models trained "
                             "on them still fit")
    parser.add_argument("--condition-from", type=Path, metavar="MODEL",
                        help="generator, residual, length: start only the condition encoder (speech side, listener, "
                             "text projection) from the same model in this exported model or run folder, the "
                             "transformer from scratch")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    parser.add_argument("--threads", type=int, help="CPU threads per process (default: all cores shared among processes)")
    parser.add_argument("--stop-at", type=int, metavar="STEP",
                        help="stop after this step of each stage (saving a checkpoint); run again to continue")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--run", type=Path,
                        help="export, meanings: the run folder (or exported model folder) to export or give known meanings")
    parser.add_argument("--count", type=int,
                        help="meanings: how many known meanings to keep, k-means centres of the training instructions' "
                             f"embeddings (default: {KnownMeaningsConfig.count})")
    parser.add_argument("--half", action="store_true", help="export: store weights as fp16 (half the size)")
    for kind, name in STAGE_RUN_KINDS.items():
        parser.add_argument(f"--{kind}-run", type=Path, metavar="RUN",
                            help=f"export: take the {name} from this run instead (e.g. one fine-tuned with --init-from)")
    parser.add_argument("--listener-run", type=Path, metavar="RUN",
                        help="export: give the generator the meaning head of this run's listener "
                             "(trained with condition.meaning_layers > 0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from saymotion.errors import SaymotionError

    if args.count is not None and args.stage != "meanings":
        raise SaymotionError("--count is an option of `saymotion train meanings`")
    if args.stage == "export":
        return _export(args)
    if args.stage == "meanings":
        return _meanings(args)
    if args.run or args.half or args.listener_run or _stage_runs(args):
        stage_runs = ", ".join(f"--{kind}-run" for kind in STAGE_RUN_KINDS)
        raise SaymotionError(f"--run, --half, {stage_runs} and --listener-run are options of `saymotion train export` "
                             "(--run also of `meanings`)")
    if args.init_from and args.stage == "listener":
        raise SaymotionError("--init-from applies to the tokenizer, generator, residual and length stages, not the listener")
    if args.condition_from and args.stage in ("tokenizer", "listener"):
        raise SaymotionError(f"--condition-from applies to the generator, residual and length stages, not the {args.stage}")
    if args.init_from and args.condition_from:
        raise SaymotionError("give --init-from (all weights) or --condition-from (the condition encoder alone), not both")
    return _train(args)


def _stage_runs(args: argparse.Namespace) -> dict[str, Path]:
    """The stages that export takes from runs of their own (--tokenizer-run, --generator-run, ...)."""
    return {kind: getattr(args, f"{kind}_run").resolve() for kind in STAGE_RUN_KINDS if getattr(args, f"{kind}_run")}


def _export(args: argparse.Namespace) -> int:
    from saymotion.errors import SaymotionError
    from saymotion.training.runner import export_model

    if args.run is None or args.out is None:
        raise SaymotionError("export needs --run RUN (a finished run or an exported model) and --out DIR")
    paths = export_model(args.run.resolve(), args.out.resolve(), half=args.half, sample_overrides=args.set,
                         listener_run=args.listener_run.resolve() if args.listener_run else None,
                         stage_runs=_stage_runs(args))
    total = sum(path.stat().st_size for path in paths.values())
    print(f"exported {len(paths)} models to {args.out} ({total / 1e6:.1f} MB)")
    return 0


def _meanings(args: argparse.Namespace) -> int:
    from saymotion.errors import SaymotionError
    from saymotion.training.runner import write_known_meanings

    if args.run is None:
        raise SaymotionError("meanings needs --run RUN (a finished run or an exported model)")
    config = KnownMeaningsConfig() if args.count is None else KnownMeaningsConfig(count=args.count)
    if config.count < 1:
        raise SaymotionError(f"--count must be at least 1, got {config.count}")
    path = write_known_meanings(args.run.resolve(), args.speech.resolve() if args.speech else None, config)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


def _train(args: argparse.Namespace) -> int:
    import os

    import torch

    from saymotion.config import load_config
    from saymotion.training import distributed
    from saymotion.training.runner import RunOptions, train_stages, training_stages

    config = load_config(args.config, args.set)
    if args.data:
        config.data.prepared_dir = str(args.data.resolve())
    if args.speech:
        config.data.speech_dir = str(args.speech.resolve())
    out_dir = (args.out or settings.cache_dir() / "runs" / args.config.stem).resolve()
    context = distributed.start(args.device)
    try:
        if context.device.type == "cpu":
            torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // context.world_size))
        stages = training_stages(config) if args.stage == "all" else [args.stage]
        options = RunOptions(config, out_dir, args.tokenizer.resolve() if args.tokenizer else None,
                             args.stop_at, progress=not args.no_progress,
                             init_from=args.init_from.resolve() if args.init_from else None,
                             condition_from=args.condition_from.resolve() if args.condition_from else None)
        results = train_stages(stages, options, context)
        # Leave together: a rank that closes its connections while rank 0 still saves can abort it.
        distributed.barrier(context)
    finally:
        distributed.stop(context)
    if context.is_main:
        for kind, result in results.items():
            state = "finished" if result.finished else f"stopped at step {result.step}"
            shown = ", ".join(f"{k}={v:.4g}" for k, v in result.metrics.items())
            print(f"{kind}: {state} -> {result.path}" + (f" ({shown})" if shown else ""))
    return 0
