#!/usr/bin/env python3
"""Training throughput on this CPU: seconds of audio trained per wall-clock second, per recipe setting.

    python bench/train_throughput.py [--threads 2] [--steps 8] [--rounds 2] [--out bench/results/train_throughput]
        [--corpus ../shared/real-speech/speechocean762] [--init-from pretrained/tinyconf-so762-5M]
        [--settings 0,2,4] [--hparams hparams/shared_lowrank_5M.yaml] [--overrides "{emb_dim: 256}"]

Side by side in one process, on one quiet machine: the campaign's model (``shared_lowrank_5M``
with the sherpa-onnx options of ``recipes/SpeechOcean762/campaign/model.yaml``) trained with
the recipe's own ``TransducerASR.fit_batch`` (augmentation, transducer + CTC loss, backward,
AdamW, Noam) on fixed batches, under each setting:

* ``fp32`` - the recipe before the campaign: fp32, ``nn.Dropout``, 16 s batches, torchaudio's
  RNN-T kernel (the reference);
* ``+ fast dropout`` - :class:`speechbrain_tinyconf.recipe.cpu_training.FastDropout`;
* ``+ bf16`` - SpeechBrain's bf16 autocast as well (losses fp32);
* ``+ 32 s batches`` - the same, with larger dynamic batches;
* ``+ batched RNN-T loss`` - :func:`speechbrain_tinyconf.lobes.losses.rnnt_loss_batched` instead of
  torchaudio's CPU kernel (the recipe's default on CPU now); ``+ 64 s batches`` on top.

The batches are real speechocean762 training utterances in random order (``--corpus``, the
default when ``../shared`` is there; tokens from ``--tokenizer``), else synthetic ones shaped
like them (3.5-4.5 s, 8-13 tokens). ``--init-from`` starts every setting from a trained model
(the shipped one by default): a trained transducer's loss lattice costs torchaudio's kernel far
more than a random one's. Settings run in turn, ``--rounds`` times (interleaved, so a drift of
the machine hits all of them); each reports the median over rounds of (audio seconds / wall
seconds) over ``--steps`` steps after two warm-up steps, and its ratio to the reference. Writes
``OUT/throughput.json`` and ``OUT/throughput.md``. Needs the cores to itself: numbers from a
shared machine mean little. ``--hparams`` (another variant, e.g. ``tests/configs/tiny.yaml``) and
``--overrides`` (YAML applied after the campaign's options, e.g. ``"{emb_dim: 32}"``: the stateless
predictor needs ``emb_dim == dec_dim``) change the model; the test suite uses them for a fast run.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "recipes" / "LibriSpeech"))
sys.path.insert(0, str(ROOT / "bench"))
from timing import cpu_name  # noqa: E402

CAMPAIGN = {"frontend": "kaldi", "predictor": "stateless", "emb_dim": 256, "vocab_size": 256, "streaming": False,
            "number_of_epochs": 8, "number_of_ctc_epochs": 8, "warmup_steps": 500,
            "wav_augment_prob": 1.0, "fea_augment_prob": 1.0}
SETTINGS = [  # name, precision, fast dropout, seconds of audio per batch, RNN-T loss
    ("fp32 (reference)", "fp32", False, 16, "torchaudio"),
    ("+ fast dropout", "fp32", True, 16, "torchaudio"),
    ("+ bf16", "bf16", True, 16, "torchaudio"),
    ("+ 32 s batches", "bf16", True, 32, "torchaudio"),
    ("+ batched RNN-T loss", "bf16", True, 32, "batched"),
    ("+ 64 s batches", "bf16", True, 64, "batched"),
]
CORPUS = ROOT.parent / "shared" / "real-speech" / "speechocean762"
SHIPPED = ROOT / "pretrained" / "tinyconf-so762-5M"


def make_batches(seconds: float, count: int = 3, seed: int = 0, corpus: Optional[Path] = None,
                 tokenizer: Optional[Path] = None):
    """``count`` PaddedBatches of ~``seconds`` of audio each, and their audio seconds: random
    utterances of ``corpus``'s ``train`` split (tokens from ``tokenizer``), else synthetic ones."""
    import random

    import torch
    from speechbrain.dataio.batch import PaddedBatch

    gen = torch.Generator().manual_seed(seed)
    utterances = real_utterances(corpus, tokenizer, seed) if corpus else None
    batches = []
    for _ in range(count):
        items, total = [], 0.0
        while True:
            if utterances:
                sig, tokens = next(utterances)
            else:
                sig = 0.1 * torch.randn(int((3.5 + torch.rand(1, generator=gen).item()) * 16000), generator=gen)
                tokens = torch.randint(1, CAMPAIGN["vocab_size"], (8 + int(torch.randint(0, 6, (1,), generator=gen)),),
                                       generator=gen)
            sec = len(sig) / 16000
            if total + sec > seconds:
                break
            items.append({"id": f"u{len(items)}", "sig": sig, "wrd": "X", "tokens": tokens,
                          "tokens_bos": torch.cat((torch.zeros(1, dtype=torch.long), tokens))})
            total += sec
        batches.append((PaddedBatch(items), total))
    return batches


