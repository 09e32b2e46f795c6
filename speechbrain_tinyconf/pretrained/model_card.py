"""The Hugging Face model card (``README.md``) of an exported model folder.

The text is ``templates/model_card.md`` (filled with ``str.format``); every number in it comes
from the run folder's files and the exported model.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import re
import shutil
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Tuple

import yaml

if TYPE_CHECKING:
    from ..recipe.runs import CheckpointChoice, RunInfo
    from ..lobes.size import SizeReport

LIBRISPEECH_SPLITS = {
    "train-clean-100", "train-clean-360", "train-other-500",
    "dev-clean", "dev-other", "test-clean", "test-other",
}


def _dataset_ids(recipe: Dict[str, Any]) -> List[str]:
    splits = set(recipe.get("train_splits") or []) | set(recipe.get("dev_splits") or []) | set(recipe.get("test_splits") or [])
    if splits & LIBRISPEECH_SPLITS:
        return ["librispeech_asr"]
    folder = recipe.get("data_folder")
    if folder and (Path(str(folder)) / "corpus_stats.json").is_file():
        # made by recipes/LibriSpeech/make_mini_corpus.py: LibriSpeech layout, not LibriSpeech
        return ["synthetic-tts-mini-librispeech"]
    return [Path(str(folder)).name] if folder else []


def _split_dataset(split: str, datasets: List[str]) -> Dict[str, Any]:
    if datasets == ["librispeech_asr"] and split in LIBRISPEECH_SPLITS:
        part, config = split.split("-", 1)
        return {"name": f"LibriSpeech ({split})", "type": "librispeech_asr", "config": config, "split": part,
                "args": {"language": "en"}}
    name = datasets[0] if datasets else "unknown"
    return {"name": f"{name} ({split})", "type": name, "split": split}


def training_command(run: RunInfo) -> Tuple[str, str]:
    """``(command, where it comes from)``: the run's ``command.txt`` (written by train.py), else rebuilt."""
    recorded = run.run_dir / "command.txt"
    if recorded.is_file() and recorded.read_text(encoding="utf-8").strip():
        return recorded.read_text(encoding="utf-8").strip(), "as recorded in the run's `command.txt`"
    log = run.run_dir / "log.txt"
    if log.is_file():
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            found = re.search(r"(\S*train\.py\s+\S+\.yaml.*)$", line)
            if found:
                return "python " + found.group(1).strip(), "as recorded in the run's `log.txt`"
    variant = run.recipe.get("variant", "conformer")
    data = run.recipe.get("data_folder", "/data/LibriSpeech")
    return (
        f"python recipes/LibriSpeech/train.py hparams/{variant}.yaml --data_folder {data}",
        "rebuilt from the run's `hyperparams.yaml` (variant and data folder; the run folder does not "
        "record the command line, so other command-line overrides are not shown -- the resolved "
        "values are in that file)",
    )


