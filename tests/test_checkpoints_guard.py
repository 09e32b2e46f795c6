"""Half-written checkpoints (a run killed while saving) are moved aside, complete ones kept."""

import torch

from speechbrain_tinyconf.recipe.checkpoints import checkpoint_problem, quarantine_incomplete_checkpoints

REQUIRED = ["model", "counter"]


def _ckpt(folder, names, truncate=None):
    folder.mkdir(parents=True)
    (folder / "CKPT.yaml").write_text("end-of-epoch: false\n")
    for name in names:
        path = folder / f"{name}.ckpt"
        if name == "counter":
            path.write_text("3")
        else:
            torch.save({"w": torch.randn(64, 64)}, path)
            if name == truncate:
                data = path.read_bytes()
                path.write_bytes(data[: len(data) // 2])
    return folder


def test_complete_checkpoint_has_no_problem(tmp_path):
    assert checkpoint_problem(_ckpt(tmp_path / "CKPT+a", REQUIRED), REQUIRED) == ""


def test_truncated_and_missing_files_are_quarantined(tmp_path):
    good = _ckpt(tmp_path / "CKPT+1", REQUIRED)
    torn = _ckpt(tmp_path / "CKPT+2", REQUIRED, truncate="model")
    short = _ckpt(tmp_path / "CKPT+3", ["model"])
    empty = _ckpt(tmp_path / "CKPT+4", REQUIRED)
    (empty / "counter.ckpt").write_text("")
    moved = dict(quarantine_incomplete_checkpoints(tmp_path, REQUIRED))
    assert good.is_dir()
    assert not torn.exists() and not short.exists() and not empty.exists()
    assert moved[tmp_path / "INCOMPLETE+2"] == "model.ckpt is truncated"
    assert moved[tmp_path / "INCOMPLETE+3"] == "missing counter"
    assert moved[tmp_path / "INCOMPLETE+4"] == "counter.ckpt is empty"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CKPT+1", "INCOMPLETE+2", "INCOMPLETE+3", "INCOMPLETE+4"]
