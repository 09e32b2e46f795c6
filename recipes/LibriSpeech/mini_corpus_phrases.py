"""The mini corpus grammar's phrases: noun phrases, prepositional phrases and time phrases.

Each builder takes a ``random.Random`` and returns a list of upper-case words; the sentence
templates (``mini_corpus_templates.py``) put them together. The words come from
``mini_corpus_lexicon.py``.

Authors
-------
* speechbrain-tinyconf team 2026
"""

import random
from typing import Callable, List, Optional, Sequence, Tuple

from mini_corpus_lexicon import (
    ANIMALS, BEING_ADJ, CLOCK_HOURS, COLORS, DAYS, FOOD_ADJ, FOODS, MASS_FOODS, MEALS, MONTHS, NAMES, NUMBERS,
    OBJECT_SPOTS, OBJECTS, PARTS_OF_DAY, PEOPLE, PLACES, POSS_PRON, POSSESSIVE_NAMES, SPOT_PREPS, SUBJ_PRON_PL,
    SUBJ_PRON_SG, TENS, THING_ADJ, UNITS, VOWELS,
)

Words = List[str]


def article(rng: random.Random, next_word: str, definite_weight: float = 0.5) -> str:
    """THE (with probability ``definite_weight``), else A or AN as ``next_word`` begins."""
    if rng.random() < definite_weight:
        return "THE"
    return "AN" if next_word[0] in VOWELS else "A"


def number(rng: random.Random) -> Words:
    """A number word sequence 2..59 (mostly small numbers)."""
    if rng.random() < 0.8:
        return [rng.choice(NUMBERS)]
    return [rng.choice(TENS), rng.choice(UNITS)]


def person(rng: random.Random) -> Words:
    """Singular person noun phrase (takes third person singular verbs)."""
    r = rng.random()
    if r < 0.4:
        return [rng.choice(NAMES)]
    det = rng.choice(["THE", "THE", "MY", "YOUR", "OUR", "HIS", "HER", "THEIR"])
    words = [det]
    if rng.random() < 0.25:
        words.append(rng.choice(BEING_ADJ))
    words.append(rng.choice(PEOPLE))
    if r > 0.92:
        words = [rng.choice(POSSESSIVE_NAMES) + "'S"] + words[1:]
    return words


def animal(rng: random.Random, plural: bool = False) -> Words:
    """An animal noun phrase (THE ... with a plural), maybe with an adjective and a colour."""
    sing, plur = rng.choice(ANIMALS)
    mods = []
    if rng.random() < 0.3:
        mods.append(rng.choice(["LITTLE", "BIG", "OLD", "YOUNG"] + BEING_ADJ))
    if rng.random() < 0.2:
        mods.append(rng.choice(["BROWN", "BLACK", "WHITE", "GRAY", "RED"]))
    if plural:
        return ["THE"] + mods + [plur]
    noun = mods + [sing]
    return [article(rng, noun[0], 0.7)] + noun


def subject(rng: random.Random) -> Tuple[Words, bool]:
    """A sentence subject: ``(words, third_person_singular)``."""
    r = rng.random()
    if r < 0.62:
        return person(rng), True
    if r < 0.72:
        return animal(rng), True
    if r < 0.80:
        return [rng.choice(SUBJ_PRON_SG)], True
    if r < 0.92:
        return [rng.choice(SUBJ_PRON_PL)], False
    # Two people: JOHN AND MARY
    return [rng.choice(NAMES), "AND", rng.choice(NAMES)], False


def thing_np(rng: random.Random, pool: Sequence[Tuple[str, ...]] = OBJECTS, allow_number: bool = True,
             adj_pool: Optional[Sequence[str]] = None) -> Words:
    """Object noun phrase, optionally plural with a number."""
    adj_pool = adj_pool or THING_ADJ
    sing, plur = rng.choice(pool)
    mods = []
    if rng.random() < 0.35:
        mods.append(rng.choice(adj_pool))
    if rng.random() < 0.4 and pool is not FOODS:
        mods.append(rng.choice(COLORS))
    r = rng.random()
    if allow_number and r < 0.3:
        return number(rng) + mods + [plur]
    if r < 0.4:
        return [rng.choice(["SOME", "MANY", "THESE", "THOSE", "THE"])] + mods + [plur]
    noun = mods + [sing]
    if r < 0.55:
        return [rng.choice(POSS_PRON + ["THIS", "THAT"])] + noun
    if r < 0.6:
        return [rng.choice(POSSESSIVE_NAMES) + "'S"] + noun
    return [article(rng, noun[0])] + noun


