"""bench/ablation.py and its modules (ablation_plan, ablation_run, ablation_report): the variant table's sizes,
resuming per run, the report's numbers, end to end."""

import importlib.util
import json
import re
import statistics
import sys
from pathlib import Path

import pytest
import yaml
from hyperpyyaml import load_hyperpyyaml

from speechbrain_tinyconf.pretrained.export import model_size
from speechbrain_tinyconf.recipe.hparams import resolved_yaml
from speechbrain_tinyconf.recipe.runs import parse_wer_file

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "hparams" / "transducer_recipe.yaml"


def _load_ablation():
    spec = importlib.util.spec_from_file_location("bench_ablation", ROOT / "bench" / "ablation.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_ablation"] = module
    spec.loader.exec_module(module)
    return module


ablation = _load_ablation()  # the command line; loading it puts bench/ on sys.path for its modules
import ablation_plan as plan  # noqa: E402
import ablation_run  # noqa: E402

# A table at the size of tests/configs/tiny.yaml: seconds per run on the tone corpus.
TINY_MODEL = {"d_model": 32, "d_ffn": 64, "nhead": 2, "kernel_size": 7}
TINY_TABLE = {
    "recipe": str(RECIPE),
    "time_budget_hours": 1.0,
    "budget_tolerance": 0.5,
    "seeds": [1],
    "schedule": {
        "train_splits": ["train"], "dev_splits": ["dev"], "test_splits": ["dev", "test"],
        "device": "cpu", "num_workers": 0, "number_of_epochs": 3, "number_of_ctc_epochs": 1,
        "warmup_steps": 10, "lr": 0.003, "vocab_size": 24, "dynamic_batching": False,
        "batch_size": 2, "batch_size_valid": 2, "avg_checkpoints": 1, "valid_search_interval": 1,
        "ckpt_interval_minutes": 0, "wav_augment_prob": 0.0, "fea_augment_prob": 0.0,
    },
    "model_common": {"cnn_channels": [8, 8], "cnn_out_channels": 8, "emb_dim": 16, "dec_dim": 32, "joint_dim": 32},
    "quick": {"schedule": {"number_of_epochs": 1}},
    "variants": [
        {"name": "plain", "label": "plain", "role": "small_plain", "seeds": [1, 2],
         "model": {**TINY_MODEL, "num_encoder_layers": 2, "sharing": {}}},
        {"name": "shared", "label": "shared low rank", "role": "iv",
         "model": {**TINY_MODEL, "num_encoder_layers": 4,
                   "sharing": {"unique_blocks": 2, "per_layer": ["norms"],
                               "low_rank": {"targets": ["ffn"], "rank": 8, "share": "U"}}}},
    ],
}


def _write_table(tmp_path: Path, table=None) -> Path:
    path = tmp_path / "variants.yaml"
    path.write_text(yaml.safe_dump(table or TINY_TABLE, sort_keys=False))
    return path


# ---------------------------------------------------------------------------
# The real variant table


