"""The description corpus of a prepared dataset: per clip, a few third-person captions ("original")
and spoken instructions ("oral"), about half of them quoting measured details."""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass
from typing import Any, Callable

from saymotion.datasets.splits import SPLIT_NAMES
from saymotion.descriptions.claims import MOVE_MIN_M, Claims, claims_for_action, clear_claims, label_conflict
from saymotion.descriptions.details import MotionDetails
from saymotion.descriptions.grammar import CAPTION, INSTRUCTION, ORIGINAL_FRAMES, STEP_FRAMES, render
from saymotion.descriptions.rewriting import Content, Rewriter, TemplateRewriter
from saymotion.descriptions.vocabulary import ACTIONS, STYLES, Motion
from saymotion.errors import DataError

# Clips of these splits get only the held-out frames and may use the held-out synonyms.
HELD_OUT_SPLITS = frozenset({"test", "test_novel"})
# Share of the texts with details that state two of them rather than one.
TWO_DETAILS_SHARE = 0.4
# Draws per text before accepting a duplicate of an earlier text of the same clip.
_ATTEMPTS = 30


@dataclass(frozen=True)
class ClipText:
    kind: str  # "original" or "oral"
    text: str
    template: str
    claims: Claims  # the measured details it states


@dataclass(frozen=True)
class ClipToDescribe:
    id: str
    action: str
    style: str
    details: MotionDetails
    split: str

    @classmethod
    def from_row(cls, row: dict[str, Any], splits: dict[str, str]) -> ClipToDescribe:
        try:
            clip_id, action, style, details = row["id"], row["action"], row["style"], row["details"]
        except KeyError as error:
            raise DataError(f"clip row lacks {error.args[0]!r}: {row!r:.200}") from None
        if action not in ACTIONS:
            raise DataError(f"clip {clip_id} has unknown action {action!r}")
        if style not in STYLES:
            raise DataError(f"clip {clip_id} has unknown style {style!r}")
        split = splits.get(clip_id)
        if split not in SPLIT_NAMES:
            raise DataError(f"clip {clip_id} has split {split!r}, expected one of {', '.join(SPLIT_NAMES)}")
        return cls(clip_id, action, style, MotionDetails.from_dict(details), split)


def describe_dataset(
    clips: list[dict[str, Any]],
    splits: dict[str, str],
    seed: int = 0,
    *,
    originals_per_clip: int = 3,
    orals_per_clip: int = 5,
    steps_per_clip: int = 1,
    detail_share: float = 0.5,
    rewriter: Rewriter | None = None,
) -> list[dict[str, Any]]:
    """descriptions.jsonl rows {id, clip, kind, text, template, split, claims} for clips.jsonl rows,
    `claims` holding the measured details the text states ({"distance_m": 8}), for the detail error.

    `splits` maps clip id -> split name. A clip's texts depend only on the seed, the clip and the
    typical speed of its action, so adding clips does not reshuffle the others. Raises DataError
    for clips whose motion contradicts their label (reject them with `label_conflict` first).
    """
    if not 0.0 <= detail_share <= 1.0:
        raise DataError(f"detail_share must be between 0 and 1, got {detail_share}")
    if min(originals_per_clip, orals_per_clip, steps_per_clip) < 0:
        raise DataError("texts per clip cannot be negative")
    to_describe = [ClipToDescribe.from_row(row, splits) for row in clips]
    conflicts = [f"{clip.id}: {reason}" for clip in to_describe if (reason := label_conflict(clip.action, clip.details))]
    if conflicts:
        raise DataError(f"{len(conflicts)} clips contradict their labels, e.g. {conflicts[0]}")
    speeds = typical_speeds(to_describe)
    rewriter = rewriter or TemplateRewriter()
    rows = []
    for clip in to_describe:
        texts = describe_clip(
            clip.action,
            clip.style,
            clip.details,
            held_out=clip.split in HELD_OUT_SPLITS,
            rng=random.Random(f"{seed}:{clip.id}"),
            typical_speed_mps=speeds.get(clip.action),
            originals=originals_per_clip,
            orals=orals_per_clip,
            steps=steps_per_clip,
            detail_share=detail_share,
            rewriter=rewriter,
        )
        counters = {"original": 0, "oral": 0}
        for text in texts:
            rows.append(
                {
                    "id": f"{clip.id}:{text.kind}:{counters[text.kind]}",
                    "clip": clip.id,
                    "kind": text.kind,
                    "text": text.text,
                    "template": text.template,
                    "split": clip.split,
                    "claims": text.claims.stated(),
                }
            )
            counters[text.kind] += 1
    return rows


