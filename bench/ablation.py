#!/usr/bin/env python3
"""CPU-scale ablation of the sharing levels: test WER against unique parameters.

    python bench/ablation.py [--out results/ablation] [--corpus DIR | --data-folder DIR]
                             [--variants a,b] [--quick] [--dry-run] [--report-only]

For every entry of ``bench/ablation_variants.yaml`` and each of its seeds, one
``recipes/LibriSpeech/train.py`` run on the same synthetic LibriSpeech-layout
corpus with the same schedule; then, in ``--out``:

* ``ablation.json`` -- every run (parameter counts, test/dev WER, wall time,
  updates) and per variant the mean/min/max over its seeds;
* ``ablation.md`` -- the table sorted by unique parameters, the corpus, the
  schedule and the exact command;
* ``ablation.png`` -- test WER against unique parameters, one point per variant.

Steps, top to bottom:

1. the corpus: ``make_mini_corpus.py`` with the table's ``corpus`` options
   (idempotent: it does nothing when the corpus is already there), or
   ``--data-folder`` for an existing LibriSpeech-layout folder, used as is;
2. per (variant, seed), in ``OUT/runs/<variant>/<seed>/``: ``variant.yaml``
   (the recipe plus the model overrides), then train.py with the schedule as
   command-line overrides (as ``run_demo.sh`` does), its output in
   ``train.out``. All runs share one CSV folder (``OUT/csv``); each trains
   its own tokenizer, identical across runs (same transcripts, same options);
3. the report, built from the run folders alone (``--report-only`` redoes it).

Resuming: a run is finished when its ``wer_test.txt`` exists (train.py writes
it last) and is then skipped. An unfinished run is relaunched into the same
folder, where train.py resumes from its last checkpoint. A run folder made
with other settings (schedule, model, corpus) is refused rather than mixed
into the table.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, NoReturn, Optional, Sequence

import yaml
from hyperpyyaml import load_hyperpyyaml

from speechbrain_tinyconf.export import model_size
from speechbrain_tinyconf.hparams import load_detached, read_plain_yaml
from speechbrain_tinyconf.runs import parse_wer_file

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "recipes" / "LibriSpeech" / "train.py"
MAKE_CORPUS = ROOT / "recipes" / "LibriSpeech" / "make_mini_corpus.py"
DEFAULT_TABLE = Path(__file__).resolve().with_name("ablation_variants.yaml")
DEFAULT_OUT = {False: "results/ablation", True: "results/ablation_quick"}
DEFAULT_CORPUS = {False: "data/ablation_corpus", True: "data/ablation_corpus_quick"}

ROLES = ("reference", "small_plain", "i", "ii", "iii", "iv", "low_rank")
ROLE_NAMES = {
    "reference": "reference", "small_plain": "small plain", "i": "(i)", "ii": "(ii)",
    "iii": "(iii)", "iv": "(iv)", "low_rank": "low rank",
}
# train.py options that SpeechBrain reads as run options rather than recipe keys
RUN_OPTIONS = ("device", "eval_precision", "ckpt_interval_steps")
DONE_FILE = "wer_test.txt"  # train.py writes it last: its presence means the run is finished
RUN_INFO = "ablation_run.json"  # per run: the settings it was made with, launches, wall time
SETUP = "ablation_setup.json"  # per output folder: the command and corpus of the last launch
PATH_KEYS = ("data_folder", "csv_folder", "output_folder")  # where, not how: ignored by --report-only
TABLE_KEYS = {
    "recipe", "time_budget_hours", "budget_tolerance", "seeds", "corpus", "schedule_file", "schedule",
    "model_common", "quick", "shapes", "variants",
}
VARIANT_KEYS = {"name", "label", "role", "description", "seeds", "model"}


# ---------------------------------------------------------------------------
# The variant table


@dataclass
class Variant:
    """One row of the ablation: a model (recipe overrides) trained once per seed."""

    name: str
    label: str
    role: str
    description: str
    model: Dict[str, Any]
    seeds: List[int]

    @property
    def small_budget(self) -> bool:
        """Every row but the reference is meant to sit at the small budget."""
        return self.role != "reference"


@dataclass
class Table:
    """``bench/ablation_variants.yaml`` read and checked (``--quick`` already applied)."""

    path: Path
    recipe: Path
    corpus: Dict[str, Any]
    schedule: Dict[str, Any]
    model_common: Dict[str, Any]
    variants: List[Variant]
    time_budget_hours: float
    budget_tolerance: float

    def variant(self, name: str) -> Variant:
        """The entry called ``name``."""
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(f"{self.path}: no variant named {name!r} (have: {', '.join(v.name for v in self.variants)})")


def _fail(path: Path, where: str, problem: str) -> NoReturn:
    raise ValueError(f"{path}: {where}: {problem}")


def load_table(path: Path = DEFAULT_TABLE, quick: bool = False) -> Table:
    """Reads and validates a variant table; ``quick`` merges its ``quick`` block in."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"variant table not found: {path}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at top level")
    unknown = set(data) - TABLE_KEYS
    if unknown:
        _fail(path, "top level", f"unknown key(s) {sorted(unknown)}; expected any of {sorted(TABLE_KEYS)}")
    for key in ("recipe", "schedule", "variants"):
        if key not in data:
            _fail(path, key, "missing")
    recipe = (path.parent / data["recipe"]).resolve()
    if not recipe.is_file():
        _fail(path, "recipe", f"{data['recipe']} does not exist ({recipe})")
    recipe_keys = set(read_plain_yaml(recipe.read_text(encoding="utf-8")) or {})

    corpus = dict(data.get("corpus") or {})
    schedule = {}
    if data.get("schedule_file"):  # e.g. the CPU demo's overrides; `schedule` is applied on top
        schedule_file = (path.parent / data["schedule_file"]).resolve()
        if not schedule_file.is_file():
            _fail(path, "schedule_file", f"{data['schedule_file']} does not exist ({schedule_file})")
        schedule.update(yaml.safe_load(schedule_file.read_text(encoding="utf-8")) or {})
    schedule.update(data["schedule"] or {})
    block = data.get("quick") or {}
    if set(block) - {"corpus", "schedule"}:
        _fail(path, "quick", f"unknown key(s) {sorted(set(block) - {'corpus', 'schedule'})}; expected corpus, schedule")
    if quick:
        corpus.update(block.get("corpus") or {})
        schedule.update(block.get("schedule") or {})
    for key in schedule:
        if key not in recipe_keys and key not in RUN_OPTIONS:
            _fail(path, f"schedule.{key}", f"neither a key of {recipe.name} nor a train.py run option {RUN_OPTIONS}")
    if "test" not in (schedule.get("test_splits") or []):
        _fail(path, "schedule.test_splits", "must include the 'test' split (its wer_test.txt marks a finished run)")
    model_common = dict(data.get("model_common") or {})
    for key in model_common:
        if key not in recipe_keys:
            _fail(path, f"model_common.{key}", f"not a key of {recipe.name}")

    default_seeds = data.get("seeds") or [3407]
    variants, names = [], set()
    for i, entry in enumerate(data["variants"] or []):
        where = f"variants[{i}]"
        if not isinstance(entry, dict):
            _fail(path, where, "expected a mapping")
        where = f"variants[{i}] ({entry.get('name', '?')})"
        unknown = set(entry) - VARIANT_KEYS
        if unknown:
            _fail(path, where, f"unknown key(s) {sorted(unknown)}; expected any of {sorted(VARIANT_KEYS)}")
        name = entry.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
            _fail(path, f"{where}.name", f"{name!r}: expected letters, digits, _ or - (it names a folder)")
        if name in names:
            _fail(path, f"{where}.name", f"{name!r} is used twice")
        names.add(name)
        if entry.get("role") not in ROLES:
            _fail(path, f"{where}.role", f"{entry.get('role')!r}; expected one of {ROLES}")
        model = dict(entry.get("model") or {})
        for key in model:
            if key not in recipe_keys:
                _fail(path, f"{where}.model.{key}", f"not a key of {recipe.name}")
        seeds = entry.get("seeds") or default_seeds
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds) or len(set(seeds)) != len(seeds):
            _fail(path, f"{where}.seeds", f"{seeds!r}: expected distinct integers")
        variants.append(Variant(name, str(entry.get("label") or name), entry["role"],
                                str(entry.get("description") or ""), model, list(seeds)))
    if not variants:
        _fail(path, "variants", "empty")
    return Table(
        path=path, recipe=recipe, corpus=corpus, schedule=schedule, model_common=model_common,
        variants=variants, time_budget_hours=float(data.get("time_budget_hours", 2.0)),
        budget_tolerance=float(data.get("budget_tolerance", 0.10)),
    )


