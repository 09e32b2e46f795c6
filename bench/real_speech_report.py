#!/usr/bin/env python3
"""Results table of the real-speech runs (speechocean762), from their run folders only.

    python bench/real_speech_report.py results/so762/* --corpus ../shared/real-speech/speechocean762 \\
        --pocketsphinx results/pocketsphinx --out docs/real_speech

Per run: parameters (the count train.py logs), training hours (real / synthetic, from its
``train.csv``; synthetic utterance ids start with ``tts-``), updates (``train_log.txt``), CPU
wall time (``log.txt``: each launch from "Beginning experiment!" to its last line), dev and
test WER and the test WER of children and adults (``wer_<split>.txt`` + ``spk2age``). Writes
``OUT/real_speech.md`` and ``OUT/real_speech.json``; nothing is typed by hand.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import re
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_speech import utterance_errors, wer_by_groups  # noqa: E402

SIZE_LINE = re.compile(r"INFO - ([\w.-]+): ([\d,]+) unique / ([\d,]+) virtual parameters")
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ - ")


# SpeechBrain's first lines in a process, written just before "Beginning experiment!": they start the
# next launch, so they must not extend the previous one (the idle time between launches is not training).
LAUNCH_PREAMBLE = " - speechbrain.utils.quirks - "


def launch_clock(log: Path) -> Iterator[Tuple[str, float]]:
    """``(line, wall seconds so far)`` for each timestamped line of a run's ``log.txt``, the time summed
    over launches (each from "Beginning experiment!" to its last line)."""
    total, start = 0.0, None
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        match = STAMP.match(line)
        if not match or LAUNCH_PREAMBLE in line:
            continue
        when = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
        if "Beginning experiment!" in line:
            if start is not None:
                total += (last - start).total_seconds()
            start = when
        last = when
        yield line, total + ((when - start).total_seconds() if start is not None else 0.0)


def wall_seconds(log: Path) -> float:
    """Sum over launches of (last log line - "Beginning experiment!")."""
    seconds = 0.0
    for _, seconds in launch_clock(log):
        pass
    return seconds


NUMBER = r"[\d.]+(?:e[+-]\d+)?"  # how SpeechBrain's train logger writes a float (2.15, 1.23e+02)
VALID_LINE = re.compile(rf"epoch: (\d+), lr: \S+, steps: (\d+)(?:, audio_hours: ({NUMBER}))? - train loss: \S+ - "
                        rf"valid loss: ({NUMBER})(?:, valid WER: ({NUMBER}))?")


def progress(run: Path) -> List[Dict[str, Any]]:
    """The run's progress lines (one per validation, from ``log.txt``): epoch, updates, hours of
    audio seen, CPU wall hours so far (summed over launches), dev loss and, where decoded, dev WER."""
    rows = []
    for line, seconds in launch_clock(run / "log.txt"):
        valid = VALID_LINE.search(line)
        if valid:
            epoch, steps, hours, loss, wer = valid.groups()
            rows.append({"run": run.name, "epoch": int(epoch), "updates": int(steps),
                         "audio_hours": float(hours) if hours else None, "wall_hours": round(seconds / 3600, 3),
                         "dev_loss": float(loss), "dev_wer": float(wer) if wer else None})
    return rows


def train_hours(train_csv: Path) -> Dict[str, float]:
    hours = {"real": 0.0, "synthetic": 0.0}
    with open(train_csv, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            hours["synthetic" if row["ID"].startswith("tts-") else "real"] += float(row["duration"]) / 3600
    return {k: round(v, 3) for k, v in hours.items()}


def collect(run: Path, corpus: Path) -> Optional[Dict[str, Any]]:
    """One run's row, or None if it has no test result yet."""
    if not (run / "wer_test.txt").is_file():
        return None
    log = (run / "log.txt").read_text(encoding="utf-8", errors="replace")
    size = SIZE_LINE.findall(log)
    steps = re.findall(r"steps: (\d+)", (run / "train_log.txt").read_text(encoding="utf-8"))
    seed = re.search(r"^seed: (\d+)", (run / "hyperparams.yaml").read_text(encoding="utf-8"), re.M)
    vocab = re.search(r"^vocab_size: (\d+)", (run / "hyperparams.yaml").read_text(encoding="utf-8"), re.M)
    streaming = re.search(r"^streaming: (\w+)", (run / "hyperparams.yaml").read_text(encoding="utf-8"), re.M)
    chunking = chunk_settings((run / "hyperparams.yaml").read_text(encoding="utf-8"))
    losses = dict(re.findall(r"split: (\w+), epochs trained: \d+ - test loss: ([\d.]+)",
                             (run / "train_log.txt").read_text(encoding="utf-8")))
    row: Dict[str, Any] = {
        "run": run.name, "run_dir": str(run),
        "variant": size[-1][0] if size else None,
        "seed": int(seed.group(1)) if seed else None,
        "vocab_size": int(vocab.group(1)) if vocab else None,
        "unique_params": int(size[-1][1].replace(",", "")) if size else None,
        "virtual_params": int(size[-1][2].replace(",", "")) if size else None,
        "train_hours": train_hours(run / "train.csv"),
        "updates": int(steps[-1]) if steps else None,
        "wall_hours": round(wall_seconds(run / "log.txt") / 3600, 2),
        "test_loss": float(losses["test"]) if "test" in losses else None,
        "streaming": bool(streaming) and streaming.group(1).lower() == "true",  # the last launch's setting
        "chunking": chunking,
    }
    for split in ("dev", "test"):
        path = run / f"wer_{split}.txt"
        if path.is_file():
            row[split] = wer_by_groups(utterance_errors(path), corpus / split)
    return row


