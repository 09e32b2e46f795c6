#!/usr/bin/env python3
"""Synthetic speech for sim-to-real training: a Kaldi data dir of TTS audio of the *training* text.

    python recipes/SpeechOcean762/make_tts_kaldi.py ../shared/real-speech/speechocean762/train/text \\
        data/so762_tts --voices-per-sentence 2 --digit-strings 1000 --jobs 2

Every sentence of the given Kaldi ``text`` file (the training transcripts only: never dev or
test text) is spoken by ``--voices-per-sentence`` of the 40 espeak-ng / flite speakers that
``recipes/LibriSpeech/make_mini_corpus.py`` uses (``mini_corpus_plan.py``), plus
``--digit-strings`` random strings of 3-6 spoken digits ("similar text": a quarter of
speechocean762's sentences are digit strings). Writes ``OUT/tts_train/{wav.scp,text,utt2spk}`` (absolute paths; utterance ids
start with ``tts-`` so reports can count synthetic hours) and the audio under ``OUT/audio``
(16 kHz FLAC). Deterministic for a given seed; re-running skips files already written, so an
interrupted run resumes. Use it with ``--train_splits '[train, <OUT>/tts_train]'``.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from multiprocessing import Pool
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "LibriSpeech"))
import mini_corpus_text  # noqa: E402
from make_mini_corpus import resolve_engines  # noqa: E402
from mini_corpus_audio import synthesize, worker_init  # noqa: E402
from mini_corpus_plan import make_speakers  # noqa: E402

DIGITS = "ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE".split()


def sentences(text_file: Path, digit_strings: int, seed: int, grammar_sentences: int = 0) -> List[str]:
    """The transcripts of ``text_file`` (each once), ``digit_strings`` random digit strings and
    ``grammar_sentences`` sentences of the mini corpus grammar (``mini_corpus_text``: self-written
    everyday English, 4-14 words, none of it speechocean762 text)."""
    seen = []
    for line in text_file.read_text(encoding="utf-8").splitlines():
        words = line.split()[1:]
        if words and " ".join(words).upper() not in seen:
            seen.append(" ".join(words).upper())
    rng = random.Random(f"tts-digits:{seed}")
    digits = [" ".join(rng.choice(DIGITS) for _ in range(rng.randint(3, 6))) for _ in range(digit_strings)]
    grammar = mini_corpus_text.generate_splits(grammar_sentences, 0, 0, seed=seed)["train"] if grammar_sentences else []
    return seen + digits + [g for g in grammar if g not in seen]


def plan(texts: List[str], voices_per_sentence: int, seed: int, speakers: int = 40) -> List[Tuple[str, dict, str]]:
    """(utterance id, speaker, text) for every synthetic utterance, each text by ``voices_per_sentence``
    of ``speakers`` TTS voices (``mini_corpus_plan.make_speakers``: the first 40 are the demo's)."""
    speakers = make_speakers(speakers, 0, resolve_engines("auto"), seed)["train"]
    rng = random.Random(f"tts-voices:{seed}")
    jobs = []
    for i, text in enumerate(texts):
        for spk in rng.sample(speakers, voices_per_sentence):
            jobs.append((f"tts-{spk['id']}-{i:05d}", spk, text))
    return jobs


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("text", type=Path, help="Kaldi text file of the training transcripts")
    parser.add_argument("out", type=Path)
    parser.add_argument("--voices-per-sentence", type=int, default=2)
    parser.add_argument("--digit-strings", type=int, default=1000)
    parser.add_argument("--grammar-sentences", type=int, default=0,
                        help="also speak this many sentences of the mini corpus grammar (broader everyday text)")
    parser.add_argument("--speakers", type=int, default=40, help="TTS voices to draw from")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    if not args.text.is_file():
        print(f"error: {args.text} not found", file=sys.stderr)
        return 1
    if args.voices_per_sentence > args.speakers:
        print(f"error: --voices-per-sentence {args.voices_per_sentence} exceeds --speakers {args.speakers}",
              file=sys.stderr)
        return 1
    jobs = plan(sentences(args.text, args.digit_strings, args.seed, args.grammar_sentences),
                args.voices_per_sentence, args.seed, args.speakers)
    audio = args.out.resolve() / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    todo = [(str(audio / f"{utt}.flac"), spk, text) for utt, spk, text in jobs
            if not (audio / f"{utt}.flac").is_file()]
    with Pool(args.jobs, initializer=worker_init) as pool:
        for _ in tqdm(pool.imap_unordered(synthesize, todo, chunksize=8), total=len(todo), desc="tts"):
            pass
    data = args.out / "tts_train"
    data.mkdir(parents=True, exist_ok=True)
    for name, column in (("wav.scp", lambda u, s, t: str(audio / f"{u}.flac")), ("text", lambda u, s, t: t),
                         ("utt2spk", lambda u, s, t: f"tts-{s['id']}")):
        tmp = data / f".{name}.tmp"
        tmp.write_text("".join(f"{u} {column(u, s, t)}\n" for u, s, t in sorted(jobs, key=lambda j: j[0])))
        os.replace(tmp, data / name)
    print(f"{len(jobs)} utterances ({len(todo)} synthesised now) -> {data}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
