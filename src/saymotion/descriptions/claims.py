"""What a description may state about a clip: only facts its measured details make unambiguous,
rounded loosely, and never something its label contradicts.

Thresholds (documented in docs/descriptions.md):
- travel (distance, steps, direction, pace) only when the clip moves at least MOVE_MIN_M net;
- direction only when the heading lies inside a sector (forward within 20 degrees, a diagonal
  within 10 degrees of 45, sideways within 20 of 90, backward within 20 of 180); between the
  sectors it is left unsaid;
- a turn only from 30 to 200 degrees and when the facing changed mostly one way (the total
  turning is at most 1.5 times the net turn plus 30 degrees), rounded to 15 degrees;
- pace relative to the typical speed of the same action: below 0.75 times is slow, above 1.3 fast;
- steps only from two foot plants on.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from saymotion.descriptions.details import MotionDetails, wrap_degrees
from saymotion.descriptions.vocabulary import ACTIONS, Motion

MOVE_MIN_M = 1.0
TURN_MIN_DEG = 30.0
TURN_MAX_DEG = 200.0
TURN_ROUNDING_DEG = 15
SLOW_SPEED_RATIO = 0.75
FAST_SPEED_RATIO = 1.3
MIN_STEPS = 2
# (name, centre in degrees with + to the left, half-width); sectors leave gaps so a heading near a
# boundary is never called either way.
DIRECTION_SECTORS: tuple[tuple[str, float, float], ...] = (
    ("forward", 0.0, 20.0),
    ("forward-left", 45.0, 10.0),
    ("left", 90.0, 20.0),
    ("backward-left", 135.0, 10.0),
    ("backward", 180.0, 20.0),
    ("backward-right", -135.0, 10.0),
    ("right", -90.0, 20.0),
    ("forward-right", -45.0, 10.0),
)
# Which claims each kind of action can carry: a gesture has no distance or pace, and a phrase
# that already names the direction ("walk backward") takes no measured direction.
CLAIMS_BY_MOTION: dict[Motion, tuple[str, ...]] = {
    Motion.IN_PLACE: ("turn_deg", "duration_s"),
    Motion.TRAVEL: ("direction", "distance_m", "steps", "turn_deg", "pace", "duration_s"),
    Motion.DIRECTED: ("distance_m", "steps", "turn_deg", "pace", "duration_s"),
    Motion.TURN: ("distance_m", "steps", "turn_deg", "pace", "duration_s"),
}


@dataclass(frozen=True)
class Claims:
    """Facts one description may state; None where unclear or not chosen."""

    direction: str | None = None  # a DIRECTION_SECTORS name
    distance_m: int | None = None  # path length, whole metres
    steps: int | None = None  # foot plants counted
    turn_deg: int | None = None  # net turn, + left, rounded to TURN_ROUNDING_DEG
    pace: str | None = None  # "slow" or "fast" for this action
    duration_s: int | None = None  # whole seconds, at least 1

    def kinds(self) -> tuple[str, ...]:
        return tuple(field.name for field in fields(self) if getattr(self, field.name) is not None)

    def stated(self) -> dict[str, int | str]:
        return {kind: getattr(self, kind) for kind in self.kinds()}

    def only(self, kinds: tuple[str, ...]) -> Claims:
        return replace(Claims(), **{kind: getattr(self, kind) for kind in kinds})


def clear_claims(details: MotionDetails, typical_speed_mps: float | None = None) -> Claims:
    """Every fact the measurement makes unambiguous (the action decides later which fit its words)."""
    travels = details.displacement_m >= MOVE_MIN_M
    return Claims(
        direction=_direction(details.travel_heading_deg) if travels else None,
        distance_m=max(1, round(details.path_length_m)) if travels else None,
        steps=details.steps if travels and details.steps >= MIN_STEPS else None,
        turn_deg=_clear_turn(details),
        pace=_pace(details.speed_mps, typical_speed_mps) if travels else None,
        duration_s=max(1, round(details.duration_s)),
    )


def claims_for_action(claims: Claims, action: str) -> Claims:
    """The claims the action's phrases can carry."""
    return claims.only(tuple(kind for kind in claims.kinds() if kind in CLAIMS_BY_MOTION[ACTIONS[action].motion]))


def label_conflict(action: str, details: MotionDetails) -> str | None:
    """Why the clip's measurement contradicts what its action label says, or None if it does not.

    A description repeats the label ("walk forward and turn left"), so a clip that turns right, or
    a walk that stays in place, cannot be described truthfully and should be rejected.
    """
    words = ACTIONS[action]
    if words.motion is Motion.IN_PLACE:
        return None
    if details.displacement_m < MOVE_MIN_M:
        return f"{action} clip moves only {details.displacement_m:.2f} m"
    heading = details.travel_heading_deg
    if words.heading_deg is not None and heading is not None:
        off = abs(wrap_degrees(heading - words.heading_deg))
        if off >= words.heading_tolerance_deg:
            return f"{action} clip travels at {heading:.0f} degrees from its initial facing (+ is left)"
    if words.turn_sign:
        turn = _clear_turn(details)
        if turn is None or turn * words.turn_sign < 0:
            return f"{action} clip turns {details.turn_deg:.0f} degrees (+ is left, {details.turn_path_deg:.0f} in all)"
    return None


def _direction(heading: float | None) -> str | None:
    if heading is None:
        return None
    for name, centre, half_width in DIRECTION_SECTORS:
        if abs(wrap_degrees(heading - centre)) <= half_width:
            return name
    return None


def _clear_turn(details: MotionDetails) -> int | None:
    net = abs(details.turn_deg)
    if not TURN_MIN_DEG <= net <= TURN_MAX_DEG or details.turn_path_deg > 1.5 * net + 30.0:
        return None
    rounded = TURN_ROUNDING_DEG * round(net / TURN_ROUNDING_DEG)
    return rounded if details.turn_deg > 0 else -rounded


def _pace(speed: float, typical: float | None) -> str | None:
    if not typical:
        return None
    if speed < SLOW_SPEED_RATIO * typical:
        return "slow"
    if speed > FAST_SPEED_RATIO * typical:
        return "fast"
    return None
