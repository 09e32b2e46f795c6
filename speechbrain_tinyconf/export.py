"""Package a recipe run as a self-contained pretrained model folder.

    python -m speechbrain_tinyconf.export RUN_DIR MODEL_DIR [--ckpt average|best] [--num-avg N]

``RUN_DIR`` is a recipe output folder (``hyperparams.yaml`` written by
``recipes/LibriSpeech/train.py``, ``save/CKPT+*``, ``tokenizer/*.model``,
``wer_<split>.txt``). ``MODEL_DIR`` receives:

* ``hyperparams.yaml`` -- inference only: the recipe's own module definitions
  (same dims and sharing plan, copied from the run's resolved YAML) plus what
  ``EncoderDecoderASR`` and ``StreamingASR`` need;
* ``model.ckpt`` (the recipe's ``model`` ModuleList, shared tensors stored
  once), ``normalizer.ckpt``, ``tokenizer.ckpt`` (sentencepiece model);
* ``README.md`` -- a Hugging Face model card generated from the run's files
  (:mod:`speechbrain_tinyconf.model_card`);
* ``tinyconf-export.json`` -- the marker of an exported folder (export refuses to write into a
  run folder, or into a non-empty folder without it; an earlier export only with ``--overwrite``);
* ``example.<ext>`` with ``--example AUDIO`` -- a recording, transcribed in the model card.

The pretrainer has no ``paths``: every file is fetched from the ``source``
given to ``from_hparams`` (the folder itself, or a Hub repository holding it),
so the folder can be moved or uploaded as is.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import yaml
from hyperpyyaml import load_hyperpyyaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from .hparams import resolve_text
from .model_card import example_section, model_card, training_data_section
from .runs import EXPORT_MARKER, run_folders_in
from .size import SizeReport, size_report

PathLike = Union[str, Path]

# Top-level recipe keys copied verbatim into the inference YAML, with every key they refer to.
MODULE_KEYS = (
    "compute_features", "normalize", "CNN", "Transformer", "enc", "proj_enc",
    "emb", "dec", "proj_dec", "Tjoint", "transducer_lin", "proj_ctc",
)
REFERENCE = re.compile(r"<([A-Za-z_][\w]*)")
# The recipe's `model` ModuleList, in this order (what model.ckpt holds).
MODEL_ORDER = ("CNN", "enc", "emb", "dec", "proj_enc", "proj_dec", "proj_ctc", "transducer_lin")
MODEL_FILES = ("hyperparams.yaml", "model.ckpt", "normalizer.ckpt", "tokenizer.ckpt")
WER_LINE = re.compile(
    r"%WER\s+([\d.]+)\s+\[\s*(\d+)\s*/\s*(\d+),\s*(\d+)\s+ins,\s*(\d+)\s+del,\s*(\d+)\s+sub\s*\]"
)
SER_LINE = re.compile(r"%SER\s+([\d.]+)\s+\[\s*(\d+)\s*/\s*(\d+)\s*\]")


# ---------------------------------------------------------------------------
# Run folder


@dataclass
class WerResult:
    """One ``wer_<split>.txt``: the numbers of its summary lines."""

    split: str
    wer: float
    errors: int
    words: int
    insertions: int
    deletions: int
    substitutions: int
    ser: Optional[float] = None
    sentences: Optional[int] = None


@dataclass
class RunInfo:
    """What the export reads from a recipe output folder."""

    run_dir: Path
    recipe_text: str
    recipe: Dict[str, Any]
    tokenizer_model: Path
    wers: List[WerResult] = field(default_factory=list)


def parse_wer_file(path: PathLike) -> WerResult:
    """Parses SpeechBrain's ``ErrorRateStats.write_stats`` header.

    Example
    -------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "wer_test-clean.txt")
    >>> _ = open(p, "w").write("%WER 2.94 [ 1546 / 52576, 180 ins, 150 del, 1216 sub ]\\n%SER 30.00 [ 786 / 2620 ]\\n")
    >>> r = parse_wer_file(p)
    >>> (r.split, r.wer, r.errors, r.words, r.sentences)
    ('test-clean', 2.94, 1546, 52576, 2620)
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    match = WER_LINE.search(text)
    if not match:
        raise ValueError(f"{path}: no '%WER x [ errors / words, i ins, d del, s sub ]' line")
    split = path.stem[len("wer_"):] if path.stem.startswith("wer_") else path.stem
    result = WerResult(
        split=split,
        wer=float(match.group(1)),
        errors=int(match.group(2)),
        words=int(match.group(3)),
        insertions=int(match.group(4)),
        deletions=int(match.group(5)),
        substitutions=int(match.group(6)),
    )
    ser = SER_LINE.search(text)
    if ser:
        result.ser, result.sentences = float(ser.group(1)), int(ser.group(3))
    return result