def test_variant_table_sizes_are_computed_and_at_one_budget():
    table = plan.load_table(plan.DEFAULT_TABLE)
    counts = {v.name: plan.planned_counts(table, v) for v in table.variants}
    roles = [v.role for v in table.variants]
    assert roles.count("reference") == 1
    assert {"small_plain", "i", "ii", "iii", "iv", "low_rank"} <= set(roles)
    reference = next(v for v in table.variants if v.role == "reference")
    ref = counts[reference.name]
    small = [v for v in table.variants if v.small_budget]
    sizes = [counts[v.name].unique_params for v in small]
    assert table.budget_tolerance <= 0.10
    assert max(sizes) <= (1 + table.budget_tolerance) * min(sizes), {v.name: counts[v.name] for v in small}
    assert max(sizes) <= 0.35 * ref.unique_params  # far below the reference
    assert plan.budget_summary(counts, table)["within_tolerance"]
    for v in small:
        c = counts[v.name]
        if v.role in ("i", "ii", "iii", "iv"):  # sharing: the reference's depth for a fraction of its memory
            assert c.virtual_depth == ref.virtual_depth and c.virtual_params > 2 * c.unique_params, v.name
        if v.role == "low_rank":
            assert c.virtual_params == c.unique_params and c.virtual_depth == ref.virtual_depth
        if v.role == "small_plain":  # a plain model cut down: fewer or narrower layers
            assert c.virtual_params == c.unique_params
            assert c.virtual_depth < ref.virtual_depth or v.model["d_model"] < reference.model["d_model"]
    # the two key rows have a spread over seeds
    assert all(len(v.seeds) >= 2 for v in table.variants if v.role in ("small_plain", "iv"))
    # (iii) with per-layer customisation on and off: the plans differ in per_layer only
    on, off = sorted((v for v in table.variants if v.role == "iii"), key=lambda v: -len(v.model["sharing"]["per_layer"]))
    assert on.model["sharing"]["per_layer"] and off.model["sharing"]["per_layer"] == []
    strip = lambda v: {**v.model, "sharing": {k: x for k, x in v.model["sharing"].items() if k != "per_layer"}}  # noqa: E731
    assert strip(on) == strip(off)


def test_quick_merges_the_quick_block():
    full, quick = plan.load_table(plan.DEFAULT_TABLE), plan.load_table(plan.DEFAULT_TABLE, quick=True)
    assert quick.schedule["number_of_epochs"] < full.schedule["number_of_epochs"]
    assert quick.corpus["n_train"] < full.corpus["n_train"]
    assert quick.schedule["lr"] == full.schedule["lr"]


def test_schedule_is_the_cpu_demos_plus_the_ablations_differences(tmp_path):
    """One CPU-demo schedule (recipes/LibriSpeech/cpu_demo.yaml, run_demo.sh's too); the table states only where it differs."""
    demo = yaml.safe_load((ROOT / "recipes" / "LibriSpeech" / "cpu_demo.yaml").read_text())
    raw = yaml.safe_load(plan.DEFAULT_TABLE.read_text())
    assert plan.load_table(plan.DEFAULT_TABLE).schedule == {**demo, **raw["schedule"]}
    assert all(demo.get(key) != value for key, value in raw["schedule"].items())  # no value typed twice
    bad = {**json.loads(json.dumps(TINY_TABLE)), "schedule_file": "missing.yaml"}
    with pytest.raises(ValueError, match=r"schedule_file: missing\.yaml does not exist"):
        plan.load_table(_write_table(tmp_path, bad))


def test_bad_tables_name_file_and_field(tmp_path):
    bad = json.loads(json.dumps(TINY_TABLE))
    bad["variants"][1]["model"]["d_modl"] = 32
    with pytest.raises(ValueError, match=r"variants\.yaml: variants\[1\] \(shared\)\.model\.d_modl: not a key"):
        plan.load_table(_write_table(tmp_path, bad))
    bad = json.loads(json.dumps(TINY_TABLE))
    bad["variants"][0]["role"] = "level_v"
    with pytest.raises(ValueError, match=r"variants\[0\] \(plain\)\.role: 'level_v'"):
        plan.load_table(_write_table(tmp_path, bad))
    bad = json.loads(json.dumps(TINY_TABLE))
    bad["schedule"]["test_splits"] = ["dev"]
    with pytest.raises(ValueError, match=r"schedule\.test_splits"):
        plan.load_table(_write_table(tmp_path, bad))
    with pytest.raises(KeyError, match="no variant named 'nope'"):
        ablation.main(["--variants-file", str(_write_table(tmp_path)), "--variants", "nope", "--dry-run"])


def test_train_command_passes_overrides_as_speechbrain_reads_them():
    cmd = plan.train_command(Path("v.yaml"), {"train_splits": ["train"], "lr": 0.002, "streaming": False,
                                                  "dynamic_batch_sampler": {"max_batch_len": 16, "shuffle_ex": True}})
    assert cmd[1:] == [str(plan.TRAIN), "v.yaml", "--train_splits", "[train]", "--lr", "0.002",
                       "--streaming", "False", "--dynamic_batch_sampler", "{max_batch_len: 16, shuffle_ex: true}"]
    with pytest.raises(ValueError, match="'='"):
        plan.train_command(Path("v.yaml"), {"data_folder": "/a=b"})


