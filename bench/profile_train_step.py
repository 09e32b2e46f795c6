#!/usr/bin/env python3
"""Where one CPU training step of the demo goes: updates/s and a per-part profile.

    python bench/profile_train_step.py [--steps 12] [--threads 2] [--profile-steps 3]

The model and schedule are ``run_demo.sh``'s (``hparams/shared_lowrank_5M.yaml`` with the
demo overrides: vocabulary 128, no augmentation, CTC on); the batch is a fixed synthetic
one shaped like the demo's (16 s dynamic batches of ~2.4 s sentences, ~24 tokens each: 6
utterances, 13.8 s of audio). Each step is the recipe's ``TransducerASR.fit_batch``
(forward, transducer + CTC loss, backward, AdamW, Noam schedule) with dynamic chunk
training as in the demo. Printed:

* seconds per step (median of ``--steps`` after two warm-up steps) and updates/s, split
  into forward, loss, backward (the rest) and optimizer step by wall-clock timers;
* a ``torch.profiler`` breakdown of ``--profile-steps`` further steps: front-end (Fbank,
  normalisation, CNN), encoder, its attention modules, the packed QKV projection (every
  op on a 3 x d_model-wide operand, forward and backward), predictor, joint, ``rnnt_loss``,
  CTC loss, optimizer, and the ten most expensive ops;
* data loading: reading and collating the same six utterances from FLAC files
  (the recipe's ``read_audio`` and ``PaddedBatch``; ``num_workers: 0`` in the demo).

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "recipes" / "LibriSpeech"))
sys.path.insert(0, str(ROOT / "bench"))
from timing import Timers, median_time  # noqa: E402

DEMO = {  # run_demo.sh's overrides that matter for one step
    "vocab_size": 128, "lr": 0.002, "warmup_steps": 300, "wav_augment_prob": 0.0, "fea_augment_prob": 0.0,
    "number_of_epochs": 2, "number_of_ctc_epochs": 2,
}
SECONDS = (1.9, 2.1, 2.3, 2.4, 2.5, 2.6)
TOKENS = (20, 22, 23, 24, 25, 28)


def make_batch(seed: int = 0):
    import torch
    from speechbrain.dataio.batch import PaddedBatch

    gen = torch.Generator().manual_seed(seed)
    items = []
    for i, (sec, n_tok) in enumerate(zip(SECONDS, TOKENS)):
        tokens = torch.randint(1, DEMO["vocab_size"], (n_tok,), generator=gen)
        items.append({"id": f"utt{i}", "sig": 0.1 * torch.randn(int(sec * 16000), generator=gen), "wrd": "X",
                      "tokens_bos": torch.cat((torch.zeros(1, dtype=torch.long), tokens)), "tokens": tokens})
    return items, PaddedBatch(items)


def data_seconds(items, reps: int = 5) -> float:
    """Median seconds to read the batch's audio from FLAC and collate it, as the recipe's loader does."""
    import soundfile as sf
    import speechbrain as sb
    from speechbrain.dataio.batch import PaddedBatch

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for item in items:
            path = Path(tmp) / f"{item['id']}.flac"
            sf.write(path, item["sig"].numpy(), 16000, format="FLAC", subtype="PCM_16")
            paths.append(str(path))
        _, seconds = median_time(
            lambda: PaddedBatch([{**item, "sig": sb.dataio.dataio.read_audio(p)} for item, p in zip(items, paths)]),
            reps, warmup=0)
    return seconds


def label_modules(asr):
    """``record_function`` ranges around chosen modules' forwards (for the profiler)."""
    import torch
    from speechbrain.nnet.attention import RelPosMHAXL

    parts = {"front-end": [asr.hparams.compute_features, asr.modules.normalize, asr.modules.CNN],
             "encoder": [asr.modules.enc], "predictor": [asr.modules.emb, asr.modules.dec, asr.modules.proj_dec],
             "joint": [asr.modules.Tjoint, asr.modules.transducer_lin],
             "attention": [m for m in asr.modules.enc.modules() if isinstance(m, RelPosMHAXL)]}
    for label, modules in parts.items():
        for module in modules:
            module.register_forward_pre_hook(lambda m, a, label=label: m.__dict__.setdefault("_ranges", []).append(
                torch.profiler.record_function(label).__enter__()))
            module.register_forward_hook(lambda m, a, out: m._ranges.pop().__exit__(None, None, None))
    return list(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile-steps", type=int, default=3)
    args = parser.parse_args(argv)

    import torch
    from train import TransducerASR

    from speechbrain_tinyconf.recipe.hparams import load_detached

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    hp = load_detached(ROOT / "hparams" / "shared_lowrank_5M.yaml", DEMO)
    asr = TransducerASR(modules=hp["modules"], opt_class=hp["opt_class"], hparams=hp,
                        run_opts={"device": "cpu"}, checkpointer=None)
    asr.on_fit_start()
    asr.modules.train()
    hp["epoch_counter"].current = 1
    items, batch = make_batch()
    timers = Timers()
    asr.compute_forward = timers.wrap("forward", asr.compute_forward)
    asr.compute_objectives = timers.wrap("loss", asr.compute_objectives)
    asr.optimizers_step = timers.wrap("optimizer step", asr.optimizers_step)
    step = timers.wrap("step", asr.fit_batch)
    for _ in range(2):
        step(batch)
    timers.seconds.clear()
    for _ in range(args.steps):
        step(batch)
    med = {name: statistics.median(values) for name, values in timers.seconds.items()}
    med["backward (rest)"] = med["step"] - med["forward"] - med["loss"] - med["optimizer step"]
    audio = sum(SECONDS)
    print(f"one step, {len(SECONDS)} utterances / {audio:.1f} s of audio, {args.threads} thread(s), "
          f"median of {args.steps}: {med['step']:.3f} s = {1 / med['step']:.2f} updates/s")
    for name in ("forward", "loss", "backward (rest)", "optimizer step"):
        print(f"  {name:16s} {med[name]:.3f} s  {100 * med[name] / med['step']:5.1f} %")
    print(f"  data loading (FLAC read + collate, not in the step): {data_seconds(items):.3f} s")

    if args.profile_steps:
        labels = label_modules(asr)
        with torch.profiler.profile(record_shapes=True) as prof:
            for _ in range(args.profile_steps):
                with torch.profiler.record_function("step"):
                    asr.fit_batch(batch)
        events = prof.key_averages()
        total = next(e.cpu_time_total for e in events if e.key == "step")
        qkv_width = 3 * hp["d_model"]

        def share(us):
            return f"{us / 1e3 / args.profile_steps:8.1f} ms/step {100 * us / total:5.1f} %"

        print(f"profile ({args.profile_steps} steps; forward ranges include their ops, not their backward):")
        for label in labels:
            print(f"  {label:22s} {share(next((e.cpu_time_total for e in events if e.key == label), 0))}")
        shaped = prof.key_averages(group_by_input_shape=True)
        qkv = sum(e.self_cpu_time_total for e in shaped if e.key in ("aten::mm", "aten::addmm", "aten::bmm")
                  and any(qkv_width in (s or []) for s in e.input_shapes))
        print(f"  {'QKV matmuls (fwd+bwd)':22s} {share(qkv)}")
        for name, key in (("rnnt_loss (fwd+bwd)", "rnnt"), ("CTC loss (fwd+bwd)", "ctc_loss")):
            print(f"  {name:22s} {share(sum(e.self_cpu_time_total for e in events if key in e.key))}")
        print(f"  {'optimizer step':22s} "
              f"{share(sum(e.cpu_time_total for e in events if e.key.startswith('Optimizer.step')))}")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))
    return 0


if __name__ == "__main__":
    sys.exit(main())
