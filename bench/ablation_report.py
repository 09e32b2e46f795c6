"""The ablation's report, built from finished run folders alone: ``ablation.json``, ``ablation.md``, ``ablation.png``.

Per run: sizes from its saved ``hyperparams.yaml``, WERs from ``wer_<split>.txt``, losses and
updates from ``train_log.txt``, wall time from ``ablation_run.json`` (:func:`collect_run`); per
variant the spread over seeds (:func:`summarise`); the corpus described from the prepared CSVs
(:func:`corpus_description`); then the table and the key comparison (:func:`markdown`).

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import csv
import json
import re
import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hyperpyyaml import load_hyperpyyaml

from speechbrain_tinyconf.recipe.runs import parse_wer_file

from ablation_plan import (
    DONE_FILE, ROLE_NAMES, Counts, Run, Table, budget_summary, budget_text, cli_value, model_counts, plan_runs,
)
from ablation_plot import plot
from ablation_run import PATH_KEYS, check_settings, minutes, read_run_info, run_settings


def _last_int(pattern: str, text: str) -> Optional[int]:
    found = re.findall(pattern, text, re.M)
    return int(found[-1]) if found else None


def split_loss(log: str, split: str) -> Optional[float]:
    """Transducer(+CTC) loss per utterance that train.py logged for ``split`` (last evaluation)."""
    found = re.findall(rf"^split: {re.escape(split)}, .*? - test loss: ([0-9.e+-]+)", log, flags=re.M)
    return float(found[-1]) if found else None


def collect_run(run: Run) -> Optional[Dict[str, Any]]:
    """Everything the report needs from a finished run folder (None if unfinished).

    Sizes come from the run's own ``hyperparams.yaml`` (the recipe as train.py
    resolved it), WERs from ``wer_<split>.txt``, updates from ``train_log.txt``.
    """
    if not run.finished:
        return None
    hp_path = run.folder / "hyperparams.yaml"
    if not hp_path.is_file():
        raise FileNotFoundError(f"{hp_path} is missing: {run.folder} is not a train.py output folder")
    with open(hp_path, encoding="utf-8") as stream:
        counts = model_counts(load_hyperpyyaml(stream))
    test = parse_wer_file(run.folder / DONE_FILE)
    dev_path = run.folder / "wer_dev.txt"
    dev = parse_wer_file(dev_path) if dev_path.is_file() else None
    log_path = run.folder / "train_log.txt"
    log = log_path.read_text(encoding="utf-8") if log_path.is_file() else ""
    return {
        "variant": run.variant.name,
        "label": run.variant.label,
        "role": run.variant.role,
        "seed": run.seed,
        "run_dir": str(run.folder),
        "unique_params": counts.unique_params,
        "virtual_params": counts.virtual_params,
        "virtual_depth": counts.virtual_depth,
        "test_wer": test.wer,
        "test_errors": test.errors,
        "test_words": test.words,
        "test_sentences": test.sentences,
        "dev_wer": dev.wer if dev else None,
        # more sensitive than WER while every model is still near 100 % WER
        "test_loss": split_loss(log, "test"),
        "dev_loss": split_loss(log, "dev"),
        "dev_errors": dev.errors if dev else None,
        "dev_words": dev.words if dev else None,
        "wall_s": read_run_info(run.folder).get("wall_s"),  # train.py: training + evaluation
        "steps": _last_int(r"steps: (\d+)", log),
        "epochs": _last_int(r"^epoch: (\d+),", log),
    }


def spread(values: Sequence[Optional[float]]) -> Optional[Dict[str, Any]]:
    """Mean, min and max over seeds (None when no value)."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"mean": round(statistics.mean(values), 4), "min": min(values), "max": max(values),
            "n": len(values), "values": list(values)}


