"""The recipe end to end on a tiny config: train -> valid -> test, learning, resume, DDP."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from speechbrain_tinyconf.recipe.checkpoints import checkpoint_problem

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # trains or exports models
TRAIN = ROOT / "recipes" / "LibriSpeech" / "train.py"
TINY = ROOT / "tests" / "configs" / "tiny.yaml"
# what the recipe's Checkpointer holds during fit (hparams recoverables + Brain's own)
REQUIRED = ["model", "scheduler", "normalizer", "counter", "brain", "optimizer", "dataloader-TRAIN"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cmd(corpus, out, *extra):
    return [sys.executable, str(TRAIN), str(TINY), "--data_folder", str(corpus), "--output_folder", str(out), "--device", "cpu", *extra]


def _valid_losses(out: Path):
    text = (out / "train_log.txt").read_text()
    return [float(x) for x in re.findall(r"valid loss: ([\d.e+-]+)", text)]


def test_train_valid_test_and_learning(tone_corpus, tmp_path):
    out = tmp_path / "run"
    # test set decoded with beam search (valid uses greedy)
    proc = subprocess.run(
        _cmd(tone_corpus, out, "--number_of_epochs", "6", "--test_beam_size", "2"),
        capture_output=True, text=True, env=ENV, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    losses = _valid_losses(out)
    assert len(losses) == 6
    assert losses[-1] < 0.6 * losses[0], losses  # it learns
    wer = (out / "wer_test.txt").read_text()
    assert re.search(r"%WER [\d.]+ \[ \d+ / \d+", wer)
    assert "epochs trained: 6" in (out / "train_log.txt").read_text()
    assert "sharing:" in (out / "hyperparams.yaml").read_text()  # effective recipe saved
    assert (out / "train.csv").is_file() and (out / "splits" / "test.csv").is_file()


def test_killed_run_resumes_without_losing_steps(tone_corpus, tmp_path):
    out = tmp_path / "run"
    # batch_size 1: 12 steps per epoch; an intra-epoch checkpoint every 4 steps
    args = ("--number_of_epochs", "2", "--batch_size", "1", "--ckpt_interval_steps", "4")
    proc = subprocess.Popen(_cmd(tone_corpus, out, *args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    save = out / "save"
    deadline = time.time() + 300
    killed_at = None
    while time.time() < deadline and proc.poll() is None:
        # kill once an intra-epoch checkpoint is completely written (torn ones: test_checkpoints_guard)
        intra = [
            c.parent for c in save.glob("CKPT+*/CKPT.yaml")
            if "end-of-epoch: false" in c.read_text() and not checkpoint_problem(c.parent, REQUIRED)
        ]
        if intra:
            proc.send_signal(signal.SIGKILL)
            killed_at = intra[0]
            break
        time.sleep(0.05)
    proc.wait()
    assert killed_at is not None, "no intra-epoch checkpoint appeared before the run ended"
    assert not (out / "wer_test.txt").exists()
    # and a newer checkpoint torn by the kill (model written halfway): the recipe must set it aside
    torn = save / "CKPT+9999-12-31+23-59-59+00"
    shutil.copytree(killed_at, torn)
    model = (torn / "model.ckpt").read_bytes()
    (torn / "model.ckpt").write_bytes(model[: len(model) // 2])
    meta = (torn / "CKPT.yaml").read_text()  # newest, so SpeechBrain would pick it
    stamp = float(re.search(r"unixtime: ([\d.]+)", meta).group(1))
    (torn / "CKPT.yaml").write_text(re.sub(r"unixtime: [\d.]+", f"unixtime: {stamp + 1}", meta))

    resumed = subprocess.run(_cmd(tone_corpus, out, *args), capture_output=True, text=True, env=ENV, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    log = resumed.stdout + resumed.stderr
    first = re.search(r"epoch 1: (\d+) batches computed by this process, epoch step 12", log)
    if first:  # killed during epoch 1: only the rest of epoch 1 was computed again
        assert 0 < int(first.group(1)) <= 8
    else:  # killed during epoch 2: epoch 1 is not redone
        assert "epoch 1:" not in log
        assert re.search(r"epoch 2: ([1-8]) batches computed by this process, epoch step 12", log), log[-2000:]
    text = (out / "train_log.txt").read_text()
    assert re.findall(r"epoch: (\d+),", text) == ["1", "2"]  # each epoch logged once
    assert "steps: 24" in text  # no optimizer step lost or repeated
    assert (out / "wer_test.txt").exists()
    assert (save / "INCOMPLETE+9999-12-31+23-59-59+00").is_dir() and not torn.exists()


def test_ddp_gloo_two_processes(tone_corpus, tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
        str(TRAIN), str(TINY), "--data_folder", str(tone_corpus), "--output_folder", str(out),
        "--device", "cpu", "--distributed_backend=gloo", "--number_of_epochs", "1",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    text = (out / "train_log.txt").read_text()
    # 12 utterances, batch 2, split over 2 ranks: 3 steps each
    assert "steps: 3" in text, text
    assert (out / "wer_test.txt").exists()


def test_ddp_ranks_agree_to_restore_the_statistics_of_a_non_finite_batch(tmp_path):
    """Under DDP SpeechBrain's normaliser all-reduces every rank's batch statistics in the forward pass, so
    rank 1's NaN batch makes rank 0's statistics and loss non-finite too, in the same step: both ranks
    restore the statistics and make no update (tests/ddp_nonfinite_worker.py)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
           str(ROOT / "tests" / "ddp_nonfinite_worker.py"), str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    seen = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [s["second_finite"] for s in seen] == [False, False] and all(s["first_finite"] for s in seen)
    for s in seen:
        assert s["normaliser_restored"] and s["normaliser_finite"] and s["weights_unchanged"], seen


