"""bench/real_speech_report.py's groups: seeds of one setting are averaged; a longer run is its own row."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _report_module():
    spec = importlib.util.spec_from_file_location("real_speech_report", ROOT / "bench" / "real_speech_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(seed, updates, wer, loss, synthetic=0.0):
    return {"variant": "v", "vocab_size": 256, "seed": seed, "updates": updates, "unique_params": 1,
            "train_hours": {"real": 2.9, "synthetic": synthetic}, "test": {"all": {"wer": wer}}, "test_loss": loss}


def test_seeds_are_averaged_and_longer_runs_kept_apart():
    groups = _report_module().groups([_run(1, 2000, 97.0, 46.0), _run(2, 2000, 95.0, 44.0),
                                      _run(1, 7762, 91.0, 37.0), _run(1, 2000, 96.0, 45.0, synthetic=3.0)])
    rows = {(g["data"], tuple(g["updates"])): g for g in groups}
    assert set(rows) == {("real", (2000, 2000)), ("real", (7762,)), ("real + synthetic", (2000,))}
    two_seeds = rows[("real", (2000, 2000))]
    assert two_seeds["seeds"] == [1, 2] and two_seeds["test_wer_mean"] == 96.0 and two_seeds["test_loss_min"] == 44.0
    assert rows[("real", (7762,))]["test_wer_mean"] == 91.0
