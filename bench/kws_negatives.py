#!/usr/bin/env python3
"""Long keyword-free recordings spoken by the CPU demo corpus's held-out voices, for a firm false-alarm rate.

    python bench/kws_negatives.py /path/to/mini_librispeech/LibriSpeech OUT_DIR \\
        --keywords "MANY,BEHIND,..." [--minutes 60] [--file-minutes 5] [--role heldout-test] [--seed 1]

The demo's test split holds 0.086 h of keyword-free speech, too little for a false-alarm rate (7 alarms
there: a Poisson 95 % interval of about 33-168 per hour). This script writes ``--minutes`` of continuous
speech as ``--file-minutes`` files, each one voice of ``--role`` in turn (the corpus's ``corpus_stats.json``
names them: the test split's held-out voices by default, never heard in training). The text is the corpus
grammar's sentences (``mini_corpus_text.generate_sentence``, another seed), none holding a keyword nor
equal to a transcript of the corpus, joined by pauses of 0.3-1.0 s. Each sentence is synthesised as the
corpus's are (``mini_corpus_audio.synthesize``: trimmed, 16 kHz, the voice's level).

``OUT_DIR`` is a Kaldi data dir (``wav.scp``, ``text``, ``utt2spk``, ``spk2utt``; the audio in ``OUT_DIR/audio``,
the sentences it joins in ``OUT_DIR/sentences``, named by voice and text and reused by a rerun). There are
``round(--minutes / --file-minutes)`` recordings, each at least ``--file-minutes`` long:
``python bench/kws_eval.py MODEL_DIR $(dirname OUT_DIR) --split $(basename OUT_DIR) --keywords ...`` then counts
every detection as a false alarm. A keyword is a word sequence, as kws_eval counts it: no sentence holds
one, nor the join of two sentences. Deterministic for a seed.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Set

import numpy as np
import soundfile as sf

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "LibriSpeech"
sys.path.insert(0, str(RECIPE))
from mini_corpus_audio import SAMPLE_RATE, synthesize_all  # noqa: E402
from mini_corpus_text import generate_sentence  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kws_eval import count_phrase  # noqa: E402  (how kws_eval finds a keyword: as a word sequence)
from real_speech import read_data_dir  # noqa: E402


def corpus_transcripts(corpus: Path) -> Set[str]:
    """Every transcript of the corpus (all its split folders), so that no negative sentence repeats one."""
    splits = [p.name for p in sorted(corpus.iterdir()) if (p / "wav.scp").is_file() or any(p.glob("*/*/*.trans.txt"))]
    return {text for split in splits for _, _, text in read_data_dir(corpus, split)}


def holds_keyword(text: str, keywords: Sequence[str]) -> bool:
    """Whether ``text`` holds one of ``keywords`` as kws_eval counts them (each a word sequence)."""
    words = text.split()
    return any(count_phrase(words, k.upper().split()) for k in keywords)


def keyword_free_sentences(keywords: Sequence[str], exclude: Set[str], seed: int) -> Iterator[str]:
    """Distinct grammar sentences holding none of ``keywords`` and none of ``exclude``, endlessly."""
    rng, seen = random.Random(f"kws-negatives:{seed}"), set(exclude)
    misses = 0
    while misses < 100_000:
        sentence = generate_sentence(rng)
        if sentence in seen or holds_keyword(sentence, keywords):
            misses += 1
            continue
        misses = 0
        seen.add(sentence)
        yield sentence
    raise ValueError(f"no new keyword-free sentence in 100,000 draws (after {len(seen) - len(exclude)})")


def cache_key(voice: Dict, text: str) -> str:
    """The synthesised sentence's file name: its voice and text (a rerun with other options reuses only
    what it would synthesise itself)."""
    return hashlib.sha1(json.dumps([voice, text], sort_keys=True).encode()).hexdigest()[:20]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="the demo corpus (its LibriSpeech folder, with corpus_stats.json)")
    parser.add_argument("out", type=Path, help="the Kaldi data dir to write")
    parser.add_argument("--keywords", required=True, help="comma-separated: no sentence holds one")
    parser.add_argument("--minutes", type=float, default=60.0, help="audio in all (default 60)")
    parser.add_argument("--file-minutes", type=float, default=5.0, help="length of each recording (default 5)")
    parser.add_argument("--role", default="heldout-test", help="the voices: corpus_stats.json's role (default "
                        "heldout-test, the test split's held-out voices)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1, help="TTS processes (default 1)")
    args = parser.parse_args(argv)
    stats_file = args.corpus / "corpus_stats.json"
    if not stats_file.is_file():
        print(f"error: {stats_file}: not found (the demo corpus's LibriSpeech folder has it)", file=sys.stderr)
        return 2
    voices: Dict[str, Dict] = {spk: v for spk, v in json.loads(stats_file.read_text())["speakers"].items()
                               if v.get("role") == args.role}
    if not voices:
        print(f"error: {stats_file}: no speaker with role {args.role!r}", file=sys.stderr)
        return 2
    keywords = [k.strip().upper() for k in args.keywords.split(",") if k.strip()]
    n_files = max(1, round(args.minutes / args.file_minutes))
    target = args.file_minutes * 60 * SAMPLE_RATE
    sentences = keyword_free_sentences(keywords, corpus_transcripts(args.corpus), args.seed)
    rng = np.random.default_rng(args.seed)
    cache, audio = args.out / "sentences", args.out / "audio"
    cache.mkdir(parents=True, exist_ok=True)
    audio.mkdir(parents=True, exist_ok=True)
    rows = []
    order = sorted(voices)
    for i in range(n_files):
        spk = order[i % len(order)]
        utt = f"{spk}-long-{i:03d}"
        pieces, texts, length = [], [], 0
        while length < target:
            texts_now = [next(sentences) for _ in range(20)]
            batch = [(str(cache / f"{cache_key(voices[spk], text)}.flac"), voices[spk], text) for text in texts_now]
            todo = [job for job in batch if not Path(job[0]).is_file()]
            synthesize_all(todo, args.jobs, quiet=True)
            for path, _, text in batch:
                if texts and holds_keyword(f"{texts[-1]} {text}", keywords):  # a keyword across the join
                    continue
                x, _ = sf.read(path, dtype="int16")
                pause = np.zeros(int(rng.uniform(0.3, 1.0) * SAMPLE_RATE), dtype=np.int16)
                pieces += [x, pause]
                texts.append(text)
                length += len(x) + len(pause)
                if length >= target:
                    break
        wav = audio / f"{utt}.flac"
        sf.write(wav, np.concatenate(pieces), SAMPLE_RATE, format="FLAC", subtype="PCM_16")
        rows.append((utt, spk, wav.resolve(), " ".join(texts), length / SAMPLE_RATE))
        print(f"{utt}: {length / SAMPLE_RATE / 60:.1f} min, {len(texts)} sentences ({voices[spk]['name']})", flush=True)
    rows.sort()  # Kaldi data dirs are sorted by utterance id
    (args.out / "wav.scp").write_text("".join(f"{u} {w}\n" for u, _, w, _, _ in rows))
    (args.out / "text").write_text("".join(f"{u} {t}\n" for u, _, _, t, _ in rows))
    (args.out / "utt2spk").write_text("".join(f"{u} {s}\n" for u, s, _, _, _ in rows))
    (args.out / "spk2utt").write_text("".join(f"{s} {' '.join(u for u, t, _, _, _ in rows if t == s)}\n"
                                              for s in sorted({r[1] for r in rows})))
    print(f"wrote {args.out}: {len(rows)} recordings, {sum(r[4] for r in rows) / 3600:.3f} h")
    return 0


if __name__ == "__main__":
    sys.exit(main())