def _wer(cell: Optional[Dict[str, Any]], group: str) -> str:
    return "" if not cell or group not in cell or cell[group]["wer"] is None else f"{cell[group]['wer']:.2f}"


def _num(value: Optional[float]) -> str:
    return "" if value is None else f"{value:.2f}"


def groups(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Runs of one variant, one kind of training data and one number of updates, over seeds: mean (min-max)
    test WER (a longer run is its own group, not another seed)."""
    found: Dict[tuple, List[Dict[str, Any]]] = {}
    for r in rows:
        data = "real + synthetic" if r["train_hours"]["synthetic"] > 0 else "real"
        found.setdefault((r["variant"], data, r["vocab_size"], r["updates"]), []).append(r)
    out = []
    for (variant, data, vocab, _), runs in found.items():
        wers = [r["test"]["all"]["wer"] for r in runs if r.get("test")]
        losses = [r["test_loss"] for r in runs if r.get("test_loss") is not None]
        out.append({"variant": variant, "data": data, "vocab_size": vocab, "seeds": sorted(r["seed"] for r in runs),
                    "unique_params": runs[0]["unique_params"], "updates": [r["updates"] for r in runs],
                    "test_wer_mean": round(sum(wers) / len(wers), 2) if wers else None,
                    "test_wer_min": min(wers) if wers else None, "test_wer_max": max(wers) if wers else None,
                    "test_loss_mean": round(sum(losses) / len(losses), 2) if losses else None,
                    "test_loss_min": min(losses) if losses else None, "test_loss_max": max(losses) if losses else None})
    return out


def markdown(rows: List[Dict[str, Any]], reference: Optional[Dict[str, Any]], deployed: List[Dict[str, Any]],
             command: str) -> str:
    lines = [
        "| run | seed | unique params | virtual params | train h real | train h synthetic | updates | CPU wall h | "
        "dev WER | test WER | test children | test adults | test digit strings | test sentences | test loss |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['run']} | {r['seed']} | {r['unique_params']:,} | {r['virtual_params']:,} | "
                     f"{r['train_hours']['real']:.2f} | {r['train_hours']['synthetic']:.2f} | {r['updates']:,} | "
                     f"{r['wall_hours']:.2f} | {_wer(r.get('dev'), 'all')} | **{_wer(r.get('test'), 'all')}** | "
                     f"{_wer(r.get('test'), 'children')} | {_wer(r.get('test'), 'adults')} | "
                     f"{_wer(r.get('test'), 'digit strings')} | {_wer(r.get('test'), 'sentences')} | "
                     f"{_num(r['test_loss'])} |")
    if reference:
        lines.append(f"| pocketsphinx 5 (en-us model + LM) | | | | | | | | {_wer(reference.get('dev'), 'all')} | "
                     f"**{_wer(reference.get('test'), 'all')}** | {_wer(reference.get('test'), 'children')} | "
                     f"{_wer(reference.get('test'), 'adults')} | {_wer(reference.get('test'), 'digit strings')} | "
                     f"{_wer(reference.get('test'), 'sentences')} | |")
    lines += ["", "Over seeds (mean, with min-max over seeds). Test loss: transducer loss (nats) per test utterance, "
              "lower is better; it ranks models that are all near 100 % WER (comparable between runs with the same "
              "tokenizer size only).", "",
              "| variant | training data | units | unique params | seeds | updates | test WER | test loss |",
              "|---|---|---:|---:|---|---|---:|---:|"]
    for g in groups(rows):
        lines.append(f"| {g['variant']} | {g['data']} | {g['vocab_size']} | {g['unique_params']:,} | {', '.join(map(str, g['seeds']))} | "
                     f"{', '.join(f'{u:,}' for u in g['updates'])} | **{g['test_wer_mean']:.2f}** "
                     f"({g['test_wer_min']:.2f}-{g['test_wer_max']:.2f}) | {g['test_loss_mean']:.2f} "
                     f"({g['test_loss_min']:.2f}-{g['test_loss_max']:.2f}) |")
    if deployed:
        lines += ["", "Deployed with sherpa-onnx (offline greedy search, 1 thread), same test set and scoring:", "",
                  "| model | precision | encoder+decoder+joiner MB | test WER | test children | test adults | "
                  "test digit strings | test sentences |",
                  "|---|---|---:|---:|---:|---:|---:|---:|"]
        for d in deployed:
            for precision in [p for p in d if isinstance(d[p], dict)]:  # fp32, int8, int4, streaming rows
                cell = d[precision]
                lines.append(f"| {d['source']} | {precision} | {cell['model_bytes'] / 1e6:.2f} | "
                             f"**{_wer(cell, 'all')}** | {_wer(cell, 'children')} | {_wer(cell, 'adults')} | "
                             f"{_wer(cell, 'digit strings')} | {_wer(cell, 'sentences')} |")
    from provenance import commit

    return (f"Generated by `{command}` on {datetime.date.today()} (commit {commit()}).\n\n" + "\n".join(lines) + "\n")


def progress_markdown(lines: List[Dict[str, Any]]) -> List[str]:
    """The campaign table: every validation of the given runs, CPU hours summed over the runs in order."""
    out = ["", "## Campaign progress", "",
           "One line per validation, runs in the order given (e.g. pretraining, then fine-tuning); CPU hours "
           "are wall hours on the 2-core machine, summed over launches and over the runs before.", "",
           "| run | epoch | updates | audio h seen | CPU h (total) | dev loss | dev WER |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for r in lines:
        hours = "" if r["audio_hours"] is None else f"{r['audio_hours']:.1f}"
        wer = "" if r["dev_wer"] is None else f"**{r['dev_wer']:.2f}**"
        out.append(f"| {r['run']} | {r['epoch']} | {r['updates']:,} | {hours} | {r['cpu_hours_total']:.2f} | "
                   f"{r['dev_loss']:.2f} | {wer} |")
    return out


def progress_plot(lines: List[Dict[str, Any]], reference: Optional[Dict[str, Any]], path: Path) -> None:
    """Dev WER (and dev loss) against total CPU hours, one colour per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_wer, ax_loss) = plt.subplots(1, 2, figsize=(10, 3.8))
    for run in dict.fromkeys(r["run"] for r in lines):
        mine = [r for r in lines if r["run"] == run]
        decoded = [r for r in mine if r["dev_wer"] is not None]
        ax_wer.plot([r["cpu_hours_total"] for r in decoded], [r["dev_wer"] for r in decoded], "o-", label=run)
        ax_loss.plot([r["cpu_hours_total"] for r in mine], [r["dev_loss"] for r in mine], "o-", label=run)
    if reference and reference.get("dev"):
        ax_wer.axhline(reference["dev"]["all"]["wer"], color="gray", ls="--", label="pocketsphinx (dev)")
    ax_wer.set(xlabel="CPU hours (2 cores)", ylabel="dev WER (%)", title="speechocean762 dev WER")
    ax_loss.set(xlabel="CPU hours (2 cores)", ylabel="dev loss (nats / utterance)", title="dev loss")
    ax_wer.legend(fontsize=8)
    ax_wer.grid(alpha=0.3)
    ax_loss.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def chunk_settings(hparams_text: str) -> Dict[str, float]:
    r"""The dynamic-chunk sampler of a run's ``hyperparams.yaml`` (top-level keys since 2026-12-06, nested in
    the sampler before; the recipe's defaults where absent).

    >>> chunk_settings("chunkwise_prob: 0.5\nchunk_size_min: 8\nchunk_size_max: 12\n")
    {'prob': 0.5, 'min': 8, 'max': 12}
    >>> chunk_settings("sampler:\n  chunk_size_max: 32    # frames\n")
    {'prob': 0.6, 'min': 8, 'max': 32}
    """
    found = dict(re.findall(r"^\s*(chunkwise_prob|chunk_size_min|chunk_size_max): ([\d.]+)", hparams_text, re.M))
    return {"prob": float(found.get("chunkwise_prob", 0.6)), "min": int(found.get("chunk_size_min", 8)),
            "max": int(found.get("chunk_size_max", 32))}


