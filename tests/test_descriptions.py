"""Descriptions: measured details on synthetic and real motion, truthful texts, phrasing variety,
determinism, held-out templates and left/right mirroring."""

from __future__ import annotations

import random
import re
import statistics
from collections import Counter

import numpy as np
import pytest

from saymotion.descriptions import (
    MotionDetails,
    TemplateRewriter,
    clear_claims,
    describe_clip,
    describe_dataset,
    label_conflict,
    measure_details,
    mirror_action,
    mirror_text,
)
from saymotion.descriptions.grammar import (
    ORAL_FRAMES,
    ORIGINAL_FRAMES,
    STEP_FRAMES,
    SUBJECTS,
    conjugate,
    number_words,
    steps_said,
    steps_text,
)
from saymotion.descriptions.mirror import named_sides
from saymotion.descriptions.vocabulary import ACTIONS, STYLES, Motion
from saymotion.errors import DataError
from saymotion.skeleton import BANDAI_JOINT_NAMES, BANDAI_PARENTS, Skeleton

FPS = 20
SKELETON = Skeleton.build(BANDAI_JOINT_NAMES, BANDAI_PARENTS, np.zeros((len(BANDAI_JOINT_NAMES), 3)))
# A standing pose in the canonical frame, facing +Z with the left side on +X (x, height, z).
_BODY = {
    "Hips": (0.0, 0.95, 0.0), "Spine": (0.0, 1.1, 0.0), "Chest": (0.0, 1.3, 0.0),
    "Neck": (0.0, 1.5, 0.0), "Head": (0.0, 1.65, 0.0),
    "Shoulder_L": (0.08, 1.42, 0.0), "UpperArm_L": (0.18, 1.42, 0.0),
    "LowerArm_L": (0.2, 1.15, 0.0), "Hand_L": (0.2, 0.9, 0.0),
    "UpperLeg_L": (0.1, 0.92, 0.0), "LowerLeg_L": (0.1, 0.5, 0.0),
}  # fmt: skip
_FOOT_ABOVE_GROUND, _TOE_AHEAD = 0.1, 0.12


def _joint(name: str) -> int:
    return BANDAI_JOINT_NAMES.index(name)


def _standing_pose() -> np.ndarray:
    pose = np.zeros((SKELETON.num_joints, 3))
    for name, position in _BODY.items():
        pose[_joint(name)] = position
        if name.endswith("_L"):
            pose[_joint(name[:-2] + "_R")] = (-position[0], *position[1:])
    return pose


def synthetic_clip(speed: float, turn_deg: float, seconds: float, step_period: float = 0.5) -> np.ndarray:
    """Joints (T x J x 3) of a figure walking at `speed` m/s along its facing, which turns by
    `turn_deg` (+ left) during the middle third; each foot lands once per 2 * step_period, the
    left one first at t = 0. With speed 0 the feet stay planted."""
    times = np.arange(round(seconds * FPS)) / FPS
    yaw = np.radians(turn_deg) * np.clip((times / seconds - 1 / 3) * 3, 0.0, 1.0)
    heading = np.stack([np.sin(yaw), np.zeros_like(yaw), np.cos(yaw)], axis=1)
    root = np.concatenate([[np.zeros(3)], np.cumsum(heading[:-1] * speed / FPS, axis=0)])
    body = _standing_pose()
    joints = _turned(body, yaw) + root[:, None]
    for side, phase in (("L", 0.0), ("R", step_period)):
        foot, toe = _joint(f"Foot_{side}"), _joint(f"Toes_{side}")
        lateral = body[_joint(f"UpperLeg_{side}"), 0]
        ankles = _foot_track(times, root, yaw, lateral, phase, step_period, lift=0.12 if speed else 0.0)
        joints[:, foot] = ankles
        joints[:, toe] = ankles + _turned(np.array([[0.0, -0.07, _TOE_AHEAD]]), yaw)[:, 0]
    return joints