# ---------------------------------------------------------------------------
# User errors: one line on stderr, exit 2, nothing written (issue 11)


@pytest.mark.parametrize("override,message", [
    (["--num_encoder_layers", "abc"], "--num_encoder_layers=abc: expected an integer"),
    (["--no_such_key", "3"], "--no_such_key=3: unknown hyperparameter"),
    (["--lr", "[1"], "--lr=[1: not valid YAML"),
    (["--dynamic_batching", "maybe"], "--dynamic_batching=maybe: expected true or false"),
    (["--sharing", "{unique_blocks: 3}"], "sharing.unique_blocks=3 does not divide num_layers=4"),
])
def test_bad_override_is_one_line_naming_the_key(tone_corpus, tmp_path, override, message):
    out = tmp_path / "run"
    proc = subprocess.run(_cmd(tone_corpus, out, *override), capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_rerun_with_another_plan_leaves_the_run_untouched(trained_run, tmp_path):
    """A run folder is checked against the new model before anything is written into it."""
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    before = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    proc = subprocess.run(_cmd(trained_run.parent, run, "--sharing", "{unique_blocks: 4}"),
                          capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "holds another run" in proc.stderr and "nothing was written" in proc.stderr
    after = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert after == before  # hyperparams.yaml, command.txt, logs, checkpoints: byte for byte


def test_demo_steps_after_training(trained_run, learnable_corpus, tmp_path, monkeypatch):
    """run_demo.sh's steps 4-5 (export, one transcription, summary) on a trained run: exit 0 and the summary."""
    import importlib.util
    import json
    import time

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    corpus = tmp_path / "corpus"
    shutil.copytree(learnable_corpus, corpus)
    stats = {"splits": {"test": {"utterances": 8, "train_word_coverage_pct": 100.0}, "train": {"hours": 0.04}}}
    (corpus / "corpus_stats.json").write_text(json.dumps(stats))
    now = time.time()
    script = ROOT / "recipes" / "LibriSpeech" / "demo_summary.py"
    args = [str(run), str(corpus), "--start", str(now - 60), "--train-start", str(now - 50),
            "--train-end", str(now - 10)]
    # the demo is re-run to resume: the second export replaces the first (the first in this process, the
    # second as run_demo.sh runs it)
    spec = importlib.util.spec_from_file_location("demo_summary", script)
    demo_summary = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo_summary)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the transcription step sets it by default: not for this process
    assert demo_summary.main(args) == 0
    assert (run / "model" / "tinyconf-export.json").is_file()
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = sorted((corpus / "test").rglob("*.flac"))[0]
    lines = proc.stdout.splitlines()
    transcribed = [line for line in lines if line.startswith(f"{first}\t")]
    assert len(transcribed) == 1 and transcribed[0].split("\t")[1].strip()
    assert any(line.startswith("reference: ") for line in lines)
    wer = re.search(r"%WER ([\d.]+)", (run / "wer_test.txt").read_text()).group(1)
    assert f"test WER {float(wer)} %" in proc.stdout and "on 8 held-out sentences" in proc.stdout
    assert "training + evaluation: 0.7 min" in proc.stdout
    assert (run / "model" / "tinyconf-export.json").is_file()


def test_defaults_file_goes_under_the_command_line(tmp_path, capsys):
    """train.py --defaults FILE (run_demo.sh: cpu_demo.yaml): FILE's overrides, the command line's win."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("librispeech_train", TRAIN)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    import run_setup  # beside train.py, which put its folder on sys.path

    path = tmp_path / "d.yaml"
    path.write_text("lr: 0.5\nvocab_size: 7\n")
    for flag in (["--defaults", str(path)], [f"--defaults={path}"]):
        argv, defaults = run_setup.take_defaults_file(["h.yaml", *flag, "--lr", "0.1"])
        assert argv == ["h.yaml", "--lr", "0.1"] and defaults == {"lr": 0.5, "vocab_size": 7}
    assert run_setup.with_defaults("lr: 0.1", defaults) == {"lr": 0.1, "vocab_size": 7}
    later = tmp_path / "e.yaml"
    later.write_text("vocab_size: 9\n")
    argv, defaults = run_setup.take_defaults_file(["--defaults", str(path), "h.yaml", f"--defaults={later}"])
    assert argv == ["h.yaml"] and defaults == {"lr": 0.5, "vocab_size": 9}  # a later file wins
    with pytest.raises(SystemExit):
        run_setup.take_defaults_file(["h.yaml", "--defaults", str(tmp_path / "none.yaml")])
    assert "none.yaml: file not found" in capsys.readouterr().err
    demo = ROOT / "recipes" / "LibriSpeech" / "run_demo.sh"
    assert "--defaults recipes/LibriSpeech/cpu_demo.yaml" in demo.read_text()


def test_shell_scripts_have_no_pipe_closed_early():
    """Under `set -o pipefail`, `cmd | head` can fail with SIGPIPE (exit 141) when head exits first."""
    for script in [*ROOT.glob("scripts/*.sh"), *ROOT.glob("recipes/*/*.sh"), ROOT / ".ci" / "run"]:
        text = script.read_text()
        if "pipefail" in text:
            assert not re.search(r"\|\s*(head|grep -q|grep -m)", text), script


@pytest.mark.parametrize("flag, value, updates, logged", [
    # a wall-time budget: each launch makes at least one update, then stops
    ("--train_time_budget_minutes", "0", "1", "train_time_budget_minutes=0 spent"),
    # SpeechBrain 1.1.2 parses --optimizer_step_limit as a string (its step check then raises TypeError)
    ("--optimizer_step_limit", "2", "2", None),
])
def test_training_stops_early_and_still_evaluates(tone_corpus, tmp_path, flag, value, updates, logged):
    out = tmp_path / "run"
    proc = subprocess.run(_cmd(tone_corpus, out, "--number_of_epochs", "5", flag, value),
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (out / "train_log.txt").read_text()
    assert re.findall(r"steps: (\d+)[ ,]", log) == [updates]  # one epoch line: it stopped there
    assert "split: test" in log and (out / "wer_test.txt").is_file()
    if logged:
        assert logged in (out / "log.txt").read_text()


def test_a_budget_stop_decodes_dev_for_checkpoints_chosen_by_wer(tone_corpus, tmp_path):
    """The epoch a budget ends is the run's last: dev is decoded there even between valid_search_interval
    epochs, so select_checkpoints_by WER has a checkpoint to evaluate (it found none before: RuntimeError)."""
    out = tmp_path / "run"
    proc = subprocess.run(_cmd(tone_corpus, out, "--number_of_epochs", "5", "--valid_search_interval", "5",
                               "--train_time_budget_minutes", "0", "--select_checkpoints_by", "WER"),
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (out / "train_log.txt").read_text()
    assert re.findall(r"steps: (\d+)[ ,]", log) == ["1"] and "valid WER" in log
    assert (out / "wer_test.txt").is_file()


# ---------------------------------------------------------------------------
# Issue 21: what train.py may write into


def _train_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("librispeech_train", TRAIN)
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    return train


def _one_error(proc) -> str:
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return errors[0]


def test_train_refuses_an_exported_model_folder_before_writing(trained_run, tmp_path):
    """Item 4: --output_folder pointing at an export (and a mistyped --data_folder): one line, the export
    byte-identical (no save/, log.txt, train.py, hyperparams.yaml rewritten); the export still loads."""
    from speechbrain_tinyconf.pretrained.export import export, instantiate

    model = export(trained_run, tmp_path / "model")
    before = {p.relative_to(model): p.read_bytes() for p in model.rglob("*")}
    line = _one_error(subprocess.run(_cmd(tmp_path / "LibriSpeechh", model), capture_output=True, text=True, env=ENV,
                                     timeout=120))
    assert line == (f"error: output_folder {model} is an exported model folder (tinyconf-export.json): train.py "
                    "writes a run folder, which would break the model; use another --output_folder "
                    "(nothing was written)")
    assert {p.relative_to(model): p.read_bytes() for p in model.rglob("*")} == before
    instantiate(model)


def test_missing_data_folder_is_one_line_and_writes_nothing(tmp_path):
    """Item 4: a mistyped --data_folder: one line naming it, exit 2, no output folder."""
    out = tmp_path / "run"
    line = _one_error(subprocess.run(_cmd(tmp_path / "LibriSpeechh", out), capture_output=True, text=True, env=ENV,
                                     timeout=120))
    assert line == f"error: --data_folder {tmp_path / 'LibriSpeechh'}: folder not found (nothing was written)"
    assert not out.exists()


def test_second_train_py_on_the_same_folder_is_refused_naming_the_holder(tone_corpus, tmp_path):
    """Lock: while a process holds output_folder/train.lock, train.py refuses in one line naming the folder and
    the holder's PID, and writes nothing; once the holder is gone, its lock is taken over."""
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from speechbrain_tinyconf.recipe.runs import lock_output_folder as lock; "
         "h = lock(sys.argv[1]); print('locked', flush=True); sys.stdin.read()", str(out)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = sorted(p.name for p in out.iterdir())
        line = _one_error(subprocess.run(_cmd(tone_corpus, out), capture_output=True, text=True, env=ENV, timeout=120))
        assert line == (f"error: output_folder {out} is in use by another train.py (PID {holder.pid}, lock file "
                        f"{out / 'train.lock'}): wait for it to end or use another --output_folder")
        assert sorted(p.name for p in out.iterdir()) == before == ["train.lock"]
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    from speechbrain_tinyconf.recipe.runs import lock_output_folder

    handle, previous = lock_output_folder(out)  # the holder has ended: its lock (PID still in the file) is free
    try:
        assert previous == holder.pid and (out / "train.lock").read_text() == f"{os.getpid()}\n"
    finally:
        handle.close()


def test_lock_refuses_while_held_in_this_process_too(tmp_path):
    from speechbrain_tinyconf.recipe.runs import OutputFolderInUse, lock_output_folder

    handle, previous = lock_output_folder(tmp_path / "run")
    try:
        assert previous is None
        with pytest.raises(OutputFolderInUse, match=f"PID {os.getpid()}"):
            lock_output_folder(tmp_path / "run")  # another open file description: flock refuses
    finally:
        handle.close()


def test_failing_training_step_names_its_utterances():
    """Item 7: a batch the model cannot take (16 samples: too short for the front-end's padding) fails with
    its utterance ids in the message."""
    import torch
    from speechbrain.dataio.batch import PaddedBatch

    from speechbrain_tinyconf.recipe.hparams import load_detached

    train = _train_module()
    hp = load_detached(TINY, {"wav_augment_prob": 0, "fea_augment_prob": 0})
    asr = train.TransducerASR(modules=hp["modules"], opt_class=hp["opt_class"], hparams=hp,
                              run_opts={"device": "cpu"}, checkpointer=None)
    asr.init_optimizers()
    batch = PaddedBatch([{"id": utt, "sig": torch.randn(n), "tokens_bos": torch.LongTensor([0, 3]),
                          "tokens": torch.LongTensor([3]), "wrd": "A"} for utt, n in (("u-short", 16), ("u-tiny", 10))])
    with pytest.raises(RuntimeError, match=r"training step failed on the batch of utterance\(s\) u-short, u-tiny: "
                                           r".*[Pp]adding"):
        asr.fit_batch(batch)


def test_output_folder_inside_an_export_is_refused(tmp_path):
    """Item 4: a run folder inside an exported model (or ONNX) folder would change it too."""
    from speechbrain_tinyconf.recipe.runs import output_folder_problem

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "tinyconf-export.json").write_text("{}")
    assert output_folder_problem(tmp_path / "model" / "run") == (
        f"output_folder {tmp_path / 'model' / 'run'} is inside an exported model folder, {tmp_path / 'model'} "
        "(tinyconf-export.json): use a folder outside it (nothing was written)")
    assert output_folder_problem(tmp_path / "elsewhere") is None