def card_markdown(row: Dict[str, Any], lines: List[Dict[str, Any]], reference: Optional[Dict[str, Any]],
                  deployed: List[Dict[str, Any]], command: str, example: str = "") -> str:
    """The real-speech section of a shipped model's card (``export --notes``): how it was trained, its
    WER by group next to pocketsphinx and its sherpa-onnx deployments, and what it is not."""
    groups_ = ("all", "children", "adults", "digit strings", "sentences")
    chunks = row.get("chunking") or chunk_settings("")  # reports chained from before it was recorded
    head = "| | " + " | ".join(groups_) + " |"
    out = ["## Real speech: speechocean762", "",
           f"Generated by `{command}` from the run folders.", "",
           f"Trained on CPU only (2 cores): {lines[-1]['cpu_hours_total']:.2f} CPU hours in all; "
           + "; ".join(f"{r['run']}: {r['updates']:,} updates"
                       + ("" if r["audio_hours"] is None else f", {r['audio_hours']:.1f} h of audio seen")
                       for r in _last_per_run(lines))
           + " (see the progress table in docs/real_speech).", "",
           "WER (%) by group, greedy decoding:", "", head, "|---|" + "---:|" * len(groups_)]
    for split in ("dev", "test"):
        if row.get(split):
            out.append(f"| this model, {split} (PyTorch) | " + " | ".join(_wer(row[split], g) for g in groups_) + " |")
    for d in deployed:
        for name in [p for p in d if isinstance(d[p], dict)]:
            out.append(f"| sherpa-onnx {name}, {d.get('split', 'test')} | "
                       + " | ".join(_wer(d[name], g) for g in groups_) + " |")
    if reference and reference.get("test"):
        out.append("| pocketsphinx 5 (en-us model + LM), test | "
                   + " | ".join(_wer(reference["test"], g) for g in groups_) + " |")
    out += ["", "Test: 1,500 utterances of 75 speakers not in training (half children aged 6-15), Mandarin L1; "
            "dev: 500 utterances of 25 other speakers. The PyTorch rows come from the recipe's batched evaluation, "
            "which also decodes padding frames (see Limitations): the sherpa-onnx rows decode each file alone.", "",
            "Reproduce: `bash recipes/SpeechOcean762/run_campaign.sh` (stage 0: synthetic corpus, 1: pretraining on "
            "it, 2: fine-tuning on speechocean762 `train/`). The command above is the run's last launch.", "",
            "What this model is not: it was trained on 2.9 h of non-native (Mandarin L1) read English of short "
            "everyday sentences and digit strings, with a vocabulary of a few thousand words; it is not a "
            "LibriSpeech model and not a general English recogniser. Most of its errors are words left out. "
            + (f"Its last epochs were trained with SpeechBrain's dynamic chunks (chunked attention on "
               f"{chunks['prob'] * 100:g} % of the batches, chunks of {chunks['min']}-{chunks['max']} frames of 40 ms), so "
               "the same weights also decode streaming (the 320 ms rows above)." if row.get("streaming") else
               "It was trained full-context: streaming decoding (320 ms chunks) is far worse than full context "
               "until dynamic-chunk training is turned on in a later stage of the campaign."), ""]
    if example:
        out += [example, ""]
    return "\n".join(out) + "\n"


