"""The HumanML3D / KIT-ML loader on tiny synthetic folders in that layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from saymotion.datasets.humanml3d import HumanML3DDataset
from saymotion.errors import DataError


def build_layout(root: Path, dim: int, texts: dict[str, str], splits: dict[str, list[str]]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    (root / "new_joint_vecs").mkdir(parents=True)
    (root / "texts").mkdir()
    motions = {}
    for index, clip in enumerate(sorted(texts)):
        motions[clip] = rng.normal(size=(30 + index, dim)).astype(np.float32)
        np.save(root / "new_joint_vecs" / f"{clip}.npy", motions[clip])
        (root / "texts" / f"{clip}.txt").write_text(texts[clip], encoding="utf-8")
    np.save(root / "Mean.npy", np.full(dim, 0.5, dtype=np.float32))
    np.save(root / "Std.npy", np.full(dim, 2.0, dtype=np.float32))
    for split, ids in splits.items():
        (root / f"{split}.txt").write_text("\n".join(ids) + "\n", encoding="utf-8")
    return motions


def test_humanml3d_layout_reads_features_texts_segments_and_splits(tmp_path: Path) -> None:
    texts = {
        "000001": "a person walks forward.#a/DET person/NOUN walk/VERB#0.0#0.0\n"
        "someone strolls then stops.#someone/PRON stroll/VERB#nan#nan\n",
        "000002": "a man jumps twice.#a/DET man/NOUN jump/VERB#1.5#3.0\n",
        "M000002": "a man jumps twice.#a/DET man/NOUN jump/VERB#0.0#0.0\n",
    }
    # 000404 is listed but has no motion file, as happens in the published lists.
    motions = build_layout(tmp_path, 263, texts, {"train": ["000001", "M000002", "000404"], "test": ["000002"]})
    dataset = HumanML3DDataset(tmp_path)

    assert (dataset.name, dataset.fps, dataset.feature_dim) == ("humanml3d", 20.0, 263)
    assert dataset.splits == ("train", "test")
    assert dataset.split_ids("train") == ["000001", "M000002"]
    np.testing.assert_array_equal(dataset.load_features("000002"), motions["000002"])
    assert dataset.mean[0] == pytest.approx(0.5) and dataset.std[-1] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="read-only"):
        dataset.std[0] = 1.0

    train = dataset.descriptions("train")
    assert [d.id for d in train] == ["000001#0", "000001#1", "M000002#0"]
    assert train[1].text == "someone strolls then stops." and train[1].frames(dataset.fps) == slice(None)
    (segment,) = dataset.descriptions("test")
    assert (segment.clip, segment.split, segment.start, segment.end) == ("000002", "test", 1.5, 3.0)
    assert segment.frames(dataset.fps) == slice(30, 60)
    assert len(dataset.descriptions()) == 4


def test_kit_layout_is_recognised_by_its_feature_width(tmp_path: Path) -> None:
    build_layout(tmp_path, 251, {"00001": "a person waves.#a/DET person/NOUN wave/VERB#0.0#0.0\n"}, {"val": ["00001"]})
    dataset = HumanML3DDataset(tmp_path)
    assert (dataset.name, dataset.fps, dataset.feature_dim) == ("kit", 12.5, 251)
    assert dataset.load_features("00001").shape == (30, 251)


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda root: (root / "Std.npy").unlink(), "Std.npy is missing"),
        (lambda root: np.save(root / "Mean.npy", np.zeros(100)), "do not match"),
        (lambda root: (root / "texts" / "00001.txt").write_text("no separators\n"), "expected caption#tokens"),
        (lambda root: (root / "texts" / "00001.txt").write_text("a#b#soon#later\n"), "bad segment times"),
    ],
)
def test_malformed_folders_raise_one_line_data_errors(tmp_path: Path, breakage, message: str) -> None:
    build_layout(tmp_path, 263, {"00001": "a person waves.#a/DET#0.0#0.0\n"}, {"train": ["00001"]})
    breakage(tmp_path)
    with pytest.raises(DataError, match=message):
        HumanML3DDataset(tmp_path).descriptions()


def test_missing_folder_and_unknown_split_are_reported(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        HumanML3DDataset(tmp_path / "absent")
    build_layout(tmp_path, 263, {"00001": "x#y#0#0\n"}, {"train": ["00001"]})
    with pytest.raises(DataError, match="no split 'val'"):
        HumanML3DDataset(tmp_path).split_ids("val")
