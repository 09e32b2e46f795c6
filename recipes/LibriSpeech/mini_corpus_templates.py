"""The mini corpus grammar's sentence templates and how often each is drawn (``TEMPLATES``).

Each template takes a ``random.Random`` and returns one sentence as a list of upper-case
words, built from the phrases of ``mini_corpus_phrases.py`` and the words of
``mini_corpus_lexicon.py``: statements, questions, commands, in past, present and future.

Authors
-------
* speechbrain-tinyconf team 2026
"""

import random
from typing import Callable, List, Tuple

from mini_corpus_lexicon import (
    ADVERBS, ANIMALS, BEING_ADJ, CLOCK_HOURS, COLORS, DITRANSITIVE, DRINK, DRINKS, EAT, FOODS, HABIT_VERBS,
    INTRANSITIVE, MOTION, NAMES, NUMBERS, OBJ_PRON, OBJECTS, PARTS_OF_DAY, PEOPLE, PLACES, POSS_PRON,
    POSSESSIVE_NAMES, SUBJ_PRON_PL, THING_ADJ, THINK, TRANSITIVE, VEHICLES, WEATHER,
)
from mini_corpus_phrases import (
    Words, animal, food_np, future_time, habit_time, maybe, number, past_time, person, place_pp, spot_pp, subject,
    thing_np,
)


def t_past_action(rng: random.Random) -> Words:
    subj, _ = subject(rng)
    verb = rng.choice(TRANSITIVE)[1]
    words = subj + [verb] + thing_np(rng)
    words += maybe(rng, 0.5, lambda r: place_pp(r) if r.random() < 0.6 else spot_pp(r))
    words += maybe(rng, 0.5, past_time)
    return words


def t_motion(rng: random.Random) -> Words:
    subj, sg = subject(rng)
    tense = rng.random()
    verb = rng.choice(MOTION)
    if tense < 0.6:
        words = subj + [verb[1]]
        time = maybe(rng, 0.6, past_time)
    elif tense < 0.8:
        words = subj + ["WILL", verb[0]]
        time = maybe(rng, 0.6, future_time)
    else:
        words = subj + [("IS" if sg else "ARE") if subj != ["I"] else "AM", verb[3]]
        time = []
    words += ["TO", "THE", rng.choice(PLACES)]
    if rng.random() < 0.3:
        words += ["WITH", rng.choice(POSS_PRON), rng.choice(PEOPLE + [a[0] for a in ANIMALS[:6]])]
    if rng.random() < 0.2:
        words += [rng.choice(ADVERBS)]
    return words + time


def t_there_is(rng: random.Random) -> Words:
    np_ = thing_np(rng, OBJECTS + FOODS)
    plural = np_[-1] in {p for _, p in OBJECTS + FOODS} and np_[-1] not in {s for s, _ in OBJECTS + FOODS}
    tense = rng.choice(["IS", "WAS"]) if not plural else rng.choice(["ARE", "WERE"])
    loc = spot_pp(rng) if rng.random() < 0.6 else place_pp(rng)
    return ["THERE", tense] + np_ + loc


def t_where_is(rng: random.Random) -> Words:
    sing, plur = rng.choice(OBJECTS + ANIMALS[:8])
    mods = [rng.choice(COLORS + THING_ADJ)] if rng.random() < 0.5 else []
    det = rng.choice(POSS_PRON + ["THE"] + [n + "'S" for n in POSSESSIVE_NAMES])
    if rng.random() < 0.3:
        words = ["WHERE", "ARE", det] + mods + [plur]
    else:
        words = ["WHERE", rng.choice(["IS", "IS", "WAS"]), det] + mods + [sing]
    if rng.random() < 0.3:
        words += rng.choice([["NOW"], ["TODAY"], ["THIS", "MORNING"], ["TONIGHT"]])
    return words


def t_did_question(rng: random.Random) -> Words:
    subj, _ = subject(rng)
    verb = rng.choice(TRANSITIVE)[0]
    words = ["DID"] + subj + [verb] + thing_np(rng, allow_number=False)
    words += maybe(rng, 0.3, place_pp)
    words += maybe(rng, 0.5, past_time)
    return words


