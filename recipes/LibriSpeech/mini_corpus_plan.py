"""The mini corpus plan: its synthetic speakers, and who says which sentence in which chapter.

Speakers are TTS voices (espeak-ng accent + variant, or a flite voice) with a fixed speaking
rate, pitch and level (:func:`make_speakers`); :func:`plan_corpus` draws the sentences
(``mini_corpus_text``) and assigns them to speakers and LibriSpeech-style chapters. Both are
deterministic for a seed (``random.Random`` seeded with strings).

Authors
-------
* speechbrain-tinyconf team 2026
"""

import argparse
import os
import random
from collections import defaultdict
from typing import Any, Dict, List, Tuple

import mini_corpus_text

SPLITS = ("train", "dev", "test")
Speaker = Dict[str, Any]
Utterance = Dict[str, Any]

# espeak-ng English accents and voice variants (a curated subset of the
# variants shipped with espeak-ng 1.5x: intelligible, not whispered/robotic).
ESPEAK_LANGS = [
    "en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
    "en-gb-x-gbcwmd", "en-029", "en-us-nyc",
]
ESPEAK_MALE = [
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "klatt", "klatt2",
    "klatt3", "klatt4", "Andy", "adam", "benjamin", "david", "ed", "edward",
    "grandpa", "max", "paul", "rob", "robert", "Mike", "Gene", "Lee", "Alex",
]
ESPEAK_FEMALE = [
    "f1", "f2", "f3", "f4", "f5", "Annie", "Andrea", "aunty", "belinda",
    "grandma", "linda", "steph", "steph2", "anika", "Alicia",
]
# flite built-in voices: name -> (sex, approx. default f0 mean in Hz).
# (awb_time is a limited-domain "talking clock" voice and is not usable.)
FLITE_VOICES = {
    "awb": ("M", 120.0), "rms": ("M", 105.0), "slt": ("F", 165.0),
    "kal16": ("M", 100.0), "kal": ("M", 100.0),
}


def _espeak_speaker(rng, combos):
    lang, variant = combos.pop()
    return {
        "engine": "espeak-ng",
        "voice": lang,
        "variant": variant,
        "sex": "F" if variant in ESPEAK_FEMALE else "M",
        "rate": rng.randrange(140, 200, 5),  # words per minute
        "pitch": rng.randrange(25, 76, 5),  # 0-99, 50 = voice default
        "word_gap": rng.choice([0, 0, 0, 1, 2]),  # x 10 ms
        "gain_db": -round(rng.uniform(1.0, 6.0), 1),
    }


def _flite_speaker(rng, voice):
    sex, f0 = FLITE_VOICES[voice]
    return {
        "engine": "flite",
        "voice": voice,
        "variant": "",
        "sex": sex,
        "duration_stretch": round(rng.uniform(0.85, 1.2), 2),
        "f0_mean": round(f0 * rng.uniform(0.85, 1.2), 1),
        "gain_db": -round(rng.uniform(1.0, 6.0), 1),
    }


def speaker_description(spk: Speaker) -> str:
    """The speaker's voice and settings in one line (its name in SPEAKERS.TXT)."""
    if spk["engine"] == "espeak-ng":
        return (f"espeak-ng {spk['voice']}+{spk['variant']} s{spk['rate']} "
                f"p{spk['pitch']} g{spk['word_gap']}")
    return f"flite {spk['voice']} stretch{spk['duration_stretch']} f0={spk['f0_mean']}"


def make_speakers(n_speakers: int, n_heldout: int, engines: List[str], seed: int) -> Dict[str, List[Speaker]]:
    """Deterministic speaker table.

    Returns a dict ``role -> list of speaker dicts`` with roles ``train``,
    ``dev`` (dev-only held-out speakers) and ``test`` (test-only held-out
    speakers).  Every speaker dict has a LibriSpeech-style numeric ``id``.
    """
    rng = random.Random(f"mini-librispeech-speakers:{seed}")
    combos = [(lang, var) for lang in ESPEAK_LANGS for var in ESPEAK_MALE + ESPEAK_FEMALE]
    rng.shuffle(combos)
    flite_cycle = list(FLITE_VOICES)
    rng.shuffle(flite_cycle)
    counter = {"flite": 0}

    def new(use_flite):
        if use_flite:
            voice = flite_cycle[counter["flite"] % len(flite_cycle)]
            counter["flite"] += 1
            return _flite_speaker(rng, voice)
        return _espeak_speaker(rng, combos)

    def pick_engine(i):
        if engines == ["flite"]:
            return True
        if engines == ["espeak-ng"]:
            return False
        return i % 4 == 3  # one speaker in four uses flite

    roles = {"train": [new(pick_engine(i)) for i in range(n_speakers)]}
    for role in ("dev", "test"):
        # held-out speakers alternate espeak-ng / flite
        roles[role] = [new(pick_engine(4 * j + (3 if j % 2 else 0))) for j in range(n_heldout)]
    spk_id = 100
    for role in ("train", "dev", "test"):
        for spk in roles[role]:
            spk["id"] = spk_id
            spk["role"] = "train" if role == "train" else f"heldout-{role}"
            spk["name"] = speaker_description(spk)
            spk_id += 1
    return roles


# ---------------------------------------------------------------------------
# Utterance plan
# ---------------------------------------------------------------------------


def plan_corpus(args: argparse.Namespace, engines: List[str]
                ) -> Tuple[Dict[str, List[str]], Dict[str, List[Speaker]], List[Utterance]]:
    """Sentences, speaker table and the list of utterances to synthesise."""
    texts = mini_corpus_text.generate_splits(args.n_train, args.n_dev, args.n_test, seed=args.seed)
    roles = make_speakers(args.n_speakers, args.heldout_speakers, engines, args.seed)
    train_spk = roles["train"]
    utts = []
    chapter_id = 1000
    for split in SPLITS:
        sentences = texts[split]
        rng = random.Random(f"mini-librispeech-assign:{args.seed}:{split}")
        if split == "train":
            n_held = 0
        else:
            n_held = int(round(args.heldout_share * len(sentences))) if roles[split] else 0
        seen_order = list(train_spk)
        rng.shuffle(seen_order)
        by_speaker = defaultdict(list)
        for i, sent in enumerate(sentences):
            if i < n_held:
                spk = roles[split][i % len(roles[split])]
            else:
                spk = seen_order[(i - n_held) % len(seen_order)]
            by_speaker[spk["id"]].append(sent)
        spk_by_id = {s["id"]: s for s in train_spk + roles[split]}
        for sid in sorted(by_speaker):
            sents = by_speaker[sid]
            for start in range(0, len(sents), args.utts_per_chapter):
                chapter_id += 1
                for k, sent in enumerate(sents[start:start + args.utts_per_chapter]):
                    utts.append({
                        "split": split,
                        "speaker": spk_by_id[sid],
                        "chapter": chapter_id,
                        "utt_id": f"{sid}-{chapter_id}-{k:04d}",
                        "text": sent,
                    })
    return texts, roles, utts


def utt_relpath(utt: Utterance) -> str:
    """``<split>/<speaker>/<chapter>/<utt_id>.flac`` under the corpus's LibriSpeech folder."""
    spk = utt["speaker"]["id"]
    return os.path.join(utt["split"], str(spk), str(utt["chapter"]), utt["utt_id"] + ".flac")