# ---------------------------------------------------------------------------
# Model sizes


@dataclass
class Counts:
    """Sizes of an instantiated recipe model (the whole ASR model, not only the encoder)."""

    unique_params: int
    virtual_params: int
    virtual_depth: int


def model_counts(hparams: Dict[str, Any]) -> Counts:
    """Unique/virtual parameters of the recipe's ``model`` and its number of virtual layers."""
    report = model_size(hparams)
    return Counts(report.unique_params, report.virtual_params, len(hparams["Transformer"].encoder.layers))


def model_overrides(table: Table, variant: Variant) -> Dict[str, Any]:
    """What ``variant.yaml`` sets on top of the recipe."""
    return {"variant": variant.name, **table.model_common, **variant.model}


def planned_counts(table: Table, variant: Variant) -> Counts:
    """Instantiates the variant as a run would (schedule included: the vocabulary sizes the heads)."""
    recipe_keys = set(read_plain_yaml(table.recipe.read_text(encoding="utf-8")))
    schedule = {k: v for k, v in table.schedule.items() if k in recipe_keys}
    return model_counts(load_detached(table.recipe, {**schedule, **model_overrides(table, variant)}))


def budget_summary(counts: Dict[str, Counts], table: Table) -> Dict[str, Any]:
    """How close the small-budget rows are to each other and how far below the reference."""
    small = [counts[v.name].unique_params for v in table.variants if v.small_budget and v.name in counts]
    refs = [counts[v.name].unique_params for v in table.variants if v.role == "reference" and v.name in counts]
    out: Dict[str, Any] = {"tolerance": table.budget_tolerance}
    if small:
        out.update(small_min=min(small), small_max=max(small), small_ratio=round(max(small) / min(small), 4),
                   within_tolerance=max(small) <= (1 + table.budget_tolerance) * min(small))
    if small and refs:
        out.update(reference=refs[0], reference_over_small_median=round(refs[0] / statistics.median(small), 3))
    return out