def real_utterances(corpus: Path, tokenizer: Path, seed: int):
    """Endless ``(waveform, tokens)`` of ``corpus/train`` (a Kaldi data dir) in a seeded random order."""
    import random

    import sentencepiece
    import soundfile
    import torch

    sp = sentencepiece.SentencePieceProcessor(model_file=str(tokenizer))
    text = dict(line.split(" ", 1) for line in (corpus / "train" / "text").read_text(encoding="utf-8").splitlines())
    wav = dict(line.split(" ", 1) for line in (corpus / "train" / "wav.scp").read_text(encoding="utf-8").splitlines())
    ids = sorted(text)
    random.Random(seed).shuffle(ids)
    while True:
        for utt in ids:
            audio, rate = soundfile.read(str(corpus / wav[utt].strip()), dtype="float32")
            if rate != 16000:
                raise SystemExit(f"error: {corpus / wav[utt].strip()}: {rate} Hz, expected 16000")
            yield torch.from_numpy(audio), torch.tensor(sp.encode(text[utt].strip()))


DEFAULT_HPARAMS = ROOT / "hparams" / "shared_lowrank_5M.yaml"
DEFAULT_MODEL = "hparams/shared_lowrank_5M.yaml"  # as info["model"] names it


def make_brain(precision: str, fast_dropout: bool, loss: str = "torchaudio", init_from: Optional[Path] = None,
               hparams: Path = DEFAULT_HPARAMS, overrides: Optional[Dict] = None):
    import functools

    import torch
    from train import TransducerASR

    from speechbrain_tinyconf.recipe.cpu_training import use_fast_dropout
    from speechbrain_tinyconf.recipe.hparams import load_detached
    from speechbrain_tinyconf.recipe.runs import init_source, matching_weights

    torch.manual_seed(0)
    hp = load_detached(hparams, {**CAMPAIGN, **(overrides or {})})
    if init_from:
        loadable, _ = matching_weights(hp["model"], init_source(init_from).state_dict)
        hp["model"].load_state_dict(loadable, strict=False)
    hp["transducer_cost"] = functools.partial(hp["transducer_cost"], impl=loss)
    if fast_dropout:
        use_fast_dropout(hp["model"])
    asr = TransducerASR(modules=hp["modules"], opt_class=hp["opt_class"], hparams=hp,
                        run_opts={"device": "cpu", "precision": precision}, checkpointer=None)
    asr.on_fit_start()
    asr.modules.train()
    hp["epoch_counter"].current = 1
    return asr


def measure(asr, batches, steps: int) -> float:
    """Audio seconds per wall second over ``steps`` steps (after two warm-up steps)."""
    for batch, _ in batches[:2]:
        asr.fit_batch(batch)
    audio, start = 0.0, time.perf_counter()
    for i in range(steps):
        batch, seconds = batches[i % len(batches)]
        asr.fit_batch(batch)
        audio += seconds
    return audio / (time.perf_counter() - start)


def markdown(rows: List[Dict], info: Dict) -> str:
    lines = [f"Generated by `{info['command']}` on {info['date']} (commit {info['commit']}); {info['cpu']}, "
             f"{info['threads']} thread(s), bf16 supported: {info['bf16_supported']}; median of {info['rounds']} "
             f"rounds of {info['steps']} steps.", "",
             f"Batches: {info['batches']}; weights: {info['weights']}"
             + (f"; model: {info['model']} with the campaign's options"
                if info.get("model", DEFAULT_MODEL) != DEFAULT_MODEL else "") + ".", "",
             "| setting | precision | dropout | batch (s of audio) | RNN-T loss | audio s / wall s | vs fp32 reference |",
             "|---|---|---|---:|---|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['setting']} | {r['precision']} | {'fast' if r['fast_dropout'] else 'nn.Dropout'} | "
                     f"{r['batch_seconds']} | {r.get('loss', 'torchaudio')} | {r['audio_per_second']:.1f} | "
                     f"**{r['ratio']:.2f}x** |")
    return "\n".join(lines) + "\n"