def t_how_many(rng: random.Random) -> Words:
    sing, plur = rng.choice(OBJECTS + FOODS + ANIMALS)
    mods = [rng.choice(COLORS)] if rng.random() < 0.3 else []
    subj, _ = subject(rng)
    verb = rng.choice(TRANSITIVE + EAT)[0]
    aux = rng.choice(["DID", "DID", "WILL", "CAN"])
    if subj[-1] in SUBJ_PRON_PL or subj[-1] in NAMES and len(subj) > 1:
        aux = rng.choice(["DID", "DO", "WILL", "CAN"])
    elif aux == "CAN" and rng.random() < 0.3:
        aux = "DOES"
    words = ["HOW", "MANY"] + mods + [plur, aux] + subj + [verb]
    if aux == "DID":
        words += maybe(rng, 0.5, past_time)
    elif aux == "WILL":
        words += maybe(rng, 0.5, future_time)
    return words


def t_modal(rng: random.Random) -> Words:
    subj, _ = subject(rng)
    modal = rng.choice(["WILL", "CAN", "CAN'T", "WON'T", "SHOULD", "MUST", "MIGHT", "COULD"])
    if rng.random() < 0.25:
        words = subj + [modal, rng.choice(INTRANSITIVE + MOTION)[0]]
        if words[-1] not in [m[0] for m in MOTION]:
            words += place_pp(rng)
        else:
            words += ["TO", "THE", rng.choice(PLACES)]
        return words + maybe(rng, 0.5, future_time)
    verb = rng.choice(TRANSITIVE)[0]
    words = subj + [modal, verb] + thing_np(rng)
    if rng.random() < 0.5:
        words += future_time(rng)
    elif rng.random() < 0.5:
        words += place_pp(rng)
    return words


def t_description(rng: random.Random) -> Words:
    r = rng.random()
    if r < 0.5:
        np_ = thing_np(rng, OBJECTS + FOODS, allow_number=False)
        plural = np_[0] in ("SOME", "MANY", "THESE", "THOSE") or (
            np_[-1] in {p for _, p in OBJECTS + FOODS} and np_[-1] not in {s for s, _ in OBJECTS + FOODS})
        cop = rng.choice(["ARE", "WERE"]) if plural else rng.choice(["IS", "WAS"])
        adj = rng.choice(THING_ADJ + COLORS)
    else:
        np_ = person(rng) if rng.random() < 0.7 else animal(rng)
        cop = rng.choice(["IS", "WAS", "SEEMS", "LOOKS", "FELT"])
        adj = rng.choice(BEING_ADJ)
    words = np_ + [cop]
    if rng.random() < 0.35:
        words.append(rng.choice(["VERY", "TOO", "NOT", "SO", "REALLY"]))
    words.append(adj)
    if rng.random() < 0.3:
        if cop in ("WAS", "WERE", "FELT"):
            words += past_time(rng)
        else:
            words += [rng.choice(["TODAY", "NOW", "TONIGHT"])]
    return words


def t_give(rng: random.Random) -> Words:
    subj, _ = subject(rng)
    verb = rng.choice(DITRANSITIVE)
    recipient = rng.choice([[rng.choice(NAMES)], [rng.choice(OBJ_PRON)],
                            [rng.choice(POSS_PRON), rng.choice(PEOPLE)]])
    if rng.random() < 0.7:
        words = subj + [verb[1]] + recipient + thing_np(rng, OBJECTS + FOODS)
        words += maybe(rng, 0.4, past_time)
    else:
        words = subj + ["WILL", verb[0]] + recipient + thing_np(rng, OBJECTS + FOODS)
        words += maybe(rng, 0.4, future_time)
    return words


def t_habit(rng: random.Random) -> Words:
    subj, sg = subject(rng)
    kind = rng.random()
    if kind < 0.4:
        verb = rng.choice(HABIT_VERBS)
        words = subj + [verb[2] if sg else verb[0]] + thing_np(rng)
    elif kind < 0.7:
        verb = rng.choice(INTRANSITIVE)
        words = subj + [verb[2] if sg else verb[0]]
        words += place_pp(rng) if rng.random() < 0.6 else spot_pp(rng)
    else:
        verb = rng.choice(EAT + DRINK)
        if verb[0] == "DRINK":
            obj = [rng.choice(["SOME", "HOT", "COLD", "THE"]), rng.choice(DRINKS)]
        else:
            obj = food_np(rng)
        words = subj + [verb[2] if sg else verb[0]] + obj
    return words + habit_time(rng)