def read_earlier(path: Path, replaced: Sequence[str]) -> Dict[str, Any]:
    """The runs, progress lines and pocketsphinx reference of an earlier report (``real_speech.json``),
    without the runs named in ``replaced`` (given again as run folders). A campaign outlives its
    run folders (a new session may start on a new machine): the report chains from the last one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        runs = [r for r in data["runs"] if r["run"] not in replaced]
        lines = [r for r in data["progress"] if r["run"] not in replaced]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SystemExit(f"error: --earlier {path}: not a real_speech.json of this script ({err})")
    return {"runs": runs, "progress": lines, "pocketsphinx": data.get("pocketsphinx")}


def _last_per_run(lines: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    last: Dict[str, Dict[str, Any]] = {}
    for r in lines:
        last[r["run"]] = r
    return list(last.values())


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders of recipes/SpeechOcean762/train.py")
    parser.add_argument("--corpus", type=Path, required=True, help="the Kaldi data dirs (for spk2age)")
    parser.add_argument("--pocketsphinx", type=Path, default=None, help="output folder of bench/pocketsphinx_reference.py")
    parser.add_argument("--sherpa", type=Path, action="append", default=[],
                        help="output folder of bench/sherpa_onnx_wer.py (repeatable)")
    parser.add_argument("--progress", action="store_true",
                        help="also tabulate and plot every validation of the runs, in the order given (a campaign)")
    parser.add_argument("--card", type=Path, default=None,
                        help="also write the model card's real-speech section (for export --notes) here, for the "
                             "last run given (needs --progress)")
    parser.add_argument("--example-utt", default=None,
                        help="with --card: the test utterance shipped as the model's example (its reference is quoted)")
    parser.add_argument("--earlier", type=Path, default=None,
                        help="an earlier report's real_speech.json: its progress lines and finished runs come first "
                             "(the run folders of earlier sessions need not exist); runs given again replace theirs")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    earlier = read_earlier(args.earlier, [run.name for run in args.runs]) if args.earlier else None
    rows = (earlier["runs"] if earlier else []) + [r for r in (collect(run, args.corpus) for run in args.runs) if r]
    lines = list(earlier["progress"]) if earlier and args.progress else []
    before = lines[-1]["cpu_hours_total"] if lines else 0.0
    for run in args.runs if args.progress else []:
        mine = progress(run)
        for r in mine:
            r["cpu_hours_total"] = round(before + r["wall_hours"], 3)
        lines += mine
        before += wall_seconds(run / "log.txt") / 3600
    reference = earlier["pocketsphinx"] if earlier else None
    if args.pocketsphinx:
        reference = {split: json.loads((args.pocketsphinx / f"summary_{split}.json").read_text())
                     for split in ("dev", "test") if (args.pocketsphinx / f"summary_{split}.json").is_file()}
    deployed = [json.loads((folder / "summary_test.json").read_text()) for folder in args.sherpa]
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python bench/real_speech_report.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = markdown(rows, reference, deployed, command)
    if lines:
        text += "\n".join(progress_markdown(lines)) + "\n\n![dev WER and loss against CPU hours](progress.png)\n"
        progress_plot(lines, reference, args.out / "progress.png")
    (args.out / "real_speech.md").write_text(text, encoding="utf-8")
    (args.out / "real_speech.json").write_text(json.dumps({"runs": rows, "groups": groups(rows), "pocketsphinx": reference,
                                                              "sherpa_onnx": deployed, "progress": lines}, indent=2) + "\n")
    if args.card:
        if not lines or not rows or rows[-1]["run_dir"] != str(args.runs[-1]):
            print("error: --card needs --progress and a finished last run (wer_test.txt)", file=sys.stderr)
            return 1
        example = ""
        if args.example_utt:
            texts = dict(line.split(" ", 1) for line in (args.corpus / "test" / "text").read_text().splitlines())
            if args.example_utt not in texts:
                print(f"error: --example-utt {args.example_utt}: not in {args.corpus / 'test' / 'text'}", file=sys.stderr)
                return 1
            example = (f"The example recording is speechocean762 test utterance `{args.example_utt}` (reference: "
                       f"`{texts[args.example_utt].strip()}`), the first utterance of the first adult test speaker; "
                       "speechocean762: Junbo Zhang et al., Interspeech 2021, OpenSLR 101, CC BY 4.0.")
        args.card.write_text(card_markdown(rows[-1], lines, reference, deployed, command, example), encoding="utf-8")
    print(args.out / "real_speech.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
