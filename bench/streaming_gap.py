#!/usr/bin/env python3
"""Where a model's streaming WER is lost: the chunk or the left context.

    python bench/streaming_gap.py MODEL ../shared/real-speech/speechocean762 --split dev --limit 150 \\
        --configs full 8x4 8x16 8x32 16x4 --out bench/results/streaming_gap_so762

Decodes the first ``--limit`` utterances of ``CORPUS/SPLIT`` greedily with the PyTorch model in full
context and with SpeechBrain's chunked attention for each ``CxL`` (a chunk of C encoder frames of 40 ms,
L chunks of left context), which computes what the streaming exports compute chunk by chunk
(``tests/test_sherpa_streaming.py``), and writes ``OUT/streaming_gap.md``.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import datetime
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_speech import read_data_dir  # noqa: E402

CONFIG = re.compile(r"^(full|(\d+)x(\d+))$")


def parse_configs(texts: Sequence[str]) -> List[Optional[Tuple[int, int]]]:
    """``full`` -> None, ``8x4`` -> (8, 4); anything else raises ValueError naming it.

    >>> parse_configs(["full", "8x4"])
    [None, (8, 4)]
    """
    out = []
    for text in texts:
        match = CONFIG.match(text)
        if not match or (match.group(2) and (int(match.group(2)) < 1 or int(match.group(3)) < 1)):
            raise ValueError(f"--configs {text!r}: expected 'full' or CxL with positive integers (e.g. 8x4)")
        out.append(None if text == "full" else (int(match.group(2)), int(match.group(3))))
    return out


def load_for_decoding(model, corpus: Path, split: str, limit: Optional[int] = None):
    """``(modules, tokenizer, items, waveforms)``: a run or model folder and the first ``limit`` utterances of
    ``CORPUS/SPLIT``, as the greedy benches decode them. ``FileNotFoundError``/``ValueError`` name what is wrong."""
    import sentencepiece
    import soundfile as sf

    from speechbrain_tinyconf.deploy.load import load_transducer

    items = read_data_dir(corpus, split)[:limit]
    mods = load_transducer(model)
    sp = sentencepiece.SentencePieceProcessor(model_file=str(mods.tokenizer_path))
    return mods, sp, items, [sf.read(path, dtype="float32")[0] for _, path, _ in items]


def encode(mods, wav, config):
    """Joint-space encoder output ``(1, frames, dim)`` of one waveform, full context (None) or chunked
    attention ``(chunk, left chunks)`` over the whole utterance at once."""
    import torch
    from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

    chunking = None if config is None else DynChunkTrainConfig(*config)
    with torch.no_grad():
        lens = torch.ones(1)
        x = mods.CNN(mods.normalize(mods.compute_features(torch.as_tensor(wav)[None]), lens))
        return mods.proj_enc(mods.enc(x, lens, pad_idx=0, dynchunktrain_config=chunking))


def decode(mods, sp, wav, config) -> str:
    """Greedy transcript of one waveform, full context (None) or chunked attention ``(chunk, left chunks)``."""
    import torch

    with torch.no_grad():
        return sp.decode(mods.greedy_searcher()(encode(mods, wav, config))[0][0])


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="run folder or model folder")
    parser.add_argument("corpus", type=Path, help="folder of Kaldi data dirs")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--limit", type=int, default=None, help="the first N utterances only")
    parser.add_argument("--configs", nargs="+", default=["full", "8x4", "8x16", "16x4"])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        configs = parse_configs(args.configs)
        mods, sp, items, wavs = load_for_decoding(args.model, args.corpus, args.split, args.limit)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    from speechbrain.utils.metric_stats import ErrorRateStats

    rows = []
    for text, config in zip(args.configs, configs):
        stats = ErrorRateStats()
        for (utt, _, ref), wav in zip(items, wavs):
            stats.append([utt], [decode(mods, sp, wav, config).split()], [ref.split()])
        wer = stats.summarize("error_rate")
        label = "full context" if config is None else f"{config[0] * 40} ms chunks, {config[0] * config[1] * 40 / 1000:g} s left"
        rows.append(f"| {text} | {label} | {wer:.2f} |")
        print(rows[-1], flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent).stdout.strip()
    command = "python bench/streaming_gap.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "streaming_gap.md").write_text(
        f"Generated by `{command}` on {datetime.date.today()} (commit {commit}).\n\n"
        f"`{args.model}` on {len(items)} utterances of `{args.split}`, greedy, PyTorch:\n\n"
        "| config | context | WER % |\n|---|---|---:|\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