def t_progressive(rng: random.Random) -> Words:
    r = rng.random()
    if r < 0.25:
        subj, sg = animal(rng, plural=True), False
    elif r < 0.5:
        subj, sg = animal(rng), True
    else:
        subj, sg = subject(rng)
    aux = "AM" if subj == ["I"] else ("IS" if sg else "ARE")
    if rng.random() < 0.3:
        aux = "WAS" if sg or subj == ["I"] else "WERE"
    verb = rng.choice(INTRANSITIVE)
    words = subj + [aux, verb[3]]
    words += spot_pp(rng) if rng.random() < 0.5 else place_pp(rng)
    if rng.random() < 0.25:
        words += [rng.choice(["AGAIN", "NOW", "TODAY", "ALONE", "TOGETHER"])]
    return words


def t_negative(rng: random.Random) -> Words:
    subj, sg = subject(rng)
    if rng.random() < 0.5:
        neg = "DIDN'T"
        time = maybe(rng, 0.5, past_time)
    else:
        neg = "DOESN'T" if sg else "DON'T"
        time = []
    verb = rng.choice(TRANSITIVE + EAT)[0]
    obj = food_np(rng) if verb in ("EAT", "COOK", "SHARE") else thing_np(rng, allow_number=False)
    return subj + [neg, verb] + obj + time


def t_vehicle(rng: random.Random) -> Words:
    veh = rng.choice(VEHICLES)
    words = ["THE", veh]
    if rng.random() < 0.5:
        words += ["TO", "THE", rng.choice(PLACES)]
    r = rng.random()
    if r < 0.5:
        words += rng.choice(["LEAVES", "ARRIVES", "LEFT", "ARRIVED", "WILL LEAVE", "WILL ARRIVE"]).split()
        words += ["AT", rng.choice(CLOCK_HOURS)]
        words += rng.choice([["O'CLOCK"], [rng.choice(["FIFTEEN", "THIRTY", "FORTY", "FIFTY"])]])
    elif r < 0.75:
        words += [rng.choice(["WAS", "IS"]), rng.choice(["LATE", "EARLY", "FULL", "EMPTY"])]
        words += maybe(rng, 0.5, past_time)
    else:
        words += ["HAS", rng.choice(NUMBERS), rng.choice(["SEATS", "DOORS", "WINDOWS"])]
    return words


def t_weather(rng: random.Random) -> Words:
    r = rng.random()
    if r < 0.5:
        words = rng.choice([["IT", "IS"], ["IT", "WAS"], ["IT", "WILL", "BE"], ["IT'S"]])[:]
        if rng.random() < 0.3:
            words.append(rng.choice(["VERY", "TOO", "QUITE"]))
        words.append(rng.choice(WEATHER))
        words += place_pp(rng) if rng.random() < 0.5 else []
        words += rng.choice([["TODAY"], ["TONIGHT"], ["THIS", rng.choice(PARTS_OF_DAY)], past_time(rng)])
    else:
        words = ["THE", rng.choice(["SKY", "SUN", "MOON", "WIND", "RAIN", "WATER"])]
        words += [rng.choice(["WAS", "IS", "LOOKS", "FELT", "SEEMED"])]
        if rng.random() < 0.3:
            words.append(rng.choice(["VERY", "SO", "QUITE"]))
        words.append(rng.choice(WEATHER + COLORS[:8]))
        words += maybe(rng, 0.5, past_time)
    return words


def t_think(rng: random.Random) -> Words:
    lead = [rng.choice(["I", "WE", "THEY", "YOU"]), rng.choice(THINK)]
    if rng.random() < 0.3:
        lead = [rng.choice(NAMES), rng.choice(["THINKS", "SAYS", "SAID", "THOUGHT"])]
    sing, _ = rng.choice(OBJECTS + ANIMALS[:10])
    inner = [rng.choice(POSS_PRON + ["THE"])]
    if rng.random() < 0.4:
        inner.append(rng.choice(COLORS))
    inner += [sing, rng.choice(["IS", "WAS"])]
    inner += spot_pp(rng) if rng.random() < 0.5 else place_pp(rng)
    if rng.random() < 0.3:
        lead.append("THAT")
    return lead + inner


