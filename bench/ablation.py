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

The work is done by ``ablation_plan.py`` (the variant table, model sizes, the runs),
``ablation_run.py`` (launching and resuming train.py), ``ablation_report.py`` (the report from
the run folders) and ``ablation_plot.py`` (``ablation.png``); this file is the command line.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling modules, also when loaded by path
from ablation_plan import (  # noqa: E402
    DEFAULT_TABLE, ROOT, budget_summary, budget_text, load_table, plan_runs, planned_counts,
)
from ablation_report import build_report  # noqa: E402
from ablation_run import budget_check, make_corpus, read_run_info, run_all  # noqa: E402

DEFAULT_OUT = {False: "results/ablation", True: "results/ablation_quick"}
DEFAULT_CORPUS = {False: "data/ablation_corpus", True: "data/ablation_corpus_quick"}
SETUP = "ablation_setup.json"  # per output folder: the command and corpus of the last launch


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
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
    """Plans, trains (resuming), reports; returns the exit status (1 if a run failed)."""
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
