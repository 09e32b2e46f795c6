"""Section 1 of the CPU benchmark: sizes of a variant's whole ASR model, its ONNX files and its MACs.

Also how the benchmark names a variant (:func:`variant_path`) and reads its virtual encoder
configuration (:func:`encoder_config`), which section 2 and ``bench/lowrank_compute.py`` reuse.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from benchmark_transcription import CHUNK_FRAMES, LEFT_CHUNKS  # the exports carry section 3's streaming graphs

ROOT = Path(__file__).resolve().parents[1]
HPARAMS = ROOT / "hparams"


def variant_path(name: str) -> Path:
    """``hparams/<name>.yaml`` for a bare name, else the path as given."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise SystemExit(f"error: --variants: {path} not found")
        return path
    path = HPARAMS / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in HPARAMS.glob("*.yaml") if p.stem != "transducer_recipe"))
        raise SystemExit(f"error: --variants: no hparams/{name}.yaml (known: {known})")
    return path


def encoder_config(path: Path) -> Dict[str, Any]:
    """The virtual encoder configuration of a variant (its resolved YAML values)."""
    from speechbrain_tinyconf.recipe.hparams import read_plain_yaml, resolved_yaml

    hp = read_plain_yaml(resolved_yaml(path, {"data_folder": "unused"}))
    return {
        "num_layers": int(hp["num_encoder_layers"]),
        "d_model": int(hp["d_model"]),
        "d_ffn": int(hp["d_ffn"]),
        "nhead": int(hp["nhead"]),
        "kernel_size": int(hp["kernel_size"]),
        "dropout": float(hp.get("transformer_dropout", 0.0)),
        "sharing": hp.get("sharing") or {},
    }


def size_section(name: str, path: Path, export_dir: Path, seed: int) -> Dict[str, Any]:
    """Parameters, bytes, ONNX files (exported into ``export_dir``) and MACs per second of a variant."""
    import torch

    from speechbrain_tinyconf.deploy.export import export_transducer
    from speechbrain_tinyconf.deploy.graphs import FullEncoder
    from speechbrain_tinyconf.deploy.load import load_transducer
    from speechbrain_tinyconf.lobes.size import count_macs, size_report

    mods = load_transducer(path, seed=seed)
    report = size_report(mods.model)
    feats = torch.randn(1, 100, mods.normalize.glob_mean.numel())  # 1 s of 10 ms frames
    full = FullEncoder(mods).eval()
    macs = count_macs(lambda: full(feats, torch.ones(1)))
    result = export_transducer(mods, export_dir, chunk_frames=tuple(CHUNK_FRAMES.values()), left_chunks=LEFT_CHUNKS,
                               int8=True, int4=True)
    mb = {k: p.stat().st_size / 1e6 for k, p in result.files.items()}
    return {
        "variant": name,
        "unique_params": report.unique_params,
        "virtual_params": report.virtual_params,
        "virtual_depth": len(mods.encoder.layers),
        "fp32_mb": report.fp32_bytes / 1e6,
        "int8_mb_estimate": report.int8_bytes / 1e6,
        "onnx_fp32_mb": mb["encoder"] + mb["predictor"] + mb["joint"],
        "onnx_int8_mb": mb["encoder.int8"] + mb["predictor.int8"] + mb["joint.int8"],
        "onnx_encoder_int8_mb": mb["encoder.int8"],
        "onnx_int4_mb": mb["encoder.int4"] + mb["predictor.int4"] + mb["joint.int4"],
        "macs_per_second": int(macs),
    }
