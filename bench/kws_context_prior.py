#!/usr/bin/env python3
"""How likely a keyword's first piece is in the context sherpa-onnx's keyword spotter gives it.

    python bench/kws_context_prior.py MODEL CORPUS --split test --keywords MORNING,WHITE,BEHIND

sherpa-onnx's keyword decoder restarts the predictor from blank at every keyword start; greedy ASR
has the previous word's last piece there. For each utterance of ``CORPUS/SPLIT`` whose transcript
holds a keyword, the PyTorch model (a run folder or model folder with the stateless predictor) is
decoded greedily (full context); wherever it emits the keyword's first piece, the joint network's
probability of that piece at that frame is taken twice: after the token greedy search had (ASR), and
after blank (the spotter). Prints a markdown table of the means. See docs/deployment.md
(``predictor_reset_prob``).

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_speech import read_data_dir  # noqa: E402


def first_piece_probabilities(mods, wav, first_ids: Dict[str, int], max_symbols: int = 3) -> Dict[str, List]:
    """``{keyword: [(p after the previous token, p after blank), ...]}`` for each emission of its first piece."""
    import torch

    from speechbrain_tinyconf.deploy.graphs import JointStep
    from speechbrain_tinyconf.deploy.sherpa import SherpaDecoder

    decoder, joint = SherpaDecoder(mods).eval(), JointStep(mods).eval()
    blank = torch.tensor([[mods.blank_index]])
    out: Dict[str, List] = {k: [] for k in first_ids}
    with torch.no_grad():
        enc = mods.encode(torch.as_tensor(wav)[None])[0]
        after_blank = decoder(blank)
        prev = mods.blank_index
        for t in range(enc.shape[0]):
            for _ in range(max_symbols):  # greedy search, as sherpa-onnx's (a few symbols per frame)
                probs = joint(enc[t:t + 1], decoder(torch.tensor([[prev]]))).softmax(-1)[0]
                token = int(probs.argmax())
                if token == mods.blank_index:
                    break
                for keyword, first in first_ids.items():
                    if token == first:
                        alone = joint(enc[t:t + 1], after_blank).softmax(-1)[0, token]
                        out[keyword].append((float(probs[token]), float(alone)))
                prev = token
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="run folder or model folder (predictor: stateless)")
    parser.add_argument("corpus", type=Path, help="folder of Kaldi data dirs or LibriSpeech splits")
    parser.add_argument("--split", default="test")
    parser.add_argument("--keywords", required=True, help="comma-separated keywords")
    args = parser.parse_args(argv)
    keywords = [k.strip().upper() for k in args.keywords.split(",") if k.strip()]
    if not keywords:
        print(f"error: --keywords={args.keywords!r}: no keyword", file=sys.stderr)
        return 1
    import sentencepiece
    import soundfile as sf

    from speechbrain_tinyconf.deploy.load import load_transducer

    try:
        items = read_data_dir(args.corpus, args.split)
        mods = load_transducer(args.model)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    sp = sentencepiece.SentencePieceProcessor(model_file=str(mods.tokenizer_path))
    spelled = {k: sp.encode(k, out_type=str) for k in keywords}
    first_ids = {k: sp.piece_to_id(pieces[0]) for k, pieces in spelled.items()}
    found: Dict[str, List] = {k: [] for k in keywords}
    for _, path, text in items:
        if set(keywords) & set(text.split()):
            wav, _ = sf.read(path, dtype="float32")
            for k, pairs in first_piece_probabilities(mods, wav, first_ids).items():
                found[k] += pairs
    print(f"Model `{args.model}`, `{args.corpus}/{args.split}`: mean probability of the keyword's first piece where "
          "greedy search emits it.\n")
    print("| keyword | pieces | emissions | after the previous token (ASR) | after blank (keyword spotter) |")
    print("|---|---|---:|---:|---:|")
    for k in keywords:
        pairs = found[k]
        cells = ([f"{sum(p for p, _ in pairs) / len(pairs):.3f}", f"{sum(b for _, b in pairs) / len(pairs):.3f}"]
                 if pairs else ["n/a", "n/a"])
        print(f"| {k} | {' '.join(spelled[k])} | {len(pairs)} | {cells[0]} | {cells[1]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
