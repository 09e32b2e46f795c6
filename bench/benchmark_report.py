"""The CPU benchmark's report: ``benchmark.md`` from the measured data, and the targets met or missed.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

from typing import Any, Dict, List

from benchmark_transcription import CHUNK_FRAMES, LEFT_CHUNKS

TARGETS = {
    "sharing_forward": 1.02,  # x stock SpeechBrain, same virtual configuration
    "sharing_train": 1.05,
    "lowrank_forward": 0.7,  # x the full-rank twin
    "int8_mb": 6.0,  # int8 ONNX of shared_lowrank_5M (encoder + predictor + joint)
    "chunk_fraction": 0.10,  # streaming compute per chunk / chunk duration, one thread
}


def fmt(value: Any, digits: int = 2) -> str:
    """A table cell: thousands separators for ints, ``digits`` decimals, yes / **no**, — for None."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def md_table(headers: List[str], rows: List[List[Any]], digits: int = 2) -> str:
    """A Markdown table, first column left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(fmt(v, digits) for v in row) + " |")
    return "\n".join(lines)


def build_report(data: Dict[str, Any]) -> str:
    """``benchmark.md``: machine, sizes, encoder timings, transcription, streaming, agreement, targets."""
    meta = data["meta"]
    parts = [
        "# speechbrain-tinyconf CPU benchmark",
        "",
        f"Command: `{meta['command']}`  ",
        f"Machine: {meta['cpu']}, {meta['cores']} cores; Python {meta['python']}, torch {meta['torch']}, "
        f"onnxruntime {meta['onnxruntime']}, SpeechBrain {meta['speechbrain']}; {meta['date']}.  ",
        f"Weights: {meta['weights']}. Quick mode: {meta['quick']}.",
        "",
        "## Sizes",
        "",
        "Whole ASR model (front-end, encoder, predictor, joint, CTC head) from `size_report`; ONNX = "
        "encoder + predictor + joint files on disk (no CTC head); MACs per second of audio for front-end + "
        "encoder + `proj_enc`.",
        "",
        md_table(
            ["variant", "unique params", "virtual params", "virtual depth", "fp32 MB", "int8 MB (est.)",
             "ONNX fp32 MB", "ONNX int8 MB", "ONNX int8 encoder MB", "ONNX int4 MB", "M MACs / s audio"],
            [[s["variant"], s["unique_params"], s["virtual_params"], s["virtual_depth"], s["fp32_mb"],
              s["int8_mb_estimate"], s["onnx_fp32_mb"], s["onnx_int8_mb"], s["onnx_encoder_int8_mb"],
              s.get("onnx_int4_mb"), s["macs_per_second"] / 1e6] for s in data["sizes"]],
        ),
    ]
    if data["ratios"]:
        r0 = data["ratios"][0]
        parts += [
            "",
            "## Encoder time against SpeechBrain's `ConformerEncoder` (same virtual configuration)",
            "",
            f"Forward: {r0['frames']} frames ({r0['frames'] * 0.04:g} s of audio), batch 1, eval, no grad. "
            f"Train step: forward + backward + AdamW, batch {r0['train_batch']} x {r0['frames']} frames, dropout on. "
            f"Medians of interleaved repetitions (ours, stock, ours, stock, ...), {r0['threads']} torch thread(s). "
            f"Targets: sharing overhead <= {TARGETS['sharing_forward']}x forward and <= {TARGETS['sharing_train']}x "
            "train step for the full-rank variants; a low-rank variant's ratio to stock includes its low-rank "
            "speed-up, so it is compared with its full-rank twin below instead.",
            "",
            md_table(
                ["variant", "forward ms", "stock forward ms", "ratio", "train step ms", "stock train step ms",
                 "ratio", "target met"],
                [[r["variant"], r["forward"]["ours_ms"], r["forward"]["reference_ms"], r["forward"]["ratio"],
                  r["train"]["ours_ms"], r["train"]["reference_ms"], r["train"]["ratio"],
                  None if r["low_rank"] else (r["forward"]["ratio"] <= TARGETS["sharing_forward"]
                                              and r["train"]["ratio"] <= TARGETS["sharing_train"])]
                 for r in data["ratios"]],
                digits=3,
            ),
        ]
        lowrank = [r for r in data["ratios"] if "vs_full_rank" in r]
        if lowrank:
            parts += [
                "",
                f"Low rank against the full-rank twin (same plan without `low_rank`), forward; target <= "
                f"{TARGETS['lowrank_forward']}x:",
                "",
                md_table(["variant", "forward ms", "full-rank twin ms", "ratio", "target met"],
                         [[r["variant"], r["vs_full_rank"]["ours_ms"], r["vs_full_rank"]["reference_ms"],
                           r["vs_full_rank"]["ratio"], r["vs_full_rank"]["ratio"] <= TARGETS["lowrank_forward"]]
                          for r in lowrank], digits=3),
            ]
    full = [c for c in data["transcription"] if c["mode"] == "full"]
    if full:
        parts += [
            "",
            "## Full-utterance transcription",
            "",
            f"Audio: {meta['audio']['source']} ({meta['audio']['seconds']:.2f} s). RTF = median wall time of "
            "features + encoder + greedy decoding / audio duration. Peak RSS of a fresh process per row "
            "(imports included; 'after imports' is the same process's peak before loading the model).",
            "",
            md_table(["model", "engine", "threads", "RTF", "peak RSS MB", "RSS after imports MB", "tokens"],
                     [[c["model"], c["engine"], c["threads"], c["rtf"], c["peak_rss_mb"], c["rss_after_imports_mb"],
                       len(c["tokens"])] for c in full], digits=3),
        ]
    stream = [c for c in data["transcription"] if c["mode"] != "full"]
    if stream:
        parts += [
            "",
            "## Streaming",
            "",
            f"Chunks of {', '.join(f'{k} ({v} encoder frames)' for k, v in CHUNK_FRAMES.items())}, left context "
            f"{LEFT_CHUNKS} chunks; per-chunk wall time of front-end + encoder step + greedy decoding (encoder: "
            "without the decoding). 'fraction' = median chunk time / chunk audio duration; target <= "
            f"{TARGETS['chunk_fraction']:.0%} on one thread.",
            "",
            md_table(["model", "engine", "threads", "chunk ms", "median ms", "p90 ms", "fraction",
                      "encoder median ms", "encoder fraction", "peak RSS MB", "tokens"],
                     [[c["model"], c["engine"], c["threads"], c["chunk_audio_ms"], c["chunk_median_ms"],
                       c["chunk_p90_ms"], c["fraction_of_chunk"], c["encoder_median_ms"],
                       c["encoder_fraction_of_chunk"], c["peak_rss_mb"], len(c["tokens"])] for c in stream],
                     digits=3),
        ]
    if data["agreement"]:
        parts += [
            "",
            "## Token agreement",
            "",
            "`difflib` ratio of token sequences (1.0 = identical) on the benchmark audio.",
            "",
            md_table(["model", "mode", "threads", "int8 vs fp32 (onnxruntime)", "int4 vs fp32",
                      "onnxruntime fp32 vs PyTorch"],
                     [[a["model"], a["mode"], a["threads"], a["int8_vs_fp32"], a.get("int4_vs_fp32"),
                       a["fp32_vs_pytorch"]]
                      for a in data["agreement"]], digits=3),
        ]
    parts += ["", "## Targets", "", md_table(["target", "measured", "met"],
                                               [[t["target"], t["measured"], t["met"]] for t in data["targets"]],
                                               digits=3), ""]
    return "\n".join(parts)


def targets(data: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Each target of ``TARGETS`` that the data measures: what it is, the measured value, met or not."""
    out = []
    for r in data["ratios"]:
        if not r["low_rank"]:
            out.append({"target": f"{r['variant']}: forward <= {TARGETS['sharing_forward']}x stock",
                        "measured": f"{r['forward']['ratio']:.3f}x",
                        "met": r["forward"]["ratio"] <= TARGETS["sharing_forward"]})
            out.append({"target": f"{r['variant']}: train step <= {TARGETS['sharing_train']}x stock",
                        "measured": f"{r['train']['ratio']:.3f}x", "met": r["train"]["ratio"] <= TARGETS["sharing_train"]})
        if "vs_full_rank" in r:
            out.append({"target": f"{r['variant']}: forward <= {TARGETS['lowrank_forward']}x full-rank twin",
                        "measured": f"{r['vs_full_rank']['ratio']:.3f}x",
                        "met": r["vs_full_rank"]["ratio"] <= TARGETS["lowrank_forward"]})
    for s in data["sizes"]:
        if s["variant"] == "shared_lowrank_5M":
            out.append({"target": f"shared_lowrank_5M: int8 ONNX <= {TARGETS['int8_mb']} MB",
                        "measured": f"{s['onnx_int8_mb']:.2f} MB (encoder {s['onnx_encoder_int8_mb']:.2f} MB)",
                        "met": s["onnx_int8_mb"] <= TARGETS["int8_mb"]})
    for c in data["transcription"]:
        if c["mode"] != "full" and c["threads"] == 1:
            out.append({"target": f"{c['model']} {c['engine']} {c['mode']}: chunk compute <= "
                                  f"{TARGETS['chunk_fraction']:.0%} of the chunk, 1 thread",
                        "measured": f"{c['fraction_of_chunk']:.1%} (encoder only {c['encoder_fraction_of_chunk']:.1%})",
                        "met": c["fraction_of_chunk"] <= TARGETS["chunk_fraction"]})
    return out
