"""Sentences from templates: third-person captions ("original") and spoken instructions ("oral").

A description is a sentence frame ("Could you {pred}?") around a predicate: an action phrase from
the vocabulary, conjugated for the frame, with the chosen measured details and a style adverbial;
frames that name the style as a persona ("Pretend you're {persona} and {pred_plain}.") use the
predicate without the adverbial. Frames marked held_out are used only for the test splits.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from saymotion.descriptions.claims import MIN_STEPS, Claims
from saymotion.descriptions.mirror import mirror_text
from saymotion.descriptions.vocabulary import ACTIONS, STYLES, Motion, Synonyms


@dataclass(frozen=True)
class Voice:
    """Who the sentence talks about: "you" in instructions, "they" in captions."""

    poss: str
    they: str
    they_are: str
    they_have: str
    self: str

    def slots(self) -> dict[str, str]:
        return {
            "poss": self.poss,
            "they": self.they,
            "they_are": self.they_are,
            "they_have": self.they_have,
            "self": self.self,
        }


INSTRUCTION = Voice("your", "you", "you're", "you've", "yourself")
CAPTION = Voice("their", "they", "they're", "they've", "themselves")


@dataclass(frozen=True)
class Frame:
    id: str
    text: str
    held_out: bool = False


# HumanML3D-style captions: lower case, third person, present tense.
ORIGINAL_FRAMES: tuple[Frame, ...] = (
    Frame("original/plain", "{subject} {pred3}."),
    Frame("original/persona", "{persona} {pred3_plain}."),
    Frame("original/acting-like", "{subject}, acting like {persona}, {pred3_plain}."),
    Frame("original/is", "{subject} is {pred_ing}."),
    Frame("original/fragment", "{subject} {pred_ing}."),
    Frame("original/can-be-seen", "{subject} can be seen {pred_ing}."),
    Frame("original/in-this-clip", "in this clip, {subject} {pred3}."),
    Frame("original/shows", "the motion shows {subject} {pred_ing}."),
    Frame("original/begins", "{subject} begins to {pred}."),
    Frame("original/persona-is", "{persona} is {pred_ing_plain}."),
    Frame("original/here", "here, {subject} {pred3}."),
    # Held out: only in the test splits.
    Frame("original/we-see", "we see {subject} {pred_ing}.", held_out=True),
    Frame("original/depicts", "this clip depicts {subject} {pred_ing}.", held_out=True),
    Frame("original/pretends", "{subject} pretends to be {persona} and {pred3_plain}.", held_out=True),
)

# What a user might say: imperatives, questions, requests, hedges and fillers.
ORAL_FRAMES: tuple[Frame, ...] = (
    Frame("oral/imperative", "{Pred}."),
    Frame("oral/please-after", "{Pred}, please."),
    Frame("oral/please", "Please {pred}."),
    Frame("oral/could-you", "Could you {pred}?"),
    Frame("oral/can-you", "Can you {pred}?"),
    Frame("oral/would-you", "Would you {pred}?"),
    Frame("oral/could-you-please", "Could you please {pred}?"),
    Frame("oral/would-you-mind", "Would you mind {pred_ing}?"),
    Frame("oral/i-want", "I want you to {pred}."),
    Frame("oral/id-like", "I'd like you to {pred}."),
    Frame("oral/i-need", "I need you to {pred}."),
    Frame("oral/lets-see", "Let's see you {pred}."),
    Frame("oral/go-ahead", "Go ahead and {pred}."),
    Frame("oral/okay", "Okay, {pred}."),
    Frame("oral/alright-now", "Alright, now {pred}."),
    Frame("oral/um-i-guess", "Um, {pred}, I guess."),
    Frame("oral/so-uh", "So, uh, could you {pred}?"),
    Frame("oral/maybe", "Maybe {pred}?"),
    Frame("oral/try", "Try to {pred}."),
    Frame("oral/now", "Now {pred}."),
    Frame("oral/how-about", "How about you {pred}?"),
    Frame("oral/why-dont-you", "Why don't you {pred}?"),
    Frame("oral/time-to", "Time to {pred}."),
    Frame("oral/just", "Just {pred}."),
    Frame("oral/favour", "Do me a favour and {pred}."),
    Frame("oral/next", "Next, {pred}."),
    Frame("oral/okay-tag", "{Pred}, okay?"),
    Frame("oral/love-to-see", "I'd love to see you {pred}."),
    Frame("oral/pretend", "Pretend you're {persona} and {pred_plain}."),
    Frame("oral/act-like", "Act like {persona} and {pred_plain}."),
    Frame("oral/imagine", "Imagine you're {persona}. {Pred_plain}."),
    Frame("oral/can-i-get", "Can I get you to {pred}?"),
    Frame("oral/for-this-one", "For this one, {pred}."),
    Frame("oral/hmm-try-this", "Hmm, let's try this: {pred}."),
    Frame("oral/could-you-maybe", "Could you maybe {pred}?"),
    Frame("oral/thatd-be-great", "If you could {pred}, that'd be great."),
    Frame("oral/uh-please", "Uh, {pred}, please."),
    # Held out: only in the test splits.
    Frame("oral/possible", "Would it be possible for you to {pred}?", held_out=True),
    Frame("oral/your-turn", "Your turn: {pred}.", held_out=True),
    Frame("oral/i-was-thinking", "I was thinking you could {pred}.", held_out=True),
    Frame("oral/what-id-like", "What I'd like is for you to {pred}.", held_out=True),
    Frame("oral/let-me-see", "Let me see you {pred}.", held_out=True),
    Frame("oral/youre-now", "You're {persona} now, so {pred_plain}.", held_out=True),
    Frame("oral/hey", "Hey, {pred}!", held_out=True),
    Frame("oral/do-you-mind", "Do you mind {pred_ing}?", held_out=True),
    Frame("oral/well-go-on", "Well, go on, {pred}.", held_out=True),
)

# One step of a longer spoken instruction, as a multi-step recording splits into ("... then bow"):
# short, with no measured details. Used for the seen splits only (see describe_clip).
STEP_FRAMES: tuple[Frame, ...] = (
    Frame("step/imperative", "{Pred}."),
    Frame("step/first", "First, {pred}."),
    Frame("step/now", "Now {pred}."),
    Frame("step/and-now", "And now {pred}."),
    Frame("step/then", "Then {pred}."),
    Frame("step/and-then", "And then {pred}."),
    Frame("step/after-that", "After that, {pred}."),
    Frame("step/next", "Next, {pred}."),
    Frame("step/finally", "Finally, {pred}."),
    Frame("step/please", "Please {pred}."),
)

SUBJECTS = Synonyms(
    seen=("a person", "someone", "the person", "a figure", "a character", "an individual", "a human"),
    held_out=("a performer", "the actor"),
)
# A normal style is often left unsaid, as people would.
NORMAL_STYLE_SHARE = 0.4

_QUALIFIERS = ("about", "roughly", "around")
_DIRECTIONS_LEFT = {
    "forward": ("forward", "ahead", "straight ahead", "forwards"),
    "backward": ("backward", "backwards"),
    "left": ("to the left", "leftward", "to {poss} left"),
    "forward-left": ("diagonally forward and to the left", "forward and to the left", "ahead and to the left"),
    "backward-left": ("backward and to the left", "diagonally back to the left"),
}
DIRECTION_WORDS: dict[str, tuple[str, ...]] = {
    **_DIRECTIONS_LEFT,
    **{mirror_text(name): tuple(map(mirror_text, words)) for name, words in _DIRECTIONS_LEFT.items()},
}
_PACE_BEFORE = {"slow": ("slowly", "unhurriedly"), "fast": ("quickly", "rapidly", "swiftly")}
_PACE_AFTER = {"slow": ("at a slow pace", "at an easy pace", "slowly"), "fast": ("at a fast pace", "at a quick pace", "fast")}

# Verb morphology for the phrases in the vocabulary.
_DOUBLED_FINAL = frozenset({"run", "jog", "step", "put", "set", "get", "cut", "dip", "jab", "bid", "hop", "stop"})
_IRREGULAR_GERUND = {"boogie": "boogieing"}
_WORD = re.compile(r"^(\^?)([A-Za-z'-]+)(.*)$", re.DOTALL)


def third_person(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2:-1] not in tuple("aeiou"):
        return verb[:-1] + "ies"
    return verb + "s"


def gerund(verb: str) -> str:
    if verb in _IRREGULAR_GERUND:
        return _IRREGULAR_GERUND[verb]
    if verb in _DOUBLED_FINAL:
        return verb + verb[-1] + "ing"
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        return verb[:-1] + "ing"
    return verb + "ing"


def conjugate(phrase: str, form: str) -> str:
    """Put the phrase's first word and its ^-marked words in `form`: base, third or gerund."""
    inflect = {"base": str, "third": third_person, "gerund": gerund}[form]
    words = phrase.split(" ")
    out = []
    for position, token in enumerate(words):
        match = _WORD.match(token)
        if match and (position == 0 or match.group(1)):
            token = inflect(match.group(2)) + match.group(3)
        out.append(token)
    return " ".join(out)


