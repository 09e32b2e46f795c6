"""Smoke test of bench/benchmark.py: one tiny variant with --quick; checks the report's fields, not timings.
Also bench/timing.py and bench/train_throughput.py."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "configs" / "tiny.yaml"


def test_timing_helpers_count_and_order_their_calls():
    """bench/timing.py, the one timing helper of the bench scripts: warm-up calls untimed, A/B interleaved."""
    sys.path.insert(0, str(ROOT / "bench"))
    import timing

    calls = []
    result, seconds = timing.median_time(lambda: calls.append(1) or len(calls), reps=3)
    assert result == len(calls) == 4 and seconds >= 0  # one warm-up call, three timed
    calls.clear()
    timing.median_time(lambda: calls.append(1), reps=2, warmup=0)
    assert len(calls) == 2
    order = []
    out = timing.interleaved(lambda: order.append("a"), lambda: order.append("b"), reps=3)
    assert order == ["a", "b"] * 4 and out["reps"] == 3 and len(out["ours_all_ms"]) == len(out["reference_all_ms"]) == 3
    assert timing.percentile([1, 2, 3, 4], 50) == 2.5 and timing.percentile([5], 90) == 5
    timers = timing.Timers()
    double = timers.wrap("double", lambda v: 2 * v)
    assert double(2) == 4 and len(timers.seconds["double"]) == 1
    assert timing.peak_rss_mb() > 0 and timing.cpu_name()


@pytest.mark.slow
def test_benchmark_quick_writes_every_section(tmp_path, capsys, monkeypatch):
    """benchmark.py's main() in this process (sections 1-2); each transcription configuration still runs in a
    child process of its own, as the RSS checks below need."""
    import torch

    out = tmp_path / "results"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import benchmark

    threads = torch.get_num_threads()
    capsys.readouterr()
    try:
        status = benchmark.main(["--quick", "--variants", str(TINY), "--out", str(out)])
    finally:
        torch.set_num_threads(threads)  # main() sets the encoder timings' thread count for the process
    printed = capsys.readouterr()
    assert status == 0, printed.err[-3000:]
    data = json.loads((out / "benchmark.json").read_text())
    report = (out / "benchmark.md").read_text()
    assert printed.out.strip() == report.strip()  # the printed table is the saved one

    meta = data["meta"]
    assert meta["quick"] and "bench/benchmark.py --quick" in meta["command"] and meta["audio"]["seconds"] > 1

    (size,) = data["sizes"]
    assert size["variant"] == "tiny" and size["virtual_depth"] == 4
    assert 0 < size["unique_params"] < size["virtual_params"]  # tiny.yaml shares: 2 blocks for 4 layers
    assert size["int8_mb_estimate"] < size["fp32_mb"] and 0 < size["onnx_int8_mb"] < size["onnx_fp32_mb"]
    assert 0 < size["onnx_int4_mb"] < size["onnx_int8_mb"]
    assert size["macs_per_second"] > 0

    (ratio,) = data["ratios"]
    for key in ("forward", "train", "vs_full_rank"):  # tiny.yaml is low rank: it also has a full-rank twin
        assert ratio[key]["ours_ms"] > 0 and ratio[key]["reference_ms"] > 0 and ratio[key]["ratio"] > 0
        assert len(ratio[key]["ours_all_ms"]) == ratio[key]["reps"]

    rows = data["transcription"]
    assert {(r["engine"], r["mode"]) for r in rows} == {
        (e, m) for e in ("pytorch", "ort-fp32", "ort-int8", "ort-int4") for m in ("full", "stream320", "stream640")}
    for r in rows:
        assert r["threads"] == 1 and r["rtf"] > 0
        assert 0 < r["rss_after_imports_mb"] <= r["peak_rss_mb"] < 8000
        if r["mode"] != "full":
            assert r["chunk_frames"] in (8, 16) and r["chunks"] >= 3
            assert 0 < r["encoder_median_ms"] <= r["chunk_median_ms"] <= r["chunk_p90_ms"]
            assert 0 < r["fraction_of_chunk"] < 10
    # onnxruntime children import no torch: far below a torch process.
    ort_rss = max(r["peak_rss_mb"] for r in rows if r["engine"] != "pytorch")
    assert ort_rss < min(r["rss_after_imports_mb"] for r in rows if r["engine"] == "pytorch")
    # PyTorch and onnxruntime built from the same seed decode the same tokens.
    for a in data["agreement"]:
        assert a["fp32_vs_pytorch"] == 1.0 and 0 <= a["int8_vs_fp32"] <= 1 and 0 <= a["int4_vs_fp32"] <= 1
    assert data["targets"] and all(isinstance(t["met"], bool) for t in data["targets"])
    for title in ("## Sizes", "## Encoder time against", "## Full-utterance transcription", "## Streaming",
                  "## Token agreement", "## Targets"):
        assert title in report


@pytest.mark.slow
def test_train_throughput_rows_are_ratios_to_the_fp32_reference(tmp_path):
    """bench/train_throughput.py: each setting's audio seconds per wall second, divided by the reference's.
    On tests/configs/tiny.yaml (with the campaign's options): the rows do not depend on the model's size."""
    out = tmp_path / "tp"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "train_throughput.py"), "--settings", "0,2,4",
                           "--steps", "1", "--rounds", "1", "--threads", "1", "--out", str(out),
                           "--corpus", "none", "--init-from", "none",
                           "--hparams", str(TINY), "--overrides", "{emb_dim: 32}"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads((out / "throughput.json").read_text())["rows"]
    assert [r["setting"] for r in rows] == ["fp32 (reference)", "+ bf16", "+ batched RNN-T loss"]
    assert rows[0]["ratio"] == 1.0 and rows[1]["precision"] == "bf16" and rows[1]["fast_dropout"]
    assert rows[1]["ratio"] == pytest.approx(rows[1]["audio_per_second"] / rows[0]["audio_per_second"], rel=0.01)
    assert [r["loss"] for r in rows] == ["torchaudio", "torchaudio", "batched"]
    report = (out / "throughput.md").read_text()
    assert "| + bf16 | bf16 | fast | 16 | torchaudio |" in report and "weights: random" in report
    assert "model: tests/configs/tiny.yaml + {emb_dim: 32} with the campaign's options" in report
