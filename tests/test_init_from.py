"""train.py --init_from: a fresh run starts from another run's or an exported model's weights and
tokenizer; the source never becomes one of the run's checkpoints; bad sources are one line."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import ROOT, TRAINED_OVERRIDES

pytestmark = pytest.mark.slow  # trains and exports tiny models
TRAIN = ROOT / "recipes" / "LibriSpeech" / "train.py"
TINY = ROOT / "tests" / "configs" / "tiny.yaml"
ENV = {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}


def _run(corpus: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    import os

    # the trained run's architecture and schedule, with lr 0: one update leaves the weights as loaded
    overrides = [("0" if prev == "--lr" else arg) for prev, arg in zip([None, *TRAINED_OVERRIDES], TRAINED_OVERRIDES)]
    cmd = [sys.executable, str(TRAIN), str(TINY), "--data_folder", str(corpus), "--output_folder", str(out),
           "--device", "cpu", *overrides, "--optimizer_step_limit", "1", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **ENV}, timeout=600)


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("init_from") / "model"
    proc = subprocess.run([sys.executable, "-m", "speechbrain_tinyconf.pretrained.export", str(trained_run), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


@pytest.mark.parametrize("kind", ["run", "export"])
def test_fresh_run_starts_from_the_source_weights_and_tokenizer(kind, trained_run, exported, learnable_corpus,
                                                               tmp_path):
    from speechbrain_tinyconf.recipe.runs import choose_checkpoint

    source = trained_run if kind == "run" else exported
    out = tmp_path / "finetune"
    proc = _run(learnable_corpus, out, "--init_from", str(source))
    assert proc.returncode == 0, proc.stderr[-3000:]
    expected = (choose_checkpoint(trained_run, "best").state_dict if kind == "run"
                else torch.load(exported / "model.ckpt", map_location="cpu"))
    checkpoints = sorted((out / "save").glob("CKPT+*"))
    assert len(checkpoints) == 1  # only this run's own: the source is never a candidate for averaging
    state = torch.load(checkpoints[0] / "model.ckpt", map_location="cpu")
    assert state.keys() == expected.keys()
    assert all(torch.equal(state[k], expected[k]) for k in state)  # lr 0: exactly the source's weights
    source_tokenizer = (next((trained_run / "tokenizer").glob("*.model")) if kind == "run"
                        else exported / "tokenizer.ckpt")
    assert next((out / "tokenizer").glob("*.model")).read_bytes() == source_tokenizer.read_bytes()
    note = (out / "init_from.txt").read_text()
    assert str(source) in note and f"{len(expected)} tensors loaded" in note
    # the normaliser goes on from the source's statistics (a fresh one shifted every feature the weights see)
    source_norm = torch.load(choose_checkpoint(trained_run, "best").normalizer_path if kind == "run"
                             else exported / "normalizer.ckpt", map_location="cpu")
    norm = torch.load(checkpoints[0] / "normalizer.ckpt", map_location="cpu")
    assert norm["count"] > source_norm["count"] > 0 and "input normaliser statistics from" in note
    assert norm["glob_mean"].dtype == torch.float32
    assert torch.allclose(norm["glob_mean"], source_norm["glob_mean"].float(), atol=0.5)
    assert (out / "wer_test.txt").is_file()  # evaluated like any run
    # the source run was only read
    assert not (trained_run / "init_from.txt").exists()


@pytest.mark.parametrize("case, message", [
    ("vocab", "has 24 pieces but vocab_size is 30: pass --vocab_size 24"),
    ("empty", "is neither an exported model folder"),
    ("missing", "not found"),
])
def test_bad_source_is_one_line_and_writes_nothing(case, message, trained_run, learnable_corpus, tmp_path):
    out = tmp_path / "finetune"
    source = {"vocab": trained_run, "empty": tmp_path, "missing": tmp_path / "nope"}[case]
    extra = ["--vocab_size", "30"] if case == "vocab" else []
    proc = _run(learnable_corpus, out, "--init_from", str(source), *extra)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --init_from") and message in last, proc.stderr[-1500:]
    assert not [p for p in out.rglob("*") if p.is_file()]  # no file written (the checkpointer makes empty save/)


def test_every_ddp_rank_takes_the_weights_and_normaliser_and_only_the_main_one_writes(trained_run, exported,
                                                                                       tmp_path):
    """SpeechBrain's InputNormalization keeps its statistics in attributes, which DDP does not broadcast from
    rank 0: each rank must load them itself (start_from with main=False), writing nothing."""
    sys.path.insert(0, str(TRAIN.parent))
    import run_setup

    from speechbrain_tinyconf.recipe.hparams import load_recipe_hparams
    from speechbrain_tinyconf.recipe.runs import init_source

    source = init_source(exported)
    for main in (False, True):
        hp = load_recipe_hparams(trained_run / "hyperparams.yaml")
        hp["output_folder"] = str(tmp_path / f"main_{main}")
        run_setup.start_from(source, hp, main=main)
        state = hp["model"].state_dict()
        assert all(torch.equal(state[k], v) for k, v in source.state_dict.items())
        saved = torch.load(source.normalizer, map_location="cpu")
        assert torch.equal(hp["normalize"].glob_mean, saved["glob_mean"].float()) and hp["normalize"].count == saved["count"]
        written = sorted(p.name for p in (tmp_path / f"main_{main}").rglob("*"))
        tokenizer = f"{hp['vocab_size']}_{hp['token_type']}.model"
        assert written == ([tokenizer, "init_from.txt", "tokenizer"] if main else []), written
