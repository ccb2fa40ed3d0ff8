"""CSV training logs that survive interruption: rows are kept in memory and the whole file is
rewritten atomically on every flush, and a resumed run first drops the rows logged after the
checkpoint it resumes from (they will be logged again)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from saymotion.fileio import atomic_open


class CsvLog:
    def __init__(self, path: Path, resume_step: int):
        self.path = path
        self.rows: list[dict[str, str]] = []
        self.columns: list[str] = []
        if path.is_file():
            with open(path, newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                self.columns = list(reader.fieldnames or [])
                self.rows = [row for row in reader if int(row["step"]) <= resume_step]

    def add(self, step: int, values: dict[str, float]) -> None:
        row = {"step": str(step), **{k: _format(v) for k, v in values.items()}}
        for key in row:
            if key not in self.columns:
                self.columns.append(key)
        self.rows.append(row)

    def flush(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, restval="")
        writer.writeheader()
        writer.writerows(self.rows)
        with atomic_open(self.path, "w", encoding="utf-8", newline="") as handle:
            handle.write(buffer.getvalue())


def _format(value: float) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
