"""Running the ablation: train.py launched per run, resumable, each folder checked against its settings.

Every run folder records the settings it was made with and its launches in ``ablation_run.json``
(:func:`read_run_info`); a folder made with other settings is refused (:func:`check_settings`)
rather than resumed or reported. :func:`run_all` trains the unfinished runs in order and
reports the time budget; :func:`make_corpus` generates the mini corpus they share.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from speechbrain_tinyconf.recipe.runs import parse_wer_file

from ablation_plan import (
    DONE_FILE, ROOT, Counts, Run, Table, model_overrides, train_command, train_overrides, variant_yaml_text,
)

MAKE_CORPUS = ROOT / "recipes" / "LibriSpeech" / "make_mini_corpus.py"
RUN_INFO = "ablation_run.json"  # per run: the settings it was made with, launches, wall time
PATH_KEYS = ("data_folder", "csv_folder", "output_folder")  # where, not how: ignored by --report-only


def read_run_info(folder: Path) -> Dict[str, Any]:
    """The run's ``ablation_run.json`` (empty for a new run)."""
    path = folder / RUN_INFO
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def write_run_info(folder: Path, info: Dict[str, Any]) -> None:
    """Replaces the run's ``ablation_run.json`` atomically (an interrupted write leaves the old one)."""
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


def minutes(seconds: float) -> str:
    """A duration as the progress lines and the report show it."""
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.2f} h"


def estimate_total(durations: Sequence[float], n_runs: int) -> float:
    """All runs' training time, the unfinished ones at the mean of the finished ones."""
    if not durations:
        return float("nan")
    return sum(durations) + (n_runs - len(durations)) * statistics.mean(durations)


def budget_check(durations: Sequence[float], n_runs: int, table: Table) -> str:
    """Estimate for the whole ablation against ``time_budget_hours``."""
    total = estimate_total(durations, n_runs)
    text = (f"time budget: {len(durations)} of {n_runs} runs finished, mean {minutes(statistics.mean(durations))} "
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
        eta = f"ETA {minutes(remaining * statistics.mean(done))} for {remaining} run(s)" if done else "ETA unknown"
        if status == 0 and run.finished:
            wer = parse_wer_file(run.folder / DONE_FILE).wer
            print(f"{head}: finished in {minutes(info['wall_s'])}, test WER {wer:.2f} % | "
                  f"elapsed {minutes(time.time() - start)}, {eta}", flush=True)
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
