"""Deterministic sentence generator for the synthetic mini LibriSpeech corpus.

All text of the grammar is self-written (no third-party text is used).  A small
hand-written template grammar produces simple English sentences such as::

    MY BROTHER FOUND THREE RED CUPS IN THE KITCHEN ON MONDAY
    HOW MANY APPLES DID THE BAKER SELL YESTERDAY
    THE TRAIN TO THE CITY LEAVES AT SEVEN O'CLOCK

Design goals (see ``make_mini_corpus.py`` for the audio side):

* a closed vocabulary of a few hundred words (``grammar_vocabulary()``) so
  that every word is seen many times in a few thousand training sentences;
* sentences of 4-14 words, upper case, apostrophes allowed, no punctuation;
* deterministic: the output only depends on the seed and the split sizes
  (``random.Random`` seeded with strings, which is independent of
  ``PYTHONHASHSEED``);
* no sentence shared between train, dev and test, and dev/test sentences are
  drawn (by rejection sampling) so that all their words occur in the training
  transcripts whenever the training set is large enough for that.

Usage::

    from mini_corpus_text import generate_splits, word_coverage
    splits = generate_splits(6000, 200, 200, seed=0)
    word_coverage(splits["train"], splits["test"])  # -> 100.0

The grammar lives in three modules beside this one: ``mini_corpus_lexicon.py`` (the word
lists, read from ``mini_corpus_words.yaml``), ``mini_corpus_phrases.py`` (noun, place and
time phrases) and ``mini_corpus_templates.py`` (the sentence templates and their weights).
"""

import os
import random
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the grammar modules, also when loaded by path
from mini_corpus_templates import TEMPLATES  # noqa: E402

MIN_WORDS = 4
MAX_WORDS = 14

_FUNCS = [f for f, _ in TEMPLATES]
_WEIGHTS = [w for _, w in TEMPLATES]


def generate_sentence(rng):
    """One sentence (str, upper case, single spaces) with 4-14 words."""
    while True:
        func = rng.choices(_FUNCS, weights=_WEIGHTS, k=1)[0]
        words = func(rng)
        if MIN_WORDS <= len(words) <= MAX_WORDS:
            return " ".join(words)


def _split_rng(seed, name):
    # String seeds are hashed with SHA-512 by ``random`` (version 2), so this
    # does not depend on PYTHONHASHSEED.
    return random.Random(f"mini-librispeech-text:{seed}:{name}")


def generate_splits(n_train, n_dev, n_test, seed=0, max_tries=200,
                    rare_target=None, common_accept=0.1):
    """Generate distinct sentences for the train/dev/test splits.

    Each split has its own random stream.  Training sentences are drawn with
    a light "rare word boost": a candidate whose words have all been seen at
    least ``rare_target`` times already (default ``max(20, n_train // 300)``)
    is only accepted with probability ``common_accept``.  This flattens the
    word distribution so that every word of the grammar occurs ~20+ times in
    6000 training sentences (instead of 2-5 times for the rarest ones).

    Dev and test sentences are never equal to a train sentence nor to each
    other.  For dev/test a candidate is
    rejected (up to ``max_tries`` times per sentence) if it contains a word
    that does not occur in the training transcripts, which yields 100% word
    coverage for realistic training sizes; with tiny training sets the best
    effort is accepted and the coverage is simply reported.

    Returns a dict ``{"train": [...], "dev": [...], "test": [...]}``.
    """
    splits = {}
    seen = set()
    train = []
    counts = Counter()
    if rare_target is None:
        rare_target = max(20, n_train // 300)
    rng = _split_rng(seed, "train")
    while len(train) < n_train:
        sent = generate_sentence(rng)
        if sent in seen:
            continue
        words = sent.split()
        if min(counts[w] for w in words) >= rare_target and rng.random() >= common_accept:
            continue
        seen.add(sent)
        train.append(sent)
        counts.update(words)
    splits["train"] = train
    train_vocab = set(w for s in train for w in s.split())
    for name, n in (("dev", n_dev), ("test", n_test)):
        rng = _split_rng(seed, name)
        out = []
        while len(out) < n:
            for _ in range(max_tries):
                sent = generate_sentence(rng)
                if sent in seen:
                    continue
                if all(w in train_vocab for w in sent.split()):
                    break
            else:
                # Best effort: accept any unseen sentence.
                while sent in seen:
                    sent = generate_sentence(rng)
            seen.add(sent)
            out.append(sent)
        splits[name] = out
    return splits


def word_coverage(train_sentences, eval_sentences):
    """Token-level percentage of words in ``eval_sentences`` seen in train."""
    vocab = set(w for s in train_sentences for w in s.split())
    tokens = [w for s in eval_sentences for w in s.split()]
    if not tokens:
        return 100.0
    return 100.0 * sum(w in vocab for w in tokens) / len(tokens)


def vocabulary(sentences):
    """Counter of word frequencies."""
    return Counter(w for s in sentences for w in s.split())


def grammar_vocabulary(n_samples=200000, seed=12345):
    """Approximate closed vocabulary of the grammar (by heavy sampling)."""
    rng = random.Random(seed)
    return set(w for _ in range(n_samples) for w in generate_sentence(rng).split())


if __name__ == "__main__":  # pragma: no cover - quick manual inspection
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    sp = generate_splits(n, 5, 5, seed=0)
    for s in sp["train"][:n]:
        print(s)
