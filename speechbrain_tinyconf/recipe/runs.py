"""What the recipe makes: the names of its modules, its run folders and the model folders exported from them.

A *run folder* is what ``recipes/LibriSpeech/train.py`` writes to ``output_folder``:
``hyperparams.yaml`` (the recipe with its overrides), ``command.txt``, ``log.txt``,
``train_log.txt``, ``save/CKPT+*``, ``tokenizer/`` and ``wer_<split>.txt``. Here: what marks one
(:func:`is_run_folder`), how it is read (:func:`read_run`, :func:`parse_wer_file`), which
checkpoint is exported from it (:func:`choose_checkpoint`, like the recipe's evaluation) and
what train.py may do in an existing one (:func:`resume_problem`, :func:`output_folder_problem`,
:func:`lock_output_folder`). An *exported model folder* (``tinyconf-export``) holds
:data:`~speechbrain_tinyconf.pretrained.model_folder.MODEL_FILES` and is marked by
:data:`~speechbrain_tinyconf.pretrained.model_folder.EXPORT_MARKER`, a file only export writes; what
it is, and how it is read and checked, is :mod:`speechbrain_tinyconf.pretrained.model_folder` (the
layer above this one, imported where a run meets an exported folder: ``--init_from``, and the
folders train.py must not write into).

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Union

import torch

from .checkpoints import checkpoint_problem, load_state
from .hparams import resolve_text
from ..lobes.scales import has_legacy_scale_keys

PathLike = Union[str, Path]
RUN_FILES = ("command.txt", "train_log.txt", "log.txt")
# The inference modules of the recipe (hparams/transducer_recipe.yaml), as the exports take them.
TRANSDUCER_MODULES = (
    "compute_features", "normalize", "CNN", "Transformer", "enc", "proj_enc",
    "emb", "dec", "proj_dec", "Tjoint", "transducer_lin",
)
# Top-level recipe keys copied verbatim into the inference YAML, with every key they refer to.
MODULE_KEYS = TRANSDUCER_MODULES + ("proj_ctc",)
# The recipe's `model` ModuleList, in this order (what model.ckpt holds).
MODEL_ORDER = ("CNN", "enc", "emb", "dec", "proj_enc", "proj_dec", "proj_ctc", "transducer_lin")
WER_LINE = re.compile(
    r"%WER\s+([\d.]+)\s+\[\s*(\d+)\s*/\s*(\d+),\s*(\d+)\s+ins,\s*(\d+)\s+del,\s*(\d+)\s+sub\s*\]"
)
SER_LINE = re.compile(r"%SER\s+([\d.]+)\s+\[\s*(\d+)\s*/\s*(\d+)\s*\]")


def is_run_folder(path: PathLike) -> bool:
    """True for a train.py output folder (its ``hyperparams.yaml`` plus checkpoints or logs)."""
    from ..pretrained.model_folder import EXPORT_MARKER  # an exported folder has a hyperparams.yaml too

    path = Path(path)
    if not (path / "hyperparams.yaml").is_file() or (path / EXPORT_MARKER).is_file():
        return False
    return (path / "save").is_dir() or any((path / name).is_file() for name in RUN_FILES)


def run_folders_in(path: PathLike, depth: int = 3) -> Iterator[Path]:
    """``path`` itself and its sub-folders down to ``depth`` levels that are run folders."""
    path = Path(path)
    if not path.is_dir():
        return
    if is_run_folder(path):
        yield path
    if depth > 0:
        for child in sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink()):
            yield from run_folders_in(child, depth - 1)


# ---------------------------------------------------------------------------
# Reading a run


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
    try:
        recipe = resolve_text(text)  # runs nothing of the file (hparams.read_tagged_yaml)
    except Exception as err:  # yaml.YAMLError, a bad !ref
        raise ValueError(f"{hp_path}: not a readable hyperpyyaml file ({str(err).strip().splitlines()[0]})") from None
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
    by: str = "loss"  # the validation metric that ranked them


CHECKPOINT_METRICS = ("loss", "WER")  # what ``select_checkpoints_by`` may name: dev metrics, lower is better


def choose_checkpoint(run_dir: PathLike, mode: str = "average", num_avg: int = 1, by: str = "loss") -> CheckpointChoice:
    """The exported weights, chosen like the recipe's evaluation.

    ``average``: mean of the ``num_avg`` checkpoints with the lowest validation ``by`` (the run's
    ``select_checkpoints_by``: loss or WER), with the normaliser of the most recent checkpoint (what
    the recipe's evaluation recovers before loading the average). ``best``: the lowest one.
    """
    from speechbrain.utils.checkpoints import Checkpointer, average_state_dicts

    run_dir = Path(run_dir)
    save = run_dir / "save"
    if not save.is_dir():
        raise FileNotFoundError(f"save/ (checkpoints) not found in {run_dir}")
    checkpointer = Checkpointer(str(save))
    if by not in CHECKPOINT_METRICS:
        raise ValueError(f"select_checkpoints_by={by!r}: expected one of {', '.join(CHECKPOINT_METRICS)}")
    ranked = checkpointer.find_checkpoints(min_key=by)
    if not ranked:
        raise FileNotFoundError(f"no checkpoint with a validation {by} in {save}"
                                + (" (dev is decoded every valid_search_interval epochs)" if by == "WER" else ""))
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
    return CheckpointChoice(state, Path(norm_ckpt.paramfiles["normalizer"]), mode, chosen, norm_ckpt, by)


# ---------------------------------------------------------------------------
# Starting a run from another model (train.py --init_from)


@dataclass
class InitSource:
    """Weights and tokenizer a fresh run starts from (``train.py --init_from``)."""

    path: Path
    state_dict: Dict[str, torch.Tensor]
    tokenizer: Path  # the sentencepiece model file
    description: str
    normalizer: Optional[Path] = None  # the input normaliser's statistics the weights were trained with


def init_source(path: PathLike) -> InitSource:
    """What ``--init_from path`` loads: an exported model folder (its ``model.ckpt`` and
    ``tokenizer.ckpt``) or a run folder (its lowest-validation-loss checkpoint and ``tokenizer/``).
    A ``FileNotFoundError``/``ValueError`` naming the path when it is neither or is incomplete."""
    from ..pretrained.model_folder import EXPORT_MARKER, read_marker, trained_weights

    path = Path(path)
    if (path / EXPORT_MARKER).is_file():
        state, tokenizer = trained_weights(path)  # a ValueError naming the missing, broken or mismatched file
        normalizer = path / "normalizer.ckpt"
        weights = (read_marker(path) or {}).get("weights", "fp32")  # int4: dequantised, 0.5-0.8 WER points off
        return InitSource(path, state, tokenizer, f"exported model {path} ({weights} weights)",
                          normalizer if normalizer.is_file() else None)
    if is_run_folder(path):
        tokenizers = sorted((path / "tokenizer").glob("*.model"))
        if not tokenizers:
            raise FileNotFoundError(f"{path / 'tokenizer'}: no sentencepiece model (*.model)")
        choice = choose_checkpoint(path, "best")
        best = choice.sources[0]
        return InitSource(path, choice.state_dict, tokenizers[0],
                          f"run {path}, {Path(best.path).name} (valid loss {best.meta['loss']:.4g})",
                          choice.normalizer_path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found")
    raise ValueError(f"{path} is neither an exported model folder ({EXPORT_MARKER}) nor a run folder "
                     "(hyperparams.yaml with save/)")


def matching_weights(model: torch.nn.Module, state: Dict[str, torch.Tensor]) -> tuple:
    """``(loadable, skipped)``: the entries of ``state`` whose name and shape match ``model``'s,
    and the names of ``model``'s tensors that get none (missing, or another shape)."""
    own = model.state_dict()
    loadable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    return loadable, [k for k in own if k not in loadable]


# ---------------------------------------------------------------------------
# Resuming


def model_checkpoints(run_dir: PathLike) -> List[Path]:
    """``save/CKPT+*/model.ckpt`` of a run, newest first (folder names are timestamps)."""
    return sorted(Path(run_dir, "save").glob("CKPT+*/model.ckpt"), reverse=True)


def resume_problem(run_dir: PathLike, model: torch.nn.Module) -> Optional[str]:
    """Why ``model`` cannot continue the run in ``run_dir`` (its newest readable checkpoint does not load), else None.

    train.py asks this before writing anything into an existing run folder, so a
    re-run with another architecture or sharing plan leaves the run as it was.
    Unreadable (torn) checkpoints are passed over: the recipe sets them aside itself.
    """
    for path in model_checkpoints(run_dir):
        try:
            state = load_state(path)
        except ValueError:
            continue
        if has_legacy_scale_keys(state):
            return (f"{path} was saved before the scales became modules: its weights still load (export and "
                    "transcription work), but its optimizer state is in the old parameter order, so training "
                    "cannot resume from it")
        probe = copy.deepcopy(model)
        try:
            probe.load_state_dict(state, strict=True)
        except RuntimeError as err:
            return f"{path} was made by another model (architecture or sharing plan differ): {_summary(str(err))}"
        return None
    return None


def _summary(message: str) -> str:
    """One short line of a ``load_state_dict`` error: each kind of problem, how many keys, the first one."""
    parts, mismatched = [], []
    for line in message.splitlines()[1:]:
        line = line.strip()
        keys = re.findall(r'"([^"]+)"', line)
        if line.startswith(("Missing key", "Unexpected key")) and keys:
            kind = line.split(" in state_dict")[0]
            parts.append(f"{kind}: {len(keys)} (first {keys[0]})")
        elif line.startswith("size mismatch for "):
            mismatched.append(line[len("size mismatch for "):].split(":")[0])
        elif line:
            parts.append(line)
    if mismatched:
        parts.append(f"size mismatch: {len(mismatched)} (first {mismatched[0]})")
    return "; ".join(parts) or message.strip().splitlines()[0]


# ---------------------------------------------------------------------------
# What train.py may write into


LOCK_FILE = "train.lock"


class OutputFolderInUse(RuntimeError):
    """Another train.py process holds the output folder's lock."""

    @staticmethod
    def message(folder: PathLike, pid: Optional[int]) -> str:
        """The one line naming the folder and the holder's PID."""
        return (f"output_folder {folder} is in use by another train.py (PID {pid or 'unknown'}, lock file "
                f"{Path(folder) / LOCK_FILE}): wait for it to end or use another --output_folder")


def output_folder_problem(path: Optional[PathLike]) -> Optional[str]:
    """Why train.py must not write into ``path`` (an exported model or ONNX folder, a file), else None."""
    from ..pretrained.model_folder import EXPORT_MARKER, ONNX_CONFIG

    if path is None:
        return None
    path = Path(str(path))
    if path.exists() and not path.is_dir():
        return f"output_folder {path} exists and is not a folder"
    for name, what in ((EXPORT_MARKER, "an exported model folder"), (ONNX_CONFIG, "an ONNX export folder")):
        if (path / name).is_file():
            return (f"output_folder {path} is {what} ({name}): train.py writes a run folder, which would break "
                    "the model; use another --output_folder (nothing was written)")
        inside = next((p for p in path.absolute().parents if (p / name).is_file()), None)
        if inside is not None:
            return (f"output_folder {path} is inside {what}, {inside} ({name}): use a folder outside it "
                    "(nothing was written)")
    return None


def _pid_alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def output_folder_holder(folder: PathLike) -> Optional[int]:
    """PID of the live process holding ``folder``'s lock (0 if it has not written its PID yet), else None.

    Only looks (nothing is created), so that train.py can refuse before it writes anything; the lock
    itself is taken by :func:`lock_output_folder`.
    """
    path = Path(folder) / LOCK_FILE
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as handle:
        text = handle.read().split()
        pid = int(text[0]) if text and text[0].isdigit() else 0
        try:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return pid
        except (ImportError, OSError):  # no flock here: trust the PID
            import os

            return pid if pid and pid != os.getpid() and _pid_alive(pid) else None
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return None


def lock_output_folder(folder: PathLike) -> tuple:
    """Takes ``folder/train.lock`` for this process: ``(open lock file, previous holder's PID or None)``.

    Keep the file open while the run lasts: the lock is the kernel's (``flock``), released when
    the process ends, however it ends, so a lock left by a dead process is simply taken over
    (its PID, still in the file, is returned). A live holder raises :class:`OutputFolderInUse`
    naming the folder and its PID. Where ``flock`` is unavailable, the PID in the file decides.
    """
    import os

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    handle = open(path, "a+", encoding="utf-8")

    def holder() -> Optional[int]:
        handle.seek(0)
        text = handle.read().split()
        return int(text[0]) if text and text[0].isdigit() else None

    def in_use(pid: Optional[int]) -> OutputFolderInUse:
        handle.close()
        return OutputFolderInUse(OutputFolderInUse.message(folder, pid))

    try:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise in_use(holder()) from None
    except (ImportError, OSError):  # no flock here (Windows, some network file systems): trust the PID
        pid = holder()
        if pid is not None and pid != os.getpid() and _pid_alive(pid):
            raise in_use(pid) from None
    previous = holder()
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle, previous if previous != os.getpid() else None