def read_run(run_dir: PathLike) -> RunInfo:
    """Checks a recipe output folder and reads its recipe, tokenizer and WER files."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder not found: {run_dir}")
    hp_path = run_dir / "hyperparams.yaml"
    if not hp_path.is_file():
        raise FileNotFoundError(f"hyperparams.yaml not found in {run_dir} (not a recipe output folder)")
    text = hp_path.read_text(encoding="utf-8")
    recipe = resolve_text(text)
    missing = [k for k in MODULE_KEYS + ("blank_index",) if k not in recipe]
    if missing:
        raise ValueError(f"{hp_path}: not a transducer recipe (missing keys: {', '.join(missing)})")
    tok_dir = run_dir / "tokenizer"
    preferred = tok_dir / f"{recipe.get('vocab_size')}_{recipe.get('token_type', 'unigram')}.model"
    candidates = [preferred] if preferred.is_file() else sorted(tok_dir.glob("*.model"))
    if not candidates:
        raise FileNotFoundError(f"no sentencepiece model (tokenizer/*.model) found in {run_dir}")
    wers = [parse_wer_file(p) for p in sorted(run_dir.glob("wer_*.txt"))]
    return RunInfo(run_dir, text, recipe, candidates[0], wers)


# ---------------------------------------------------------------------------
# Checkpoint choice


@dataclass
class CheckpointChoice:
    """The model state to export and where it came from."""

    state_dict: Dict[str, torch.Tensor]
    normalizer_path: Path
    mode: str
    sources: List[Any]  # speechbrain Checkpoint tuples, best first
    normalizer_source: Any


def choose_checkpoint(run_dir: PathLike, mode: str = "average", num_avg: int = 1) -> CheckpointChoice:
    """The exported weights, chosen like the recipe's evaluation.

    ``average``: mean of the ``num_avg`` checkpoints with the lowest validation loss, with the
    normaliser of the most recent checkpoint (what the recipe's evaluation
    recovers before loading the average). ``best``: the lowest-loss checkpoint.
    """
    from speechbrain.utils.checkpoints import Checkpointer, average_state_dicts

    from .checkpoints import checkpoint_problem, load_state

    run_dir = Path(run_dir)
    save = run_dir / "save"
    if not save.is_dir():
        raise FileNotFoundError(f"save/ (checkpoints) not found in {run_dir}")
    checkpointer = Checkpointer(str(save))
    ranked = checkpointer.find_checkpoints(min_key="loss")
    if not ranked:
        raise FileNotFoundError(f"no checkpoint with a validation loss in {save}")
    if mode == "best":
        chosen = ranked[:1]
    elif mode == "average":
        if num_avg < 1:
            raise ValueError(f"--num-avg={num_avg}: must be >= 1")
        chosen = ranked[:num_avg]
    else:
        raise ValueError(f"--ckpt={mode!r}: expected 'average' or 'best'")
    for ckpt in chosen:
        problem = checkpoint_problem(Path(ckpt.path), ["model", "normalizer"])
        if problem:
            raise ValueError(f"checkpoint {ckpt.path} is unusable: {problem}")
    states = [load_state(ckpt.paramfiles["model"]) for ckpt in chosen]  # a bad file is named
    state = states[0] if len(states) == 1 else average_state_dicts(states)
    norm_ckpt = checkpointer.find_checkpoint() if mode == "average" else chosen[0]
    return CheckpointChoice(state, Path(norm_ckpt.paramfiles["normalizer"]), mode, chosen, norm_ckpt)


# ---------------------------------------------------------------------------
# Inference hyperparams


def inference_template() -> str:
    """``templates/inference.yaml``: what ``EncoderDecoderASR`` and ``StreamingASR`` need beside the modules."""
    return (resources.files(__package__) / "templates" / "inference.yaml").read_text(encoding="utf-8")


def _references(node: Any) -> List[str]:
    """Top-level keys a YAML node refers to (``!ref <d_model>``, ``!ref <n_mels> // 4 * <c>``)."""
    found: List[str] = []
    if isinstance(node, dict):
        for value in node.values():
            found += _references(value)
    elif isinstance(node, list):
        for value in node:
            found += _references(value)
    elif getattr(node, "tag", None) is not None and str(getattr(node.tag, "value", node.tag)).startswith("!ref"):
        found += REFERENCE.findall(str(node.value))
    return found


def inference_hparams_text(recipe_text: str) -> str:
    """Inference YAML: the recipe's model definitions (verbatim) + :func:`inference_template`.

    The module definitions keep their ``!ref``s, and exactly the top-level values they (and
    the template) refer to are copied, in the recipe's order: each number is written once and
    editing it changes the model. A run saved with its references resolved (older train.py)
    gives its definitions with inline values.
    """
    rt = YAML()
    rt.width = 4096
    data = rt.load(recipe_text)
    template_text = inference_template()
    template = rt.load(template_text)
    needed = set(MODULE_KEYS) | set(_references(template))
    todo = list(needed)
    while todo:
        key = todo.pop()
        if key in data:
            for ref in _references(data[key]):
                if ref not in needed:
                    needed.add(ref)
                    todo.append(ref)
    missing = sorted(k for k in needed - set(template) if k not in data)
    if missing:
        raise ValueError(f"the run's hyperparams.yaml lacks {', '.join(missing)} (needed by the model definitions)")
    kept = CommentedMap()
    for key in data:
        if key in needed and key not in template:
            kept[key] = data[key]
    stream = io.StringIO()
    rt.dump(kept, stream)
    # Comments of the recipe file are attached to arbitrary nodes after resolution: drop them.
    lines = []
    for line in stream.getvalue().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.split(":", 1)[0] in MODULE_KEYS and not line.startswith(" "):
            lines.append("")
        lines.append(line)
    body = "\n".join(lines)
    header = (
        "# Inference hyperparameters generated by speechbrain_tinyconf.export from a recipe run.\n"
        "# Load with speechbrain.inference.ASR.EncoderDecoderASR or StreamingASR (needs speechbrain-tinyconf).\n"
        "# Loading this file runs the code its !new:/!apply: tags name: load only folders you trust.\n\n"
    )
    return header + body + "\n\n" + template_text


def load_model_strict(module: torch.nn.Module, path: PathLike) -> None:
    """Pretrainer hook: loads ``model.ckpt`` with ``strict=True`` (SpeechBrain's default is lenient).

    A shared-weight encoder re-expands its stored-once tensors in its own
    load hook; a checkpoint from another sharing plan fails here, loudly.
    """
    state = torch.load(path, map_location="cpu")
    module.load_state_dict(state, strict=True)


def model_size(hparams: Dict[str, Any]) -> SizeReport:
    """:func:`size_report` of the recipe's ``model`` with its parts named (``CNN``, ``enc``...)."""
    named = torch.nn.ModuleDict(dict(zip(MODEL_ORDER, hparams["model"])))
    return size_report(named)


def instantiate(model_dir: PathLike) -> Dict[str, Any]:
    """Loads ``MODEL_DIR/hyperparams.yaml`` and its files (no fetching, no links); returns the hparams."""
    model_dir = Path(model_dir)
    with open(model_dir / "hyperparams.yaml", encoding="utf-8") as f:
        hparams = load_hyperpyyaml(f)
    pretrainer = hparams["pretrainer"]
    pretrainer.set_collect_in(None)
    pretrainer.collect_files(default_source=str(model_dir))
    pretrainer.load_collected()
    return hparams


def parse_model_card(text: str) -> tuple:
    """``(front matter dict, markdown body)`` of a model card."""
    match = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.S)
    if not match:
        raise ValueError("model card: no YAML front matter")
    return yaml.safe_load(match.group(1)), match.group(2)




