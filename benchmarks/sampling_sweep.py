"""Sampling settings chosen on the val split, never on test: one model evaluated with its own
`[sample]` settings (changed by every --with) and with each value tried for one setting at a time
(the others kept), by `saymotion eval run`'s protocol. Writes benchmarks/results/sampling_sweep_<condition>.md and the
reports under benchmarks/results/eval/sampling/<condition>/.

    .venv/bin/python benchmarks/sampling_sweep.py --model RUN --evaluator EVAL --data PREP --speech SPEECH \\
        --condition audio --try guidance_audio=2,6,8 --try temperature=0.7,0.4 [--with top_k=10] [--reps 3] [--name NAME]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from common import RESULTS_DIR, commit
from eval_tables import REPORTS_DIR, header, provenance_line, report_for, row

from saymotion import fileio, settings
from saymotion.errors import SaymotionError
from saymotion.evaluation import protocol as p


def variants(tries: list[str], held: list[str]) -> list[tuple[str, ...]]:
    """The model's settings changed by the held ones, then the same with each value tried."""
    base = tuple(f"sample.{text.strip()}" for text in held)
    found = [base]
    for text in tries:
        key, sep, values = text.partition("=")
        if not sep or not values:
            raise SaymotionError(f"--try takes KEY=V1,V2,... (a sample setting and its values), got {text!r}")
        kept = tuple(o for o in base if not o.startswith(f"sample.{key.strip()}="))
        found += [kept + (f"sample.{key.strip()}={value.strip()}",) for value in values.split(",")]
    return found


def label(overrides: tuple[str, ...]) -> str:
    return ", ".join(o.removeprefix("sample.") for o in overrides) or "the model's settings"


def markdown(condition: str, rows: list[tuple[str, dict]], command: str) -> str:
    first = rows[0][1]["sample"]
    lines = [f"# Sampling settings on the val split ({condition})", "", provenance_line(rows[0][1], command),
             "First row's settings: " + ", ".join(f"{k} {v}" for k, v in first.items()) + ".", "", *header(),
             row("real motion", rows[0][1]["real"]), *[row(name, report["generated"]) for name, report in rows]]  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=settings.default_model_dir(), help="model folder (default: the shipped model)")
    parser.add_argument("--evaluator", type=Path, required=True, help="evaluator folder (saymotion eval train)")
    parser.add_argument("--condition", choices=(p.AUDIO, p.TEXT, p.BOTH), required=True)
    parser.add_argument("--try", dest="tries", action="append", default=[], metavar="KEY=V1,V2",
                        help="a sample setting and the values to try, e.g. guidance_audio=2,6 (repeatable)")
    parser.add_argument("--with", dest="held", action="append", default=[], metavar="KEY=VALUE",
                        help="a sample setting changed for every variant, e.g. top_k=10 (repeatable)")  # fmt: skip
    parser.add_argument("--data", type=Path, help="prepared dataset (default: the model's)")
    parser.add_argument("--speech", type=Path, help="speech corpus (default: the model's)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (default: %(default)s)")
    parser.add_argument("--mm-conditions", type=int, default=1, help="MultiModality conditions (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", help="names the table sampling_sweep_NAME.md and its reports' folder "
                                       "(default: the condition, then the --with settings)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        protocol = p.protocol_from_options(repetitions=args.reps, mm_conditions=args.mm_conditions)
        tried = variants(args.tries, args.held)
    except SaymotionError as error:
        raise SystemExit(f"error: {error}") from None
    current = commit()
    name = args.name or args.condition + "".join(f"_{h.replace('=', '')}" for h in args.held)
    folder = REPORTS_DIR / "sampling" / name
    rows = []
    for overrides in tried:
        request = p.EvaluationRequest(args.model, args.evaluator, args.condition, protocol, "val", args.data, args.speech,
                                      threads=args.threads, sample_overrides=overrides)  # fmt: skip
        report = "-".join(o.removeprefix("sample.").replace("=", "") for o in overrides) or "own"
        rows.append((label(overrides), report_for(folder / f"{report}.json", request, torch.device("cpu"), current)))
    command = (f".venv/bin/python benchmarks/sampling_sweep.py --model MODEL --evaluator EVAL --condition {args.condition} "
               + " ".join([*(f"--try {t}" for t in args.tries), *(f"--with {h}" for h in args.held)]) + f" --reps {args.reps} --mm-conditions {args.mm_conditions}"
               + (f" --name {args.name}" if args.name else ""))  # fmt: skip
    text = markdown(args.condition, rows, command)
    fileio.write_text(RESULTS_DIR / f"sampling_sweep_{name}.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
