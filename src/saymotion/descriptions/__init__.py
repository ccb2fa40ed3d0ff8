"""Descriptions of the motion clips: measured details (`details`), what may be claimed from them
(`claims`), words for actions and styles (`vocabulary`), sentence templates (`grammar`), the
pluggable rewriter for spoken instructions (`rewriting`), the per-dataset corpus (`dataset`) and
left/right mirroring of texts (`mirror`). See docs/descriptions.md."""

from saymotion.descriptions.claims import Claims, clear_claims, label_conflict
from saymotion.descriptions.dataset import ClipText, describe_clip, describe_dataset
from saymotion.descriptions.details import MotionDetails, measure_details
from saymotion.descriptions.mirror import mirror_action, mirror_text
from saymotion.descriptions.rewriting import Content, Phrasing, Rewriter, TemplateRewriter

__all__ = [
    "Claims",
    "ClipText",
    "Content",
    "MotionDetails",
    "Phrasing",
    "Rewriter",
    "TemplateRewriter",
    "clear_claims",
    "describe_clip",
    "describe_dataset",
    "label_conflict",
    "measure_details",
    "mirror_action",
    "mirror_text",
]