def budget_text(budget: Dict[str, Any]) -> str:
    """One line describing :func:`budget_summary`."""
    if "small_min" not in budget:
        return "no small-budget row"
    text = (f"small-budget rows: {budget['small_min']:,} to {budget['small_max']:,} unique parameters "
            f"(max/min {budget['small_ratio']:.3f}, tolerance {1 + budget['tolerance']:.2f}"
            f"{'' if budget['within_tolerance'] else ': OUTSIDE TOLERANCE'})")
    if "reference" in budget:
        text += f"; reference {budget['reference']:,} = {budget['reference_over_small_median']:.2f}x their median"
    return text


# ---------------------------------------------------------------------------
# Runs


@dataclass
class Run:
    """One (variant, seed) training run and its folder."""

    variant: Variant
    seed: int
    folder: Path

    @property
    def finished(self) -> bool:
        """train.py writes ``wer_test.txt`` after everything else."""
        return (self.folder / DONE_FILE).is_file()

    @property
    def started(self) -> bool:
        """Has checkpoints (a relaunch resumes from them)."""
        return any((self.folder / "save").glob("CKPT+*"))

    @property
    def title(self) -> str:
        return f"{self.variant.name} seed {self.seed}"


def plan_runs(table: Table, out: Path, names: Optional[Sequence[str]] = None) -> List[Run]:
    """Runs in launch order: every variant's first seed, then the second seeds, ...

    That order gives one point per variant as early as possible.
    """
    variants = [table.variant(n) for n in names] if names else table.variants
    depth = max(len(v.seeds) for v in variants)
    return [
        Run(v, v.seeds[k], out / "runs" / v.name / str(v.seeds[k]))
        for k in range(depth) for v in variants if k < len(v.seeds)
    ]


def train_overrides(table: Table, run: Run, data_folder: Path, csv_folder: Path) -> Dict[str, Any]:
    """train.py command-line overrides of a run: the schedule, the corpus, the folders, the seed."""
    return {
        **table.schedule,
        "data_folder": str(data_folder),
        "csv_folder": str(csv_folder),
        "output_folder": str(run.folder),
        "seed": run.seed,
    }