def _shown(path: Path) -> str:
    """``path`` relative to the checkout where it is inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--settings", default=None, help="comma-separated indices into the settings (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "train_throughput")
    parser.add_argument("--corpus", type=Path, default=CORPUS if CORPUS.is_dir() else None,
                        help="Kaldi data dirs with train/ (default: ../shared's speechocean762 if there); "
                             "'none' for synthetic batches")
    parser.add_argument("--tokenizer", type=Path, default=SHIPPED / "tokenizer.ckpt",
                        help="sentencepiece model for --corpus transcripts (default: the shipped model's)")
    parser.add_argument("--init-from", type=Path, default=SHIPPED,
                        help="start every setting from this model or run folder (--init-from none: random weights)")
    parser.add_argument("--hparams", type=Path, default=DEFAULT_HPARAMS,
                        help="hparams variant of the model (default: hparams/shared_lowrank_5M.yaml, the campaign's)")
    parser.add_argument("--overrides", default=None,
                        help="YAML mapping applied after the campaign's options (e.g. \"{emb_dim: 32}\" for "
                             "tests/configs/tiny.yaml)")
    args = parser.parse_args(argv)
    corpus = None if args.corpus is None or str(args.corpus) == "none" else args.corpus
    init_from = None if str(args.init_from) == "none" else args.init_from
    if corpus and not (corpus / "train" / "wav.scp").is_file():
        parser.error(f"--corpus {corpus}: no train/wav.scp (a Kaldi data dir is expected)")
    if args.steps < 1 or args.rounds < 1:
        parser.error("--steps and --rounds must be >= 1")
    if not args.hparams.is_file():
        parser.error(f"--hparams {args.hparams}: not found")
    import yaml

    overrides = yaml.safe_load(args.overrides) if args.overrides else {}
    if not isinstance(overrides, dict):
        parser.error(f"--overrides {args.overrides!r}: expected a YAML mapping")

    import torch

    from speechbrain_tinyconf.recipe.cpu_training import bf16_supported

    torch.set_num_threads(args.threads)
    chosen = SETTINGS if args.settings is None else [SETTINGS[int(i)] for i in args.settings.split(",")]
    brains = {name: make_brain(precision, fast, loss, init_from, args.hparams, overrides)
              for name, precision, fast, _, loss in chosen}
    batches = {sec: make_batches(sec, corpus=corpus, tokenizer=args.tokenizer)
               for sec in sorted({s for *_, s, _ in chosen})}
    results: Dict[str, List[float]] = {name: [] for name, *_ in chosen}
    for round_ in range(args.rounds):
        for name, _, _, sec, _ in chosen:
            results[name].append(measure(brains[name], batches[sec], args.steps))
            print(f"round {round_ + 1}: {name:18s} {results[name][-1]:6.1f} audio s / s", flush=True)
    reference = statistics.median(results[chosen[0][0]])
    rows = [{"setting": name, "precision": precision, "fast_dropout": fast, "batch_seconds": sec, "loss": loss,
             "audio_per_second": round(statistics.median(results[name]), 2),
             "ratio": round(statistics.median(results[name]) / reference, 3), "rounds": results[name]}
            for name, precision, fast, sec, loss in chosen]
    from provenance import commit as git_commit

    info = {"command": "python bench/train_throughput.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "date": str(datetime.date.today()), "cpu": cpu_name(), "threads": args.threads, "steps": args.steps,
            "rounds": args.rounds, "bf16_supported": bf16_supported(), "torch": torch.__version__,
            "batches": f"speechocean762 train utterances ({corpus})" if corpus else "synthetic (3.5-4.5 s, 8-13 tokens)",
            "weights": f"trained ({init_from})" if init_from else "random",
            "model": _shown(args.hparams) + (f" + {args.overrides}" if args.overrides else ""),
            "commit": git_commit()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "throughput.json").write_text(json.dumps({"info": info, "rows": rows}, indent=2) + "\n")
    (args.out / "throughput.md").write_text(markdown(rows, info))
    print(markdown(rows, info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