def _fmt_bytes(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def model_card(run: RunInfo, choice: CheckpointChoice, report: SizeReport, files: Dict[str, int], name: str,
               notes: str = "", weights: str = "fp32") -> str:
    """Hugging Face model card (YAML front matter + Markdown); every number comes from the arguments.
    ``notes`` (Markdown, e.g. the real-speech section ``bench/real_speech_report.py --card`` writes) follows
    the results; ``weights``: how ``model.ckpt`` stores them (``export --weights``)."""
    recipe = run.recipe
    datasets = _dataset_ids(recipe)
    results = [
        {
            "task": {"type": "automatic-speech-recognition", "name": "Automatic Speech Recognition"},
            "dataset": _split_dataset(w.split, datasets),
            "metrics": [{"type": "wer", "value": w.wer, "name": f"WER ({w.split})"}],
        }
        for w in run.wers
    ]
    front: Dict[str, Any] = {
        "language": "en",
        "license": "apache-2.0",
        "library_name": "speechbrain",
        "pipeline_tag": "automatic-speech-recognition",
        "tags": ["automatic-speech-recognition", "speechbrain", "conformer", "transducer", "streaming",
                 "weight-sharing", "low-rank", "speechbrain-tinyconf"],
        "datasets": datasets,
        "model-index": [{"name": name, "results": results}],
    }
    sharing = recipe.get("sharing") or {}
    sharing_yaml = yaml.safe_dump({"sharing": sharing}, sort_keys=False).rstrip() if sharing else "sharing: {}  # none: a plain Conformer"
    total = sum(files.values())
    if choice.mode == "average":
        how = f"average of the {len(choice.sources)} checkpoint(s) with the lowest validation {choice.by}"
    else:
        how = f"the checkpoint with the lowest validation {choice.by}"
    ckpt_rows = "\n".join(
        f"| `{Path(c.path).name}` | {c.meta.get('epoch', '?')} | {c.meta.get('loss', float('nan')):.4g} | "
        + (f"{c.meta['WER']:.2f} |" if "WER" in c.meta else "|")
        for c in choice.sources
    )
    if run.wers:
        result_rows = "\n".join(
            f"| {w.split} | {w.wer:.2f} | {w.errors} / {w.words} | {w.insertions} / {w.deletions} / {w.substitutions} | "
            f"{'' if w.sentences is None else w.sentences} |"
            for w in run.wers
        )
        results_md = (
            "| split | WER % | errors / words | ins / del / sub | sentences |\n|---|---:|---:|---:|---:|\n" + result_rows
        )
    else:
        results_md = "No `wer_<split>.txt` file in the run folder: no test result to report."
    if notes.strip():
        results_md += "\n\n" + notes.strip().replace("\n## ", "\n### ").replace("## ", "### ", 1)
    command = training_command(run)
    file_rows = "\n".join(f"| `{n}` | {_fmt_bytes(b)} |" for n, b in files.items())
    layers = recipe.get("num_encoder_layers")
    decoding = "greedy transducer decoding" + (
        f" (the run's test WERs used beam size {recipe['test_beam_size']})" if recipe.get("test_beam_size", 1) > 1 else ""
    )
    fields = {
        "depth_md": depth_section(recipe),
        "name": name, "layers": layers, "variant": recipe.get("variant"), "d_model": recipe.get("d_model"),
        "vocab_size": recipe.get("vocab_size"), "token_type": recipe.get("token_type", "unigram"),
        "sample_rate": recipe.get("sample_rate", 16000), "sharing_yaml": sharing_yaml,
        "unique_params": report.unique_params, "virtual_params": report.virtual_params,
        "fp32_size": _fmt_bytes(report.fp32_bytes), "int8_size": _fmt_bytes(report.int8_bytes),
        "size_table": report.table(), "total_size": _fmt_bytes(total), "file_rows": file_rows,
        "command": command[0], "command_source": command[1], "how": how, "ckpt_rows": ckpt_rows,
        "decoding": decoding, "results_md": results_md, "weights_md": weights_paragraph(weights),
        "predictor": "a stateless prediction network (ReLU of the last token's embedding)"
        if recipe.get("predictor") == "stateless" else "a GRU prediction network",
        "frontend": "the Kaldi fbank sherpa-onnx computes" if recipe.get("frontend") == "kaldi"
        else "SpeechBrain's Fbank",
        "streaming_note": "Streaming quality depends on the chunk size (trained with dynamic chunks)."
        if recipe.get("streaming", True) else
        "Trained without dynamic chunks: streaming decoding is expected to be poor.",
    }
    body = "\n" + (resources.files(__package__) / "templates" / "model_card.md").read_text(encoding="utf-8")
    return "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n" + body.format(**fields)


def weights_paragraph(weights: str) -> str:
    """The card's sentence on how ``model.ckpt`` stores the weights (``export --weights``)."""
    if weights == "fp32":
        return "`model.ckpt` holds the fp32 weights of the checkpoint(s) below."
    from .weight_storage import GROUP_SIZES

    groups = ", ".join(f"{size} values for {f'`{pattern}` weights' if pattern else 'the others'}"
                       for pattern, size in GROUP_SIZES)
    return (f"`model.ckpt` holds the weights in {weights} (`tinyconf-export --weights {weights}`, "
            "`speechbrain_tinyconf.pretrained.weight_storage`): matrices and kernels in 4-bit groups "
            f"({groups}), each group with an 8-bit scale and zero point; biases and norms in fp16. Loading "
            "gives fp32 weights. The PyTorch rows of the results are those of the fp32 checkpoint(s) below; "
            "what the int4 storage costs is measured by the project's `bench/weight_storage.py`. The "
            "sherpa-onnx rows are measured on the weights this folder holds.")


def depth_section(recipe: Dict[str, Any]) -> str:
    """The card's paragraph on run-time depth: which depths the weights allow and were trained for."""
    layers = recipe.get("num_encoder_layers")
    blocks = (recipe.get("sharing") or {}).get("unique_blocks")
    if not blocks or blocks == layers:
        return f"Depth: {layers} virtual layers, fixed (no repeated blocks, so no smaller run-time depth)."
    elastic = recipe.get("elastic_depth")
    if elastic:
        trained = (f"Trained with `elastic_depth: {{min: {elastic.get('min')}, prob: {elastic.get('prob', 0.5)}}}`: "
                   f"depths {elastic.get('min')} to {layers} were trained, with every weight shared.")
    else:
        trained = ("Trained at full depth only: a smaller depth runs, but was not trained for "
                   "(expect a much higher WER).")
    return (f"Depth: {layers} virtual layers from {blocks} unique blocks. The same weights run at any depth "
            f"K <= {layers} chosen at load time, compute scaling with K: "
            '`EncoderDecoderASR.from_hparams(..., overrides={"encoder_depth": K})` or '
            f"`tinyconf-transcribe --depth K`. {trained}")


def training_data_section(run: RunInfo) -> str:
    """Size of the run's training set (its ``train.csv``): utterances, hours, speakers, synthetic share."""
    import csv

    path = run.run_dir / "train.csv"
    if not path.is_file():
        return ""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    hours = sum(float(r["duration"]) for r in rows) / 3600
    synthetic = sum(float(r["duration"]) for r in rows if r["ID"].startswith("tts-")) / 3600
    speakers = len({r["spk_id"] for r in rows})
    tts = f", of which {synthetic:.2f} h synthetic (TTS)" if synthetic else ""
    return (f"\n## Training data\n\n{len(rows):,} utterances, {hours:.2f} h{tts}, {speakers} speakers "
            f"(data folder `{Path(str(run.recipe.get('data_folder', '?'))).name}`, training splits "
            f"{', '.join(map(str, run.recipe.get('train_splits') or []))}).\n")


def example_section(model_dir: Path, example: Path) -> str:
    """Copies ``example`` into the folder as ``example.<ext>`` and reports what the exported model makes of it."""
    from .model_folder import load_model
    from .transcribe import load_audio, transcribe_waveform

    target = model_dir / f"example{example.suffix.lower()}"
    shutil.copyfile(example, target)
    asr = load_model(model_dir)
    text = transcribe_waveform(asr, load_audio(asr, target))
    return (f"\n## Example\n\n`{target.name}` (a copy of `{example.name}`) is a recording shipped with this folder:\n\n"
            f"```bash\ntinyconf-transcribe path/to/this/folder path/to/this/folder/{target.name}\n```\n\n"
            f"Transcription: `{text}`\n")