def test_resumed_run_builds_its_model_without_svd(trained_run, learnable_corpus, tmp_path, monkeypatch):
    """Item 9 for training: a run with checkpoints (resumed) skips the SVD initialisation its checkpoint
    replaces; a fresh run keeps it (it is that run's initialisation)."""
    from speechbrain_tinyconf.lobes.lowrank import svd_init_is_skipped

    _train_module()
    import run_setup  # beside train.py: where load_or_exit builds the recipe

    seen = []
    real = run_setup.load_recipe_hparams
    monkeypatch.setattr(run_setup, "load_recipe_hparams",
                        lambda *a, **k: seen.append(svd_init_is_skipped()) or real(*a, **k))
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    from conftest import TRAINED_OVERRIDES  # the trained run's model

    pairs = dict(zip(TRAINED_OVERRIDES[::2], TRAINED_OVERRIDES[1::2]))
    for out in (run, tmp_path / "fresh"):
        overrides = {"data_folder": str(learnable_corpus), "output_folder": str(out)}
        lines = [f"{k.lstrip('-')}: {v}" for k, v in {**pairs, **overrides}.items()]
        run_setup.load_or_exit(str(TINY), "\n".join(lines))
    assert seen == [True, False]


def test_checkpoints_are_kept_by_dev_loss_and_by_dev_wer(tmp_path):
    """train.py keeps the best checkpoints by dev loss (the evaluation's average) and by dev WER: an epoch with the
    best WER and the worst loss (a real-speech run of 2026-12-06) survives; epochs without a decode are ranked by loss."""
    import importlib.util

    import torch
    from speechbrain.utils.checkpoints import Checkpointer

    spec = importlib.util.spec_from_file_location("librispeech_train", TRAIN)
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    checkpointer = Checkpointer(str(tmp_path), {"model": torch.nn.Linear(1, 1)})
    for epoch, loss, wer in ((1, 29.8, 70.4), (2, 30.0, 70.6), (3, 32.0, 69.8), (4, 29.5, None), (5, 29.6, 70.9)):
        meta = {"loss": loss, "epoch": epoch, **({"WER": wer} if wer is not None else {})}
        checkpointer.save_and_keep_only(meta=meta, min_keys=list(recipe.KEEP_BEST_BY), num_to_keep=2)
    # by loss: epochs 4 and 5; by WER: 3 and 1; the most recent: 5 (by loss alone only 4 and 5 would be left)
    assert sorted(c.meta["epoch"] for c in checkpointer.list_checkpoints()) == [1, 3, 4, 5]


