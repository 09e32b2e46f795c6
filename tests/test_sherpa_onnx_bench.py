"""bench/sherpa_onnx_bench.py on the tiny model trained with the sherpa-onnx options: every (mode, precision)
row is measured in a torch-free child, sizes are those of the exported files; a bad source fails in one line."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "sherpa_onnx_bench.py"

pytestmark = pytest.mark.slow  # trains (session fixture) and exports three times


def _run(*args, timeout=900):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, str(BENCH), *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=str(ROOT))


def _load_bench():
    spec = importlib.util.spec_from_file_location("sherpa_onnx_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_row_is_measured(trained_sherpa_run, learnable_corpus, tmp_path, capsys):
    """The script's main() in this process (the exports); every row still in its own child process."""
    pytest.importorskip("sherpa_onnx")
    files = sorted((learnable_corpus / "test").rglob("*.flac"))
    audio = tmp_path / "long.wav"  # ~6 s: several chunks of either size
    sf.write(audio, np.concatenate([sf.read(f, dtype="float32")[0] for f in files[:6]]), 16000)
    out = tmp_path / "out"
    bench = _load_bench()
    capsys.readouterr()
    status = bench.main([str(trained_sherpa_run), "--audio", str(audio), "--reps", "1", "--out", str(out)])
    printed = capsys.readouterr()
    assert status == 0, printed.err[-3000:]
    report = json.loads((out / "sherpa_onnx.json").read_text())
    assert printed.out.strip() == (out / "sherpa_onnx.md").read_text().strip()
    rows = {(r["mode"], r["precision"]): r for r in report["rows"]}
    assert set(rows) == {(m, p) for m in ("full", "stream320", "stream640") for p in ("fp32", "int8", "int4")}
    for (mode, precision), row in rows.items():
        assert not row["torch_imported"]  # a deployment's process: sherpa-onnx and numpy only
        assert row["peak_rss_mb"] >= row["rss_after_imports_mb"] > 0
        if mode == "full":
            assert 0 < row["rtf"] < 1 and row["seconds_median"] == pytest.approx(row["rtf"] * row["audio_seconds"])
        else:
            assert row["chunk_audio_ms"] == {"stream320": 320, "stream640": 640}[mode]
            assert row["chunks_timed"] >= 2 and row["chunk_median_ms"] <= row["chunk_p90_ms"]
            assert row["chunk_fraction"] == pytest.approx(row["chunk_median_ms"] / row["chunk_audio_ms"])
        assert report["sizes"][mode]["int4"] < report["sizes"][mode]["int8"] < report["sizes"][mode]["fp32"]
    assert rows[("full", "fp32")]["text"].strip()  # the trained model transcribes the tones
    assert report["unique_params"] > 0 and "Targets:" in (out / "sherpa_onnx.md").read_text()


def test_a_model_sherpa_cannot_run_is_refused_in_one_line(tmp_path):
    pytest.importorskip("sherpa_onnx")
    proc = _run(ROOT / "tests" / "configs" / "tiny.yaml", "--out", tmp_path, timeout=300)
    last = proc.stderr.strip().splitlines()[-1]  # (SpeechBrain may print an import notice first)
    assert proc.returncode == 1 and last.startswith("error: ") and "Traceback" not in proc.stderr
    assert "tiny.yaml" in last and "train with frontend: kaldi" in last
    assert not (tmp_path / "sherpa_onnx.json").exists()
    proc = _run(tmp_path / "missing", "--out", tmp_path, timeout=300)
    assert proc.returncode == 1 and "missing: not found" in proc.stderr
