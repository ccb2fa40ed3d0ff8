"""Crash-safe writing: the final name only ever holds a complete file."""

from __future__ import annotations

import stat

import numpy as np
import pytest

from saymotion import fileio


def test_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "stats.json"
    fileio.write_json(path, {"clips": 1})
    with pytest.raises(RuntimeError):
        with fileio.atomic_open(path, "w") as handle:
            handle.write('{"clips": 2')
            raise RuntimeError("killed mid-write")
    assert fileio.read_json(path) == {"clips": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["stats.json"]


def test_outputs_are_world_readable_and_round_trip(tmp_path):
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    fileio.save_npy(tmp_path / "a.npy", array)
    fileio.write_jsonl(tmp_path / "rows.jsonl", [{"id": "x"}, {"id": "y"}])
    assert np.array_equal(np.load(tmp_path / "a.npy"), array)
    assert fileio.read_jsonl(tmp_path / "rows.jsonl") == [{"id": "x"}, {"id": "y"}]
    assert stat.S_IMODE((tmp_path / "a.npy").stat().st_mode) == 0o644
