#!/usr/bin/env python3
"""Reference recognizer for the real-speech results: pocketsphinx 5 (its wheel's English acoustic
model, dictionary and LM; offline) on a Kaldi data dir, scored like the recipe.

    pip install -c constraints.txt -e ".[bench]"
    python bench/pocketsphinx_reference.py ../shared/real-speech/speechocean762 --split test --out results/pocketsphinx

Writes ``OUT/wer_<split>.txt`` (SpeechBrain's ``ErrorRateStats``, as ``train.py`` writes it),
``OUT/hyps_<split>.jsonl`` (one decoded utterance a line; a re-run skips those already there)
and ``OUT/summary_<split>.json`` (WER overall and for children / adults). A benchmark-only tool:
pocketsphinx is not a dependency of the package.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import json
import sys
from multiprocessing import Pool
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_speech import read_data_dir, score  # noqa: E402

_decoder = None


def _decode(item: Tuple[str, str]) -> Tuple[str, str]:
    """(utterance id, upper-case hypothesis) of one 16 kHz file."""
    global _decoder
    from pocketsphinx import Decoder

    if _decoder is None:
        _decoder = Decoder(loglevel="FATAL")
    utt, path = item
    wav, rate = sf.read(path, dtype="float32")
    if rate != 16000:
        raise ValueError(f"{path}: {rate} Hz, pocketsphinx's model needs 16000 Hz")
    pcm = (np.clip(wav, -1, 1) * 32767).astype(np.int16).tobytes()
    _decoder.start_utt()
    _decoder.process_raw(pcm, full_utt=True)
    _decoder.end_utt()
    hyp = _decoder.hyp()
    return utt, (hyp.hypstr if hyp is not None else "").upper()


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="folder of Kaldi data dirs (wav.scp paths relative to it)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="first N utterances only (smoke test)")
    args = parser.parse_args(argv)
    items = read_data_dir(args.corpus, args.split)[: args.limit]
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.out / f"hyps_{args.split}.jsonl"
    done = {}
    if cache.is_file():
        for line in cache.read_text().splitlines():
            row = json.loads(line)
            done[row["id"]] = row["hyp"]
    todo = [(utt, path) for utt, path, _ in items if utt not in done]
    with open(cache, "a", encoding="utf-8") as handle, Pool(args.jobs) as pool:
        for utt, hyp in tqdm(pool.imap(_decode, todo, chunksize=4), total=len(todo), desc="pocketsphinx"):
            handle.write(json.dumps({"id": utt, "hyp": hyp}) + "\n")
            handle.flush()
            done[utt] = hyp
    summary = score(items, done, args.out / f"wer_{args.split}.txt", args.corpus / args.split)
    (args.out / f"summary_{args.split}.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
