"""Words for the Bandai Namco actions and styles.

Action phrases are base-form verb phrases ("wave {poss} left hand"). Slots: {poss} / {they} /
{they_are} / {self} become "your / you / you're / yourself" in instructions and "their / they /
they're / themselves" in captions; {path} takes the measured direction and distance of travel;
{angle} (" about 90 degrees") and {angle_of} (" of about 90 degrees") take the measured turn. The
first word is the verb that gets conjugated ("walks", "walking"); a later verb that must agree with
it is marked with ^ ("walk forward and ^turn left").

What the clips show (checked on the data, not only the label names): walk-left/right walk forward
on a path bearing 10-60 degrees to that side, not a sidestep; bye waves goodbye with one hand,
byebye with both; respond raises a hand as if answering; call leans forward calling out with the
hands at the mouth; guide gestures the way with an open hand.

`held_out` phrases appear only in descriptions of the test splits (see docs/descriptions.md).
No phrase uses "left" or "right" except as a direction, so `mirror_text` mirrors them cleanly.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from saymotion.descriptions.mirror import mirror_text


@dataclass(frozen=True)
class Synonyms:
    seen: tuple[str, ...]  # used for every split
    held_out: tuple[str, ...] = ()  # used only for the test splits

    def pool(self, held_out: bool) -> tuple[str, ...]:
        return self.seen + self.held_out if held_out else self.seen

    def mirrored(self) -> Synonyms:
        return Synonyms(tuple(map(mirror_text, self.seen)), tuple(map(mirror_text, self.held_out)))


class Motion(Enum):
    """How an action moves the body through space, which decides the details it can carry."""

    IN_PLACE = "in_place"  # gestures: no travel, so no distance, direction or pace
    TRAVEL = "travel"  # locomotion whose direction is free: the measured one can be stated
    DIRECTED = "directed"  # locomotion whose direction is in the phrase (walk backward)
    TURN = "turn"  # locomotion with a turn in the phrase; the measured angle fills {angle}


@dataclass(frozen=True)
class ActionWords:
    phrases: Synonyms
    motion: Motion
    # What the label itself asserts, checked against the measurement (see claims.label_conflict):
    # the direction of travel (degrees, + left) within a tolerance, and the sign of the turn.
    heading_deg: float | None = None
    heading_tolerance_deg: float = 60.0
    turn_sign: int = 0

    def mirrored(self) -> ActionWords:
        heading = None if self.heading_deg is None else -self.heading_deg
        return ActionWords(self.phrases.mirrored(), self.motion, heading, self.heading_tolerance_deg, -self.turn_sign)


@dataclass(frozen=True)
class StyleWords:
    adverbials: Synonyms  # follow a verb phrase: "wearily", "like {they_are} exhausted"
    personas: Synonyms  # noun phrases: "Pretend you're {persona}", "{persona} walks forward"

    def count(self, held_out: bool = False) -> int:
        return len(set(self.adverbials.pool(held_out) + self.personas.pool(held_out)))


_WALK_LEFT = ActionWords(
    Synonyms(
        seen=(
            "walk to the left{path}",
            "walk toward the left{path}",
            "walk leftward{path}",
            "walk off to the left{path}",
            "head to the left{path}",
            "walk forward and to the left{path}",
            "walk diagonally to the left{path}",
            "bear left as {they} walk{path}",
            "make {poss} way to the left{path}",
            "veer to the left while walking{path}",
        ),
        held_out=("drift leftward as {they} walk{path}", "angle off to the left on foot{path}"),
    ),
    Motion.DIRECTED,
    heading_deg=60.0,
)

_WALK_TURN_LEFT = ActionWords(
    Synonyms(
        seen=(
            "walk forward and ^turn left{angle}",
            "walk forward, then ^turn left{angle}",
            "walk and ^turn to the left{angle}",
            "walk ahead, then ^turn to {poss} left{angle}",
            "walk forward and ^make a left turn{angle_of}",
            "walk and ^take a left turn{angle_of}",
            "walk, then ^swing around to the left{angle}",
            "walk forward, turning left{angle}",
            "walk forward and ^change direction to the left{angle}",
            "walk and ^curve to the left{angle}",
        ),
        held_out=("walk, then ^pivot leftward{angle}", "walk ahead and ^wheel to the left{angle}"),
    ),
    Motion.TURN,
    heading_deg=0.0,
    turn_sign=1,
)

_WAVE_LEFT_HAND = ActionWords(
    Synonyms(
        seen=(
            "wave {poss} left hand",
            "wave with {poss} left hand",
            "wave using {poss} left hand",
            "give a wave with {poss} left hand",
            "wave the left hand",
            "raise {poss} left hand and ^wave",
            "wave with the left hand",
            "do a left-handed wave",
            "wave, using {poss} left hand",
            "wave left-handed",
        ),
        held_out=("give a left-handed wave", "wave with only {poss} left hand"),
    ),
    Motion.IN_PLACE,
)

_RAISE_LEFT_HAND = ActionWords(
    Synonyms(
        seen=(
            "raise {poss} left hand",
            "put {poss} left hand up",
            "lift {poss} left hand",
            "raise the left hand",
            "raise {poss} left arm",
            "put up {poss} left hand",
            "lift {poss} left arm up",
            "reach up with {poss} left hand",
            "hold up {poss} left hand",
            "raise {poss} left hand into the air",
        ),
        held_out=("hoist {poss} left hand up", "stick {poss} left hand up"),
    ),
    Motion.IN_PLACE,
)

_DANCE = Synonyms(
    seen=(
        "dance",
        "do a dance",
        "bust some moves",
        "dance around",
        "show off some dance moves",
        "break into a dance",
        "perform a dance",
        "dance to an imaginary beat",
        "get {poss} groove on",
        "throw some dance moves",
    ),
    held_out=("boogie", "cut a rug"),
)

ACTIONS: dict[str, ActionWords] = {
    "walk": ActionWords(
        Synonyms(
            seen=(
                "walk{path}",
                "move{path} at a walk",
                "head{path} on foot",
                "make {poss} way{path} on foot",
                "take a walk{path}",
                "walk along{path}",
                "set off walking{path}",
                "go{path} on foot",
                "do some walking{path}",
                "move along{path} on foot",
            ),
            held_out=("proceed{path} on foot", "travel{path} at a walk"),
        ),
        Motion.TRAVEL,
        heading_deg=0.0,
    ),
    "run": ActionWords(
        Synonyms(
            seen=(
                "run{path}",
                "jog{path}",
                "go{path} at a run",
                "break into a run{path}",
                "run along{path}",
                "take off running{path}",
                "move{path} at a running pace",
                "head{path} at a jog",
                "do some running{path}",
                "run{path} on foot",
            ),
            held_out=("lope{path}", "hotfoot it{path}"),
        ),
        Motion.TRAVEL,
        heading_deg=0.0,
    ),
    "dash": ActionWords(
        Synonyms(
            seen=(
                "dash{path}",
                "sprint{path}",
                "race{path}",
                "rush{path}",
                "bolt{path}",
                "make a dash{path}",
                "break into a sprint{path}",
                "go{path} at full speed",
                "run{path} at top speed",
                "tear off{path}",
            ),
            held_out=("charge{path}", "zoom{path}"),
        ),
        Motion.TRAVEL,
        heading_deg=0.0,
    ),
    "walk-back": ActionWords(
        Synonyms(
            seen=(
                "walk backward{path}",
                "walk backwards{path}",
                "step backward{path}",
                "back up{path}",
                "move backward{path}",
                "walk in reverse{path}",
                "go backwards{path}",
                "back away{path}",
                "retreat backward{path}",
                "head backward{path}",
            ),
            held_out=("backpedal{path}", "reverse{path} on foot"),
        ),
        Motion.DIRECTED,
        heading_deg=180.0,
    ),
    "walk-left": _WALK_LEFT,
    "walk-right": _WALK_LEFT.mirrored(),
    "walk-turn-left": _WALK_TURN_LEFT,
    "walk-turn-right": _WALK_TURN_LEFT.mirrored(),
    "bow": ActionWords(
        Synonyms(
            seen=(
                "bow",
                "take a bow",
                "give a bow",
                "do a bow",
                "make a bow",
                "bow down",
                "bend forward in a bow",
                "bow from the waist",
                "perform a bow",
                "bend at the waist in a bow",
            ),
            held_out=("dip into a bow", "offer a bow"),
        ),
        Motion.IN_PLACE,
    ),
    "bye": ActionWords(
        Synonyms(
            seen=(
                "wave goodbye",
                "wave bye",
                "say goodbye with a wave",
                "wave goodbye with one hand",
                "give a goodbye wave",
                "wave farewell",
                "bid farewell with a wave",
                "wave to say goodbye",
                "wave bye with one hand",
                "say bye with a one-handed wave",
            ),
            held_out=("send someone off with a wave", "wave a farewell"),
        ),
        Motion.IN_PLACE,
    ),
    "byebye": ActionWords(
        Synonyms(
            seen=(
                "wave bye-bye",
                "wave goodbye with both hands",
                "give a two-handed goodbye wave",
                "wave bye-bye with both hands",
                "say bye-bye with both hands",
                "wave both hands to say goodbye",
                "wave goodbye using both hands",
                "say bye-bye, waving both hands",
                "wave both hands in farewell",
                "do a two-handed bye-bye",
            ),
            held_out=("wave a two-handed farewell", "bid farewell with both hands"),
        ),
        Motion.IN_PLACE,
    ),
    "guide": ActionWords(
        Synonyms(
            seen=(
                "show the way",
                "gesture to show the way",
                "point the way",
                "guide someone with a gesture",
                "show someone where to go",
                "usher someone along",
                "indicate the way with {poss} hand",
                "gesture toward where to go",
                "give directions with a hand gesture",
                "direct someone with an open hand",
            ),
            held_out=("signal which way to go", "wave someone through"),
        ),
        Motion.IN_PLACE,
    ),
    "respond": ActionWords(
        Synonyms(
            seen=(
                "respond",
                "raise a hand to answer",
                "put {poss} hand up to respond",
                "react and answer",
                "give a response",
                "respond with a raised hand",
                "answer by raising a hand",
                "raise {poss} hand like {they_are} answering a question",
                "signal a response",
                "put a hand up to reply",
            ),
            held_out=("acknowledge with a raised hand", "chime in with a raised hand"),
        ),
        Motion.IN_PLACE,
    ),
    "call": ActionWords(
        Synonyms(
            seen=(
                "call someone over",
                "call out to someone",
                "shout to someone",
                "call out",
                "cup {poss} hands and ^call out",
                "hail someone",
                "call to someone in the distance",
                "try to get someone's attention",
                "yell to someone",
                "shout out to get someone's attention",
            ),
            held_out=("holler at someone", "summon someone with a shout"),
        ),
        Motion.IN_PLACE,
    ),
    "punch": ActionWords(
        Synonyms(
            seen=(
                "punch",
                "throw punches",
                "throw some punches",
                "box",
                "jab and ^punch",
                "punch the air",
                "shadowbox",
                "do some punching",
                "strike with {poss} fists",
                "swing {poss} fists",
            ),
            held_out=("pummel the air", "land some punches"),
        ),
        Motion.IN_PLACE,
    ),
    "kick": ActionWords(
        Synonyms(
            seen=(
                "kick",
                "do some kicks",
                "throw kicks",
                "kick the air",
                "throw some kicks",
                "practise {poss} kicks",
                "kick out",
                "show off some kicks",
                "do some kicking moves",
                "strike with {poss} legs",
            ),
            held_out=("lash out with {poss} feet", "deliver some kicks"),
        ),
        Motion.IN_PLACE,
    ),
    "slash": ActionWords(
        Synonyms(
            seen=(
                "slash with a sword",
                "swing a sword",
                "slash",
                "make sword slashes",
                "cut through the air with a sword",
                "slash with an imaginary sword",
                "wield a sword",
                "do some sword slashes",
                "strike with a sword",
                "swing a blade",
            ),
            held_out=("hack away with a sword", "slice the air with a blade"),
        ),
        Motion.IN_PLACE,
    ),
    "dance-long": ActionWords(_DANCE, Motion.IN_PLACE),
    "dance-short": ActionWords(_DANCE, Motion.IN_PLACE),
    "wave-both-hands": ActionWords(
        Synonyms(
            seen=(
                "wave both hands",
                "wave with both hands",
                "wave {poss} hands",
                "give a two-handed wave",
                "wave both {poss} hands",
                "do a two-handed wave",
                "wave using both hands",
                "wave, using both hands",
                "wave both hands back and forth",
                "wave with both {poss} hands",
            ),
            held_out=("wave with two hands", "give a double-handed wave"),
        ),
        Motion.IN_PLACE,
    ),
    "wave-left-hand": _WAVE_LEFT_HAND,
    "wave-right-hand": _WAVE_LEFT_HAND.mirrored(),
    "raise-up-both-hands": ActionWords(
        Synonyms(
            seen=(
                "raise both hands",
                "raise both hands up",
                "put both hands up",
                "lift both hands up",
                "raise {poss} hands",
                "raise both arms",
                "put {poss} hands up",
                "lift both arms into the air",
                "reach up with both hands",
                "hold both hands up",
            ),
            held_out=("hoist both hands up", "stretch both arms up"),
        ),
        Motion.IN_PLACE,
    ),
    "raise-up-left-hand": _RAISE_LEFT_HAND,
    "raise-up-right-hand": _RAISE_LEFT_HAND.mirrored(),
}

_OLD = StyleWords(
    Synonyms(
        seen=(
            "like an old person",
            "like an elderly person",
            "in an elderly way",
            "like someone very old",
            "frailly",
            "like {they_are} very old",
            "like a senior citizen",
            "stiffly, like an old person",
            "like {poss} joints ache with age",
            "with the frailty of old age",
        ),
        held_out=("like a grandparent", "creakily, as if aged"),
    ),
    Synonyms(seen=("an old person", "an elderly person", "a frail old person"), held_out=("a pensioner",)),
)

_TIRED = StyleWords(
    Synonyms(
        seen=(
            "tiredly",
            "wearily",
            "like {they_are} exhausted",
            "like {they_are} worn out",
            "sluggishly",
            "like {they_have} had a long day",
            "in an exhausted way",
            "with no energy",
            "like {they_are} running on empty",
            "as if completely drained",
        ),
        held_out=("drowsily", "like {they_are} dead on {poss} feet"),
    ),
    Synonyms(seen=("a tired person", "an exhausted person", "someone who is worn out"), held_out=("a weary traveller",)),
)

_MASCULINE = StyleWords(
    Synonyms(
        seen=(
            "in a masculine way",
            "in a manly way",
            "with a macho attitude",
            "like a tough guy",
            "in a masculine manner",
            "manfully",
            "with a strong, masculine bearing",
            "like a macho man",
            "in a very manly fashion",
            "with masculine swagger",
        ),
        held_out=("ruggedly", "like a burly man"),
    ),
    Synonyms(seen=("a macho man", "a manly guy", "a tough guy"), held_out=("a burly man",)),
)

_FEMININE = StyleWords(
    Synonyms(
        seen=(
            "in a feminine way",
            "femininely",
            "with feminine grace",
            "in a ladylike way",
            "daintily",
            "like a graceful lady",
            "elegantly and femininely",
            "in a girly way",
            "with a feminine touch",
            "in a womanly manner",
        ),
        held_out=("with a lady's poise", "gracefully, like a woman"),
    ),
    Synonyms(seen=("a graceful lady", "an elegant woman", "a feminine person"), held_out=("a dainty lady",)),
)

_ACTIVE = StyleWords(
    Synonyms(
        seen=(
            "actively",
            "energetically",
            "vigorously",
            "with lots of energy",
            "in a lively way",
            "dynamically",
            "like {they_are} full of energy",
            "with gusto",
            "enthusiastically",
            "with vigour",
        ),
        held_out=("spiritedly", "full of pep"),
    ),
    Synonyms(seen=("an energetic person", "a lively person", "someone full of energy"), held_out=("a go-getter",)),
)

_NORMAL = StyleWords(
    Synonyms(
        seen=(
            "normally",
            "in a normal way",
            "naturally",
            "in a natural, relaxed way",
            "casually",
            "in an ordinary way",
            "the usual way",
            "in a neutral manner",
            "without any particular attitude",
            "like {they} normally would",
        ),
        held_out=("in an everyday manner", "plainly"),
    ),
    Synonyms(seen=("an ordinary person", "a regular person", "an average person"), held_out=("a typical person",)),
)

STYLES: dict[str, StyleWords] = {
    "normal": _NORMAL,
    "happy": StyleWords(
        Synonyms(
            seen=(
                "happily",
                "cheerfully",
                "joyfully",
                "with a happy air",
                "in a good mood",
                "like {they_have} just heard great news",
                "in a cheerful way",
                "gleefully",
                "like {they_are} in a great mood",
                "merrily",
            ),
            held_out=("delightedly", "beaming with joy"),
        ),
        Synonyms(seen=("a happy person", "someone in a great mood", "a cheerful person"), held_out=("a joyful person",)),
    ),
    "sad": StyleWords(
        Synonyms(
            seen=(
                "sadly",
                "sorrowfully",
                "gloomily",
                "in a sad way",
                "like {they_are} feeling down",
                "dejectedly",
                "with a heavy heart",
                "mournfully",
                "unhappily",
                "like {they_have} just had bad news",
            ),
            held_out=("forlornly", "downheartedly"),
        ),
        Synonyms(seen=("a sad person", "someone who just got bad news", "a heartbroken person"), held_out=("a glum person",)),
    ),
    "angry": StyleWords(
        Synonyms(
            seen=(
                "angrily",
                "furiously",
                "in an angry way",
                "with visible anger",
                "like {they_are} really mad",
                "irritably",
                "in a rage",
                "crossly",
                "like {they_are} fuming",
                "indignantly",
            ),
            held_out=("seething with anger", "in a huff"),
        ),
        Synonyms(seen=("an angry person", "someone who is furious", "a furious person"), held_out=("an irate person",)),
    ),
    "proud": StyleWords(
        Synonyms(
            seen=(
                "proudly",
                "with pride",
                "with {poss} chest puffed out",
                "in a proud way",
                "like {they_are} very pleased with {self}",
                "triumphantly",
                "with a proud bearing",
                "haughtily",
                "full of pride",
                "with {poss} head held high",
            ),
            held_out=("smugly", "puffed up with pride"),
        ),
        Synonyms(seen=("a proud person", "someone full of pride", "a self-satisfied person"), held_out=("a proud champion",)),
    ),
    "not-confident": StyleWords(
        Synonyms(
            seen=(
                "unconfidently",
                "hesitantly",
                "timidly",
                "without confidence",
                "shyly",
                "nervously",
                "uncertainly",
                "like {they_are} unsure of {self}",
                "in an insecure way",
                "meekly",
            ),
            held_out=("sheepishly", "with no self-assurance"),
        ),
        Synonyms(seen=("a shy person", "someone lacking confidence", "a timid person"), held_out=("an insecure person",)),
    ),
    "masculinity": _MASCULINE,
    "masculine": _MASCULINE,
    "feminine": _FEMININE,
    "childish": StyleWords(
        Synonyms(
            seen=(
                "childishly",
                "like a child",
                "like a little kid",
                "in a childish way",
                "playfully, like a kid",
                "like a small child would",
                "with childlike energy",
                "like a young kid",
                "as a child would",
                "in a childlike manner",
            ),
            held_out=("like a toddler", "in a kiddish way"),
        ),
        Synonyms(seen=("a child", "a little kid", "a small child"), held_out=("a youngster",)),
    ),
    "old": _OLD,
    "elderly": _OLD,
    "tired": _TIRED,
    "exhausted": _TIRED,
    "active": _ACTIVE,
    "musical": StyleWords(
        Synonyms(
            seen=(
                "musically",
                "rhythmically",
                "to a rhythm",
                "as if dancing to music",
                "like {they_are} moving to a beat",
                "in a musical way",
                "like a performer in a musical",
                "with a rhythmic bounce",
                "theatrically, like on a musical stage",
                "in time with an imagined song",
            ),
            held_out=("with a song-and-dance flair", "as though a tune is playing"),
        ),
        Synonyms(seen=("a musical performer", "someone in a musical", "a stage performer"), held_out=("a Broadway star",)),
    ),
    "giant": StyleWords(
        Synonyms(
            seen=(
                "like a giant",
                "like a huge giant",
                "heavily, like a giant",
                "in a giant-like way",
                "lumbering like a giant",
                "like an enormous creature",
                "with giant, heavy movements",
                "like {they_are} gigantic",
                "ponderously, like a giant",
                "like a towering giant",
            ),
            held_out=("like a colossal ogre", "with the heavy tread of a titan"),
        ),
        Synonyms(seen=("a giant", "a huge giant", "a towering giant"), held_out=("a colossal ogre",)),
    ),
    "chimpira": StyleWords(
        Synonyms(
            seen=(
                "like a thug",
                "like a street punk",
                "with a thuggish swagger",
                "like a gangster wannabe",
                "in a thuggish way",
                "with a cocky street attitude",
                "like a hoodlum",
                "like a delinquent",
                "menacingly, like a street thug",
                "like a small-time gangster",
            ),
            held_out=("like a two-bit hooligan", "with a punk's strut"),
        ),
        Synonyms(seen=("a street thug", "a punk", "a delinquent"), held_out=("a hooligan",)),
    ),
    "youthful": StyleWords(
        Synonyms(
            seen=(
                "youthfully",
                "like a young person",
                "in a youthful way",
                "with youthful energy",
                "like a teenager",
                "spryly",
                "like {they_are} young again",
                "with a young person's bounce",
                "in a young, fresh way",
                "like a young adult",
            ),
            held_out=("sprightly, like a youngster", "with the vigour of youth"),
        ),
        Synonyms(seen=("a young person", "a teenager", "a youthful person"), held_out=("a spry youngster",)),
    ),
}