def test_each_epoch_draws_its_own_dynamic_batches(tmp_path):
    """SpeechBrain does not call set_epoch on a batch_sampler given in the loader options (single process): the
    recipe's Brain does, at the start of each training epoch, so epoch 2 has other batches than epoch 1, and a
    resumed epoch has the batches of the same epoch of an uninterrupted run."""
    import importlib.util
    from types import SimpleNamespace

    import speechbrain as sb
    from speechbrain.dataio.dataset import DynamicItemDataset
    from speechbrain.dataio.sampler import DynamicBatchSampler

    spec = importlib.util.spec_from_file_location("librispeech_train", TRAIN)
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    data = DynamicItemDataset({f"u{i}": {"duration": 1.0 + (i % 7) / 3} for i in range(60)})

    def sampler():
        return DynamicBatchSampler(data, 6.0, num_buckets=4, length_func=lambda x: x["duration"], shuffle=True,
                                   batch_ordering="random")

    def epoch_batches(brain, epoch):
        recipe.TransducerASR.on_stage_start(brain, sb.Stage.TRAIN, epoch)
        return [list(batch) for batch in brain.train_batch_sampler]

    run = SimpleNamespace(train_batch_sampler=sampler(), train_sampler=None)
    first, second = epoch_batches(run, 1), epoch_batches(run, 2)
    assert first != second and sorted(sum(first, [])) == sorted(sum(second, [])) == list(range(60))
    resumed = SimpleNamespace(train_batch_sampler=sampler(), train_sampler=None)  # a new process resuming at epoch 2
    assert epoch_batches(resumed, 2) == second