_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()  # fmt: skip
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(number: int) -> str:
    """English words for 0-999: 105 -> "one hundred and five"."""
    if not 0 <= number < 1000:
        raise ValueError(f"number_words covers 0-999, got {number}")
    if number < 20:
        return _ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    hundreds, rest = divmod(number, 100)
    return f"{_ONES[hundreds]} hundred" + (f" and {number_words(rest)}" if rest else "")


def _number(number: int, rng: random.Random) -> str:
    """Digits or words, as a transcript or a script might write them."""
    return number_words(number) if rng.random() < 0.5 else str(number)


def _amount(number: int, unit: str, units: str, rng: random.Random) -> str:
    qualifier = rng.choice(_QUALIFIERS)
    if number == 1:
        return f"{qualifier} a {unit}"
    return f"{qualifier} {_number(number, rng)} {units}"


def distance_text(metres: int, rng: random.Random) -> str:
    unit = rng.choice(("metre", "meter"))
    return _amount(metres, unit, unit + "s", rng)


# Step counts in words: "a few" up to FEW_STEPS, "several" up to SEVERAL_STEPS, then a count
# rounded to STEPS_ROUNDING ("about 10 steps").
FEW_STEPS = 4
SEVERAL_STEPS = 8
STEPS_ROUNDING = 5


