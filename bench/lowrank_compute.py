#!/usr/bin/env python3
"""Compute of a low-rank variant against its full-rank twin: MACs per second of audio and forward time.

    python bench/lowrank_compute.py [--variant shared_lowrank_5M] [--seconds 10] [--reps 21] [--threads 1]

The twin is the variant's plan without ``low_rank`` (as in ``bench/benchmark.py``).
Printed, for both models:

* M MACs per second of audio of front-end + encoder + ``proj_enc`` (``FullEncoder``
  on 1 s of features, counted by ``size.count_macs``; the benchmark's count), and of
  the encoder alone (``size.encoder_macs`` on 25 frames);
* the encoder forward on ``--seconds`` of audio (batch 1, eval, no grad) with
  ``--threads`` torch threads, the two models timed alternately in this process
  (``timing.interleaved``: A B A B ..., medians) and the ratio.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmark_encoder import forward_fn  # noqa: E402
from benchmark_sizes import encoder_config, variant_path  # noqa: E402
from timing import interleaved  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="shared_lowrank_5M")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--reps", type=int, default=21)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch
    from speechbrain.nnet.attention import RelPosEncXL

    from speechbrain_tinyconf import SharedConformerEncoder, SharingPlan
    from speechbrain_tinyconf.deploy.graphs import FullEncoder
    from speechbrain_tinyconf.deploy.load import load_transducer
    from speechbrain_tinyconf.lobes.size import count_macs, encoder_macs

    torch.set_num_threads(args.threads)
    path = variant_path(args.variant)
    cfg = encoder_config(path)
    plan = SharingPlan.from_config(cfg.pop("sharing"))
    if plan.low_rank is None:
        raise SystemExit(f"error: {args.variant} has no sharing.low_rank: it is its own full-rank twin")
    plans = {"low rank": plan, "full-rank twin": dataclasses.replace(plan, low_rank=None)}

    macs = {}
    for name, overrides in (("low rank", None), ("full-rank twin", {"sharing": {"low_rank": None}})):
        mods = load_transducer(path, overrides=overrides, seed=args.seed)
        assert (mods.encoder.plan.low_rank is None) == (name != "low rank")
        feats = torch.randn(1, 100, mods.normalize.glob_mean.numel())  # 1 s of 10 ms frames
        full = FullEncoder(mods).eval()
        macs[name] = (count_macs(lambda: full(feats, torch.ones(1))),
                      encoder_macs(mods.encoder, 25))
    print(f"{args.variant}: M MACs per second of audio (front-end + encoder + proj_enc | encoder alone)")
    for name, (whole, enc) in macs.items():
        print(f"  {name:15s} {whole / 1e6:8.1f} | {enc / 1e6:8.1f}")
    ratio_whole = macs["low rank"][0] / macs["full-rank twin"][0]
    ratio_enc = macs["low rank"][1] / macs["full-rank twin"][1]
    print(f"  ratio           {ratio_whole:8.3f} | {ratio_enc:8.3f}")

    torch.manual_seed(args.seed)
    ours, twin = (SharedConformerEncoder(**cfg, sharing=p) for p in plans.values())
    frames = int(round(args.seconds * 25))
    x = torch.randn(1, frames, cfg["d_model"])
    pos = RelPosEncXL(cfg["d_model"])(x)
    timing = interleaved(forward_fn(ours, x, pos), forward_fn(twin, x, pos), args.reps, warmup=2)
    print(f"encoder forward, {frames} frames, batch 1, {args.threads} thread(s), {args.reps} alternating reps, medians:")
    print(f"  low rank {timing['ours_ms']:.1f} ms, full-rank twin {timing['reference_ms']:.1f} ms, "
          f"ratio {timing['ratio']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
