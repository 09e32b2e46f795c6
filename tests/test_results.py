"""RESULTS.md is generated from the measuring scripts' tables and cannot drift from them."""

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "make_results.py"


def load():
    spec = importlib.util.spec_from_file_location("make_results", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_results_md_is_up_to_date():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_every_generated_row_is_in_results_md():
    results = (ROOT / "RESULTS.md").read_text(encoding="utf-8")
    for _, rel in load().SOURCES:
        rows = [line for line in (ROOT / rel).read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
        assert rows, rel
        assert all(row in results for row in rows), rel


def test_demo_table_from_a_run_folder(tmp_path):
    run = tmp_path / "demo"
    run.mkdir()
    (run / "train_log.txt").write_text(
        "epoch: 1, lr: 1.17e-03, steps: 885 - train loss: 56.27 - valid loss: 13.46, valid WER: 54.60, valid CER: 37.21\n"
        "epoch: 2, lr: 1.0e-03, steps: 1770, audio_hours: 6.6 - train loss: 9.5 - valid loss: 5.2, valid WER: 30.10, "
        "valid CER: 18.0\n"  # since the recipe logs the audio seen
        "split: test, epochs trained: 1 - test loss: 5.25, test WER: 29.39, test CER: 18.87\n")
    (run / "wer_test.txt").write_text("%WER 29.39 [ 460 / 1565, 29 ins, 88 del, 343 sub ]\n")
    (run / "command.txt").write_text("python recipes/LibriSpeech/train.py hparams/x.yaml\n")
    (run / "log.txt").write_text("2026-12-01 15:55:34,871 - a - INFO - Beginning experiment!\n"
                                 "2026-12-01 16:23:19,612 - b - INFO - done\n")
    text = load().demo_markdown(run)
    assert "| 1 | 885 | 56.27 | 13.46 | 54.60 |" in text and "| 2 | 1,770 | 9.5 | 5.2 | 30.10 |" in text
    assert "**WER 29.39 %**" in text and "27.8 min" in text  # 27 min 45 s and "on 2026-12-01" in text
    assert "python recipes/LibriSpeech/train.py hparams/x.yaml" in text


def test_not_a_run_folder_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--demo-run", str(tmp_path), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "train_log.txt" in proc.stderr


def test_a_table_made_from_a_changed_tree_says_so(tmp_path, monkeypatch):
    """bench/provenance.commit marks uncommitted changes to tracked files, and RESULTS.md keeps the mark."""
    from conftest import bench_script

    provenance = bench_script("provenance")
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "a.txt").write_text("1\n")
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    monkeypatch.setattr(provenance, "ROOT", repo)
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    (repo / "new.txt").write_text("untracked files do not count\n")
    assert provenance.commit() == head
    (repo / "a.txt").write_text("2\n")
    assert provenance.commit() == f"{head}+dirty"
    monkeypatch.setattr(provenance, "ROOT", tmp_path / "not-a-repo")
    (tmp_path / "not-a-repo").mkdir()
    assert provenance.commit() == "unknown"
    table = tmp_path / "t.md"
    text = f"Generated on 2026-12-06 (commit {head}+dirty).\n"
    assert load().provenance(table, text) == f"2026-12-06, commit {head}+dirty (stated by the table)"