def describe_clip(
    action: str,
    style: str,
    details: MotionDetails,
    *,
    held_out: bool,
    rng: random.Random,
    typical_speed_mps: float | None = None,
    originals: int = 3,
    orals: int = 5,
    steps: int = 1,
    detail_share: float = 0.5,
    rewriter: Rewriter | None = None,
) -> list[ClipText]:
    """`originals` captions, `orals` instructions, then (unless held out) `steps` short oral
    commands without details, distinct where possible. The step commands come last, so they leave
    the other texts as they were; the test splits get none, so their benchmark stays fixed."""
    rewriter = rewriter or TemplateRewriter()
    available = claims_for_action(clear_claims(details, typical_speed_mps), action)

    def described(kind: str) -> ClipText:
        claims = choose_claims(available, detail_share, rng)
        # An oral text is a rewrite of the caption with the same claims.
        caption, frame = render(ORIGINAL_FRAMES, CAPTION, action, style, claims, held_out, rng)
        if kind == "oral":
            phrasing = rewriter.rewrite(Content(action, style, claims, caption), held_out=held_out, rng=rng)
            caption, frame = phrasing.text, phrasing.template
        return ClipText(kind, caption, frame, claims)

    def step_command() -> ClipText:
        command, frame = render(STEP_FRAMES, INSTRUCTION, action, style, Claims(), held_out, rng)
        return ClipText("oral", command, frame, Claims())

    seen: set[str] = set()
    texts = [_new_text(lambda: described(kind), seen) for kind, count in (("original", originals), ("oral", orals))
             for _ in range(count)]
    return texts + [_new_text(step_command, seen) for _ in range(0 if held_out else steps)]


def _new_text(draw: Callable[[], ClipText], seen: set[str]) -> ClipText:
    """`draw()` again while its text is in `seen` (at most _ATTEMPTS draws, the last one kept), then mark it seen."""
    for _ in range(_ATTEMPTS):
        text = draw()
        if text.text not in seen:
            break
    seen.add(text.text)
    return text


def choose_claims(available: Claims, detail_share: float, rng: random.Random) -> Claims:
    """None of the claims (1 - detail_share of the time), else one or two of them; never both
    distance and steps, which would say the same thing twice."""
    kinds = available.kinds()
    if not kinds or rng.random() >= detail_share:
        return Claims()
    chosen = [rng.choice(kinds)]
    others = [kind for kind in kinds if kind not in chosen and {kind, chosen[0]} != {"distance_m", "steps"}]
    if others and rng.random() < TWO_DETAILS_SHARE:
        chosen.append(rng.choice(others))
    return available.only(tuple(chosen))


def typical_speeds(clips: list[ClipToDescribe]) -> dict[str, float]:
    """Median speed of each travelling action over the training clips that travel (all clips of
    the action when none is in training), the reference for "slowly" and "quickly"."""
    speeds: dict[str, float] = {}
    for action in {clip.action for clip in clips if ACTIONS[clip.action].motion is not Motion.IN_PLACE}:
        moving = [clip for clip in clips if clip.action == action and clip.details.displacement_m >= MOVE_MIN_M]
        training = [clip for clip in moving if clip.split == "train"] or moving
        if training:
            speeds[action] = statistics.median(clip.details.speed_mps for clip in training)
    return speeds
