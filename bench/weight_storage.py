#!/usr/bin/env python3
"""What storing a model's weights in int4 (``tinyconf-export --weights int4``) costs in WER and saves in bytes.

    python bench/weight_storage.py results/campaign/RUN ../shared/real-speech/speechocean762 --split test \\
        --groups 64 32 --out bench/results/weight_storage_so762

Decodes ``CORPUS/SPLIT`` greedily with the PyTorch model (full context, as ``bench/streaming_gap.py``)
once with the fp32 weights, then with the same weights after the int4 round trip of
:mod:`speechbrain_tinyconf.pretrained.weight_storage`: as the export stores them (group sizes by tensor
name, ``GROUP_SIZES``), and with each ``--groups`` size for every tensor; and writes
``OUT/weight_storage.md`` and ``.json``: ``model.ckpt``'s bytes and the WER of each, in one run.
``SOURCE`` must hold fp32 weights (a run folder, or a model folder exported with ``--weights fp32``).

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import shlex
import sys
from pathlib import Path
from typing import Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from streaming_gap import decode, load_for_decoding  # noqa: E402


def checkpoint_bytes(obj) -> int:
    """Bytes of ``obj`` as ``torch.save`` writes it (what ``model.ckpt`` would weigh)."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getbuffer().nbytes


def source_storage(source: Path) -> str:
    """``fp32`` or ``int4``: how a model folder's ``model.ckpt`` stores its weights, read from the file itself
    (a run folder's checkpoints are fp32)."""
    import torch

    from speechbrain_tinyconf.pretrained.model_folder import EXPORT_MARKER, FILES
    from speechbrain_tinyconf.pretrained.weight_storage import storage_of

    model = source / FILES["model"]
    if not ((source / EXPORT_MARKER).is_file() and model.is_file()):
        return "fp32"
    try:
        return storage_of(torch.load(model, map_location="cpu"))
    except Exception:  # unreadable: load_transducer names the file and why
        return "fp32"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="run folder or model folder with fp32 weights")
    parser.add_argument("corpus", type=Path, help="folder of Kaldi data dirs")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--limit", type=int, default=None, help="the first N utterances only")
    parser.add_argument("--groups", type=int, nargs="*", default=[], help="uniform int4 group sizes to measure too")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        from speechbrain_tinyconf.pretrained.weight_storage import GROUP_SIZES, pack_state_dict, unpack_state_dict

        for group in args.groups:
            pack_state_dict({}, "int4", group)  # a bad group size: one line before anything is loaded
        if source_storage(args.source) != "fp32":
            raise ValueError(f"{args.source}: its weights are stored in int4; the reference must be fp32 "
                             "(a run folder, or an export with --weights fp32)")
        mods, sp, items, wavs = load_for_decoding(args.source, args.corpus, args.split, args.limit)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    from speechbrain.utils.metric_stats import ErrorRateStats
    from tqdm import tqdm

    reference = {k: v.clone() for k, v in mods.model.state_dict().items()}
    policy = ", ".join(f"{size} for {pattern or 'the rest'}" for pattern, size in GROUP_SIZES)
    arms = [("fp32", None), (f"int4 as exported (groups: {policy})", 0)]
    arms += [(f"int4, groups of {g}", g) for g in args.groups]
    rows = []
    for label, group in arms:
        stored = reference if group is None else pack_state_dict(reference, "int4", group or None)
        mods.model.load_state_dict(unpack_state_dict(stored), strict=True)
        stats = ErrorRateStats()
        for (utt, _, ref), wav in tqdm(list(zip(items, wavs)), desc=label, file=sys.stderr):
            stats.append([utt], [decode(mods, sp, wav, None).split()], [ref.split()])
        summary = stats.summarize()
        rows.append({"weights": label, "group_size": group, "model_ckpt_bytes": checkpoint_bytes(stored),
                     "wer": summary["WER"], "errors": summary["num_edits"], "words": summary["num_scored_tokens"]})
        print(f"{label}: {rows[-1]['model_ckpt_bytes'] / 2**20:.2f} MiB, WER {summary['WER']:.2f}", flush=True)
    from provenance import commit as git_commit

    commit = git_commit()
    command = "python bench/weight_storage.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"command": command, "date": str(datetime.date.today()), "commit": commit, "source": str(args.source),
            "split": args.split, "utterances": len(items), "rows": rows}
    (args.out / "weight_storage.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    base = rows[0]["wer"]
    table = "\n".join(f"| {r['weights']} | {r['model_ckpt_bytes'] / 2**20:.2f} | {r['wer']:.2f} | "
                      f"{r['wer'] - base:+.2f} | {r['errors']} / {r['words']} |" for r in rows)
    (args.out / "weight_storage.md").write_text(
        f"Generated by `{command}` on {meta['date']} (commit {commit}).\n\n"
        f"`{args.source}` on {len(items)} utterances of `{args.split}`, greedy, PyTorch, full context:\n\n"
        "| weights | model.ckpt MiB | WER % | change | errors / words |\n|---|---:|---:|---:|---:|\n"
        + table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