def food_np(rng: random.Random) -> Words:
    """A food noun phrase: some of a mass food (SOME FRESH BREAD) or countable food."""
    if rng.random() < 0.4:
        mods = [rng.choice(FOOD_ADJ)] if rng.random() < 0.4 else []
        return [rng.choice(["SOME", "THE", "MORE"])] + mods + [rng.choice(MASS_FOODS)]
    return thing_np(rng, FOODS, adj_pool=FOOD_ADJ)


def place_pp(rng: random.Random) -> Words:
    """IN / AT / NEAR ... THE <place>."""
    prep = rng.choice(["IN", "AT", "NEAR", "BEHIND", "BESIDE", "IN", "AT"])
    return [prep, "THE", rng.choice(PLACES)]


def spot_pp(rng: random.Random) -> Words:
    """Where an object lies: UNDER MY TABLE, ON THE SHELF ..."""
    return [rng.choice(SPOT_PREPS), rng.choice(["THE", "THE", "MY", "YOUR", "HER", "HIS", "OUR"]),
            rng.choice(OBJECT_SPOTS)]


def past_time(rng: random.Random) -> Words:
    """A time in the past: ON MONDAY, YESTERDAY, LAST WEEK, AT SEVEN O'CLOCK ..."""
    r = rng.random()
    if r < 0.25:
        return ["ON", rng.choice(DAYS)]
    if r < 0.35:
        return ["ON", rng.choice(DAYS), rng.choice(PARTS_OF_DAY)]
    if r < 0.5:
        return [rng.choice(["YESTERDAY", "TODAY", "EARLIER"])]
    if r < 0.6:
        return ["LAST", rng.choice(["NIGHT", "WEEK", "MONTH", "YEAR", "SUMMER", "WINTER"])]
    if r < 0.7:
        return ["IN", rng.choice(MONTHS)]
    if r < 0.8:
        return [rng.choice(["BEFORE", "AFTER"]), rng.choice(MEALS)]
    if r < 0.9:
        return ["THIS", rng.choice(PARTS_OF_DAY)]
    return ["AT", rng.choice(CLOCK_HOURS), "O'CLOCK"]


def future_time(rng: random.Random) -> Words:
    """A time to come: TOMORROW MORNING, NEXT WEEK, SOON ..."""
    r = rng.random()
    if r < 0.3:
        return ["ON", rng.choice(DAYS)]
    if r < 0.45:
        return ["TOMORROW"] + ([rng.choice(PARTS_OF_DAY)] if rng.random() < 0.4 else [])
    if r < 0.6:
        return ["NEXT", rng.choice(["WEEK", "MONTH", "YEAR", "SUMMER", "WINTER", rng.choice(DAYS)])]
    if r < 0.7:
        return ["IN", rng.choice(MONTHS)]
    if r < 0.8:
        return [rng.choice(["BEFORE", "AFTER"]), rng.choice(MEALS + ["SCHOOL", "WORK"])]
    if r < 0.9:
        return ["SOON"]
    return ["AT", rng.choice(CLOCK_HOURS), "O'CLOCK"]


def habit_time(rng: random.Random) -> Words:
    """How often: EVERY DAY, OFTEN, IN THE EVENING ..."""
    r = rng.random()
    if r < 0.4:
        return ["EVERY", rng.choice(["DAY", "WEEK", "MORNING", "EVENING", "NIGHT"] + DAYS)]
    if r < 0.7:
        return [rng.choice(["ALWAYS", "OFTEN", "SOMETIMES", "NEVER", "USUALLY"])]
    if r < 0.8:
        return [rng.choice(["ALWAYS", "OFTEN", "SOMETIMES", "NEVER", "USUALLY"])]
    return ["IN", "THE", rng.choice(PARTS_OF_DAY)]


def maybe(rng: random.Random, p: float, builder: Callable[[random.Random], Words]) -> Words:
    """``builder``'s phrase with probability ``p``, else no words."""
    return builder(rng) if rng.random() < p else []
