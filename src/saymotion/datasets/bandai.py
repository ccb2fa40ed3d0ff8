"""Reading the Bandai Namco motion archive: checksum, one streaming pass over the tar.xz, and the
content/style labels of every clip.

The archive lists each dataset's `cfg/*.txt` label vocabularies *after* its data files, so labels
are resolved only once the whole archive has been streamed (the BVH files are processed meanwhile).
"""

from __future__ import annotations

import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator

from saymotion import settings
from saymotion.errors import DataError
from saymotion.fileio import sha256_file

# 174 clips in dataset-1 and 2,902 in dataset-2; used only to size the progress bar.
BANDAI_CLIP_COUNT = 3076

CLIP_ID_PATTERN = re.compile(
    r"^(?P<dataset>dataset-\d+)_(?P<action>[a-z0-9-]+)_(?P<style>[a-z0-9-]+)_(?P<take>\d+)$"
)
VOCABULARY_FILES = {"content_label.txt": "content", "style_label.txt": "style"}


@dataclass(frozen=True)
class ClipName:
    """What a clip's file name says: `dataset-2_wave-left-hand_elderly_012`."""

    dataset: str
    action: str
    style: str


@dataclass(frozen=True)
class ClipLabel:
    dataset: str
    action: str
    style: str


@dataclass(frozen=True)
class BvhMember:
    clip_id: str
    source: str  # the member's path inside the archive
    text: str


@dataclass(frozen=True)
class LabelMember:
    clip_id: str
    text: str


@dataclass(frozen=True)
class VocabularyMember:
    """One `cfg/*.txt` file: the names that the JSON label indices point into."""

    dataset: str
    kind: str  # "content" or "style"
    names: tuple[str, ...]


ArchiveMember = BvhMember | LabelMember | VocabularyMember


@dataclass(frozen=True)
class Rejection:
    clip: str
    reason: str

    def to_dict(self) -> dict:
        return {"clip": self.clip, "reason": self.reason}


def verify_archive(path: Path, expected_sha256: str = settings.ARCHIVE_SHA256) -> None:
    if not path.is_file():
        raise DataError(f"archive not found: {path} (set SAYMOTION_DATA or pass --archive)")
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise DataError(
            f"archive {path} has sha256 {actual}, expected {expected_sha256} (use --no-verify to accept it)"
        )


def parse_clip_id(clip_id: str) -> ClipName:
    match = CLIP_ID_PATTERN.match(clip_id)
    if match is None:
        raise DataError(f"unexpected clip name {clip_id!r} (expected dataset-N_action_style_take)")
    return ClipName(match["dataset"], match["action"], match["style"])


def iter_archive(path: Path) -> Iterator[ArchiveMember]:
    """Stream the archive once, yielding BVH texts, JSON label texts and label vocabularies."""
    if not path.is_file():
        raise DataError(f"archive not found: {path}")
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                if member.isfile():
                    item = _read_member(archive, member)
                    if item is not None:
                        yield item
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DataError(f"cannot read archive {path}: {error}") from error


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> ArchiveMember | None:
    name = PurePosixPath(member.name)
    if name.suffix in (".bvh", ".json") and name.parent.name == "data":
        text = archive.extractfile(member).read().decode("utf-8", errors="replace")
        return BvhMember(name.stem, member.name, text) if name.suffix == ".bvh" else LabelMember(name.stem, text)
    if name.parent.name == "cfg" and name.name in VOCABULARY_FILES:
        names = tuple(archive.extractfile(member).read().decode("utf-8").split())
        dataset = _dataset_of_vocabulary(names)
        if dataset is not None:
            return VocabularyMember(dataset, VOCABULARY_FILES[name.name], names)
    return None


def _dataset_of_vocabulary(names: tuple[str, ...]) -> str | None:
    """Every entry is `dataset-N_name`; the shared prefix says which dataset the file belongs to."""
    prefixes = {name.partition("_")[0] for name in names}
    return prefixes.pop() if len(prefixes) == 1 else None


def resolve_labels(
    clip_ids: list[str], label_texts: dict[str, str], vocabularies: list[VocabularyMember]
) -> tuple[dict[str, ClipLabel], list[Rejection]]:
    """Label every clip from its JSON indices into the vocabularies, cross-checked with its file name."""
    lookup = {(vocab.dataset, vocab.kind): vocab.names for vocab in vocabularies}
    labels: dict[str, ClipLabel] = {}
    rejected: list[Rejection] = []
    for clip_id in clip_ids:
        try:
            labels[clip_id] = _label_of(clip_id, label_texts.get(clip_id), lookup)
        except DataError as error:
            rejected.append(Rejection(clip_id, str(error)))
    return labels, rejected


def _label_of(clip_id: str, label_text: str | None, lookup: dict[tuple[str, str], tuple[str, ...]]) -> ClipLabel:
    name = parse_clip_id(clip_id)
    if label_text is None:
        raise DataError("no JSON label file")
    try:
        indices = json.loads(label_text)
        content, style = int(indices["content"]), int(indices["style"])
    except (ValueError, TypeError, KeyError) as error:
        raise DataError(f"malformed JSON label: {error}") from error
    action = _vocabulary_entry(lookup, name.dataset, "content", content)
    style_name = _vocabulary_entry(lookup, name.dataset, "style", style)
    if (action, style_name) != (name.action, name.style):
        raise DataError(
            f"label says {action}/{style_name} but the file name says {name.action}/{name.style}"
        )
    return ClipLabel(name.dataset, action, style_name)


def _vocabulary_entry(lookup: dict[tuple[str, str], tuple[str, ...]], dataset: str, kind: str, index: int) -> str:
    names = lookup.get((dataset, kind))
    if names is None:
        raise DataError(f"no cfg/{kind}_label.txt for {dataset}")
    if not 0 <= index < len(names):
        raise DataError(f"{kind} index {index} outside cfg/{kind}_label.txt ({len(names)} entries)")
    return names[index].removeprefix(f"{dataset}_")