def _cli_value(value: Any) -> str:
    """A value as SpeechBrain's command line reads it (YAML; flow style for lists and mappings)."""
    if isinstance(value, (dict, list)):
        return yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False).strip()
    return str(value)


def train_command(variant_yaml: Path, overrides: Dict[str, Any]) -> List[str]:
    """``python train.py variant.yaml --key value ...``."""
    cmd = [sys.executable, str(TRAIN), str(variant_yaml)]
    for key, value in overrides.items():
        text = _cli_value(value)
        if "=" in text:  # SpeechBrain splits command-line overrides on '='
            raise ValueError(f"override {key}={text!r}: values containing '=' cannot be passed to train.py")
        cmd += [f"--{key}", text]
    return cmd


def variant_yaml_text(table: Table, variant: Variant) -> str:
    """The run's ``variant.yaml``: the recipe (absolute path) plus the model overrides."""
    header = (
        f"# {variant.label}: {variant.description}\n"
        f"# Written by bench/ablation.py from {table.path.name}; the schedule comes from the command line.\n"
    )
    body = yaml.safe_dump({"recipe": str(table.recipe), **model_overrides(table, variant)}, sort_keys=False)
    return header + body


def read_run_info(folder: Path) -> Dict[str, Any]:
    """The run's ``ablation_run.json`` (empty for a new run)."""
    path = folder / RUN_INFO
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def write_run_info(folder: Path, info: Dict[str, Any]) -> None:
    tmp = folder / (RUN_INFO + ".tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    tmp.replace(folder / RUN_INFO)



def run_settings(table: Table, run: Run, data_folder: Path, csv_folder: Path) -> Dict[str, Any]:
    """What a run folder is made with: the model overrides and train.py's overrides."""
    return {"model": model_overrides(table, run.variant), "train": train_overrides(table, run, data_folder, csv_folder)}


def settings_changes(run: Run, settings: Dict[str, Any], ignore: Sequence[str] = ()) -> List[str]:
    """``key: old -> new`` for every setting that differs from the one recorded in the run folder."""
    old = read_run_info(run.folder).get("settings")
    if old is None:  # nothing recorded (a new run)
        return []
    changed = []
    for part in ("model", "train"):
        before, now = old.get(part, {}), settings.get(part, {})
        for key in sorted(set(before) | set(now)):
            if key not in ignore and before.get(key) != now.get(key):
                changed.append(f"{key}: {before.get(key)!r} -> {now.get(key)!r}")
    return changed


def check_settings(run: Run, settings: Dict[str, Any], ignore: Sequence[str] = ()) -> None:
    """Refuses to resume, reuse or report a run folder made with other settings."""
    changed = settings_changes(run, settings, ignore)
    if changed:
        raise RuntimeError(
            f"{run.folder} was made with other settings ({'; '.join(changed)}). "
            "Delete that folder to retrain it, or use another --out."
        )


def launch_training(cmd: List[str], log_path: Path, env: Dict[str, str], echo: bool = False) -> int:
    """Runs train.py, appending its output to ``log_path``; returns its exit status.

    Epoch summaries are echoed as indented lines (everything with ``echo``).
    """
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n# {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
        try:
            for line in proc.stdout:
                log.write(line)
                if echo:
                    print("    " + line.rstrip(), flush=True)
                elif re.search(r"epoch: \d+, lr: ", line):
                    print("    " + line.rstrip().split(" - ", 1)[-1], flush=True)
            return proc.wait()
        except BaseException:  # Ctrl-C: stop our child (it resumes from its checkpoint next time)
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.2f} h"


def estimate_total(durations: Sequence[float], n_runs: int) -> float:
    """All runs' training time, the unfinished ones at the mean of the finished ones."""
    if not durations:
        return float("nan")
    return sum(durations) + (n_runs - len(durations)) * statistics.mean(durations)


def budget_check(durations: Sequence[float], n_runs: int, table: Table) -> str:
    """Estimate for the whole ablation against ``time_budget_hours``."""
    total = estimate_total(durations, n_runs)
    text = (f"time budget: {len(durations)} of {n_runs} runs finished, mean {_minutes(statistics.mean(durations))} "
            f"per run -> about {total / 3600:.2f} h for all runs (budget {table.time_budget_hours:g} h)")
    if total > table.time_budget_hours * 3600:
        text += (f"\n  OVER BUDGET: lower schedule.number_of_epochs or corpus.n_train in {table.path}, "
                 "or run fewer variants with --variants")
    return text


