"""scripts/device_pack.py (a run brought back from the device machine in <= 8 files of <= 16 MiB)
and the parts of scripts/device_run.py that need no training."""

import argparse
import doctest
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import device_pack  # noqa: E402
import device_run  # noqa: E402
from device_pack import MIB, PackError  # noqa: E402


def test_doctests():
    for module in (device_pack, device_run):
        assert doctest.testmod(module).failed == 0


@pytest.mark.parametrize("size", [0, 1, 999, 1000, 1001, 3000, 3777])
def test_split_and_join_are_byte_exact(size):
    data = os.urandom(size)
    parts = device_pack.split_bytes(data, 1000)
    assert b"".join(parts) == data
    assert all(len(p) <= 1000 for p in parts)
    assert len(parts) == max(1, -(-size // 1000))


def test_limits_of_what_comes_back():
    device_pack.check_limits({f"f{i}": 16 * MIB for i in range(4)})  # 64 MiB together: the most
    with pytest.raises(PackError, match="9 files"):
        device_pack.check_limits({f"f{i}": 1 for i in range(9)})
    with pytest.raises(PackError, match="^big: "):
        device_pack.check_limits({"big": 16 * MIB + 1})
    with pytest.raises(PackError, match="together"):
        device_pack.check_limits({f"f{i}": 15 * MIB for i in range(5)})
    with pytest.raises(PackError, match="a name"):
        device_pack.check_limits({"a b": 1})


def torch_like_zip(path: Path, payload: bytes) -> None:
    """A file in torch.save's container format (a zip archive)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", payload)


def fake_run(root: Path) -> Path:
    """A run folder: three checkpoints (the lowest loss one incomplete), tokenizer, logs, CSVs, lock."""
    run = root / "run"
    for name, loss, complete in (("CKPT+2026-01-01+00-00-01+00", 2.0, True),
                                 ("CKPT+2026-01-01+00-00-02+00", 1.0, True),
                                 ("CKPT+2026-01-01+00-00-03+00", 0.5, False)):
        ckpt = run / "save" / name
        ckpt.mkdir(parents=True)
        (ckpt / "CKPT.yaml").write_text(f"# yamllint disable\nend-of-epoch: true\nepoch: 1\nloss: {loss}\n")
        torch_like_zip(ckpt / "model.ckpt", os.urandom(3000) + name.encode())
        torch_like_zip(ckpt / "optimizer.ckpt", os.urandom(6000))
        (ckpt / "normalizer.ckpt").write_bytes(os.urandom(200))
        (ckpt / "counter.ckpt").write_text("1")
        if not complete:  # cut short as a killed save leaves it
            data = (ckpt / "model.ckpt").read_bytes()
            (ckpt / "model.ckpt").write_bytes(data[: len(data) // 2])
    (run / "tokenizer").mkdir()
    (run / "tokenizer" / "256_unigram.model").write_bytes(os.urandom(700))
    for name in ("hyperparams.yaml", "train_log.txt", "log.txt", "command.txt"):
        (run / name).write_text(f"{name}\n")
    (run / "train.csv").write_text("ID,duration,wav\n")
    (run / "train.lock").write_text("123\n")
    return run


def test_pack_then_unpack_restores_the_best_checkpoint_byte_for_byte(tmp_path):
    run, out = fake_run(tmp_path), tmp_path / "out"
    out.mkdir()
    (out / "log.txt").write_text("the device's log\n")
    manifest = device_pack.pack_run(run, out, info={"updates": 3}, part_bytes=1000)
    best = "CKPT+2026-01-01+00-00-02+00"  # the 0.5 one is torn: passed over
    assert manifest["checkpoint"]["name"] == best and manifest["checkpoint"]["valid_loss"] == 1.0
    paths = [f["path"] for f in manifest["files"]]
    assert f"save/{best}/model.ckpt" in paths and f"save/{best}/normalizer.ckpt" in paths
    assert f"save/{best}/optimizer.ckpt" not in paths
    assert not any(p.endswith((".csv", ".lock")) for p in paths)
    assert {"tokenizer/256_unigram.model", "hyperparams.yaml", "train_log.txt"} <= set(paths)
    assert len(manifest["parts"]) > 3 and all(p["bytes"] <= 1000 for p in manifest["parts"])
    assert manifest["info"] == {"updates": 3}

    dest = tmp_path / "back"
    device_pack.unpack(out, dest)
    for rel in paths:
        assert (dest / rel).read_bytes() == (run / rel).read_bytes(), rel
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == sorted(paths)
    with pytest.raises(PackError, match="not an empty folder"):
        device_pack.unpack(out, dest)


def test_optimizer_only_when_asked(tmp_path):
    manifest = device_pack.pack_run(fake_run(tmp_path), tmp_path / "out", include_optimizer=True)
    assert any(f["path"].endswith("/optimizer.ckpt") for f in manifest["files"])
    assert manifest["checkpoint"]["optimizer_included"] is True


@pytest.mark.parametrize("damage", ["flip", "truncate", "remove"])
def test_a_damaged_part_is_refused_with_one_line_naming_it(tmp_path, damage):
    out = tmp_path / "out"
    device_pack.pack_run(fake_run(tmp_path), out, part_bytes=1000)
    part = out / "run.part1"
    data = bytearray(part.read_bytes())
    if damage == "flip":
        data[10] ^= 0xFF
        part.write_bytes(bytes(data))
    elif damage == "truncate":
        part.write_bytes(bytes(data[:-1]))
    else:
        part.unlink()
    with pytest.raises(PackError) as err:
        device_pack.verify(out)
    assert str(part) in str(err.value) and "\n" not in str(err.value)
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "device_pack.py"), "unpack", str(out),
                           str(tmp_path / "dest")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"error: {part}")
    assert not (tmp_path / "dest").exists()


def test_pack_refuses_what_would_not_come_back_and_writes_nothing(tmp_path):
    run, out = fake_run(tmp_path), tmp_path / "out"
    out.mkdir()
    for i in range(6):  # 6 files already there + manifest + 2 parts = 9
        (out / f"extra{i}.txt").write_text("x")
    with pytest.raises(PackError, match="at most 8"):
        device_pack.pack_run(run, out, part_bytes=2000)
    assert sorted(p.name for p in out.iterdir()) == [f"extra{i}.txt" for i in range(6)]


def test_no_checkpoint_with_a_loss(tmp_path):
    run = tmp_path / "run"
    (run / "save" / "CKPT+2026-01-01+00-00-01+00").mkdir(parents=True)
    with pytest.raises(PackError, match="no complete checkpoint"):
        device_pack.pack_run(run, tmp_path / "out")
    with pytest.raises(PackError, match="manifest.json: missing"):
        device_pack.verify(tmp_path / "out")


def test_unpack_refuses_paths_outside_the_folder(tmp_path):
    out = tmp_path / "out"
    device_pack.pack_run(fake_run(tmp_path), out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"][0]["path"] = "../escaped"
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PackError, match="not a plain relative path"):
        device_pack.unpack(out, tmp_path / "dest")
    assert not (tmp_path / "escaped").exists()


# ---------------------------------------------------------------------------
# device_run.py without training


def test_run_until_stops_a_process_group_at_the_deadline():
    log = io.StringIO()
    started = time.monotonic()
    status = device_run.run_until([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
                                  time.monotonic() + 2.0, log, grace_s=2.0)
    assert status == "stopped at the deadline"
    assert time.monotonic() - started < 15
    assert "up" in log.getvalue() and "deadline reached" in log.getvalue()
    assert device_run.run_until([sys.executable, "-c", "print('done')"], time.monotonic() + 30, log) == "finished"
    assert device_run.run_until([sys.executable, "-c", "raise SystemExit(4)"], time.monotonic() + 30,
                                log) == "failed (exit 4)"


def test_train_progress_reads_the_last_validation(tmp_path):
    log = tmp_path / "train_log.txt"
    log.write_text("epoch: 1, lr: 1.00e-04, steps: 35, audio_hours: 2.88 - train loss: 30.1 - valid loss: 20.5\n"
                   "epoch: 2, lr: 2.00e-04, steps: 70, audio_hours: 5.76 - train loss: 25.0 - valid loss: 18.25\n")
    assert device_run.train_progress(log) == {"validations": 2, "epoch": 2, "lr": 2e-4, "steps": 70,
                                              "audio_hours": 5.76, "train_loss": 25.0, "valid_loss": 18.25}
    assert device_run.train_progress(tmp_path / "absent.txt") == {"validations": 0}


def test_recipe_command_is_the_campaign_with_the_device_settings(tmp_path):
    args = argparse.Namespace(
        data=str(tmp_path), device="cuda:0", init_from=device_run.INIT_FROM, workers=12, lr=0.003, warmup=150,
        batch_seconds=400.0, streaming=True, extra=["--seed", "7"])
    cmd = device_run.recipe_command(args, tmp_path / "run", 6.5)
    text = " ".join(cmd)
    assert cmd[1:3] == ["recipes/SpeechOcean762/train.py", device_run.MODEL]
    defaults = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--defaults"]
    assert defaults == [*device_run.CAMPAIGN, device_run.DEVICE_DEFAULTS]
    for piece in ("--device cuda:0", "--train_time_budget_minutes 6.50", "--lr 0.003", "--warmup_steps 150",
                  "--num_workers 12", "--streaming True", "--noprogressbar", "--seed 7",
                  f"--init_from {device_run.INIT_FROM}"):
        assert piece in text, piece
    batch = cmd[cmd.index("--dynamic_batch_sampler") + 1]
    assert "\n" not in batch and "max_batch_len: 400.0" in batch and "max_batch_len_val: 600" in batch
    for path in (*device_run.CAMPAIGN, device_run.DEVICE_DEFAULTS, device_run.MODEL, device_run.INIT_FROM):
        assert (ROOT / path).exists(), path


def test_the_run_call_fits_the_device_tool():
    call = device_run.run_call()
    assert call == {"command": "bash scripts/train_on_device.sh train", "carry": [".device_carry"], "timeout_s": 600}
    other = device_run.run_call("carry2")
    assert other["command"].startswith("WHEELS=carry2/whl ") and "--data carry2/so762" in other["command"]
    assert len(other["command"]) <= 2000
    # the script ends itself (its deadline) well inside the call's limit, and trains for most of it
    train = device_run.build_parser().parse_args(["train"])
    assert train.minutes * 60 + 60 <= call["timeout_s"]
    assert train.device == "cuda:0" and train.init_from == device_run.INIT_FROM
    training = train.minutes * 60 - train.startup_reserve - train.final_reserve - train.pack_reserve
    assert training >= 6 * 60


def test_wheels_are_the_pinned_versions_of_what_the_device_lacks():
    pinned = device_run.pins()
    for name in device_run.WHEELS:
        assert name.lower().replace(".", "-") in pinned, name
    assert "ruamel.yaml.clib" not in device_run.WHEELS  # optional C extension, left behind to save space


def test_carry_folder_is_ignored_by_git():
    proc = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", f"{device_run.CARRY}/x"])
    assert proc.returncode == 0
