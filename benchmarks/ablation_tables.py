"""Tables 2, 5 and 6 of the paper on our data: models that differ in one choice, each trained by
the repo's own command from a config in configs/ablations/ (the default's architecture and
training budget) and scored by `saymotion eval run`'s protocol on the test split's oral
instructions (text for text models, audio of held-out voices for audio models).

- table2: text model vs audio model, each trained on original vs oral descriptions.
- table5: speech encoder: frozen whisper-base, frozen whisper-tiny.en, log-mel learned from scratch
  (cache their features first: saymotion speech features --speech SDIR --encoder whisper-tiny.en|logmel),
  each with memory retrieval (the paper's) and with average pooling to 8 tokens (which learns
  within a small budget where memory retrieval does not yet, Table 6).
- table6: condition compression: average pooling to 8/32/64 tokens, conv1d, transformer with a
  class token, memory retrieval.

Every model reuses one trained tokenizer (--tokenizer) and trains its generator, residual and
length stages into RUNS/<config name> (a model folder that `saymotion generate --model` reads);
training and reports resume where they stopped. Writes
benchmarks/results/<table>.md and the reports under benchmarks/results/eval/<table>/.

    .venv/bin/python benchmarks/ablation_tables.py table6 --evaluator DIR --tokenizer RUN/tokenizer/model.pt \\
        --runs /tmp/ablations --data PREP --speech SPEECH [--reps 20] [--mm-conditions 100] [--device cuda]

A smaller training budget (--set train.generator.steps=500 ...) makes a pilot on a CPU; the
table states the budget its models were trained with.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from common import RESULTS_DIR, commit
from eval_tables import REPORTS_DIR, header, provenance_line, report_for, row

from saymotion import fileio, settings
from saymotion.checkpoint import run_file
from saymotion.config import TrainPlan
from saymotion.errors import SaymotionError
from saymotion.evaluation import protocol as p

CONFIGS = settings.REPO_DIR / "configs" / "ablations"
# table -> (title, row label, config name, condition)
TABLES = {
    "table2": ("Table 2 analog: text vs audio models, trained on original vs oral descriptions", [
        ("text model, original descriptions", "table2-text-original", p.TEXT),
        ("text model, oral descriptions", "table2-text-oral", p.TEXT),
        ("audio model, original descriptions", "table2-audio-original", p.AUDIO),
        ("audio model, oral descriptions", "table2-audio-oral", p.AUDIO),
    ]),
    "table5": ("Table 5 analog: speech encoder of the audio model", [
        ("whisper-base (frozen)", "audio-only", p.AUDIO),
        ("whisper-tiny.en (frozen)", "table5-whisper-tiny-en", p.AUDIO),
        ("log-mel, learned from scratch", "table5-logmel", p.AUDIO),
        ("whisper-base, average pooling to 8 tokens", "table6-avgpool8", p.AUDIO),
        ("whisper-tiny.en, average pooling to 8 tokens", "table5-whisper-tiny-en-avgpool8", p.AUDIO),
        ("log-mel, average pooling to 8 tokens", "table5-logmel-avgpool8", p.AUDIO),
    ]),
    "table6": ("Table 6 analog: compressing the speech features into the condition", [
        ("average pooling to 8 tokens", "table6-avgpool8", p.AUDIO),
        ("average pooling to 32 tokens", "table6-avgpool32", p.AUDIO),
        ("average pooling to 64 tokens", "table6-avgpool64", p.AUDIO),
        ("conv1d", "table6-conv1d", p.AUDIO),
        ("transformer encoder, class token", "table6-transformer", p.AUDIO),
        ("memory retrieval (ours, paper eq. 1)", "audio-only", p.AUDIO),
    ]),
}  # fmt: skip
STAGES = ("generator", "residual", "length")


def train(config: str, args: argparse.Namespace) -> Path:
    """The config's model, trained (or resumed, or found finished) with `saymotion train`; the
    shared tokenizer is copied in first so that the run folder is a complete model."""
    run = args.runs / config
    tokenizer = run_file(run, "tokenizer")
    if not tokenizer.is_file():
        tokenizer.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.tokenizer, tokenizer)
    for stage in STAGES:
        command = [sys.executable, "-m", "saymotion", "train", stage, "--config", str(CONFIGS / f"{config}.toml"),
                   "--out", str(run), "--device", args.device, "--no-progress"]  # fmt: skip
        command += [option for name in ("data", "speech") if getattr(args, name) for option in (f"--{name}", str(getattr(args, name)))]
        if args.threads:
            command += ["--threads", str(args.threads)]
        command += [option for override in args.set for option in ("--set", override)]
        subprocess.run(command, check=True)
    return run


def budget_line(rows: list[tuple[str, dict]]) -> str:
    """The training steps of each stage, read from the models' own configs (a range where they
    differ), beside the shipped recipe's."""
    default = TrainPlan()
    parts = []
    for stage in STAGES:
        steps = sorted({report["model"]["config"]["train"][stage]["steps"] for _, report in rows})
        parts.append(f"{stage} {steps[0]:,}" + (f"–{steps[-1]:,}" if len(steps) > 1 else ""))
    shipped = ", ".join(f"{getattr(default, stage).steps:,}" for stage in STAGES)
    return f"Training steps per model: {', '.join(parts)} (`configs/default.toml`: {shipped})."