def run_all(
    table: Table,
    runs: List[Run],
    data_folder: Path,
    out: Path,
    *,
    all_runs: Optional[List[Run]] = None,
    echo: bool = False,
    threads: Optional[int] = None,
    counts: Optional[Dict[str, Counts]] = None,
) -> List[Run]:
    """Trains every unfinished run in order; returns the runs that failed.

    ``all_runs`` (default ``runs``) is the whole ablation, for the ETA and the budget check.
    """
    all_runs = all_runs or runs
    csv_folder = out / "csv"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    failed: List[Run] = []
    start = time.time()
    budget_shown = False

    def durations() -> List[float]:
        return [read_run_info(r.folder).get("wall_s", 0.0) for r in all_runs if r.finished]

    # all folders checked before anything trains: a stale one stops the bench at once
    settings = {run.folder: run_settings(table, run, data_folder, csv_folder) for run in runs}
    for run in runs:
        check_settings(run, settings[run.folder])

    for k, run in enumerate(runs, 1):
        head = f"[{k}/{len(runs)}] {run.title}"
        if run.finished:
            wer = parse_wer_file(run.folder / DONE_FILE).wer
            print(f"{head}: finished earlier (test WER {wer:.2f} %), skipped", flush=True)
            continue
        run.folder.mkdir(parents=True, exist_ok=True)
        variant_yaml = run.folder / "variant.yaml"
        variant_yaml.write_text(variant_yaml_text(table, run.variant), encoding="utf-8")
        cmd = train_command(variant_yaml, settings[run.folder]["train"])
        info = read_run_info(run.folder)
        info.setdefault("launches", [])
        info["settings"] = settings[run.folder]
        size = counts.get(run.variant.name) if counts else None
        size_text = f" ({size.unique_params:,} unique / {size.virtual_params:,} virtual params)" if size else ""
        action = "resuming" if run.started else "training"
        print(f"{head}{size_text}: {action} -> {run.folder / 'train.out'}", flush=True)

        t0 = time.time()
        status = None
        try:
            status = launch_training(cmd, run.folder / "train.out", env, echo)
        finally:  # an interrupted launch still counts its time
            elapsed = time.time() - t0
            info["launches"].append({"started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t0)),
                                     "wall_s": round(elapsed, 1), "exit_status": status})
            info["wall_s"] = round(sum(launch["wall_s"] for launch in info["launches"]), 1)
            write_run_info(run.folder, info)

        done = durations()
        remaining = sum(not r.finished for r in runs)  # of this invocation
        eta = f"ETA {_minutes(remaining * statistics.mean(done))} for {remaining} run(s)" if done else "ETA unknown"
        if status == 0 and run.finished:
            wer = parse_wer_file(run.folder / DONE_FILE).wer
            print(f"{head}: finished in {_minutes(info['wall_s'])}, test WER {wer:.2f} % | "
                  f"elapsed {_minutes(time.time() - start)}, {eta}", flush=True)
        else:
            failed.append(run)
            tail = (run.folder / "train.out").read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
            print(f"{head}: FAILED (exit status {status}, no {DONE_FILE}); see {run.folder / 'train.out'}:\n"
                  + "\n".join("    " + line for line in tail), flush=True)
        if done and not budget_shown:
            print(budget_check(done, len(all_runs), table), flush=True)
            budget_shown = True
    return failed


def make_corpus(table: Table, corpus_dir: Path) -> Path:
    """Generates (or checks) the mini corpus; returns its LibriSpeech data folder."""
    cmd = [sys.executable, str(MAKE_CORPUS), str(corpus_dir)]
    for key, value in table.corpus.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    print(f"corpus: {shlex.join(cmd)}", flush=True)
    status = subprocess.run(cmd, cwd=ROOT).returncode
    if status != 0:
        raise RuntimeError(f"corpus generation failed (exit status {status}): {shlex.join(cmd)}")
    return corpus_dir / "LibriSpeech"


# ---------------------------------------------------------------------------
# Report


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
    schedule = ", ".join(f"`{k}: {_cli_value(v)}`" for k, v in report["schedule"].items())
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
        wall = "—" if not r["wall_s"] else _minutes(r["wall_s"]["mean"])
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


