"""The real-speech recipe (recipes/SpeechOcean762/train.py) end to end on a few speechocean762 utterances."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SO762 = ROOT.parent / "shared" / "real-speech" / "speechocean762"
TRAIN = ROOT / "recipes" / "SpeechOcean762" / "train.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not SO762.is_dir(), reason=f"speechocean762 absent ({SO762}); nothing to train on")]


def small_corpus(out: Path, counts) -> Path:
    """Kaldi data dirs with the first utterances of each split (audio paths kept relative to SO762)."""
    for split, n in counts.items():
        (out / split).mkdir(parents=True)
        utts = [line.split()[0] for line in (SO762 / split / "text").read_text().splitlines()[:n]]
        for name in ("wav.scp", "text", "utt2spk"):
            rows = {line.split(maxsplit=1)[0]: line for line in (SO762 / split / name).read_text().splitlines()}
            (out / split / name).write_text("\n".join(rows[u] for u in utts) + "\n")
    return out


def test_tiny_real_speech_run_train_valid_test(tmp_path):
    data = small_corpus(tmp_path / "so", {"train": 16, "dev": 4, "test": 4})
    out = tmp_path / "run"
    cmd = [sys.executable, str(TRAIN), str(ROOT / "tests" / "configs" / "tiny.yaml"), "--data_folder", str(data),
           "--output_folder", str(out), "--device", "cpu", "--number_of_epochs", "2", "--vocab_size", "40",
           "--train_splits", "[train]", "--dev_splits", "[dev]", "--test_splits", "[dev, test]",
           "--dynamic_batching", "False", "--batch_size", "4"]
    (data / "audio").symlink_to(SO762 / "audio")  # wav.scp paths are relative to the corpus folder
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (out / "train_log.txt").read_text()
    assert log.count("valid loss") == 2 and "split: test" in log and "split: dev" in log
    for split in ("dev", "test"):
        text = (out / f"wer_{split}.txt").read_text()
        assert "%WER" in text and "[ " in text
    header = (out / "train.csv").read_text().splitlines()[0]
    assert header == "ID,duration,wav,spk_id,wrd,start,stop"
    resolved = (out / "hyperparams.yaml").read_text()
    assert "number_of_ctc_epochs: 8" in resolved  # the recipe's CPU schedule, under the command line
    assert "number_of_epochs: 2" in resolved

    # the results report reads the same numbers back from the run folder
    report = tmp_path / "report"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "real_speech_report.py"), str(out), "--corpus",
                           str(SO762), "--out", str(report), "--progress"], capture_output=True, text=True, env=ENV,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report_json = json.loads((report / "real_speech.json").read_text())
    row = report_json["runs"][0]
    # the progress lines: one per validation, with the audio the run has seen (train.csv hours per epoch)
    lines = report_json["progress"]
    train_seconds = sum(float(r.split(",")[1]) for r in (out / "train.csv").read_text().splitlines()[1:])
    assert [r["epoch"] for r in lines] == [1, 2] and lines[-1]["updates"] == row["updates"]
    seen = 2 * train_seconds / 3600  # two epochs; the train logger keeps 3 significant digits
    assert abs(lines[-1]["audio_hours"] - seen) <= 0.005 * seen
    assert [r["dev_wer"] is not None for r in lines] == [False, True]  # cpu_schedule decodes dev at the end only
    assert (report / "progress.png").stat().st_size > 0
    test_wer = float((out / "wer_test.txt").read_text().split()[1])
    assert row["test"]["all"]["wer"] == round(test_wer, 2) and row["test"]["all"]["utterances"] == 4
    assert row["train_hours"]["synthetic"] == 0 and row["updates"] > 0
    assert f"| **{test_wer:.2f}** |" in (report / "real_speech.md").read_text()


def test_pocketsphinx_reference_smoke(tmp_path):
    pytest.importorskip("pocketsphinx")
    out = tmp_path / "ps"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "pocketsphinx_reference.py"), str(SO762), "--split",
                           "test", "--out", str(out), "--limit", "3", "--jobs", "1"],
                          capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary_test.json").read_text())
    assert summary["all"]["utterances"] == 3 and summary["all"]["words"] > 0
    assert len((out / "hyps_test.jsonl").read_text().splitlines()) == 3


def test_tts_kaldi_dir_for_sim_to_real(tmp_path):
    import shutil

    if not (shutil.which("espeak-ng") or shutil.which("flite")):
        pytest.skip("no TTS engine (bash scripts/install_tts.sh)")
    text = tmp_path / "text"
    text.write_text("u1 THREE TWO TWO SEVEN\nu2 WE CALL IT BEAR\nu3 WE CALL IT BEAR\n")
    out = tmp_path / "tts"
    script = ROOT / "recipes" / "SpeechOcean762" / "make_tts_kaldi.py"
    cmd = [sys.executable, str(script), str(text), str(out), "--voices-per-sentence", "2", "--digit-strings", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = (out / "tts_train" / "text").read_text().splitlines()
    assert len(lines) == (2 + 1) * 2 and all(line.startswith("tts-") for line in lines)  # repeats spoken once
    sys.path.insert(0, str(ROOT / "recipes" / "SpeechOcean762"))
    import kaldi_prepare

    summary = kaldi_prepare.prepare_kaldi(out, tmp_path / "csv", [str(out / "tts_train")])
    assert summary["tts_train"] == {"written": 6, "skipped": {}}
    again = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)
    assert "(0 synthesised now)" in again.stdout  # resumable: nothing redone


def test_split_named_train_merged_with_another_prepares_again_on_relaunch(tmp_path):
    """A relaunch (resume) prepares again: the merged train.csv must not be taken for the split called train."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("so762_train", TRAIN)
    so762 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(so762)
    recipe = so762._librispeech_recipe()
    data = small_corpus(tmp_path / "so", {"train": 6, "dev": 3})
    extra = tmp_path / "extra" / "tts_train"  # a second split elsewhere, absolute audio paths (as make_tts_kaldi.py)
    extra.mkdir(parents=True)
    for name in ("wav.scp", "text", "utt2spk"):
        lines = (data / "train" / name).read_text().splitlines()
        if name == "wav.scp":
            lines = [f"{line.split()[0]} {SO762 / line.split()[1]}" for line in lines]
        (extra / name).write_text("\n".join("tts-" + line for line in lines) + "\n")
    (data / "audio").symlink_to(SO762 / "audio")
    hparams = {"data_folder": str(data), "csv_folder": str(tmp_path / "run"), "sample_rate": 16000,
               "skip_prep": False, "validate_audio": False, "train_splits": ["train", str(extra)],
               "dev_splits": ["dev"], "test_splits": ["dev"], "train_csv": str(tmp_path / "run" / "train.csv"),
               "valid_csv": str(tmp_path / "run" / "valid.csv")}
    for _ in range(2):  # first launch, then the relaunch that used to fail with "utterance id ... in both"
        csvs = recipe.prepare_csvs(hparams, prepare=so762.prepare_kaldi_splits)
        rows = csvs["train"].read_text().splitlines()[1:]
        assert len(rows) == 12 and sum(r.startswith("tts-") for r in rows) == 6


def test_campaign_script_skips_a_finished_pretraining_and_refuses_unknown_stages(tmp_path):
    script = ROOT / "recipes" / "SpeechOcean762" / "run_campaign.sh"
    (tmp_path / "pretrain").mkdir()
    (tmp_path / "pretrain" / "wer_dev.txt").write_text("%WER 97.62 [ 1 / 1 ]\n")
    env = {**ENV, "STAGES": "1", "OUT": str(tmp_path)}
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0 and "pretrain is done, skipped" in proc.stdout, proc.stderr
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, env={**env, "STAGES": "7"}, timeout=60)
    assert proc.returncode == 2 and "unknown stage 7" in proc.stderr