def test_real_schedule_reaches_train_py_as_written(tmp_path):
    """The command line built for a run parses (SpeechBrain's parser) back to the table's values."""
    import speechbrain as sb

    from speechbrain_tinyconf.recipe.hparams import load_recipe_hparams

    table = plan.load_table(plan.DEFAULT_TABLE)
    variant = next(v for v in table.variants if v.role == "iv")
    run = plan.plan_runs(table, tmp_path / "out", [variant.name])[-1]
    variant_yaml = tmp_path / "variant.yaml"
    variant_yaml.write_text(plan.variant_yaml_text(table, variant))
    cmd = plan.train_command(variant_yaml, plan.train_overrides(table, run, tmp_path, tmp_path / "csv"))
    hparams_file, run_opts, overrides = sb.parse_arguments(cmd[2:])
    hp = load_recipe_hparams(hparams_file, overrides)
    recipe_overrides = yaml.safe_load(overrides)
    for key, value in table.schedule.items():
        # SpeechBrain takes some keys (device, precision, ckpt_interval_minutes) as run options
        assert (hp[key] if key in recipe_overrides else run_opts[key]) == value, key
    assert hp["seed"] == run.seed == 3408 and hp["output_folder"] == str(run.folder)
    assert hp["sharing"] == variant.model["sharing"]
    counts = plan.model_counts(hp)
    assert counts == plan.planned_counts(table, variant)


def test_budget_check_warns_when_over():
    table = plan.load_table(plan.DEFAULT_TABLE)
    ok = ablation_run.budget_check([600.0], 10, table)  # 10 min per run -> 1.67 h of 2 h
    assert "about 1.67 h" in ok and "OVER BUDGET" not in ok
    assert "OVER BUDGET" in ablation_run.budget_check([900.0, 1000.0], 10, table)


# ---------------------------------------------------------------------------
# Resuming, with a fake train.py


def _overrides_from(cmd):
    pairs = dict(zip(cmd[3::2], cmd[4::2]))
    return {k[2:]: yaml.safe_load(v) for k, v in pairs.items() if k[2:] not in plan.RUN_OPTIONS}


class FakeTrain:
    """Stands in for train.py: writes what train.py writes at the end of a run (or fails)."""

    def __init__(self, wers=None, fail=()):
        self.calls, self.wers, self.fail = [], wers or {}, set(fail)

    def __call__(self, cmd, log_path, env, echo=False):
        overrides = _overrides_from(cmd)
        out = Path(overrides["output_folder"])
        key = (out.parent.name, out.name)
        self.calls.append(key)
        with open(log_path, "a") as log:
            log.write("fake train.py\n")
        (out / "save").mkdir(exist_ok=True)
        (out / "save" / "CKPT+2026-01-01+00-00-00+00").mkdir(exist_ok=True)
        if key in self.fail:
            return 1
        (out / "hyperparams.yaml").write_text(resolved_yaml(cmd[2], overrides))
        wer = self.wers.get(key, 50.0)
        errors = round(wer * 2)  # 200 words
        (out / "wer_dev.txt").write_text(f"%WER {wer + 1:.2f} [ {errors + 2} / 200, 0 ins, 0 del, {errors + 2} sub ]\n")
        (out / "train_log.txt").write_text("epoch: 1, lr: 1.00e-03, steps: 7 - train loss: 1 - valid loss: 1\n")
        (out / "wer_test.txt").write_text(
            f"%WER {wer:.2f} [ {errors} / 200, 0 ins, 0 del, {errors} sub ]\n%SER 80.00 [ 16 / 20 ]\n")
        return 0


@pytest.fixture
def fake_train(monkeypatch):
    def install(**kwargs):
        fake = FakeTrain(**kwargs)
        monkeypatch.setattr(ablation_run, "launch_training", fake)
        return fake
    return install


