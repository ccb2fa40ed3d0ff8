"""Table 3 of the paper on our data: real motion, and one model instructed by text, by audio of
held-out voices, by audio + text, and by the cascade (Whisper tiny.en transcript -> text path), each
scored by `saymotion eval run`'s protocol on the test split. Writes one report per condition to
benchmarks/results/eval/<condition>.json, the table to benchmarks/results/table3.md, and the
headline figures (with Table 4's speeds when benchmarks/results/table4.json exists) to
benchmarks/results/summary.json.

A report already written at the same commit with the same protocol is reused, so an interrupted
run continues where it stopped.

    .venv/bin/python benchmarks/table3_conditions.py --evaluator DIR [--model DIR] [--data DIR] \\
        [--speech DIR] [--reps 20] [--max-clips 0] [--mm-conditions 100]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch
from common import RESULTS_DIR, commit
from eval_tables import REPORTS_DIR, header, provenance_line, report_for, row

from saymotion import fileio, settings
from saymotion.evaluation import protocol as p

ROWS = ((p.TEXT, "text"), (p.AUDIO, "audio (held-out voices)"), (p.BOTH, "audio + text"), (p.CASCADE, "cascade (ASR -> text)"))
COMMAND = ".venv/bin/python benchmarks/table3_conditions.py"


def markdown(reports: dict[str, dict]) -> str:
    first = next(iter(reports.values()))
    lines = [
        "# Table 3 analog: instructing one model by text, audio, both, or a cascade",
        "",
        provenance_line(first, COMMAND) + f" Model config sha256 `{first['model']['config_sha256'][:12]}`.",
        "",
        *header(),
        row("real motion", first["real"]),
        *[row(title, reports[condition]["generated"]) for condition, title in ROWS if condition in reports],
    ]
    lines += ["", *actions_table(reports), "", *details_table(reports)]
    if p.CASCADE in reports:
        asr = reports[p.CASCADE]["transcription"]
        lines += ["", f"Cascade transcripts ({asr['model']}): word error rate {asr['word_error_rate']:.3f} "
                  f"over {asr['utterances']} utterances; no words heard in {asr['empty_transcripts']} of them "
                  "(sampled without a condition)."]  # fmt: skip
    return "\n".join(lines) + "\n"


def condition_columns(reports: dict[str, dict], row_name: str, count_name: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The conditions present, in table order, and the header of a table with a row name, a count,
    the real motion and one column per condition."""
    conditions = [(condition, title) for condition, title in ROWS if condition in reports]
    head = [f"| {row_name} | {count_name} | real motion | " + " | ".join(title for _, title in conditions) + " |",
            "|---|---:|---:|" + "---:|" * len(conditions)]  # fmt: skip
    return conditions, head


def actions_table(reports: dict[str, dict]) -> list[str]:
    """Action accuracy per action (rows) under each condition (columns): where the accuracy is lost."""
    first = next(iter(reports.values()))
    conditions, head = condition_columns(reports, "action", "test clips")
    lines = ["Action accuracy per action (mean over the repetitions):", "", *head]
    for action, clips in first["clips_by_action"].items():
        cells = [first["action_accuracy_by_action"]["real"][action]["mean"]]
        cells += [reports[condition]["action_accuracy_by_action"]["generated"][action]["mean"] for condition, _ in conditions]
        lines.append(f"| {action} | {clips} | " + " | ".join(f"{cell:.2f}" for cell in cells) + " |")
    return lines


DETAILS = (("distance_m", "distance (m)"), ("steps", "steps"), ("turn_deg", "turn (degrees)"), ("duration_s", "duration (s)"))