MARKERS = {"reference": "s", "small_plain": "D", "i": "o", "ii": "v", "iii": "^", "iv": "*", "low_rank": "P"}


def plot(rows: List[Dict[str, Any]], path: Path) -> None:
    """``ablation.png``: left, test WER against unique parameters (log x), one numbered point per
    variant; right, the small-budget rows side by side (they sit too close on the x axis to read)."""
    try:
        import matplotlib
    except ImportError as err:
        raise ImportError("bench/ablation.py needs matplotlib for ablation.png: pip install -e '.[bench]'") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    done = sorted((r for r in rows if r["test_wer"]), key=lambda r: r["unique_params"])
    small_budget = sorted((r for r in done if r["role"] != "reference"), key=lambda r: r["test_wer"]["mean"])
    fig, (ax, zoom) = plt.subplots(1, 2, figsize=(13, 5.5), gridspec_kw={"width_ratios": [1.2, 1]})

    def bars(w: Dict[str, Any]):
        return [[w["mean"] - w["min"]], [w["max"] - w["mean"]]] if w["n"] > 1 else None

    colours: Dict[str, str] = {}
    for i, r in enumerate(done, 1):
        w = r["test_wer"]
        ax.errorbar(r["unique_params"], w["mean"], yerr=bars(w), fmt=MARKERS[r["role"]], markersize=9, capsize=4,
                    label=f"{i}: {r['label']} ({r['unique_params'] / 1e6:.2f}M)")
        # numbers next to the points, names in the legend; alternating sides keep neighbours apart
        ax.annotate(str(i), (r["unique_params"], w["mean"]), textcoords="offset points",
                    xytext=(7 if i % 2 else -7, 5), ha="left" if i % 2 else "right", fontsize=9)
        colours[r["variant"]] = ax.lines[-1].get_color()
    ax.set_xscale("log")
    millions = FuncFormatter(lambda x, _: f"{x / 1e6:g}M")
    ax.xaxis.set_major_formatter(millions)
    ax.xaxis.set_minor_formatter(millions)
    ax.set_xlabel("unique parameters (whole ASR model, log scale)")
    ax.set_ylabel("test WER (%)")
    ax.set_title("test WER vs unique parameters (bars: min–max over seeds)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")

    for y, r in enumerate(small_budget):
        w = r["test_wer"]
        zoom.errorbar(w["mean"], y, xerr=bars(w), fmt=MARKERS[r["role"]], markersize=9, capsize=4,
                      color=colours[r["variant"]])
    zoom.set_yticks(range(len(small_budget)))
    zoom.set_yticklabels([f"{r['label']} ({r['unique_params'] / 1e6:.2f}M)" for r in small_budget], fontsize=8)
    zoom.yaxis.tick_right()
    zoom.invert_yaxis()  # best on top
    # what sharing must beat (small plain) and what it approaches (the reference)
    for role, style in (("small_plain", "--"), ("reference", ":")):
        row = next((r for r in done if r["role"] == role), None)
        if row:
            ax.axhline(row["test_wer"]["mean"], color="grey", linestyle=style, linewidth=0.8)
            zoom.axvline(row["test_wer"]["mean"], color="grey", linestyle=style, linewidth=0.8)
    zoom.set_xlabel("test WER (%)   dashed: small plain, dotted: reference")
    zoom.set_title("small-budget rows, best first")
    zoom.grid(True, axis="x", alpha=0.3)
    fig.suptitle("CPU-scale ablation of the sharing levels")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


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


# ---------------------------------------------------------------------------


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, help="output folder (default results/ablation, --quick: results/ablation_quick)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--corpus", type=Path,
                       help="mini corpus folder, generated there if absent (default data/ablation_corpus)")
    where.add_argument("--data-folder", type=Path,
                       help="an existing LibriSpeech-layout folder (split folders inside), used as is")
    p.add_argument("--variants", help="comma-separated variant names to run (default: all); the report covers all")
    p.add_argument("--variants-file", type=Path, default=DEFAULT_TABLE, help="the variant table")
    p.add_argument("--quick", action="store_true", help="smoke test: the table's quick corpus and schedule")
    p.add_argument("--dry-run", action="store_true", help="print the runs and their parameter counts, train nothing")
    p.add_argument("--report-only", action="store_true", help="rebuild ablation.md/json/png from finished runs")
    p.add_argument("--threads", type=int, help="OMP/MKL threads per training run (default: torch's own)")
    p.add_argument("--verbose", action="store_true", help="echo train.py's whole output")
    return p.parse_args(argv)