def _turned(points: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Points (N x 3) rotated about +Y by each yaw (T) -> T x N x 3; yaw > 0 turns +Z towards +X."""
    cos, sin = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    x, y, z = points[None, :, 0], points[None, :, 1], points[None, :, 2]
    return np.stack([cos * x + sin * z, np.broadcast_to(y, cos.shape[:1] + y.shape[1:]), cos * z - sin * x], axis=-1)


def _foot_track(times, root, yaw, lateral, phase, step_period, lift) -> np.ndarray:
    """Planted for one step period (under the hip at mid-stance), then swung to the next plant."""
    cycle = 2 * step_period

    def plant(landing: float) -> np.ndarray:
        frame = min(len(times) - 1, max(0, round((landing + step_period / 2) * FPS)))
        offset = _turned(np.array([[lateral, _FOOT_ABOVE_GROUND, 0.0]]), yaw[frame : frame + 1])[0, 0]
        return root[frame] * [1, 0, 1] + offset

    track = np.empty((len(times), 3))
    for index, time in enumerate(times):
        landing = phase + cycle * np.floor((time - phase) / cycle)
        since = time - landing
        if since < step_period:
            track[index] = plant(landing)
        else:
            swing = (since - step_period) / step_period
            track[index] = (1 - swing) * plant(landing) + swing * plant(landing + cycle)
            track[index, 1] += lift * np.sin(np.pi * swing)
    return track


def details_for(action: str) -> MotionDetails:
    """Measured details an honest clip of `action` could have."""
    words = ACTIONS[action]
    if words.motion is Motion.IN_PLACE:
        return MotionDetails(6.2, 0.03, 0.12, None, 1.5, 8.0, 0, 0.02)
    turn = 90.0 * words.turn_sign
    heading = 5.0 if words.turn_sign else words.heading_deg
    return MotionDetails(5.0, 5.5, 6.1, heading, turn, abs(turn) + 10, 9, 1.2)


def texts_of(action: str, details: MotionDetails, style: str = "normal", seeds: int = 20, **options) -> list[str]:
    out = []
    for seed in range(seeds):
        rng = random.Random(seed)
        out += [text.text for text in describe_clip(action, style, details, held_out=False, rng=rng, **options)]
    return out


# --- measured details -----------------------------------------------------------------------


def test_straight_walk_measures_forward_distance_and_steps() -> None:
    details = measure_details(synthetic_clip(speed=1.0, turn_deg=0.0, seconds=3.0), FPS, SKELETON)
    assert details.duration_s == pytest.approx(3.0)
    assert details.displacement_m == pytest.approx(2.95, abs=0.05)
    assert details.path_length_m == pytest.approx(details.displacement_m, abs=0.02)
    assert abs(details.travel_heading_deg) < 2.0
    assert abs(details.turn_deg) < 2.0
    # Landings after t = 0: right at 0.5, 1.5, 2.5 s and left at 1, 2 s.
    assert details.steps == 5
    assert details.speed_mps == pytest.approx(0.98, abs=0.03)


def test_detail_errors_compare_the_stated_numbers_with_the_motion_made_for_them() -> None:
    from saymotion.evaluation.metrics import detail_errors

    walk = synthetic_clip(speed=1.0, turn_deg=90.0, seconds=3.0)
    measured = measure_details(walk, FPS, SKELETON)
    assert measured.steps == 5
    stated = [{"distance_m": 5, "turn_deg": -90, "direction": "forward"}, {"duration_s": 2, "steps": 3}, None, {}]
    errors = detail_errors([walk] * 4, stated, SKELETON, FPS)
    assert errors == pytest.approx({
        "detail_error_distance_m": abs(measured.path_length_m - 5),
        "detail_error_turn_deg": abs(measured.turn_deg + 90),  # turned left when asked to turn right
        "detail_error_duration_s": 1.0,
        "detail_error_steps": 1.0,  # "a few steps" covers 2 to 4
    })  # fmt: skip
    assert detail_errors([walk], [{"steps": 7}], SKELETON, FPS) == {"detail_error_steps": 0.0}  # "several"
    assert errors["detail_error_turn_deg"] > 150  # a wrong way round is a large error
    assert detail_errors([walk], [{"pace": "fast"}], SKELETON, FPS) == {}  # words, not numbers


def test_step_counts_said_in_words_cover_the_counts_that_get_those_words() -> None:
    def words(count: int) -> str:
        return steps_text(count, random.Random(1))  # the same qualifier and digits-or-words each time

    for steps in range(2, 40):
        low, high = steps_said(steps)
        assert low <= steps <= high
        assert {words(count) for count in range(low, high + 1)} == {words(steps)}, steps
        assert words(high + 1) != words(steps) and (low == 2 or words(low - 1) != words(steps)), steps  # no wider


def test_descriptions_record_the_details_their_words_state() -> None:
    details = measure_details(synthetic_clip(speed=1.0, turn_deg=0.0, seconds=3.2), FPS, SKELETON)
    texts = describe_clip(
        "walk", "normal", details, held_out=False, rng=random.Random(0), detail_share=1.0, orals=20, steps=0
    )
    assert all(text.claims.kinds() for text in texts)
    for text in texts:
        stated = text.claims.stated()
        if "distance_m" in stated:
            assert stated["distance_m"] == 3 and re.search(r"\b(3|three) met", text.text), text.text
        if "duration_s" not in stated:
            assert not re.search(r"seconds?\b", text.text), text.text


def test_left_turn_is_positive_and_right_turn_negative() -> None:
    left = measure_details(synthetic_clip(speed=1.0, turn_deg=90.0, seconds=6.0), FPS, SKELETON)
    right = measure_details(synthetic_clip(speed=1.0, turn_deg=-90.0, seconds=6.0), FPS, SKELETON)
    assert left.turn_deg == pytest.approx(90.0, abs=3.0)
    assert right.turn_deg == pytest.approx(-90.0, abs=3.0)
    assert left.turn_path_deg == pytest.approx(90.0, abs=5.0)
    assert abs(left.travel_heading_deg) < 30.0  # the first half of the path is still mostly ahead


def test_in_place_clip_has_no_travel_heading_or_steps() -> None:
    details = measure_details(synthetic_clip(speed=0.0, turn_deg=0.0, seconds=4.0), FPS, SKELETON)
    assert details.displacement_m == pytest.approx(0.0, abs=1e-9)
    assert details.travel_heading_deg is None
    assert details.steps == 0


def test_plus_x_is_the_left_side_in_the_canonical_frame() -> None:
    """A clip that only moves towards +X travels to the character's left (+90 degrees)."""
    joints = synthetic_clip(speed=0.0, turn_deg=0.0, seconds=2.0)
    joints += np.linspace(0.0, 2.0, len(joints))[:, None, None] * [1.0, 0.0, 0.0]
    assert joints[0, SKELETON.left_hip, 0] > joints[0, SKELETON.right_hip, 0]
    assert measure_details(joints, FPS, SKELETON).travel_heading_deg == pytest.approx(90.0, abs=1.0)


def test_mirrored_motion_gives_mirrored_details() -> None:
    joints = synthetic_clip(speed=1.2, turn_deg=70.0, seconds=5.0)
    mirrored = joints[:, list(SKELETON.mirror_permutation)] * [-1.0, 1.0, 1.0]
    expected = measure_details(joints, FPS, SKELETON).mirrored()
    actual = measure_details(mirrored, FPS, SKELETON)
    for name, value in expected.to_dict().items():
        assert getattr(actual, name) == pytest.approx(value, abs=0.2), name


def test_details_round_trip_and_reject_bad_input() -> None:
    details = measure_details(synthetic_clip(speed=1.0, turn_deg=45.0, seconds=4.0), FPS, SKELETON)
    assert MotionDetails.from_dict(details.to_dict()) == details
    with pytest.raises(DataError, match="missing"):
        MotionDetails.from_dict({"duration_s": 1.0})
    with pytest.raises(DataError, match="T x 21 x 3"):
        measure_details(np.zeros((10, 5, 3)), FPS, SKELETON)
    with pytest.raises(DataError, match="NaN"):
        measure_details(np.full((10, 21, 3), np.nan), FPS, SKELETON)


# --- truthful texts -------------------------------------------------------------------------

_TRAVEL_WORDS = re.compile(
    r"\b(metres?|meters?|steps?|forwards?|backwards?|pace|slowly|quickly)\b|(?<!go )\bahead\b", re.IGNORECASE
)


def test_straight_walk_texts_say_forward_and_three_metres() -> None:
    details = measure_details(synthetic_clip(speed=1.0, turn_deg=0.0, seconds=3.2), FPS, SKELETON)
    texts = texts_of("walk", details, detail_share=1.0)
    distance_texts = [text for text in texts if re.search(r"\bmet(re|er)s?\b", text)]
    assert len(distance_texts) > 10
    assert all(re.search(r"\b(3|three) met", text) for text in distance_texts)
    assert any(re.search(r"\b(forwards?|ahead)\b", text) for text in texts)
    assert not any(re.search(r"\b(left|right|backwards?|degrees?)\b", text, re.IGNORECASE) for text in texts)


def test_left_turn_texts_say_left_and_about_ninety_degrees() -> None:
    details = measure_details(synthetic_clip(speed=1.0, turn_deg=90.0, seconds=6.0), FPS, SKELETON)
    assert label_conflict("walk-turn-left", details) is None
    for action in ("walk-turn-left", "walk"):
        texts = texts_of(action, details, detail_share=1.0)
        angle_texts = [text for text in texts if "degree" in text]
        assert len(angle_texts) > 5
        assert all(re.search(r"\b(90|ninety) degrees", text) for text in angle_texts)
        assert all("left" in text for text in angle_texts)
        assert not any(re.search(r"\bright\b", text, re.IGNORECASE) for text in texts)


def test_in_place_texts_claim_no_travel() -> None:
    details = measure_details(synthetic_clip(speed=0.0, turn_deg=0.0, seconds=6.0), FPS, SKELETON)
    texts = texts_of("wave-left-hand", details, detail_share=1.0)
    assert any(re.search(r"\b(6|six) seconds\b", text) for text in texts)
    assert not any(_TRAVEL_WORDS.search(text) for text in texts)


def test_pace_is_relative_to_the_typical_speed_of_the_action() -> None:
    details = details_for("walk")
    assert clear_claims(details, typical_speed_mps=2.0).pace == "slow"
    assert clear_claims(details, typical_speed_mps=0.8).pace == "fast"
    assert clear_claims(details, typical_speed_mps=1.2).pace is None


def test_unclear_turns_and_directions_are_left_unsaid() -> None:
    spinning = MotionDetails(60.0, 1.7, 19.5, -14.0, -1455.0, 3394.0, 121, 0.3)
    small = MotionDetails(5.0, 6.0, 6.1, 28.0, 25.0, 40.0, 10, 1.2)  # between forward and diagonal
    assert clear_claims(spinning).turn_deg is None
    assert clear_claims(small).turn_deg is None
    assert clear_claims(small).direction is None


def test_label_conflicts_name_the_contradiction() -> None:
    turns_right = MotionDetails(5.0, 4.4, 5.8, 5.0, -95.0, 105.0, 10, 1.1)
    assert "turns -95 degrees" in label_conflict("walk-turn-left", turns_right)
    assert label_conflict("walk-turn-right", turns_right) is None
    standing = details_for("bow")
    assert "moves only" in label_conflict("walk", standing)
    assert label_conflict("bow", standing) is None
    forward = details_for("walk")
    assert "travels at" in label_conflict("walk-back", forward)


# --- variety, determinism, held-out templates ------------------------------------------------


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_every_action_has_thirty_phrasings(action: str) -> None:
    texts = texts_of(action, details_for(action), seeds=10, detail_share=0.0)
    assert len(set(texts)) >= 30


def test_every_style_has_ten_phrasings_and_uses_them() -> None:
    for style, words in STYLES.items():
        assert words.count() >= 10, style
        texts = " ".join(texts_of("bow", details_for("bow"), style=style, seeds=60, detail_share=0.0))
        used = [phrase for phrase in words.adverbials.seen + words.personas.seen if _phrase_pattern(phrase).search(texts)]
        assert len(used) >= 10, style


def test_about_half_of_the_texts_quote_details() -> None:
    texts = []
    for index, action in enumerate(("walk", "walk-turn-left", "bow", "wave-left-hand")):
        for seed in range(30):
            rng = random.Random(seed * 10 + index)
            texts += describe_clip(action, "normal", details_for(action), held_out=False, rng=rng, steps=0)
    share = np.mean([bool(text.claims.kinds()) for text in texts])
    assert 0.4 <= share <= 0.6
    assert Counter(text.kind for text in texts) == {"original": 360, "oral": 600}


def _dataset(clips_per_pair: int = 2) -> tuple[list[dict], dict[str, str]]:
    clips, splits = [], {}
    names = ("train", "train", "val", "test", "test_novel")
    for index, (action, style) in enumerate(
        (a, s) for a in ("walk", "walk-turn-right", "wave-left-hand", "bow") for s in ("normal", "elderly", "angry")
    ):
        for take in range(clips_per_pair):
            clip_id = f"dataset-2_{action}_{style}_{take:03d}"
            clips.append({"id": clip_id, "action": action, "style": style, "details": details_for(action).to_dict()})
            splits[clip_id] = names[(index + take) % len(names)]
    return clips, splits


def test_dataset_rows_are_deterministic_per_seed() -> None:
    clips, splits = _dataset()
    rows = describe_dataset(clips, splits, seed=3)
    assert rows == describe_dataset(clips, splits, seed=3)
    seen = sum(splits[clip["id"]] in ("train", "val") for clip in clips)
    assert len(rows) == 8 * len(clips) + seen  # step commands for the seen splits only
    assert set(rows[0]) == {"id", "clip", "kind", "text", "template", "split", "claims"}
    assert len({row["id"] for row in rows}) == len(rows)
    other = describe_dataset(clips, splits, seed=4)
    changed = sum(a["text"] != b["text"] for a, b in zip(rows, other))
    assert changed > len(rows) // 2
    # A clip's texts do not depend on which other clips are described.
    alone = describe_dataset(clips[:1], splits, seed=3)
    assert alone == [row for row in rows if row["clip"] == clips[0]["id"]]


def test_step_commands_are_short_detail_free_and_leave_the_other_texts_unchanged() -> None:
    clips, splits = _dataset(clips_per_pair=3)
    rows = describe_dataset(clips, splits, seed=1)
    without = describe_dataset(clips, splits, seed=1, steps_per_clip=0)
    steps = [row for row in rows if row["template"].startswith("step/")]
    assert [row for row in rows if row not in steps] == without
    assert {row["split"] for row in steps} == {"train", "val"}
    assert all(row["kind"] == "oral" and row["claims"] == {} and row["id"].endswith(":oral:5") for row in steps)
    assert {row["template"] for row in steps} <= {frame.id for frame in STEP_FRAMES}
    assert statistics.median(len(row["text"]) for row in steps) < statistics.median(
        len(row["text"]) for row in without if row["kind"] == "oral"
    )


def test_held_out_templates_and_words_appear_only_in_test_splits() -> None:
    clips, splits = _dataset(clips_per_pair=6)
    rows = describe_dataset(clips, splits, seed=0)
    held_out_frames = {frame.id for frame in ORIGINAL_FRAMES + ORAL_FRAMES if frame.held_out}
    seen_rows = [row for row in rows if row["split"] in ("train", "val")]
    test_rows = [row for row in rows if row["split"] in ("test", "test_novel")]
    assert seen_rows and test_rows
    assert not any(row["template"] in held_out_frames for row in seen_rows)
    assert all(row["template"] in held_out_frames for row in test_rows)
    held_out_words = [
        phrase
        for synonyms in [words.phrases for words in ACTIONS.values()]
        + [part for words in STYLES.values() for part in (words.adverbials, words.personas)]
        + [SUBJECTS]
        for phrase in synonyms.held_out
    ]
    seen_text = "\n".join(row["text"] for row in seen_rows)
    leaks = [phrase for phrase in held_out_words if _phrase_pattern(phrase).search(seen_text)]
    assert leaks == []
    assert any(_phrase_pattern(phrase).search(row["text"]) for row in test_rows for phrase in held_out_words)


def _phrase_pattern(phrase: str) -> re.Pattern:
    """Matches the phrase in any verb form, whatever fills its slots."""
    forms = {conjugate(phrase, form).replace("^", "") for form in ("base", "third", "gerund")}
    patterns = []
    for form in forms:
        parts = [re.escape(part) for part in re.split(r"\{[a-z_]+\}", form)]
        tail = r"\b" if not form.endswith("}") else ""
        patterns.append(r"\b" + r"[^.?!]*?".join(parts) + tail)
    return re.compile("|".join(patterns), re.IGNORECASE)


def test_bad_rows_raise_clear_errors() -> None:
    clips, splits = _dataset(clips_per_pair=1)
    with pytest.raises(DataError, match="unknown action 'moonwalk'"):
        describe_dataset([{**clips[0], "action": "moonwalk"}], splits)
    with pytest.raises(DataError, match="has split None"):
        describe_dataset(clips, {})
    with pytest.raises(DataError, match="contradict their labels"):
        describe_dataset([{**clips[0], "action": "walk", "details": details_for("bow").to_dict()}], splits)
    with pytest.raises(DataError, match="detail_share"):
        describe_dataset(clips, splits, detail_share=1.5)


def test_a_custom_rewriter_replaces_the_oral_texts() -> None:
    class Shouting:
        def rewrite(self, content, *, held_out, rng):
            phrasing = TemplateRewriter().rewrite(content, held_out=held_out, rng=rng)
            return type(phrasing)(phrasing.text.upper(), "shout/" + phrasing.template)

    clips, splits = _dataset(clips_per_pair=1)
    rows = describe_dataset(clips, splits, rewriter=Shouting())
    # Step commands are not rewrites of a caption: the rewriter leaves them to the grammar.
    oral = [row for row in rows if row["kind"] == "oral" and not row["template"].startswith("step/")]
    assert oral and all(row["text"].isupper() and row["template"].startswith("shout/") for row in oral)


# --- grammar and mirroring ------------------------------------------------------------------


def test_conjugation_and_number_words() -> None:
    assert conjugate("walk forward and ^turn left{angle}", "third") == "walks forward and turns left{angle}"
    assert conjugate("run{path}", "gerund") == "running{path}"
    assert conjugate("wave, using {poss} left hand", "gerund") == "waving, using {poss} left hand"
    assert [conjugate(verb, "third") for verb in ("go", "punch", "try", "say")] == ["goes", "punches", "tries", "says"]
    assert number_words(105) == "one hundred and five"
    assert number_words(45) == "forty-five"


def test_mirror_text_swaps_sides_and_is_an_involution() -> None:
    text = "Wave your LEFT hand, then walk leftward; Left-handed, rightmost. Bright and upright, alright."
    assert mirror_text(text) == "Wave your RIGHT hand, then walk rightward; Right-handed, leftmost. Bright and upright, alright."
    assert mirror_text(mirror_text(text)) == text


def test_named_sides_reads_side_words_only() -> None:
    assert named_sides("Wave your LEFT hand, then walk leftward") == {"left"}
    assert named_sides("Left-handed, rightmost") == {"left", "right"}
    assert named_sides("Bright and upright, alright, a leftover") == set()


def test_mirror_action_pairs_the_lateral_actions() -> None:
    pairs = {
        "wave-left-hand": "wave-right-hand",
        "raise-up-left-hand": "raise-up-right-hand",
        "walk-turn-left": "walk-turn-right",
        "walk-left": "walk-right",
    }
    for left, right in pairs.items():
        assert mirror_action(left) == right and mirror_action(right) == left
    for action in ACTIONS:
        assert mirror_action(mirror_action(action)) == action
        assert mirror_action(action) in ACTIONS
    assert mirror_action("bow") == "bow"


def test_describing_the_mirrored_clip_equals_mirroring_the_description() -> None:
    for action in ("wave-left-hand", "walk-turn-left", "raise-up-left-hand", "walk-left"):
        texts = texts_of(action, details_for(action), seeds=5)
        mirrored = mirror_action(action)
        assert [mirror_text(text) for text in texts] == texts_of(mirrored, details_for(mirrored), seeds=5)
        assert not any(re.search(r"\bright\b", text, re.IGNORECASE) for text in texts)
    symmetric = texts_of("bow", details_for("bow"), seeds=10) + texts_of("walk", details_for("walk"), seeds=10)
    assert all(mirror_text(text) == text for text in symmetric)


# --- real clips -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_details(bandai_clips) -> dict[str, tuple[MotionDetails, np.ndarray, Skeleton]]:
    from saymotion.bvh import forward_kinematics, read_bvh, resample
    from saymotion.representation import canonicalize

    out = {}
    for clip_id, path in bandai_clips.items():
        motion = canonicalize(resample(read_bvh(path), FPS))
        joints = forward_kinematics(motion)
        out[clip_id] = (measure_details(joints, FPS, motion.skeleton), joints, motion.skeleton)
    return out


@pytest.mark.slow
def test_real_clips_measure_what_their_labels_say(real_details) -> None:
    for clip_id, (details, joints, skeleton) in real_details.items():
        action = clip_id.split("_")[1]
        assert joints[0, skeleton.left_hip, 0] > joints[0, skeleton.right_hip, 0], "+X is the left side"
        assert label_conflict(action, details) is None, clip_id
    for take in ("001", "002"):
        turn = real_details[f"dataset-2_walk-turn-left_normal_{take}"][0]
        assert 60.0 < turn.turn_deg < 130.0
    walk = real_details["dataset-1_walk_normal_001"][0]
    assert walk.displacement_m > 5.0 and abs(walk.travel_heading_deg) < 20.0 and walk.steps >= 8
    assert real_details["dataset-1_walk-left_tired_001"][0].travel_heading_deg > 0.0
    for clip_id in ("dataset-2_wave-left-hand_elderly_001", "dataset-1_bow_tired_001"):
        assert real_details[clip_id][0].displacement_m < 0.3


@pytest.mark.slow
def test_real_clip_texts_are_true(real_details) -> None:
    turn = real_details["dataset-2_walk-turn-left_normal_001"][0]
    texts = texts_of("walk-turn-left", turn, detail_share=1.0, seeds=10)
    assert not any(re.search(r"\bright\b", text, re.IGNORECASE) for text in texts)
    assert all(re.search(r"\b(90|ninety|105|one hundred and five) degrees", text) for text in texts if "degree" in text)
    wave = real_details["dataset-2_wave-left-hand_elderly_001"][0]
    assert not any(_TRAVEL_WORDS.search(text) for text in texts_of("wave-left-hand", wave, detail_share=1.0, seeds=10))