def summarise(table: Table, records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Per variant (table order): sizes, WER spread over seeds, difference to the small plain row."""
    rows = []
    for v in table.variants:
        mine = [r for r in records if r["variant"] == v.name]
        row: Dict[str, Any] = {
            "variant": v.name, "label": v.label, "role": v.role, "description": v.description,
            "seeds_planned": v.seeds, "seeds_finished": [r["seed"] for r in mine],
            "unique_params": None, "virtual_params": None, "virtual_depth": None,
            "test_wer": spread([r["test_wer"] for r in mine]),
            "dev_wer": spread([r["dev_wer"] for r in mine]),
            "test_loss": spread([r.get("test_loss") for r in mine]),
            "wall_s": spread([r["wall_s"] for r in mine]),
            "steps": spread([r["steps"] for r in mine]),
        }
        if mine:
            sizes = {(r["unique_params"], r["virtual_params"], r["virtual_depth"]) for r in mine}
            if len(sizes) > 1:
                raise ValueError(f"{v.name}: its runs disagree on the model size {sorted(sizes)}: mixed run folders?")
            row["unique_params"], row["virtual_params"], row["virtual_depth"] = sizes.pop()
        rows.append(row)
    small = [r for r in rows if r["role"] == "small_plain" and r["test_wer"]]
    for row in rows:
        row["test_wer_minus_small_plain"] = (
            round(row["test_wer"]["mean"] - small[0]["test_wer"]["mean"], 4) if small and row["test_wer"] else None
        )
    return rows


def corpus_description(data_folder: Path, csv_folder: Path, schedule: Dict[str, Any]) -> Dict[str, Any]:
    """Per split: utterances, hours, speakers (from the prepared CSVs), test-word coverage.

    ``corpus_stats.json`` (written by make_mini_corpus.py) adds the generator's
    options, TTS engines and held-out speakers when present.
    """
    splits: Dict[str, Any] = {}
    names = ["train"] + [s for s in list(schedule.get("dev_splits") or []) + list(schedule.get("test_splits") or [])]
    words: Dict[str, List[str]] = {}
    for name in dict.fromkeys(names):
        # train.csv: the merged training set; the other splits' own CSVs are in splits/ (train.py)
        path = csv_folder / "train.csv" if name == "train" else csv_folder / "splits" / f"{name}.csv"
        if not path.is_file():
            continue
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        words[name] = [w for row in rows for w in row["wrd"].split()]
        splits[name] = {
            "utterances": len(rows),
            "hours": round(sum(float(row["duration"]) for row in rows) / 3600, 4),
            "speakers": len({row["spk_id"] for row in rows}),
            "words": len(words[name]),
        }
    if "train" in words:
        seen = set(words["train"])
        for name, tokens in words.items():
            if name != "train" and tokens:
                splits[name]["train_word_coverage_pct"] = round(100 * sum(w in seen for w in tokens) / len(tokens), 2)
    out: Dict[str, Any] = {"data_folder": str(data_folder), "splits": splits}
    stats_path = data_folder / "corpus_stats.json"
    if stats_path.is_file():
        stats = json.loads(stats_path.read_text(encoding="utf-8"))
        out["generator"] = stats.get("generator")
        out["options"] = stats.get("options")
        out["vocabulary_size"] = stats.get("vocabulary_size")
        out["total_hours"] = stats.get("total_hours")
        out["heldout_speakers"] = {s: len(v.get("heldout_speakers", [])) for s, v in stats.get("splits", {}).items()}
    return out


def _fmt_wer(s: Optional[Dict[str, Any]]) -> str:
    if not s:
        return "—"
    if s["n"] == 1:
        return f"{s['mean']:.2f}"
    return f"{s['mean']:.2f} ({s['min']:.2f}–{s['max']:.2f}, {s['n']} seeds)"


def _fmt_int(n: Optional[int]) -> str:
    return "—" if n is None else f"{n:,}"


def key_comparison(rows: List[Dict[str, Any]]) -> List[str]:
    """Sentences comparing each (iv) row with the small plain row, seed ranges included."""
    small = next((r for r in rows if r["role"] == "small_plain" and r["test_wer"]), None)
    lines = []
    for row in rows:
        if row["role"] != "iv" or not row["test_wer"] or small is None:
            continue
        a, b = small["test_wer"], row["test_wer"]
        diff = b["mean"] - a["mean"]
        overlap = a["min"] <= b["max"] and b["min"] <= a["max"]
        seeds = f"{b['n']} and {a['n']} seeds"
        verdict = (f"the seed ranges overlap ({seeds}): not distinguishable from seed-to-seed variation" if overlap
                   else f"the seed ranges do not overlap ({seeds}; few seeds, so a weak test)")
        if a["n"] < 2 or b["n"] < 2:
            verdict = "fewer than 2 seeds on a side: no spread to judge the difference by"
        lines.append(
            f"- {row['label']} − {small['label']}: {diff:+.2f} WER points "
            f"({b['mean']:.2f} [{b['min']:.2f}–{b['max']:.2f}] vs "
            f"{a['mean']:.2f} [{a['min']:.2f}–{a['max']:.2f}]); {verdict}."
        )
    return lines


def markdown(report: Dict[str, Any]) -> str:
    """``ablation.md``: corpus, schedule, the table sorted by unique parameters, the key comparison."""
    corpus, rows = report["corpus"], report["variants"]
    out = [
        "# CPU-scale ablation: test WER against unique parameters",
        "",
        f"Generated by `bench/ablation.py` from the run folders in `{report['out']}`; do not edit by hand.",
        "",
        f"Command: `{report['command']}`",
        "",
        "## Corpus",
        "",
    ]
    options = corpus.get("options") or {}
    if options:
        out.append(
            f"Synthetic LibriSpeech-layout corpus from `{corpus.get('generator')}` (seed {options.get('seed')}, "
            f"TTS: {', '.join(options.get('engines') or [])}; {corpus.get('total_hours')} h in all, "
            f"{corpus.get('vocabulary_size')}-word vocabulary, sentences distinct per split; held-out speakers "
            f"(never in training): dev {corpus['heldout_speakers'].get('dev', 0)}, "
            f"test {corpus['heldout_speakers'].get('test', 0)})."
        )
    else:
        out.append(f"LibriSpeech-layout corpus in `{corpus['data_folder']}` (no corpus_stats.json).")
    out += ["", "| split | utterances | hours | speakers | words | test words seen in training |",
            "|---|---:|---:|---:|---:|---:|"]
    for name, s in corpus["splits"].items():
        cov = f"{s['train_word_coverage_pct']:.2f} %" if "train_word_coverage_pct" in s else ""
        out.append(f"| {name} | {s['utterances']:,} | {s['hours']:.2f} | {s['speakers']} | {s['words']:,} | {cov} |")
    schedule = ", ".join(f"`{k}: {cli_value(v)}`" for k, v in report["schedule"].items())
    avg, beam = report["schedule"].get("avg_checkpoints"), report["schedule"].get("test_beam_size", 1)
    evaluated = ("the best checkpoint by dev loss" if avg == 1 else
                 f"the average of the {avg or 'avg_checkpoints'} best checkpoints by dev loss")
    decoding = "greedy decoding" if beam == 1 else f"beam search (beam {beam})"
    out += ["", "## Schedule (every run)", "", schedule, "",
            "## Results", "",
            f"Test WER (%) of {evaluated}, {decoding}; mean over seeds with (min–max) where "
            "there are several. Δ: test WER minus the small plain row's (negative = better). Test loss: "
            "transducer loss (nats) per test utterance, lower is better (same tokenizer in every run); it ranks "
            "models that are all near 100 % WER. "
            "Parameters: the whole ASR model (front-end, encoder, predictor, joint, CTC head); virtual: "
            "counting every use of a shared tensor. Updates: optimizer steps. Wall time: train.py, training "
            "and evaluation, mean over seeds.", "",
            "| variant | level | sharing | unique params | virtual params | virtual depth | test WER | dev WER "
            "| Δ vs small plain | test loss | updates | wall time |",
            "|---|---|---|---:|---:|---:|---|---|---:|---:|---:|---:|"]
    ordered = sorted(rows, key=lambda r: (r["unique_params"] is None, r["unique_params"] or 0))
    for r in ordered:
        delta = ("" if r["test_wer_minus_small_plain"] is None else "(itself)" if r["role"] == "small_plain"
                 else f"{r['test_wer_minus_small_plain']:+.2f}")
        steps = "—" if not r["steps"] else f"{r['steps']['mean']:,.0f}"
        wall = "—" if not r["wall_s"] else minutes(r["wall_s"]["mean"])
        out.append(
            f"| {r['label']} | {ROLE_NAMES[r['role']]} | {r['description']} | {_fmt_int(r['unique_params'])} "
            f"| {_fmt_int(r['virtual_params'])} | {_fmt_int(r['virtual_depth'])} | {_fmt_wer(r['test_wer'])} "
            f"| {_fmt_wer(r['dev_wer'])} | {delta} | {_fmt_wer(r.get('test_loss'))} | {steps} | {wall} |"
        )
    missing = [r["variant"] for r in rows if len(r["seeds_finished"]) < len(r["seeds_planned"])]
    out += ["", budget_text(report["budget"]) + "."]
    if missing:
        out += ["", f"Not finished yet: {', '.join(missing)} (re-run the command to continue)."]
    comparison = key_comparison(rows)
    if comparison:
        out += ["", "## Key comparison: shared low rank vs small plain", "", *comparison]
    out += ["", "![test WER against unique parameters](ablation.png)", ""]
    return "\n".join(out)


def build_report(table: Table, out: Path, data_folder: Path, command: str) -> Dict[str, Any]:
    """Reads every finished run of the table in ``out`` and writes ablation.json/.md/.png."""
    finished = [run for run in plan_runs(table, out) if run.finished]
    for run in finished:  # a run made with another schedule or model must not enter the table
        check_settings(run, run_settings(table, run, data_folder, out / "csv"), ignore=PATH_KEYS)
    records = [collect_run(run) for run in finished]
    if not records:
        raise RuntimeError(f"no finished run in {out / 'runs'} (a run is finished when its {DONE_FILE} exists)")
    rows = summarise(table, records)
    counts = {r["variant"]: Counts(r["unique_params"], r["virtual_params"], r["virtual_depth"])
              for r in rows if r["unique_params"] is not None}
    report = {
        "command": command,
        "out": str(out),
        "variants_file": str(table.path),
        "recipe": str(table.recipe),
        "schedule": table.schedule,
        "model_common": table.model_common,
        "corpus": corpus_description(data_folder, out / "csv", table.schedule),
        "budget": budget_summary(counts, table),
        "variants": rows,
        "runs": records,
    }
    (out / "ablation.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "ablation.md").write_text(markdown(report), encoding="utf-8")
    plot(rows, out / "ablation.png")
    return report
