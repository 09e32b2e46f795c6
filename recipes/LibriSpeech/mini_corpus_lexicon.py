"""The mini corpus grammar's word lists, read from ``mini_corpus_words.yaml`` beside this file.

Single-word lists are lists of str; lists of inflected forms are lists of tuples
(``ANIMALS``: singular, plural; ``TRANSITIVE`` and the other verb lists: base, past, third
person singular, -ing; ``FEEL``: base, past, third person singular). The order of every
list is kept: the generator picks by position, so it is part of the corpus.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from pathlib import Path
from typing import Dict, List, Tuple

import yaml

WORDS_FILE = Path(__file__).resolve().with_name("mini_corpus_words.yaml")  # found from any working directory


def _load(path: Path = WORDS_FILE) -> Tuple[Dict[str, List[str]], Dict[str, List[Tuple[str, ...]]]]:
    """``words`` (name -> words) and ``forms`` (name -> entries of forms) of the lexicon file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    # block scalars: YAML never reads a word as a boolean (ON, NO) or a number
    words = {name: text.split() for name, text in data["words"].items()}
    forms = {name: [tuple(line.split()) for line in text.splitlines() if line.strip()]
             for name, text in data["forms"].items()}
    return words, forms


def _forms(name: str, size: int) -> List[Tuple[str, ...]]:
    """The entries of ``name``, each checked to have ``size`` forms (a mistyped line fails here)."""
    bad = [entry for entry in _FORMS[name] if len(entry) != size]
    if bad:
        raise ValueError(f"{WORDS_FILE}: forms.{name}: expected {size} forms per line, got {bad[0]}")
    return _FORMS[name]


_WORDS, _FORMS = _load()

NAMES = _WORDS["NAMES"]
POSSESSIVE_NAMES = NAMES[:10]  # names that also appear in possessive form (MARY'S ...)
PEOPLE = _WORDS["PEOPLE"]
ANIMALS = _forms("ANIMALS", 2)
OBJECTS = _forms("OBJECTS", 2)
FOODS = _forms("FOODS", 2)
MASS_FOODS = _WORDS["MASS_FOODS"]
DRINKS = _WORDS["DRINKS"]

COLORS = _WORDS["COLORS"]
THING_ADJ = _WORDS["THING_ADJ"]
BEING_ADJ = _WORDS["BEING_ADJ"]
FOOD_ADJ = _WORDS["FOOD_ADJ"]

NUMBERS = _WORDS["NUMBERS"]
UNITS = _WORDS["UNITS"]
TENS = _WORDS["TENS"]
CLOCK_HOURS = _WORDS["CLOCK_HOURS"]

PLACES = _WORDS["PLACES"]
OBJECT_SPOTS = _WORDS["OBJECT_SPOTS"]
SPOT_PREPS = _WORDS["SPOT_PREPS"]

DAYS = _WORDS["DAYS"]
MONTHS = _WORDS["MONTHS"]
PARTS_OF_DAY = _WORDS["PARTS_OF_DAY"]
MEALS = _WORDS["MEALS"]

TRANSITIVE = _forms("TRANSITIVE", 4)
# transitive verbs used in the present tense (third person singular forms)
HABIT_VERBS = [v for v in TRANSITIVE
               if v[0] in ("BUY", "SELL", "CLEAN", "WASH", "PAINT", "FIX", "MAKE", "CARRY")]
DITRANSITIVE = _forms("DITRANSITIVE", 4)
MOTION = _forms("MOTION", 4)
INTRANSITIVE = _forms("INTRANSITIVE", 4)
EAT = _forms("EAT", 4)
DRINK = _forms("DRINK", 4)
VEHICLES = _WORDS["VEHICLES"]
WEATHER = _WORDS["WEATHER"]
ADVERBS = _WORDS["ADVERBS"]
FEEL = _forms("FEEL", 3)
THINK = _WORDS["THINK"]
POSS_PRON = _WORDS["POSS_PRON"]
SUBJ_PRON_SG = _WORDS["SUBJ_PRON_SG"]
SUBJ_PRON_PL = _WORDS["SUBJ_PRON_PL"]
OBJ_PRON = _WORDS["OBJ_PRON"]

VOWELS = set("AEIOU")
