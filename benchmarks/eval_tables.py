"""Shared by the paper-table scripts: evaluation reports reused across interrupted runs, and
markdown cells and headers in one style."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from common import RESULTS_DIR

from saymotion import fileio
from saymotion.evaluation import protocol as p

REPORTS_DIR = RESULTS_DIR / "eval"
COLUMNS = (
    ("r_precision_top1", "R@1 ↑"), ("r_precision_top2", "R@2 ↑"), ("r_precision_top3", "R@3 ↑"), ("fid", "FID ↓"),
    ("mm_dist", "MM-Dist ↓"), ("diversity", "Diversity →"), ("multimodality", "MModality ↑"),
    ("action_accuracy", "Action acc ↑"), ("style_accuracy", "Style acc ↑"), ("foot_skating_ratio", "Skating ↓"),
)  # fmt: skip


def report_for(path: Path, request: p.EvaluationRequest, device: torch.device, commit: str) -> dict:
    """The evaluation's report: reused when written at this commit with this protocol, else computed."""
    if path.is_file():
        old = fileio.read_json(path)
        if old.get("commit") == commit and old.get("protocol") == dataclasses.asdict(request.protocol):
            print(f"reusing {path}")
            return old
    report = p.run_evaluation(request, device)
    report["commit"] = commit
    fileio.write_json(path, report)
    return report


def cell(row: dict, name: str) -> str:
    if name not in row:
        return "–"
    return f"{row[name]['mean']:.3f}<sup>±{row[name]['ci95']:.3f}</sup>"


def header() -> list[str]:
    return ["| | " + " | ".join(title for _, title in COLUMNS) + " |", "|---|" + "---:|" * len(COLUMNS)]


def row(title: str, scores: dict) -> str:
    return f"| {title} | " + " | ".join(cell(scores, name) for name, _ in COLUMNS) + " |"


def provenance_line(report: dict, command: str) -> str:
    """Where a table's numbers come from: command, commit, protocol, evaluator, data digests."""
    protocol = report["protocol"]
    speech = report["data"]["speech_sha256"]
    return (
        f"Command: `{command}`. Commit `{report['commit']}`. Split `{report['split']}` ({report['clips']} clips, "
        f"oral instructions), {protocol['repetitions']} repetitions (mean, ± 95% interval), MultiModality over "
        f"{protocol['mm_conditions']} clips x {protocol['mm_samples']} samples, lengths: "
        f"{report['lengths']}. Evaluator step {report['evaluator']['step']}, config sha256 "
        f"`{report['evaluator']['config_sha256'][:12]}`; prepared data sha256 `{report['data']['prepared_sha256'][:12]}`"
        + (f"; speech sha256 `{speech[:12]}`." if speech else ".")
    )