def _args(tmp_path, table_path, corpus, *extra):
    return ["--variants-file", str(table_path), "--out", str(tmp_path / "out"), "--data-folder", str(corpus), *extra]


def test_finished_runs_are_skipped_and_unfinished_ones_relaunched(tmp_path, tone_corpus, fake_train):
    table_path = _write_table(tmp_path)
    # first pass: plain seed 2 crashes (train.py exit 1, no wer_test.txt), the others finish
    fake = fake_train(fail={("plain", "2")})
    assert ablation.main(_args(tmp_path, table_path, tone_corpus)) == 1
    assert fake.calls == [("plain", "1"), ("shared", "1"), ("plain", "2")]
    runs = tmp_path / "out" / "runs"
    assert (runs / "plain" / "1" / "wer_test.txt").is_file() and not (runs / "plain" / "2" / "wer_test.txt").exists()
    assert "recipe: " + str(RECIPE) in (runs / "plain" / "2" / "variant.yaml").read_text()

    # second pass: only the unfinished run is launched again, into the same folder
    fake = fake_train()
    assert ablation.main(_args(tmp_path, table_path, tone_corpus)) == 0
    assert fake.calls == [("plain", "2")]
    info = json.loads((runs / "plain" / "2" / "ablation_run.json").read_text())
    assert [launch["exit_status"] for launch in info["launches"]] == [1, 0]
    assert info["wall_s"] == round(sum(launch["wall_s"] for launch in info["launches"]), 1)
    assert (runs / "plain" / "2" / "train.out").read_text().count("fake train.py") == 2

    # third pass: nothing to do
    fake = fake_train()
    assert ablation.main(_args(tmp_path, table_path, tone_corpus)) == 0
    assert fake.calls == []

    # a changed schedule is refused rather than mixed into finished runs, naming what changed
    changed = json.loads(json.dumps(TINY_TABLE))
    changed["schedule"]["lr"] = 0.001
    with pytest.raises(RuntimeError, match=r"lr: 0\.003 -> 0\.001"):
        ablation.main(_args(tmp_path, _write_table(tmp_path, changed), tone_corpus))
    with pytest.raises(RuntimeError, match=r"lr: 0\.003 -> 0\.001"):
        ablation.main(_args(tmp_path, _write_table(tmp_path, changed), tone_corpus, "--report-only"))


def test_dry_run_trains_nothing(tmp_path, tone_corpus, fake_train, capsys):
    fake = fake_train()
    assert ablation.main(_args(tmp_path, _write_table(tmp_path), tone_corpus, "--dry-run")) == 0
    assert fake.calls == [] and not (tmp_path / "out").exists()
    text = capsys.readouterr().out
    table = plan.load_table(_write_table(tmp_path))
    for v in table.variants:
        assert f"{plan.planned_counts(table, v).unique_params:,}" in text


def test_report_numbers_from_run_folders(tmp_path, tone_corpus, fake_train):
    table_path = _write_table(tmp_path)
    wers = {("plain", "1"): 45.5, ("plain", "2"): 40.0, ("shared", "1"): 30.0}
    fake_train(wers=wers)
    assert ablation.main(_args(tmp_path, table_path, tone_corpus)) == 0
    out = tmp_path / "out"
    report = json.loads((out / "ablation.json").read_text())
    plain = next(r for r in report["variants"] if r["variant"] == "plain")
    shared = next(r for r in report["variants"] if r["variant"] == "shared")
    assert plain["test_wer"]["mean"] == pytest.approx(42.75)
    assert (plain["test_wer"]["min"], plain["test_wer"]["max"], plain["test_wer"]["n"]) == (40.0, 45.5, 2)
    assert plain["dev_wer"]["mean"] == pytest.approx(43.75)
    assert shared["test_wer"] == {"mean": 30.0, "min": 30.0, "max": 30.0, "n": 1, "values": [30.0]}
    assert shared["test_wer_minus_small_plain"] == pytest.approx(30.0 - 42.75)
    assert plain["steps"]["mean"] == 7
    table = plan.load_table(table_path)
    for row in (plain, shared):
        assert row["unique_params"] == plan.planned_counts(table, table.variant(row["variant"])).unique_params
    md = (out / "ablation.md").read_text()
    assert "42.75 (40.00–45.50, 2 seeds)" in md
    lines = [line for line in md.splitlines() if line.startswith("| plain |") or line.startswith("| shared low rank |")]
    sizes = [int(re.findall(r"\| ([\d,]+) \|", line)[0].replace(",", "")) for line in lines]
    assert sizes == sorted(sizes)  # sorted by unique parameters
    assert "fewer than 2 seeds" in md  # the key comparison does not over-read one seed
    assert "python bench/ablation.py --variants-file" in md
    # --report-only rebuilds the same numbers from the folders alone
    (out / "ablation.json").unlink()
    assert ablation.main(_args(tmp_path, table_path, tone_corpus, "--report-only")) == 0
    assert json.loads((out / "ablation.json").read_text())["variants"] == report["variants"]