def steps_text(steps: int, rng: random.Random) -> str:
    """Loose on purpose: counted foot plants can be off by one or two."""
    if steps <= FEW_STEPS:
        return "a few steps"
    if steps <= SEVERAL_STEPS:
        return "several steps"
    return _amount(_rounded_steps(steps), "step", "steps", rng)


def steps_said(steps: int) -> tuple[int, int]:
    """The counts that steps_text's words for `steps` cover ("a few steps": 2 to 4)."""
    if steps <= FEW_STEPS:
        return MIN_STEPS, FEW_STEPS
    if steps <= SEVERAL_STEPS:
        return FEW_STEPS + 1, SEVERAL_STEPS
    rounded = _rounded_steps(steps)
    return max(SEVERAL_STEPS + 1, rounded - STEPS_ROUNDING // 2), rounded + STEPS_ROUNDING // 2


def _rounded_steps(steps: int) -> int:
    return STEPS_ROUNDING * round(steps / STEPS_ROUNDING)


def duration_text(seconds: int, rng: random.Random) -> str:
    return _amount(seconds, "second", "seconds", rng)


def angle_text(degrees: int, rng: random.Random) -> str:
    return _amount(abs(degrees), "degree", "degrees", rng)


@dataclass(frozen=True)
class Predicate:
    """An action phrase with its details and style, before conjugation."""

    phrase: str  # vocabulary phrase, slots filled, ^ markers kept for conjugation
    pace_before: str  # adverb before the verb, or ""
    details_after: str  # pace and details after the phrase, each with its leading separator
    style: str  # style adverbial, or ""

    def render(self, form: str, with_style: bool) -> str:
        text = conjugate(self.phrase, form)
        style = self.style if with_style else ""
        short_style = style and "," not in style and len(style.split()) <= 2
        if short_style:
            text += f" {style}"
        text += self.details_after
        if style and not short_style:
            text += f", {style}"
        if self.pace_before:
            text = f"{self.pace_before} {text}"
        return text


def build_predicate(
    action: str, style: str, claims: Claims, voice: Voice, held_out: bool, rng: random.Random
) -> Predicate:
    """Choose the action phrase and the wording of every claim (claims must suit the action)."""
    words = ACTIONS[action]
    phrase = rng.choice(words.phrases.pool(held_out))
    slots = voice.slots()
    slots["path"] = _path(claims, words.motion, rng) if words.motion in (Motion.TRAVEL, Motion.DIRECTED) else ""
    angle = angle_text(claims.turn_deg, rng) if words.motion is Motion.TURN and claims.turn_deg else ""
    slots["angle"] = f" {rng.choice(('', 'by '))}{angle}" if angle else ""
    slots["angle_of"] = f" of {angle}" if angle else ""
    pace_before, details_after = "", ""
    if claims.pace:
        if rng.random() < 0.5:
            pace_before = rng.choice(_PACE_BEFORE[claims.pace])
        else:
            details_after += " " + rng.choice(_PACE_AFTER[claims.pace])
    if words.motion is Motion.TURN:
        details_after += _total_travel(claims, rng)
    elif claims.turn_deg:
        details_after += _turn_clause(claims.turn_deg, rng)
    if claims.duration_s:
        details_after += _duration_clause(claims.duration_s, f"{phrase} {slots['path']} {details_after} ", rng)
    return Predicate(
        phrase=phrase.format(**slots),
        pace_before=pace_before,
        details_after=details_after.format(**slots),
        style=_style_adverbial(style, held_out, rng).format(**slots),
    )


def _path(claims: Claims, motion: Motion, rng: random.Random) -> str:
    """Direction and distance (or steps) right after a travel verb: " forward about 3 metres"."""
    direction = rng.choice(DIRECTION_WORDS[claims.direction]) if claims.direction and motion is Motion.TRAVEL else ""
    if claims.distance_m:
        amount = distance_text(claims.distance_m, rng)
    elif claims.steps:
        amount = steps_text(claims.steps, rng)
    else:
        return f" {direction}" if direction else ""
    if not direction:
        return f" for {amount}"
    return " " + rng.choice((f"{direction} {amount}", f"{amount} {direction}", f"{direction} for {amount}"))


def _total_travel(claims: Claims, rng: random.Random) -> str:
    """Distance or steps of a turning walk as a whole, since the phrase puts the turn mid-way."""
    if claims.distance_m:
        amount = distance_text(claims.distance_m, rng)
        return rng.choice((f", covering {amount} in total", f", {amount} in all", f" over {amount}"))
    if claims.steps:
        amount = steps_text(claims.steps, rng)
        return rng.choice((f", taking {amount} in total", f" in {amount}"))
    return ""


def _turn_clause(turn_deg: int, rng: random.Random) -> str:
    side = "left" if turn_deg > 0 else "right"
    angle = angle_text(turn_deg, rng)
    return rng.choice(
        (f", turning {side} {angle} along the way", f", veering {angle} to the {side}", f", turning {angle} to {{poss}} {side}")
    )


def _duration_clause(seconds: int, text_so_far: str, rng: random.Random) -> str:
    """" for about 5 seconds" and the like, avoiding a preposition the sentence already uses."""
    fresh = [word for word in ("for", "over", "in", "lasting") if f" {word} " not in text_so_far]
    word = rng.choice(fresh or ["lasting"])
    return f"{',' if word == 'lasting' else ''} {word} {duration_text(seconds, rng)}"


def _style_adverbial(style: str, held_out: bool, rng: random.Random) -> str:
    if style == "normal" and rng.random() >= NORMAL_STYLE_SHARE:
        return ""
    return rng.choice(STYLES[style].adverbials.pool(held_out))


def render(
    frames: tuple[Frame, ...],
    voice: Voice,
    action: str,
    style: str,
    claims: Claims,
    held_out: bool,
    rng: random.Random,
) -> tuple[str, str]:
    """(text, frame id) for one description; held_out picks the held-out frames only."""
    frame = rng.choice([frame for frame in frames if frame.held_out == held_out])
    predicate = build_predicate(action, style, claims, voice, held_out, rng)
    values = {
        "subject": rng.choice(SUBJECTS.pool(held_out)),
        "persona": rng.choice(STYLES[style].personas.pool(held_out)),
    }
    for suffix, with_style in (("", True), ("_plain", False)):
        values[f"pred{suffix}"] = predicate.render("base", with_style)
        values[f"pred3{suffix}"] = predicate.render("third", with_style)
        values[f"pred_ing{suffix}"] = predicate.render("gerund", with_style)
        values[f"Pred{suffix}"] = _capitalised(values[f"pred{suffix}"])
    text = frame.text.format(**values)
    return (_capitalised(text) if voice is INSTRUCTION else text), frame.id


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]