def export(run_dir: PathLike, model_dir: PathLike, ckpt: str = "average", num_avg: Optional[int] = None,
           overwrite: bool = False, example: Optional[PathLike] = None) -> Path:
    """Builds ``model_dir`` from a recipe run (see the module docstring); returns it.

    ``example``: an audio file copied into the folder and transcribed in the model card.
    """
    run = read_run(run_dir)
    if num_avg is None:  # like the recipe's evaluation
        num_avg = int(run.recipe.get("avg_checkpoints", 1))
    choice = choose_checkpoint(run.run_dir, ckpt, num_avg)
    model_dir = Path(model_dir)
    check_output_folder(model_dir, overwrite)
    if model_dir.exists():
        for name in MODEL_FILES + ("README.md", EXPORT_MARKER):
            (model_dir / name).unlink(missing_ok=True)
        for old_example in model_dir.glob("example.*"):
            old_example.unlink()
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "hyperparams.yaml").write_text(inference_hparams_text(run.recipe_text), encoding="utf-8")
    torch.save(choice.state_dict, model_dir / "model.ckpt")
    shutil.copyfile(choice.normalizer_path, model_dir / "normalizer.ckpt")
    shutil.copyfile(run.tokenizer_model, model_dir / "tokenizer.ckpt")
    # Load it back as a user would (strict): checks the folder and gives the sizes of the real model.
    hparams = instantiate(model_dir)
    report = model_size(hparams)
    files = {name: (model_dir / name).stat().st_size for name in MODEL_FILES}
    name = f"speechbrain-tinyconf-{run.recipe.get('variant', 'model')}"
    card = model_card(run, choice, report, files, name) + training_data_section(run)
    if example is not None:
        card += example_section(model_dir, Path(example))
    (model_dir / "README.md").write_text(card, encoding="utf-8")
    marker = {"exported_by": "speechbrain_tinyconf.export", "run_dir": str(run.run_dir.resolve()),
              "checkpoints": [Path(c.path).name for c in choice.sources], "mode": choice.mode}
    (model_dir / EXPORT_MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return model_dir


def check_output_folder(model_dir: Path, overwrite: bool) -> None:
    """Refuses an output folder that holds a run or anything but an earlier export (``--overwrite``)."""
    runs = list(run_folders_in(model_dir))
    if runs:
        where = "is" if runs[0] == model_dir else f"contains ({runs[0]})"
        raise FileExistsError(f"{model_dir} {where} a recipe run folder: export writes a separate model folder, "
                              "e.g. RUN_DIR/model")
    if not model_dir.exists() or not any(model_dir.iterdir()):
        return
    if not (model_dir / EXPORT_MARKER).is_file():
        raise FileExistsError(f"{model_dir} exists, is not empty and is not a model folder written by export "
                              f"(no {EXPORT_MARKER}); not writing into it")
    if not overwrite:
        raise FileExistsError(f"{model_dir} already holds an exported model: pass --overwrite to replace it")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m speechbrain_tinyconf.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="recipe output folder (hyperparams.yaml, save/, tokenizer/)")
    parser.add_argument("model_dir", help="folder to write the pretrained model to")
    parser.add_argument("--ckpt", choices=["average", "best"], default="average",
                        help="average of the best --num-avg checkpoints by valid loss (default) or the best one")
    parser.add_argument("--num-avg", type=int, default=None, help="checkpoints to average (default: the recipe's avg_checkpoints)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier export in MODEL_DIR")
    parser.add_argument("--example", default=None, help="audio file to ship in the folder, transcribed in the model card")
    args = parser.parse_args(argv)
    try:
        out = export(args.run_dir, args.model_dir, args.ckpt, args.num_avg, args.overwrite, args.example)
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
