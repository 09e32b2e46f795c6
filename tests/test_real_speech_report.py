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


def _earlier_json(path):
    import json

    line = {"run": "old", "epoch": 8, "updates": 3104, "audio_hours": 23.0, "wall_hours": 1.86, "dev_loss": 30.81,
            "dev_wer": 74.43, "cpu_hours_total": 2.5}
    path.write_text(json.dumps({"runs": [dict(_run(3407, 3104, 74.5, 28.4), run="old", run_dir="gone/old", virtual_params=2, wall_hours=1.86)],
                                "progress": [line], "pocketsphinx": {"test": {"all": {"wer": 85.48}}}}))
    return path


def test_earlier_report_chains_a_campaign_across_lost_run_folders(tmp_path):
    import json

    report = _report_module()
    run = tmp_path / "new"
    run.mkdir()
    (run / "log.txt").write_text(
        "2026-12-05 19:00:00,000 - speechbrain.core - INFO - Beginning experiment!\n"
        "2026-12-05 19:36:00,000 - speechbrain.utils.train_logger - INFO - epoch: 1, lr: 1.00e-03, steps: 388, "
        "audio_hours: 2.88 - train loss: 36.60 - valid loss: 31.67, valid WER: 75.06, valid CER: 50.57\n")
    earlier = _earlier_json(tmp_path / "earlier.json")
    out = tmp_path / "out"
    assert report.main([str(run), "--corpus", str(tmp_path), "--progress", "--earlier", str(earlier), "--out", str(out)]) == 0
    data = json.loads((out / "real_speech.json").read_text())
    assert [(r["run"], r["cpu_hours_total"]) for r in data["progress"]] == [("old", 2.5), ("new", 3.1)]
    assert [r["run"] for r in data["runs"]] == ["old"] and data["pocketsphinx"]["test"]["all"]["wer"] == 85.48
    # the report of this session, chained again from its own output: the run given replaces its old lines
    again = tmp_path / "again"
    assert report.main([str(run), "--corpus", str(tmp_path), "--progress", "--earlier", str(out / "real_speech.json"),
                        "--out", str(again)]) == 0
    assert json.loads((again / "real_speech.json").read_text())["progress"] == data["progress"]


def test_earlier_that_is_not_a_report_is_one_line(tmp_path):
    import pytest

    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(SystemExit, match=r"--earlier .*bad.json: not a real_speech.json"):
        _report_module().main([str(tmp_path), "--corpus", str(tmp_path), "--earlier", str(bad), "--out", str(tmp_path / "o")])


def test_idle_time_between_launches_is_not_counted(tmp_path):
    """SpeechBrain writes its quirks lines before "Beginning experiment!": the hours between a finished
    launch and the next one (here 40 minutes) are not training time."""
    report = _report_module()
    log = tmp_path / "log.txt"
    quirks = "speechbrain.utils.quirks - INFO - Applied quirks (see `speechbrain.utils.quirks`): [allow_tf32]\n"
    log.write_text(
        "2026-12-05 19:00:00,000 - " + quirks
        + "2026-12-05 19:00:00,000 - speechbrain.core - INFO - Beginning experiment!\n"
        "2026-12-05 19:10:00,000 - librispeech_train - INFO - test WER written to wer_test.txt\n"
        "2026-12-05 19:50:00,000 - " + quirks
        + "2026-12-05 19:50:00,000 - speechbrain.core - INFO - Beginning experiment!\n"
        "2026-12-05 20:05:00,000 - speechbrain.utils.train_logger - INFO - epoch: 1, lr: 1.00e-03, steps: 388, "
        "audio_hours: 2.88 - train loss: 36.60 - valid loss: 31.67\n")
    assert report.wall_seconds(log) == 25 * 60
    assert [r["wall_hours"] for r in report.progress(tmp_path)] == [round(25 / 60, 3)]


def test_pilots_count_hours_from_their_own_start(tmp_path):
    """bench/pilot_report.py: two pilots from the same start are side by side, each pilot's wall hours from its own
    launch (real_speech_report --progress would chain the second after the first), its options from command.txt."""
    import json
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location("pilot_report", ROOT / "bench" / "pilot_report.py")
    pilot_report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pilot_report)
    runs = []
    for name, start, lr in (("a", "19:00", "0.0005"), ("b", "21:00", "0.001")):
        run = tmp_path / name
        run.mkdir()
        hour = int(start[:2])
        (run / "log.txt").write_text(
            f"2026-12-05 {start}:00,000 - speechbrain.core - INFO - Beginning experiment!\n"
            f"2026-12-05 {hour}:30:00,000 - speechbrain.utils.train_logger - INFO - epoch: 1, lr: 4.40e-04, steps: 388, "
            "audio_hours: 2.88 - train loss: 30.15 - valid loss: 29.79, valid WER: 70.36, valid CER: 46.91\n")
        (run / "command.txt").write_text(
            f"python recipes/SpeechOcean762/train.py --defaults recipes/SpeechOcean762/cpu_schedule.yaml hparams/m.yaml --data_folder d --output_folder "
            f"{run} --device cpu --init_from pretrained/x --lr {lr} --train_splits '[train, /abs/tts]'\n")
        (run / "train.csv").write_text("ID,duration\nu1,3600\ntts-x-1,1800\n")
        runs.append(str(run))
    out = tmp_path / "out"
    assert pilot_report.main([*runs, "--out", str(out)]) == 0
    lines = json.loads((out / "pilots.json").read_text())
    assert [(r["run"], r["wall_hours"]) for r in lines] == [("a", 0.5), ("b", 0.5)]
    assert lines[1]["options"] == "--init_from pretrained/x --lr 0.001 --train_splits '[train, /abs/tts]'"
    assert lines[0]["data"] == {"real": 1.0, "synthetic": 0.5}
    assert "| b | `--init_from pretrained/x --lr 0.001" in (out / "pilots.md").read_text() and (out / "pilots.png").is_file()
    assert pilot_report.main([str(tmp_path / "nowhere"), "--out", str(out)]) == 1


def test_the_card_states_the_run_s_own_chunk_settings():
    report = _report_module()
    row = {"run": "r", "streaming": True, "chunking": report.chunk_settings("chunkwise_prob: 0.5\nchunk_size_min: 8\n"
                                                                              "chunk_size_max: 12\n")}
    lines = [{"run": "r", "cpu_hours_total": 1.0, "updates": 10, "audio_hours": None}]
    card = report.card_markdown(row, lines, None, [], "cmd")
    assert "chunked attention on 50 % of the batches, chunks of 8-12 frames" in card
    del row["chunking"]  # a row chained from an earlier report: the recipe's defaults
    assert "on 60 % of the batches, chunks of 8-32 frames" in report.card_markdown(row, lines, None, [], "cmd")