def test_a_non_finite_loss_names_its_batch_and_patience_counts_batches_in_a_row(caplog):
    """The warning names the batch's utterances and ends the step; a finite batch resets the count, and
    SpeechBrain's patience still ends the run with its error after too many in a row."""
    import logging

    import torch

    train = _train_module()
    brain = object.__new__(train.TransducerASR)  # no modules needed for the check
    brain.nonfinite_count, brain.nonfinite_patience, brain.batch_ids = 0, 1, ("spk1-utt7", "spk2-utt3")
    brain.distributed_launch = False
    with caplog.at_level(logging.WARNING):
        brain.check_loss_isfinite(torch.tensor(1.5))
        assert not caplog.records
        with pytest.raises(train._NonFiniteLoss):
            brain.check_loss_isfinite(torch.tensor(float("nan")))
    assert "non-finite loss on the batch of utterance(s) spk1-utt7, spk2-utt3" in caplog.text
    brain.check_loss_isfinite(torch.tensor(2.0))  # a finite batch between: the count starts again
    assert brain.nonfinite_count == 0
    with pytest.raises(train._NonFiniteLoss):
        brain.check_loss_isfinite(torch.tensor(float("inf")))
    with pytest.raises(ValueError, match="patience is exhausted"):
        brain.check_loss_isfinite(torch.tensor(float("inf")))
    brain.nonfinite_count, brain.distributed_launch = 0, True  # DDP: every rank goes on to backward()
    assert brain.check_loss_isfinite(torch.tensor(float("nan"))) is None and brain.nonfinite_count == 1


