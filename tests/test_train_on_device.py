"""scripts/train_on_device.sh end to end on the CPU: prepare (a handful of speechocean762
utterances), train (the campaign model from pretrained/tinyconf-so762-5M, a few updates), collect;
what the device run would bring back and what --init_from makes of it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SO762 = ROOT.parent / "shared" / "real-speech" / "speechocean762"
SCRIPT = ROOT / "scripts" / "train_on_device.sh"
sys.path.insert(0, str(ROOT / "scripts"))
import device_pack  # noqa: E402

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not SO762.is_dir(), reason=f"speechocean762 absent ({SO762}); nothing to train on")]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "PYTHON": sys.executable}


def run(*args, timeout=900):
    proc = subprocess.run(["bash", str(SCRIPT), *map(str, args)], capture_output=True, text=True, env=ENV,
                          timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    return proc.stdout


def test_prepare_train_collect_on_cpu(tmp_path):
    carry = tmp_path / "carry"
    out = run("prepare", "--dest", carry, "--train-utts", 2, "--dev-utts", 2, "--no-wheels")
    assert "train 2 utterances" in out
    data = carry / "so762"
    for split, n in (("train", 2), ("dev", 2)):
        scp = (data / split / "wav.scp").read_text().splitlines()
        assert len(scp) == n and all(line.split()[1].startswith("audio/") for line in scp)  # relative paths
        assert all((data / line.split()[1]).is_file() for line in scp)
        assert len((data / split / "text").read_text().splitlines()) == n
    info = json.loads((carry / "carry.json").read_text())
    assert info["train"]["utterances"] == 2 and info["train"]["hours"] > 0

    # a few updates in two epochs (each validated and checkpointed); the device's defaults otherwise
    device_out, run_dir = tmp_path / "OUT", tmp_path / "run"
    log = run("train", "--no-install", "--device", "cpu", "--minutes", 8, "--out", device_out, "--data", data,
              "--run-dir", run_dir, "--workers", 0, "--batch-seconds", 10, "--", "--number_of_epochs", 2)
    assert "packed CKPT+" in log

    # what comes back: at most 8 files of at most 16 MiB, 64 MiB together, plain names, no folders
    files = sorted(device_out.iterdir())
    assert all(p.is_file() for p in files)
    device_pack.check_limits({p.name: p.stat().st_size for p in files})
    names = {p.name for p in files}
    assert {"log.txt", "train_log.txt", "manifest.json", "run.part0", "run.part1"} == names  # 18.5 MB of model: 2 parts
    manifest, _ = device_pack.verify(device_out)
    info = manifest["info"]
    assert info["status"] == "finished" and info["progress"]["validations"] == 2
    assert info["progress"]["steps"] >= 2 and info["progress"]["audio_hours"] > 0
    assert info["settings"]["device"] == "cpu" and info["wall_s"] < 8 * 60
    assert "--defaults scripts/device_finetune.yaml" in info["command"]
    assert "--test_splits" not in info["command"] and not list(run_dir.glob("wer_*.txt"))  # no test decoding

    # collect: a run folder that --init_from accepts, with exactly the trained weights
    dest = tmp_path / "results" / "device_run"
    text = run("collect", device_out, "--dest", dest)
    assert f"--init_from {dest}" in text and "--device cpu" in text
    from speechbrain_tinyconf.recipe.runs import choose_checkpoint, init_source

    source = init_source(dest)
    best = choose_checkpoint(run_dir, "best").sources[0]  # what the device's run folder itself would give
    assert Path(best.path).name == manifest["checkpoint"]["name"]
    assert best.meta["loss"] == manifest["checkpoint"]["valid_loss"]
    trained = torch.load(Path(best.path) / "model.ckpt", map_location="cpu")
    assert source.state_dict.keys() == trained.keys()
    assert all(torch.equal(source.state_dict[k], trained[k]) for k in trained)
    from speechbrain_tinyconf.pretrained.model_folder import read_checkpoint

    start = read_checkpoint(ROOT / "pretrained" / "tinyconf-so762-5M" / "model.ckpt")  # int4, read back as fp32
    assert set(start) & set(trained)
    assert any(not torch.equal(start[k], trained[k]) for k in trained if k in start)  # it did train
    assert source.tokenizer.read_bytes() == (ROOT / "pretrained" / "tinyconf-so762-5M" / "tokenizer.ckpt").read_bytes()
