"""Every hparams variant instantiates, and its header states its true sizes."""

import re
from pathlib import Path
from typing import Optional, Tuple

import pytest
import torch

from speechbrain_tinyconf import SharedConformerEncoder, size_report
from speechbrain_tinyconf.lobes.lowrank import svd_init_skipped
from speechbrain_tinyconf.recipe.hparams import load_recipe_hparams, variant_overrides

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = sorted(p for p in (ROOT / "hparams").glob("*.yaml") if p.name != "transducer_recipe.yaml")
HEADER = re.compile(r"unique params:\s*([\d,]+).*?virtual params:\s*([\d,]+).*?virtual depth:\s*(\d+)", re.S)


def declared_sizes(path: Path) -> Optional[Tuple[int, int, int]]:
    """``(unique, virtual, depth)`` stated in a variant's header comment, if any."""
    header = "".join(line for line in path.read_text(encoding="utf-8").splitlines(True) if line.startswith("#"))
    match = HEADER.search(header)
    if not match:
        return None
    return int(match.group(1).replace(",", "")), int(match.group(2).replace(",", "")), int(match.group(3))


def test_all_variants_present():
    names = {p.stem for p in VARIANTS}
    assert {"conformer_baseline", "repeat_layers", "shared_modules", "shared_subcomponents", "lowrank", "shared_lowrank_5M"} <= names


@pytest.mark.parametrize("path", VARIANTS, ids=lambda p: p.stem)
def test_variant_sizes_match_header(path):
    hp = load_recipe_hparams(path, {"data_folder": "/nonexistent"})
    report = size_report(torch.nn.ModuleDict(dict(hp["modules"])))
    encoder = hp["Transformer"].encoder
    assert isinstance(encoder, SharedConformerEncoder)
    declared = declared_sizes(path)
    assert declared is not None, f"{path.name}: header must state unique/virtual params and virtual depth"
    assert declared == (report.unique_params, report.virtual_params, len(encoder.layers))
    # the recipe's `model` (what is checkpointed) holds exactly these parameters
    assert size_report(hp["model"]).unique_params == report.unique_params


def test_headline_budget():
    path = ROOT / "hparams" / "shared_lowrank_5M.yaml"
    with svd_init_skipped():  # sizes only (test_variant_sizes_match_header builds it with its SVDs)
        hp = load_recipe_hparams(path, {"data_folder": "/nonexistent"})
    report = size_report(hp["model"])
    assert report.unique_params <= 5_000_000
    assert len(hp["Transformer"].encoder.layers) >= 16
    assert report.virtual_params > 2 * report.unique_params  # sharing really happens


def test_command_line_overrides_win(tmp_path):
    path = ROOT / "hparams" / "repeat_layers.yaml"
    base, merged = variant_overrides(path, "num_encoder_layers: 4\nsharing: {unique_blocks: 1}")
    assert base.name == "transducer_recipe.yaml"
    assert merged["num_encoder_layers"] == 4 and merged["sharing"] == {"unique_blocks": 1}
    assert merged["variant"] == "repeat_layers"


def test_bad_variant_files_name_the_problem(tmp_path):
    missing = tmp_path / "v.yaml"
    missing.write_text("recipe: nowhere.yaml\n")
    with pytest.raises(FileNotFoundError, match="nowhere.yaml"):
        variant_overrides(missing)
    with pytest.raises(FileNotFoundError, match="hparams file not found"):
        variant_overrides(tmp_path / "absent.yaml")
    bad_plan = tmp_path / "bad.yaml"
    bad_plan.write_text(f"recipe: {ROOT / 'hparams' / 'transducer_recipe.yaml'}\nsharing: {{unique_blocks: 5}}\n")
    with pytest.raises(ValueError, match=r"sharing\.unique_blocks=5"):
        load_recipe_hparams(bad_plan, {"data_folder": "/x"})


def test_load_detached_leaves_no_folder_behind(tmp_path, monkeypatch):
    from speechbrain_tinyconf.recipe.hparams import load_detached

    monkeypatch.chdir(tmp_path)  # the recipe's default output folder is relative (results/...)
    hp = load_detached(ROOT / "tests" / "configs" / "tiny.yaml", {"d_model": 48})
    assert hp["d_model"] == 48 and hp["model"] is not None
    assert not Path(hp["output_folder"]).exists()  # the temporary folder is gone
    assert list(tmp_path.iterdir()) == []  # and nothing was created in the working directory
