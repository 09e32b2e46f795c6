"""bench/weight_storage.py: fp32 against int4 weights, decoded by the same greedy search in one run."""

import json

import pytest

from conftest import bench_script


def bench():
    return bench_script("weight_storage")


@pytest.mark.slow
def test_rows_for_fp32_the_exported_int4_and_each_group_size(trained_sherpa_run, learnable_corpus, tmp_path):
    out = tmp_path / "storage"
    assert bench().main([str(trained_sherpa_run), str(learnable_corpus), "--split", "test", "--groups", "64",
                         "--out", str(out)]) == 0
    rows = json.loads((out / "weight_storage.json").read_text())["rows"]
    assert [r["group_size"] for r in rows] == [None, 0, 64]
    fp32, int4, coarse = rows
    assert fp32["words"] == int4["words"] > 0
    # 4-bit codes and their scales are under 0.16 of fp32; the tiny model's many small fp16 tensors raise
    # the whole file's ratio (0.31 for the tiny export of tests/test_export.py).
    assert int4["model_ckpt_bytes"] < 0.4 * fp32["model_ckpt_bytes"]
    assert coarse["model_ckpt_bytes"] < int4["model_ckpt_bytes"]  # coarser groups, fewer scales
    assert "| fp32 |" in (out / "weight_storage.md").read_text()


def test_an_int4_folder_is_refused_as_the_reference(tmp_path, capsys):
    import torch

    from speechbrain_tinyconf.pretrained.weight_storage import pack_state_dict

    (tmp_path / "tinyconf-export.json").write_text(json.dumps({"weights": "fp32"}))  # the file decides
    torch.save(pack_state_dict({"w": torch.randn(64, 64)}, "int4"), tmp_path / "model.ckpt")
    assert bench().main([str(tmp_path), "corpus", "--out", str(tmp_path / "out")]) == 1
    assert "its weights are stored in int4; the reference must be fp32" in capsys.readouterr().err


def test_a_bad_group_size_is_one_line(tmp_path, capsys):
    assert bench().main([str(tmp_path), "corpus", "--groups", "33", "--out", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.strip() == "error: int4 group size 33: expected an even number of at least 2"