def details_table(reports: dict[str, dict]) -> list[str]:
    """Detail errors (rows) under each condition (columns); the real row is the descriptions' own rounding."""
    first = next(iter(reports.values()))
    conditions, head = condition_columns(reports, "detail", "instructions stating it")
    lines = ["Detail error: how far what the motion does is from what its instruction states, mean absolute error "
             "over the test instructions stating it (real motion: the rounding of its own descriptions). The motions "
             "are made at their clips' lengths, so the duration error is rounding alone.", "", *head]
    for kind, title in DETAILS:
        name = f"detail_error_{kind}"
        cells = [first["real"].get(name)] + [reports[condition]["generated"].get(name) for condition, _ in conditions]
        shown = ["–" if cell is None else f"{cell['mean']:.2f}" for cell in cells]
        lines.append(f"| {title} | {first['instructions_stating'][kind]} | " + " | ".join(shown) + " |")
    return lines


def summary(reports: dict[str, dict], current: str) -> dict:
    def mean(condition: str, part: str, name: str) -> float | None:
        return round(reports[condition][part][name]["mean"], 4) if condition in reports else None

    result = {
        "r_precision_top3_audio": mean(p.AUDIO, "generated", "r_precision_top3"),
        "r_precision_top3_text": mean(p.TEXT, "generated", "r_precision_top3"),
        "r_precision_top3_real": mean(next(iter(reports)), "real", "r_precision_top3"),
        "fid_audio": mean(p.AUDIO, "generated", "fid"),
        "fid_text": mean(p.TEXT, "generated", "fid"),
        "action_accuracy_audio": mean(p.AUDIO, "generated", "action_accuracy"),
        "style_accuracy_audio": mean(p.AUDIO, "generated", "style_accuracy"),
        "samples_per_s_end2end": None,
        "samples_per_s_cascade": None,
        "repetitions": next(iter(reports.values()))["protocol"]["repetitions"],
        "commit": current,
        "sources": {"table3": "benchmarks/table3_conditions.py"},
    }
    speed_path = RESULTS_DIR / "table4.json"
    if speed_path.is_file():
        speed = fileio.read_json(speed_path)
        result["samples_per_s_end2end"] = speed["samples_per_s_end2end"]
        result["samples_per_s_cascade"] = speed["samples_per_s_cascade"]
        result["sources"]["table4"] = f"benchmarks/table4_speed.py at {speed['commit']}"
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evaluator", type=Path, required=True, help="evaluator folder (saymotion eval train)")
    parser.add_argument("--model", type=Path, default=settings.default_model_dir())
    parser.add_argument("--data", type=Path, help="prepared dataset (default: the model's)")
    parser.add_argument("--speech", type=Path, help="speech corpus (default: the model's)")
    parser.add_argument("--reps", type=int, default=p.FULL_PROTOCOL.repetitions)
    parser.add_argument("--max-clips", type=int, default=0, help="a seeded subset of the test clips (0: all)")
    parser.add_argument("--mm-conditions", type=int, default=p.FULL_PROTOCOL.mm_conditions,
                        help=f"clips MultiModality samples {p.FULL_PROTOCOL.mm_samples} motions each for (default: %(default)s)")
    parser.add_argument("--conditions", default=",".join(c for c, _ in ROWS), help="comma-separated (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    protocol = dataclasses.replace(p.FULL_PROTOCOL, repetitions=args.reps, max_clips=args.max_clips,
                                   mm_conditions=args.mm_conditions)
    request = p.EvaluationRequest(args.model, args.evaluator, p.TEXT, protocol, data=args.data, speech=args.speech,
                                  threads=args.threads)  # fmt: skip
    current = commit()
    conditions = args.conditions.split(",")
    unknown = sorted(set(conditions) - set(p.CONDITIONS))
    if unknown:
        raise SystemExit(f"unknown conditions {unknown}; choose from {list(p.CONDITIONS)}")
    reports = {
        c: report_for(REPORTS_DIR / f"{c}.json", dataclasses.replace(request, condition=c), torch.device("cpu"), current)
        for c in conditions
    }
    fileio.write_text(RESULTS_DIR / "table3.md", markdown(reports))
    fileio.write_json(RESULTS_DIR / "summary.json", summary(reports, current))
    print(markdown(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