def test_a_non_finite_batch_makes_no_update_restores_the_normaliser_and_is_written_out(tmp_path, caplog):
    """A NaN in one waveform makes the features, the normaliser's running statistics and the loss NaN.
    Without the guard, every later batch is normalised with NaN statistics (SpeechBrain updates them in
    forward) and the run dies; with it, the weights and statistics are those from before the batch, the
    batch and the weights are written out, and the next batch trains with a finite loss."""
    import logging

    import torch

    from speechbrain_tinyconf.recipe.hparams import load_detached

    train = _train_module()
    hp = load_detached(TINY, {"wav_augment_prob": 0, "fea_augment_prob": 0, "output_folder": str(tmp_path)})
    asr = train.TransducerASR(modules=hp["modules"], opt_class=hp["opt_class"], hparams=hp,
                              run_opts={"device": "cpu"}, checkpointer=None)
    asr.init_optimizers()
    torch.manual_seed(0)

    from nonfinite_batches import tiny_batch as batch

    assert torch.isfinite(asr.fit_batch(batch(False)))
    norm = asr.modules.normalize
    stats = (norm.glob_mean.clone(), norm.glob_std.clone(), norm.count)
    weights = {k: v.clone() for k, v in asr.modules.state_dict().items()}
    with caplog.at_level(logging.WARNING):
        assert not torch.isfinite(asr.fit_batch(batch(True)))
    assert "input audio finite: NO; statistics it made non-finite, restored: normalize.glob_mean, normalize.glob_std" \
        in caplog.text
    assert torch.equal(norm.glob_mean, stats[0]) and torch.equal(norm.glob_std, stats[1]) and norm.count == stats[2]
    assert all(torch.equal(weights[k], v) for k, v in asr.modules.state_dict().items()), "the NaN batch made an update"
    (dump_path,) = (tmp_path / "nonfinite").glob(f"step{asr.optimizer_step}-*.pt")
    dump = torch.load(dump_path, weights_only=False)
    assert dump["batch_ids"] == ["u0", "u1"] and torch.equal(dump["statistics"]["normalize.glob_mean"], stats[0])
    assert torch.isnan(dump["sig"][1, 100]) and dump["sig"].shape == (2, 8000)
    assert torch.isfinite(asr.fit_batch(batch(False))) and asr.nonfinite_count == 0