def markdown(table: str, rows: list[tuple[str, dict]], command: str) -> str:
    title, _ = TABLES[table]
    first = rows[0][1]
    lines = [f"# {title}", "", provenance_line(first, command),
             "Model configs: `configs/ablations/` (sha256 of each in its report). " + budget_line(rows), "", *header(),
             row("real motion", first["real"]), *[row(label, report["generated"]) for label, report in rows]]  # fmt: skip
    return "\n".join(lines) + "\n"


def command_line(args: argparse.Namespace) -> str:
    """The command as a reader reruns it: the table and every option that shapes the numbers."""
    words = [".venv/bin/python benchmarks/ablation_tables.py", args.table, "--evaluator EVAL --tokenizer TOKENIZER --runs RUNS"]
    if args.reps is not None:
        words.append(f"--reps {args.reps}")
    if args.mm_conditions is not None:
        words.append(f"--mm-conditions {args.mm_conditions}")
    if args.quick:
        words.append("--quick")
    words += [f"--set {override}" for override in args.set]
    return " ".join(words)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("table", choices=sorted(TABLES))
    parser.add_argument("--evaluator", type=Path, required=True, help="evaluator folder (saymotion eval train)")
    parser.add_argument("--tokenizer", type=Path, required=True, help="trained tokenizer checkpoint shared by every model")
    parser.add_argument("--runs", type=Path, required=True, help="folder for the models' training runs")
    parser.add_argument("--data", type=Path, help="prepared dataset (default: the configs')")
    parser.add_argument("--speech", type=Path, help="speech corpus (default: the configs')")
    parser.add_argument("--reps", type=int, help="repetitions (default: 20, or 3 with --quick)")
    parser.add_argument("--mm-conditions", type=int, help="MultiModality conditions (default: the protocol's)")
    parser.add_argument("--quick", action="store_true", help="a smoke test: few clips, small counts (saymotion eval run --quick)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    parser.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for every model's training, e.g. train.generator.steps=500 (repeatable)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from saymotion.training.distributed import resolve_device

    device = resolve_device(args.device)
    try:  # the protocol rejects counts below 1
        protocol = p.protocol_from_options(args.quick, args.reps, args.mm_conditions)
    except SaymotionError as error:
        raise SystemExit(f"error: {error}") from None
    current = commit()
    rows = []
    for label, config, condition in TABLES[args.table][1]:
        run = train(config, args)
        request = p.EvaluationRequest(run, args.evaluator, condition, protocol, data=args.data, speech=args.speech,
                                      threads=args.threads or 0)  # fmt: skip
        rows.append((label, report_for(REPORTS_DIR / args.table / f"{config}.json", request, device, current)))
    text = markdown(args.table, rows, command_line(args))
    fileio.write_text(RESULTS_DIR / f"{args.table}.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