def t_imperative(rng: random.Random) -> Words:
    verb = rng.choice(["PUT", "PUT", "LEAVE", "PLACE", "HIDE", "KEEP", "FIND", "BRING", "TAKE",
                       "CLEAN", "MOVE"])
    words = ([rng.choice(["PLEASE", "NOW", "THEN"])] if rng.random() < 0.5 else []) + [verb]
    words += thing_np(rng, allow_number=rng.random() < 0.3)
    if verb in ("PUT", "LEAVE", "PLACE", "HIDE", "KEEP"):
        words += spot_pp(rng)
    elif rng.random() < 0.5:
        words += [rng.choice(["TO", "FROM"]), "THE", rng.choice(PLACES)]
    if rng.random() < 0.2:
        words += [rng.choice(["PLEASE", "NOW", "TODAY", "AGAIN", "QUICKLY", "CAREFULLY"])]
    return words


def t_lets(rng: random.Random) -> Words:
    words = ["LET'S"]
    r = rng.random()
    if r < 0.5:
        words += ["GO", "TO", "THE", rng.choice(PLACES)]
    elif r < 0.75:
        words += [rng.choice(INTRANSITIVE)[0]]
        words += place_pp(rng) if rng.random() < 0.7 else []
    else:
        verb = rng.choice(["BUY", "COOK", "SHARE", "EAT", "MAKE", "DRINK"])
        if verb == "DRINK":
            words += [verb, rng.choice(["SOME", "THE"]), rng.choice(DRINKS)]
        else:
            words += [verb] + food_np(rng)
    words += maybe(rng, 0.6, future_time)
    return words


def t_have(rng: random.Random) -> Words:
    subj, sg = subject(rng)
    verb = rng.choice(["HAS", "HAD"] if sg else ["HAVE", "HAD"])
    r = rng.random()
    if r < 0.6:
        obj = number(rng) + ([rng.choice(COLORS + THING_ADJ)] if rng.random() < 0.5 else [])
        obj.append(rng.choice(OBJECTS + FOODS + ANIMALS)[1])
    else:
        obj = thing_np(rng, OBJECTS + ANIMALS, allow_number=False)
    words = subj + [verb] + obj
    words += maybe(rng, 0.4, lambda r_: place_pp(r_) if r_.random() < 0.5 else spot_pp(r_))
    return words


def t_who_what(rng: random.Random) -> Words:
    r = rng.random()
    if r < 0.4:
        words = ["WHO", rng.choice(TRANSITIVE)[1]] + thing_np(rng, allow_number=False)
        words += maybe(rng, 0.4, past_time)
    elif r < 0.7:
        subj, _ = subject(rng)
        words = ["WHAT", "DID"] + subj
        words += [rng.choice(["FIND", "BUY", "SELL", "BRING", "SEE", "MAKE", "COOK", "WANT"])]
        words += maybe(rng, 0.6, lambda r_: place_pp(r_) if r_.random() < 0.5 else past_time(r_))
    else:
        subj, sg = subject(rng)
        aux = "DID"
        verb = rng.choice(MOTION)[0]
        words = [rng.choice(["WHY", "WHEN", "HOW"]), aux] + subj + [verb, "TO", "THE", rng.choice(PLACES)]
    return words


def t_compound(rng: random.Random) -> Words:
    a = rng.choice([t_past_action, t_motion, t_description, t_progressive])(rng)
    b_subj = [rng.choice(["HE", "SHE", "THEY", "WE", "I"])]
    r = rng.random()
    if r < 0.4:
        b = b_subj + [rng.choice(INTRANSITIVE)[1]]
    elif r < 0.7:
        b = b_subj + [rng.choice(TRANSITIVE)[1], rng.choice(["IT", "THEM", "HIM", "HER"])]
    else:
        if b_subj[0] in ("HE", "SHE", "I"):
            cop = rng.choice(["WAS", "FELT", "LOOKED"])
        else:
            cop = rng.choice(["WERE", "FELT", "LOOKED"])
        b = b_subj + [cop, rng.choice(BEING_ADJ)]
    conj = rng.choice(["AND", "BUT", "SO", "BECAUSE", "THEN", "AND THEN", "WHEN"]).split()
    return a + conj + b


# (template, relative weight): how often generate_sentence draws each
TEMPLATES: List[Tuple[Callable[[random.Random], Words], int]] = [
    (t_past_action, 14), (t_motion, 10), (t_there_is, 6), (t_where_is, 4),
    (t_did_question, 6), (t_how_many, 5), (t_modal, 6), (t_description, 7),
    (t_give, 6), (t_habit, 8), (t_progressive, 6), (t_negative, 5),
    (t_vehicle, 4), (t_weather, 4), (t_think, 4), (t_imperative, 5),
    (t_lets, 3), (t_have, 6), (t_who_what, 4), (t_compound, 6),
]
