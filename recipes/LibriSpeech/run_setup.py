"""Everything between ``train.py``'s command line and training: checked before anything is written.

``--defaults FILE`` overrides under the command line (:func:`take_defaults_file`); the recipe's
hparams built, or one line on stderr and exit status 2 for a user error (:func:`load_or_exit`,
:func:`check_folders`: a bad override, an output folder that is an exported model, is in use
by another train.py or holds another model's run, a missing data folder); the output folder's
lock (:func:`hold_output_folder`); ``--init_from``'s weights and tokenizer
(:func:`load_init_source`, :func:`start_from`).

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Dict, List, NoReturn, Optional, Tuple

import yaml
from speechbrain.utils.distributed import if_main_process

from speechbrain_tinyconf.recipe.hparams import (
    OverrideError, check_overrides, load_recipe_hparams, parse_overrides, recipe_yaml, resolve_text,
)
from speechbrain_tinyconf.lobes.lowrank import svd_init_skipped
from speechbrain_tinyconf.recipe.runs import (
    InitSource, OutputFolderInUse, init_source, lock_output_folder, matching_weights, model_checkpoints,
    output_folder_holder, output_folder_problem, resume_problem,
)

logger = logging.getLogger(__name__)


def with_defaults(overrides: str, defaults: Optional[Dict]) -> Dict:
    """Command-line overrides (``key: value`` lines) on top of a recipe's ``defaults``, as one mapping."""
    try:
        return {**(defaults or {}), **parse_overrides(overrides)}
    except OverrideError as err:
        fail(str(err))


def load_or_exit(hparams_file: str, overrides) -> Dict:
    """The recipe's hparams; a user error (bad override, invalid sharing plan, a run folder made by
    another model) ends the program with one line on stderr and exit status 2, before anything is written."""
    try:
        check_overrides(hparams_file, overrides)
        output_folder = check_folders(hparams_file, overrides)
        # A resumed run's checkpoint replaces every weight: no SVD of the random ones (lowrank.svd_init_skipped).
        resuming = output_folder is not None and bool(model_checkpoints(output_folder))
        with svd_init_skipped() if resuming else contextlib.nullcontext():
            hparams = load_recipe_hparams(hparams_file, overrides)
    except (OverrideError, FileNotFoundError) as err:
        fail(str(err))
    except (ValueError, TypeError, KeyError) as err:  # raised while building the modules
        cause = err.args[-1] if isinstance(err, TypeError) and err.args else err
        given = overrides if isinstance(overrides, str) else "\n".join(f"{k}: {v}" for k, v in overrides.items())
        fail(f"{hparams_file} with overrides {{{given.replace(chr(10), ', ')}}}: {cause}")
    problem = resume_problem(hparams["output_folder"], hparams["model"])
    if problem:
        fail(f"output_folder {hparams['output_folder']} holds another run: {problem}. "
             "Use a new --output_folder (nothing was written).")
    return hparams


def check_folders(hparams_file: str, overrides) -> Optional[str]:
    """Before anything is built or written (building the recipe creates save/): an output folder that is an
    exported model (or ONNX) folder or that another train.py is using, or a missing data folder, ends the
    program with one line. Returns the output folder (None if the recipe cannot be read here)."""
    try:
        values = resolve_text(recipe_yaml(hparams_file, overrides))  # runs nothing of the YAML
    except Exception:  # load_recipe_hparams reports it
        return None
    problem = output_folder_problem(values.get("output_folder"))
    if problem:
        fail(problem)
    if if_main_process() and values.get("output_folder") is not None:  # other DDP ranks: rank 0's lock
        holder = output_folder_holder(values["output_folder"])
        if holder is not None:
            fail(OutputFolderInUse.message(values["output_folder"], holder))
    data = values.get("data_folder")
    if data is not None and not values.get("skip_prep") and not Path(str(data)).is_dir():
        fail(f"--data_folder {data}: folder not found (nothing was written)")
    return None if values.get("output_folder") is None else str(values["output_folder"])


_LOCK = None  # the output folder's lock file, open while this process runs


def hold_output_folder(folder: str) -> None:
    """Takes the output folder's lock (runs.lock_output_folder) for the life of this process; a folder another
    train.py took since check_folders ends this one with one line naming its PID."""
    global _LOCK
    try:
        _LOCK, previous = lock_output_folder(folder)
    except OutputFolderInUse as err:
        fail(str(err))
    if previous is not None:
        logger.info("output_folder %s: took over the lock of PID %d, which has ended", folder, previous)