def test_under_bf16_the_normaliser_keeps_its_statistics_in_fp32(tmp_path):
    """Under bf16 autocast SpeechBrain's normaliser kept its running mean and std in bf16 (8-bit mantissa):
    once the count is large, a batch's update is below bf16's resolution and is lost, so the statistics froze
    at the first batches' values (found 2026-12-06 in every bf16 campaign checkpoint). The recipe normalises
    outside autocast: the statistics are fp32 and a late batch still moves them."""
    import torch

    from nonfinite_batches import tiny_batch
    from speechbrain_tinyconf.recipe.hparams import load_detached

    train = _train_module()
    hp = load_detached(TINY, {"wav_augment_prob": 0, "fea_augment_prob": 0, "output_folder": str(tmp_path)})
    asr = train.TransducerASR(modules=hp["modules"], opt_class=hp["opt_class"], hparams=hp,
                              run_opts={"device": "cpu", "precision": "bf16"}, checkpointer=None)
    asr.init_optimizers()
    torch.manual_seed(0)
    asr.fit_batch(tiny_batch(False))
    norm = asr.modules.normalize
    assert norm.glob_mean.dtype == torch.float32 and norm.glob_std.dtype == torch.float32
    norm.count = 10_000_000  # as after ~30 h of audio: each batch weighs ~1e-5
    before = norm.glob_mean.clone()
    asr.fit_batch(tiny_batch(False))
    assert not torch.equal(norm.glob_mean, before)  # in bf16 the update rounds away


@pytest.mark.parametrize("option", [(), ("--precision", "bf16")])
def test_the_run_records_the_precision_it_trains_in(tmp_path, option):
    """``--precision`` is a SpeechBrain run option, not an hparam: the run's hyperparams.yaml said fp32 for a
    bf16 run (2026-12-06). It records the precision the run gets, bf16 or its fp32 fallback on a CPU without it.
    The data folder is empty, so the run stops at data preparation, after writing hyperparams.yaml."""
    from speechbrain_tinyconf.recipe.cpu_training import cpu_precision

    (tmp_path / "data").mkdir()
    proc = subprocess.run(_cmd(tmp_path / "data", tmp_path / "run", *option), capture_output=True, text=True, env=ENV,
                          timeout=120)
    assert proc.returncode == 2 and "data preparation" in proc.stderr, proc.stderr[-2000:]
    want = cpu_precision(option[1], "cpu") if option else "fp32"
    recorded = re.findall(r"(?m)^precision: (\S+)", (tmp_path / "run" / "hyperparams.yaml").read_text())
    assert recorded == [want]


def test_an_unknown_checkpoint_metric_is_refused_before_training(tmp_path):
    (tmp_path / "data").mkdir()
    proc = subprocess.run(_cmd(tmp_path / "data", tmp_path / "run", "--select_checkpoints_by", "CER"),
                          capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == "error: select_checkpoints_by: 'CER': expected one of loss, WER"
