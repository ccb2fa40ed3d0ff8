"""Left/right mirroring of texts and action labels, to go with mirrored motions.

`mirror_text` swaps every left/right word, so it also swaps the rare non-directional uses ("he
left", "that's right"); the description vocabulary avoids those senses so its texts mirror cleanly.
"""

from __future__ import annotations

import re

_OTHER_SIDE = {"left": "right", "right": "left"}
# "left" and "right" as whole words or word stems: left-hand, leftward(s), leftmost, Left; but not
# "bright", "alright", "upright" (no word start) nor "leftover", "rightly" (no allowed ending).
_SIDE_WORD = re.compile(r"\b(left|right)(?=wards?\b|most\b|-|\b)", re.IGNORECASE)


def mirror_text(text: str) -> str:
    """`text` with left and right exchanged, keeping each word's capitalisation."""
    return _SIDE_WORD.sub(lambda match: _same_case(_OTHER_SIDE[match.group(1).lower()], match.group(1)), text)


def named_sides(text: str) -> set[str]:
    """The sides ("left", "right") the words of `text` name."""
    return {match.group(1).lower() for match in _SIDE_WORD.finditer(text)}


def mirror_action(action: str) -> str:
    """The action label of the mirrored motion: wave-left-hand <-> wave-right-hand and so on."""
    return "-".join(_OTHER_SIDE.get(part, part) for part in action.split("-"))


def _same_case(word: str, model: str) -> str:
    if model.isupper():
        return word.upper()
    if model[0].isupper():
        return word.capitalize()
    return word