# ---------------------------------------------------------------------------
# End to end: real train.py runs on the tone corpus


@pytest.mark.slow
def test_quick_end_to_end_on_tone_corpus(tmp_path, tone_corpus, capsys):
    table_path = _write_table(tmp_path)
    args = _args(tmp_path, table_path, tone_corpus, "--quick", "--threads", "1")
    assert ablation.main(args) == 0
    printed = capsys.readouterr().out
    assert re.search(r"\[1/3\] plain seed 1: finished in .*test WER", printed)
    assert "time budget: 1 of 3 runs finished" in printed
    out = tmp_path / "out"
    for name in ("ablation.md", "ablation.json"):
        assert (out / name).stat().st_size > 0
    assert (out / "ablation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((out / "ablation.json").read_text())
    assert len(report["runs"]) == 3
    for run in report["runs"]:
        folder = Path(run["run_dir"])
        assert run["test_wer"] == parse_wer_file(folder / "wer_test.txt").wer
        assert run["dev_wer"] == parse_wer_file(folder / "wer_dev.txt").wer
        # sizes equal train.py's own log line for that run
        logged = re.search(r"([\d,]+) unique / ([\d,]+) virtual parameters, (\d+) virtual", (folder / "train.out").read_text())
        assert (run["unique_params"], run["virtual_params"], run["virtual_depth"]) == (
            int(logged.group(1).replace(",", "")), int(logged.group(2).replace(",", "")), int(logged.group(3)))
        log = (folder / "train_log.txt").read_text()
        assert run["steps"] == int(re.findall(r"steps: (\d+)", log)[-1]) > 0
        # dev and test are both evaluated; each loss is read from its own log line
        losses = dict(re.findall(r"^split: (\w+), .* test loss: ([0-9.e+-]+)", log, flags=re.M))
        assert set(losses) == {"dev", "test"}
        assert (run["dev_loss"], run["test_loss"]) == (float(losses["dev"]), float(losses["test"])) and run["test_loss"] > 0
        assert run["epochs"] == 1  # --quick: the quick schedule was used
        assert run["wall_s"] > 0
    plain = [r["test_wer"] for r in report["runs"] if r["variant"] == "plain"]
    row = next(r for r in report["variants"] if r["variant"] == "plain")
    assert row["test_wer"]["mean"] == pytest.approx(statistics.mean(plain))
    assert (row["test_wer"]["min"], row["test_wer"]["max"]) == (min(plain), max(plain))
    assert report["corpus"]["splits"]["train"]["utterances"] == 12
    assert report["corpus"]["splits"]["test"]["train_word_coverage_pct"] == 100.0
    # the CSVs are prepared once, for every run
    assert (out / "csv" / "train.csv").is_file() and not (out / "runs" / "plain" / "1" / "train.csv").exists()
    # sizes from the run folder equal an independent instantiation of the saved recipe
    folder = Path(report["runs"][0]["run_dir"])
    with open(folder / "hyperparams.yaml") as stream:
        assert model_size(load_hyperpyyaml(stream)).unique_params == report["runs"][0]["unique_params"]
