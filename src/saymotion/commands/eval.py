"""`saymotion eval`: train the evaluator on real motion, and score a model with the field's metrics."""

from __future__ import annotations

import argparse
from pathlib import Path

from saymotion import settings

TRAIN_DESCRIPTION = """\
Train the evaluator that every metric is computed with: a motion encoder and a projection of the
MiniLM text embedding in one space (contrastive, as TMR), with action and style classifiers, on the
train split's real motion only. Writes OUT/model.pt, resumes from OUT/last.pt, logs OUT/train.csv and
OUT/eval.csv. With configs/evaluator.toml it takes about 10 minutes on 2 CPU cores."""

RUN_DESCRIPTION = """\
Generate for every clip of the test split from its oral instructions (audio: utterances of held-out
voices; text: the description; both: the utterance with its text; cascade: the utterance transcribed
by Whisper tiny.en, then the text path) and compute FID, R-precision, MM-Dist, Diversity,
MultiModality, action/style accuracy and foot skating, each as mean and 95% interval over the
repetitions, with the same metrics of the real motion as reference. Writes a JSON report with the
commit, configs and data digests."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="train the evaluator and evaluate models", description=__doc__)
    actions = parser.add_subparsers(dest="eval_command", metavar="ACTION", required=True)

    train = actions.add_parser("train", help="train the evaluator on real motion", description=TRAIN_DESCRIPTION)
    train.add_argument("--data", type=Path, default=settings.default_prepared_dir(),
                       help="prepared dataset (default: %(default)s)")  # fmt: skip
    train.add_argument("--out", type=Path, required=True, help="evaluator folder")
    train.add_argument("--config", type=Path, default=settings.REPO_DIR / "configs" / "evaluator.toml",
                       help="evaluator TOML config (default: configs/evaluator.toml)")  # fmt: skip
    train.add_argument("--stop-at", type=int, metavar="STEP",
                       help="stop after this step (saving a checkpoint); run again to continue")  # fmt: skip
    add_machine_options(train)
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(func=run_train)

    run = actions.add_parser("run", help="score a model with the field's metrics", description=RUN_DESCRIPTION)
    run.add_argument("--checkpoint", type=Path, required=True, help="model folder (exported, or a training run)")
    run.add_argument("--evaluator", type=Path, required=True, help="evaluator folder (or its model.pt)")
    run.add_argument("--condition", required=True, choices=("audio", "text", "both", "cascade"), help="how the model is instructed")
    run.add_argument("-o", "--out", type=Path, required=True, help="report file (JSON)")
    run.add_argument("--reps", type=int, help="repetitions (default: 20, or 3 with --quick)")
    run.add_argument("--quick", action="store_true", help="a smoke test: few clips, small counts, 3 repetitions")
    run.add_argument("--mm-conditions", type=int,
                     help="clips MultiModality samples per repetition (default: 100; each costs 30 motions)")
    run.add_argument("--split", choices=("test", "test_novel", "val"), default="test",
                     help="clips to evaluate (default: %(default)s; val for choosing sampling settings)")  # fmt: skip
    run.add_argument("--set", action="append", default=[], metavar="sample.KEY=VALUE",
                     help="sample with another setting than the model's, e.g. --set sample.guidance_audio=6 (repeatable)")  # fmt: skip
    run.add_argument("--data", type=Path, help="prepared dataset (default: the model's data.prepared_dir)")
    run.add_argument("--speech", type=Path, help="speech corpus with cached features (default: the model's data.speech_dir)")
    run.add_argument("--predicted-length", action="store_true", help="let the model predict lengths instead of using the clips'")
    run.add_argument("--instructions", choices=("oral", "steps"), default="oral",
                     help="the oral instructions, or only the step commands a multi-step recording is cut into "
                          "(train and val clips have them) (default: %(default)s)")  # fmt: skip
    run.add_argument("--seed", type=int, default=0, help="seed of the repetitions (default: %(default)s)")
    add_machine_options(run)
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.set_defaults(func=run_evaluation)


def add_machine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    parser.add_argument("--threads", type=int, help="CPU threads (default: all cores)")


def start_torch(args: argparse.Namespace):
    import os

    import torch

    from saymotion.training.distributed import resolve_device

    if args.threads is not None and args.threads < 1:
        from saymotion.errors import SaymotionError

        raise SaymotionError(f"--threads must be at least 1, got {args.threads}")
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    return resolve_device(args.device)


def run_train(args: argparse.Namespace) -> int:
    from saymotion.datasets.prepared import PreparedDataset
    from saymotion.errors import SaymotionError
    from saymotion.evaluation.evaluator import load_evaluator_config
    from saymotion.evaluation.training import train_evaluator

    if args.stop_at is not None and args.stop_at < 1:
        raise SaymotionError(f"--stop-at must be at least 1, got {args.stop_at}")
    config = load_evaluator_config(args.config)
    dataset = PreparedDataset(args.data)
    device = start_torch(args)
    result = train_evaluator(config, dataset, args.out.resolve(), device, stop_at=args.stop_at, progress=not args.no_progress)
    state = "finished" if result.finished else f"stopped at step {result.step}"
    shown = ", ".join(f"{k}={v:.4g}" for k, v in result.metrics.items())
    print(f"evaluator: {state} -> {result.path}" + (f" ({shown})" if shown else ""))
    return 0


def run_evaluation(args: argparse.Namespace) -> int:
    from saymotion.errors import SaymotionError
    from saymotion.evaluation import protocol as p
    from saymotion.fileio import write_json

    if args.out.is_dir():
        raise SaymotionError(f"{args.out} is a folder; -o takes the report file to write")
    protocol = p.protocol_from_options(args.quick, args.reps, args.mm_conditions)
    device = start_torch(args)
    request = p.EvaluationRequest(args.checkpoint, args.evaluator, args.condition, protocol, args.split, args.data,
                                  args.speech, args.predicted_length, args.seed, args.threads or 0, tuple(args.set),
                                  args.instructions)  # fmt: skip
    report = p.run_evaluation(request, device, progress=not args.no_progress)
    write_json(args.out, report)
    for row in ("generated", "real"):
        shown = ", ".join(f"{name} {value['mean']:.3f}±{value['ci95']:.3f}" for name, value in report[row].items())
        print(f"{row}: {shown}")
    print(f"report: {args.out}")
    return 0
