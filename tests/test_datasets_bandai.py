"""Archive checks and label resolution (no archive needed)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from saymotion.datasets.bandai import (
    BvhMember,
    ClipLabel,
    LabelMember,
    VocabularyMember,
    iter_archive,
    parse_clip_id,
    resolve_labels,
    verify_archive,
)
from saymotion.errors import DataError

VOCABULARIES = [
    VocabularyMember("dataset-2", "content", ("dataset-2_walk", "dataset-2_wave-left-hand")),
    VocabularyMember("dataset-2", "style", ("dataset-2_active", "dataset-2_elderly")),
]


def test_labels_come_from_the_indices_and_must_agree_with_the_file_name() -> None:
    clips = [
        "dataset-2_wave-left-hand_elderly_003",  # consistent
        "dataset-2_walk_active_001",  # JSON points at wave-left-hand/elderly
        "dataset-2_walk_elderly_002",  # index outside the vocabulary
        "dataset-2_walk_active_004",  # no JSON
        "dataset-2_walk_active_005",  # JSON without a style
        "dataset-1_walk_normal_001",  # no vocabulary for dataset-1
        "walk_normal_001",  # not a Bandai name
    ]
    label_texts = {
        clips[0]: '{"content": 1, "style": 1}',
        clips[1]: '{"content": 1, "style": 1}',
        clips[2]: '{"content": 0, "style": 7}',
        clips[4]: '{"content": 0}',
        clips[5]: '{"content": 0, "style": 0}',
        clips[6]: '{"content": 0, "style": 0}',
    }
    labels, rejected = resolve_labels(clips, label_texts, VOCABULARIES)
    assert labels == {clips[0]: ClipLabel("dataset-2", "wave-left-hand", "elderly")}
    reasons = {rejection.clip: rejection.reason for rejection in rejected}
    assert reasons[clips[1]] == "label says wave-left-hand/elderly but the file name says walk/active"
    assert "style index 7 outside" in reasons[clips[2]]
    assert reasons[clips[3]] == "no JSON label file"
    assert "malformed JSON label" in reasons[clips[4]]
    assert "no cfg/content_label.txt for dataset-1" in reasons[clips[5]]
    assert "unexpected clip name" in reasons[clips[6]]


def test_clip_names_parse_into_dataset_action_and_style() -> None:
    name = parse_clip_id("dataset-2_raise-up-left-hand_youthful_017")
    assert (name.dataset, name.action, name.style) == ("dataset-2", "raise-up-left-hand", "youthful")


def test_archive_stream_yields_bvh_labels_and_vocabularies(tmp_path: Path) -> None:
    archive = tmp_path / "small.tar.xz"
    root = "dataset/Bandai-Namco-Research-Motiondataset-2"
    files = {
        f"{root}/README.md": "readme",
        f"{root}/data/dataset-2_walk_active_001.bvh": "HIERARCHY ...",
        f"{root}/data/dataset-2_walk_active_001.json": '{"content": 0, "style": 0}',
        f"{root}/cfg/content_label.txt": "dataset-2_walk\ndataset-2_wave-left-hand",
    }
    with tarfile.open(archive, "w:xz", preset=0) as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    members = list(iter_archive(archive))
    assert members == [
        BvhMember("dataset-2_walk_active_001", f"{root}/data/dataset-2_walk_active_001.bvh", "HIERARCHY ..."),
        LabelMember("dataset-2_walk_active_001", '{"content": 0, "style": 0}'),
        VocabularyMember("dataset-2", "content", ("dataset-2_walk", "dataset-2_wave-left-hand")),
    ]


def test_archive_problems_are_one_line_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="archive not found"):
        verify_archive(tmp_path / "absent.tar.xz")
    broken = tmp_path / "broken.tar.xz"
    broken.write_bytes(b"not an archive at all")
    with pytest.raises(DataError, match="sha256 .* expected 00"):
        verify_archive(broken, expected_sha256="00" * 32)
    with pytest.raises(DataError, match="cannot read archive"):
        list(iter_archive(broken))
