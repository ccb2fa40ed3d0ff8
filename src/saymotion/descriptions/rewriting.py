"""Turning a clip's content into a spoken instruction: the paper's ChatGPT rewriting step, done by
templates here. Anything with a `rewrite` method of this shape can stand in (an LLM, for one);
see docs/descriptions.md."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from saymotion.descriptions.claims import Claims
from saymotion.descriptions.grammar import INSTRUCTION, ORAL_FRAMES, render


@dataclass(frozen=True)
class Content:
    """What one description must say: the clip's labels, the measured facts chosen for it, and a
    third-person caption saying exactly that (what a language model would be asked to rephrase)."""

    action: str
    style: str
    claims: Claims
    caption: str


@dataclass(frozen=True)
class Phrasing:
    text: str
    template: str  # which frame or prompt produced it; held-out ones must differ from the others


class Rewriter(Protocol):
    def rewrite(self, content: Content, *, held_out: bool, rng: random.Random) -> Phrasing:
        """A spoken instruction stating `content` and nothing else. `held_out` asks for the
        phrasings reserved for the test splits; all randomness must come from `rng`."""
        ...


class TemplateRewriter:
    """The offline default: the oral sentence frames of `grammar`."""

    def rewrite(self, content: Content, *, held_out: bool, rng: random.Random) -> Phrasing:
        text, frame = render(ORAL_FRAMES, INSTRUCTION, content.action, content.style, content.claims, held_out, rng)
        return Phrasing(text, frame)