def load_init_source(hparams: Dict) -> Optional[InitSource]:
    """``--init_from``'s weights and tokenizer, checked against this run before anything is written:
    the tokenizer must have ``vocab_size`` pieces and some weights must fit the model."""
    if not hparams.get("init_from"):
        return None
    try:
        source = init_source(hparams["init_from"])
    except (FileNotFoundError, ValueError) as err:
        fail(f"--init_from {hparams['init_from']}: {err}")
    import sentencepiece

    pieces = sentencepiece.SentencePieceProcessor(model_file=str(source.tokenizer)).get_piece_size()
    if pieces != hparams["vocab_size"]:
        fail(f"--init_from {source.path}: its tokenizer {source.tokenizer.name} has {pieces} pieces but "
             f"vocab_size is {hparams['vocab_size']}: pass --vocab_size {pieces} (the run keeps that tokenizer)")
    loadable, _ = matching_weights(hparams["model"], source.state_dict)
    if not loadable:
        fail(f"--init_from {source.path}: none of its weights fits this model (another architecture)")
    return source


def start_from(source: InitSource, hparams: Dict, main: bool = True) -> None:
    """A fresh run takes ``source``'s matching weights, its tokenizer (copied to where
    ``train_tokenizer`` finds it, so it is not retrained) and its input normaliser's statistics, which
    go on updating with this run's data (the weights were trained on features normalised with them:
    a fresh normaliser shifts every feature, 0.3 points of dev WER after one epoch, measured 2026-12-06).
    The source is read, never made a checkpoint of this run. A run that already has checkpoints
    resumes from them instead.

    Every DDP rank calls it: SpeechBrain's ``InputNormalization`` keeps its statistics in attributes, not
    buffers, so DDP does not copy them from rank 0. Only the ``main`` process writes files."""
    out = Path(hparams["output_folder"])
    if model_checkpoints(out):
        if main:
            logger.info("init_from %s: the run has checkpoints, resuming from them instead", source.path)
        return
    if main:
        tokenizer = out / "tokenizer" / f"{hparams['vocab_size']}_{hparams['token_type']}.model"
        tokenizer.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source.tokenizer, tokenizer)
    loadable, skipped = matching_weights(hparams["model"], source.state_dict)
    hparams["model"].load_state_dict(loadable, strict=False)
    note = f"init_from {source.description}: {len(loadable)} tensors loaded"
    if skipped:
        note += f", {len(skipped)} of this model's left as initialised (first: {skipped[0]})"
    if source.normalizer is not None:
        norm = hparams["normalize"]
        norm._load(source.normalizer)
        norm.glob_mean, norm.glob_std = norm.glob_mean.float(), norm.glob_std.float()  # bf16 in older runs
        note += f"; input normaliser statistics from {source.normalizer}"
    if main:
        logger.info(note)
        (out / "init_from.txt").write_text(note + "\n", encoding="utf-8")


def fail(message: str) -> NoReturn:
    """``error: message`` on stderr, exit status 2 (a user error: no traceback)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def take_defaults_file(argv: List[str]) -> Tuple[List[str], Dict]:
    """``argv`` without its ``--defaults FILE`` options, and the files' overrides (plain YAML, e.g.
    ``cpu_demo.yaml``), merged in the order given: a later file wins, the command line wins over all."""
    rest, files = [], []
    args = iter(argv)
    for arg in args:
        if arg == "--defaults":
            files.append(next(args, ""))
        elif arg.startswith("--defaults="):
            files.append(arg[len("--defaults="):])
        else:
            rest.append(arg)
    merged: Dict = {}
    for name in files:
        path = Path(name)
        if not path.is_file():
            fail(f"--defaults {name}: file not found")
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(values, dict):
            fail(f"--defaults {path}: expected a mapping of overrides")
        merged.update(values)
    return rest, merged


def release_process_group(finished: bool = True) -> None:
    """A process group left to the interpreter's exit can abort a gloo rank ("terminate called
    without an active exception", seen twice in the DDP test under load, also after an explicit
    destroy): after a finished run every rank waits for the others first, so none tears down while
    another still talks (not after an error: a rank stuck in a collective would never arrive).
    A finished rank then leaves without the interpreter's teardown (logs and output flushed first): the
    abort came from there, after the destroy (2026-12-06, a fresh clone's suite, the run's results written)."""
    import torch

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        if finished:
            torch.distributed.barrier()
        torch.distributed.destroy_process_group()
        if finished:
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
