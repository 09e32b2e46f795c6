"""The ablation's plan: the variant table read and checked, the model sizes it implies, the runs it makes.

``bench/ablation_variants.yaml`` -> :class:`Table` (:func:`load_table`); per variant the unique and
virtual parameter counts of the model it trains (:func:`planned_counts`) and how close the
small-budget rows are to one budget (:func:`budget_summary`); per (variant, seed) a :class:`Run`
folder and the ``train.py`` command line that trains it (:func:`train_command`).

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, NoReturn, Optional, Sequence

import yaml

from speechbrain_tinyconf.pretrained.export import model_size
from speechbrain_tinyconf.recipe.hparams import load_detached, read_plain_yaml

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "recipes" / "LibriSpeech" / "train.py"
DEFAULT_TABLE = Path(__file__).resolve().with_name("ablation_variants.yaml")

ROLES = ("reference", "small_plain", "i", "ii", "iii", "iv", "low_rank")
ROLE_NAMES = {
    "reference": "reference", "small_plain": "small plain", "i": "(i)", "ii": "(ii)",
    "iii": "(iii)", "iv": "(iv)", "low_rank": "low rank",
}
# train.py options that SpeechBrain reads as run options rather than recipe keys
RUN_OPTIONS = ("device", "eval_precision", "ckpt_interval_steps")
DONE_FILE = "wer_test.txt"  # train.py writes it last: its presence means the run is finished
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


def cli_value(value: Any) -> str:
    """A value as SpeechBrain's command line reads it (YAML; flow style for lists and mappings)."""
    if isinstance(value, (dict, list)):
        return yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False).strip()
    return str(value)


def train_command(variant_yaml: Path, overrides: Dict[str, Any]) -> List[str]:
    """``python train.py variant.yaml --key value ...``."""
    cmd = [sys.executable, str(TRAIN), str(variant_yaml)]
    for key, value in overrides.items():
        text = cli_value(value)
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