def _shown_command(argv: Sequence[str]) -> str:
    """The command line as typed from the repository root."""
    return shlex.join(["python", os.path.relpath(Path(__file__).resolve(), ROOT), *argv])


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    table = load_table(args.variants_file, quick=args.quick)
    out = (args.out or ROOT / DEFAULT_OUT[args.quick]).resolve()
    names = [n.strip() for n in args.variants.split(",") if n.strip()] if args.variants else None
    if names:
        for n in names:
            table.variant(n)  # unknown names fail here, listing the known ones
    setup_path = out / SETUP
    setup = json.loads(setup_path.read_text(encoding="utf-8")) if setup_path.is_file() else {}

    if args.data_folder:
        data_folder = args.data_folder.resolve()
        corpus_dir = None
    elif args.corpus or not args.report_only or "data_folder" not in setup:
        corpus_dir = (args.corpus or ROOT / DEFAULT_CORPUS[args.quick]).resolve()
        data_folder = corpus_dir / "LibriSpeech"
    else:  # --report-only: the corpus of the last launch
        corpus_dir, data_folder = None, Path(setup["data_folder"])

    if args.report_only:
        report = build_report(table, out, data_folder, setup.get("command", _shown_command(argv)))
        print(f"report rebuilt from {len(report['runs'])} finished run(s): {out / 'ablation.md'}")
        return 0

    all_runs = plan_runs(table, out)
    runs = plan_runs(table, out, names)
    counts = {v.name: planned_counts(table, v) for v in table.variants}
    print(f"{len(runs)} run(s) of {len(all_runs)} in {out}; variants from {table.path}")
    print(f"{'run':>6}  {'variant':<30} {'seed':>5}  {'role':<11} {'unique':>10} {'virtual':>10} {'depth':>5}  status")
    for k, run in enumerate(runs, 1):
        c = counts[run.variant.name]
        status = "finished" if run.finished else "resume" if run.started else "new"
        print(f"{k:>3}/{len(runs):<2}  {run.variant.name:<30} {run.seed:>5}  {run.variant.role:<11} "
              f"{c.unique_params:>10,} {c.virtual_params:>10,} {c.virtual_depth:>5}  {status}")
    budget = budget_summary(counts, table)
    print(budget_text(budget))
    known = [read_run_info(r.folder).get("wall_s", 0.0) for r in all_runs if r.finished]
    if known:
        print(budget_check(known, len(all_runs), table))
    if args.dry_run:
        if corpus_dir is None:
            print(f"corpus: {data_folder} (used as is)")
        else:
            state = "present" if (data_folder / "corpus_stats.json").is_file() else "to be generated"
            print(f"corpus: {corpus_dir} ({state}; make_mini_corpus.py options {table.corpus})")
        print("dry run: nothing trained")
        return 0

    if corpus_dir is not None:
        data_folder = make_corpus(table, corpus_dir)
    elif not data_folder.is_dir():
        raise FileNotFoundError(f"--data-folder {data_folder} does not exist")
    out.mkdir(parents=True, exist_ok=True)
    command = _shown_command(argv)
    setup_path.write_text(json.dumps({"command": command, "data_folder": str(data_folder),
                                      "variants_file": str(table.path), "quick": args.quick}, indent=2) + "\n")
    try:
        failed = run_all(table, runs, data_folder, out, all_runs=all_runs, echo=args.verbose,
                         threads=args.threads, counts=counts)
    except KeyboardInterrupt:
        print("\ninterrupted: re-run the same command to resume (finished runs are kept, "
              "the interrupted one continues from its last checkpoint)", file=sys.stderr)
        return 130
    if any(run.finished for run in all_runs):
        build_report(table, out, data_folder, command)
        print(f"report: {out / 'ablation.md'}, {out / 'ablation.json'}, {out / 'ablation.png'}")
    if failed:
        print(f"{len(failed)} run(s) failed: {', '.join(r.title for r in failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (FileNotFoundError, KeyError, RuntimeError, ValueError) as err:
        print(f"error: {err.args[0] if isinstance(err, KeyError) else err}", file=sys.stderr)
        sys.exit(2)
