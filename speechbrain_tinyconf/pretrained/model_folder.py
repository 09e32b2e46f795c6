"""What a model folder is: its files, how it is checked when read, and how it is written.

Two kinds of folder come out of this package, and each is written whole or not at all:

* a **model folder** (``python -m speechbrain_tinyconf.export``): :data:`MODEL_FILES`
  (``hyperparams.yaml``, ``model.ckpt``, ``normalizer.ckpt``, ``tokenizer.ckpt``), the model card
  ``README.md`` and the marker :data:`EXPORT_MARKER`, which records the size and sha256 of the
  three binary files. ``hyperparams.yaml`` also records the tokenizer's sha256 and its
  vocabulary size, for :func:`load_tokenizer`, so that plain ``EncoderDecoderASR.from_hparams``
  checks them too;
* an **ONNX folder** (``python -m speechbrain_tinyconf.onnx_export``, both formats):
  :data:`ONNX_CONFIG` lists every file with its size and sha256. Readers
  (:class:`speechbrain_tinyconf.onnx_runtime.OrtTransducer`,
  :func:`speechbrain_tinyconf.onnx.sherpa.sherpa_files`) open only the files it lists.

Reading: :func:`check_model_dir` (the files are there), :func:`model_folder_problem` (the first
file that is missing, unreadable or does not belong with the others: a tokenizer of another
vocabulary size, or another file than the one exported), :func:`validate_model_folder` (raises
:class:`ModelFolderError` with that one line). Loading: the pretrainer hooks
:func:`load_model_strict` and :func:`load_tokenizer`, whose errors are one line naming the file.

Writing: :func:`staged_folder` checks the target (:func:`check_output_folder`), hands out a
temporary folder next to it, and swaps it in only once everything was written, so that a
failure, or a process killed half-way, leaves an earlier export byte-identical.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

PathLike = Union[str, Path]
EXPORT_MARKER = "tinyconf-export.json"
# An exported model folder, besides README.md and EXPORT_MARKER (and example.* with --example).
MODEL_FILES = ("hyperparams.yaml", "model.ckpt", "normalizer.ckpt", "tokenizer.ckpt")
FINGERPRINTED = ("model.ckpt", "normalizer.ckpt", "tokenizer.ckpt")  # users may edit the YAML and the card
ONNX_CONFIG = "onnx_config.json"  # = onnx_runtime.CONFIG_NAME (that file imports nothing of the package)
# model.ckpt is the recipe's `model` ModuleList (runs.MODEL_ORDER): item 7 is transducer_lin.
OUTPUT_WEIGHT = "7.w.weight"


class ModelFolderError(ValueError):
    """The folder is not a usable exported model (the message is one line naming the file)."""


class ModelMismatchError(ModelFolderError, RuntimeError):
    """``model.ckpt`` does not fit the model ``hyperparams.yaml`` builds (a RuntimeError, like torch's)."""


class OutputFolderError(ValueError):
    """An export's output folder cannot be written (it holds something else)."""


# ---------------------------------------------------------------------------
# Fingerprints


def sha256_file(path: PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_record(path: PathLike) -> Dict[str, Any]:
    """``{"bytes": size, "sha256": hex}`` of a file, as the marker and ``onnx_config.json`` record it."""
    return {"bytes": Path(path).stat().st_size, "sha256": sha256_file(path)}


def tokenizer_pieces(path: PathLike) -> int:
    """Piece count of a sentencepiece model; a :class:`ModelFolderError` naming the file if it is not one."""
    import sentencepiece

    from ..recipe.checkpoints import first_line

    path = Path(path)
    if not path.is_file():
        raise ModelFolderError(f"{path}: missing")
    try:
        return sentencepiece.SentencePieceProcessor(model_file=str(path)).get_piece_size()
    except Exception as err:  # sentencepiece raises OSError/RuntimeError with its own text
        raise ModelFolderError(f"{path}: not a sentencepiece model ({first_line(err)})") from None


def vocabulary_problem(tokenizer: PathLike, pieces: int, model: str, outputs: Optional[int]) -> Optional[str]:
    """The one-line error when a tokenizer of ``pieces`` pieces goes with a model of ``outputs`` outputs."""
    if outputs is None or pieces == outputs:
        return None
    return (f"{tokenizer} has {pieces} pieces but {model} outputs {outputs} tokens: "
            "the tokenizer is not this model's (vocabulary sizes differ)")


def output_size(state: Dict[str, Any]) -> Optional[int]:
    """Token outputs of a ``model.ckpt`` state dict (rows of ``transducer_lin``), None if it has none."""
    weight = state.get(OUTPUT_WEIGHT)
    return int(weight.shape[0]) if getattr(weight, "ndim", 0) == 2 else None


# ---------------------------------------------------------------------------
# Reading a model folder


def check_model_dir(model_dir: PathLike) -> Path:
    """Raises :class:`ModelFolderError` unless ``model_dir`` is a folder holding every :data:`MODEL_FILES`."""
    model_dir = Path(model_dir)
    if not model_dir.exists():
        raise ModelFolderError(f"model folder not found: {model_dir}")
    if not model_dir.is_dir():
        raise ModelFolderError(f"not a folder: {model_dir}")
    for name in MODEL_FILES:
        if (model_dir / name).exists() and not (model_dir / name).is_file():
            raise ModelFolderError(f"{model_dir / name}: not a file")
    missing = [name for name in MODEL_FILES if not (model_dir / name).is_file()]
    if len(missing) == 1:
        raise ModelFolderError(f"{model_dir / missing[0]}: missing (a model folder written by "
                               "python -m speechbrain_tinyconf.export has it)")
    if missing:
        raise ModelFolderError(f"{', '.join(missing)} missing in {model_dir} "
                               "(not a model folder written by python -m speechbrain_tinyconf.export)")
    return model_dir


def read_marker(model_dir: PathLike) -> Optional[Dict[str, Any]]:
    """The export marker of ``model_dir`` (None if there is none: a folder made before markers, or by hand)."""
    path = Path(model_dir) / EXPORT_MARKER
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ModelFolderError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(marker, dict):
        raise ModelFolderError(f"{path}: not valid JSON (expected an object)")
    return marker


def model_folder_problem(model_dir: PathLike) -> Optional[str]:
    """``"<file>: <why>"`` for the first file of a model folder that is missing, unreadable or does not
    belong with the others, else None. In order: the files are there, ``hyperparams.yaml`` is YAML,
    the checkpoints and the tokenizer load, the tokenizer's vocabulary is the model's, and each
    file is the one the marker records. (Whether ``model.ckpt`` fits ``hyperparams.yaml`` is
    checked by the strict load itself, :func:`load_model_strict`.)"""
    from ..recipe.checkpoints import first_line, load_state
    from ..recipe.hparams import read_plain_yaml

    model_dir = Path(model_dir)
    try:
        check_model_dir(model_dir)
        hp_path = model_dir / "hyperparams.yaml"
        try:
            read_plain_yaml(hp_path.read_text(encoding="utf-8"))
        except Exception as err:
            return f"{hp_path}: not valid YAML ({first_line(err)})"
        states = {}
        for name in ("model.ckpt", "normalizer.ckpt"):
            try:
                states[name] = load_state(model_dir / name)
            except ValueError as err:
                return str(err)
        pieces = tokenizer_pieces(model_dir / "tokenizer.ckpt")
        marker = read_marker(model_dir)
    except ModelFolderError as err:
        return str(err)
    model = states["model.ckpt"]
    outputs = output_size(model) if isinstance(model, dict) else None
    problem = vocabulary_problem(model_dir / "tokenizer.ckpt", pieces, str(model_dir / "model.ckpt"), outputs)
    if problem:
        return problem
    recorded = (marker or {}).get("files") or {}
    for name in FINGERPRINTED:
        want = (recorded.get(name) or {}).get("sha256") if isinstance(recorded.get(name), dict) else None
        if want and sha256_file(model_dir / name) != want:
            partner = "model.ckpt" if name != "model.ckpt" else "tokenizer.ckpt"
            return (f"{model_dir / name} is not the file exported with {model_dir / partner} (its sha256 differs "
                    f"from the one {EXPORT_MARKER} records): the folder was changed after export; export it again")
    return None


def validate_model_folder(model_dir: PathLike) -> Path:
    """``model_dir``, or a :class:`ModelFolderError` with :func:`model_folder_problem`'s line."""
    problem = model_folder_problem(model_dir)
    if problem:
        raise ModelFolderError(problem)
    return Path(model_dir)


# ---------------------------------------------------------------------------
# Pretrainer hooks (named in the exported hyperparams.yaml)


def load_model_strict(module, path: PathLike) -> None:
    """Loads ``model.ckpt`` with ``strict=True`` (SpeechBrain's default is lenient).

    A shared-weight encoder re-expands its stored-once tensors in its own load hook. A
    checkpoint that does not fit (another architecture, vocabulary or sharing plan) raises a
    :class:`ModelMismatchError`: one line naming the file, the first key that differs and both shapes.
    """
    from ..recipe.checkpoints import load_state

    state = load_state(path)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ModelMismatchError(mismatch_line(path, err)) from None


def load_tokenizer(tokenizer, path: PathLike, vocab_size: Optional[int] = None, sha256: Optional[str] = None) -> None:
    """Loads ``tokenizer.ckpt`` into a ``SentencePieceProcessor``, checked against the model.

    ``vocab_size`` (the model's outputs) and ``sha256`` (the exported tokenizer's) come from
    ``hyperparams.yaml``; a tokenizer that differs raises a :class:`ModelFolderError` naming the file.
    """
    from ..recipe.checkpoints import first_line

    try:
        tokenizer.load(str(path))
    except Exception as err:
        raise ModelFolderError(f"{path}: not a sentencepiece model ({first_line(err)})") from None
    pieces = tokenizer.get_piece_size()
    problem = vocabulary_problem(path, pieces, "the model (vocab_size in hyperparams.yaml)", vocab_size)
    if problem:
        raise ModelFolderError(problem)
    if sha256 and sha256_file(path) != sha256:
        raise ModelFolderError(f"{path} is not the tokenizer this model was exported with (its sha256 differs from "
                               "tokenizer_sha256 in hyperparams.yaml)")


_SIZE_MISMATCH = re.compile(r"size mismatch for ([^:]+): copying a param with shape torch\.Size\(\[([^\]]*)\]\) "
                            r"from checkpoint, the shape in current model is torch\.Size\(\[([^\]]*)\]\)")


def mismatch_line(path: PathLike, err: BaseException) -> str:
    """One line for a failed strict ``load_state_dict``: the file, then the first key of each kind of problem.

    Example
    -------
    >>> err = RuntimeError('Error(s) in loading state_dict for ModuleList:\\n\\tsize mismatch for 7.w.weight: '
    ...     'copying a param with shape torch.Size([128, 32]) from checkpoint, the shape in current model is '
    ...     'torch.Size([256, 32]).\\n\\tMissing key(s) in state_dict: "1.a", "1.b". ')
    >>> print(mismatch_line("m/model.ckpt", err))
    m/model.ckpt does not fit the model hyperparams.yaml builds (another architecture, vocabulary or sharing plan): size mismatch for 7.w.weight: (128, 32) in the file, (256, 32) in the model; Missing key(s) in the file: 2 (first 1.a)
    """
    parts: List[str] = []
    lines = [line.strip() for line in str(err).splitlines()[1:] if line.strip()]
    sizes = [m for m in (_SIZE_MISMATCH.search(line) for line in lines) if m]
    if sizes:
        key, have, want = sizes[0].groups()
        more = f" ({len(sizes)} tensors differ)" if len(sizes) > 1 else ""
        parts.append(f"size mismatch for {key}: ({have}) in the file, ({want}) in the model{more}")
    for line in lines:
        keys = re.findall(r'"([^"]+)"', line)
        if line.startswith("Missing key") and keys:
            parts.append(f"Missing key(s) in the file: {len(keys)} (first {keys[0]})")
        elif line.startswith("Unexpected key") and keys:
            parts.append(f"Unexpected key(s) in the file: {len(keys)} (first {keys[0]})")
        elif not line.startswith("size mismatch"):
            parts.append(line)
    detail = "; ".join(parts) or (str(err).strip().splitlines() or [type(err).__name__])[0]
    return (f"{path} does not fit the model hyperparams.yaml builds (another architecture, vocabulary or "
            f"sharing plan): {detail}")


# ---------------------------------------------------------------------------
# Writing


_LEGACY_SHERPA = re.compile(r"^(?:(?:encoder|decoder|joiner)(?:\.int8|\.int4)?\.onnx|tokens\.txt)$")


def is_export_folder(path: PathLike, kind: str) -> bool:
    """Whether ``path`` is a folder this package exported: ``kind`` ``"model"`` (marker) or ``"onnx"`` (config;
    or a sherpa-onnx export made before configs were written: its graphs and ``tokens.txt``, nothing else)."""
    path = Path(path)
    if (path / (EXPORT_MARKER if kind == "model" else ONNX_CONFIG)).is_file():
        return True
    if kind != "onnx" or not path.is_dir():
        return False
    names = {p.name for p in path.iterdir()}
    return {"encoder.onnx", "decoder.onnx", "joiner.onnx", "tokens.txt"} <= names and all(
        _LEGACY_SHERPA.match(n) and (path / n).is_file() for n in names)


def check_output_folder(target: PathLike, kind: str, overwrite: bool = False, sources: Sequence[PathLike] = ()) -> None:
    """Raises :class:`OutputFolderError` unless an export of ``kind`` may replace ``target``.

    Never: a file, a recipe run folder (or a folder containing one), a folder holding one of the
    export's ``sources``. ``kind="model"``: an empty or absent folder, or an earlier model export
    with ``overwrite``; any other folder is refused. ``kind="onnx"``: an empty or absent folder, an
    earlier ONNX export, or anything else with ``overwrite``. The whole folder is replaced.
    """
    from ..recipe.runs import run_folders_in

    target = Path(target)
    if target.exists() and not target.is_dir():
        raise OutputFolderError(f"{target} exists and is not a folder")
    runs = list(run_folders_in(target))
    if runs:
        where = "is" if runs[0] == target else f"contains ({runs[0]})"
        raise OutputFolderError(f"{target} {where} a recipe run folder: export writes a separate model folder, "
                                "e.g. RUN_DIR/model")
    here = Path(os.path.realpath(target))
    for source in sources:
        source = Path(os.path.realpath(source))
        if source == here or here in source.parents:
            raise OutputFolderError(f"{target} holds the export source {source}: write to another folder")
    if not target.exists() or not any(target.iterdir()):
        return
    if kind == "model":
        if not is_export_folder(target, "model"):
            raise OutputFolderError(f"{target} exists, is not empty and is not a model folder written by export "
                                    f"(no {EXPORT_MARKER}); not writing into it")
        if not overwrite:
            raise OutputFolderError(f"{target} already holds an exported model: pass --overwrite to replace it")
    elif not is_export_folder(target, "onnx") and not overwrite:
        raise OutputFolderError(f"{target} exists, is not empty and is not an ONNX export (no {ONNX_CONFIG}): "
                                "pass --overwrite to replace the whole folder")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _remove_stale_stages(target: Path) -> None:
    """Temporary folders next to ``target`` left by exports that were killed (their process is gone)."""
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.tinyconf-(\d+)-")
    for sibling in target.parent.iterdir():
        found = pattern.match(sibling.name)
        if found and sibling.is_dir() and not sibling.is_symlink() and not _pid_alive(int(found.group(1))):
            shutil.rmtree(sibling, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swaps two folders (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    try:
        import ctypes

        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def staged_folder(target: PathLike, kind: str, overwrite: bool = False,
                  sources: Sequence[PathLike] = ()) -> Iterator[Path]:
    """Yields an empty temporary folder next to ``target``; swaps it in for ``target`` when the block ends.

    ``target`` is checked first (:func:`check_output_folder`). If the block raises, or the process
    dies, ``target`` is left as it was: the temporary folder is removed (a killed process's is
    removed by the next export to the same target). An earlier folder is replaced whole, in one
    atomic exchange where the system has one (Linux), else by two renames.
    """
    target = Path(os.path.abspath(target))
    if target.is_symlink():  # write where the link points, the link stays
        target = Path(os.path.realpath(target))
    check_output_folder(target, kind, overwrite, sources)
    created: List[Path] = []
    parent = target.parent
    while not parent.exists():
        created.append(parent)
        parent = parent.parent
    for folder in reversed(created):
        folder.mkdir()
    stage: Optional[Path] = None
    done = False
    try:
        _remove_stale_stages(target)
        stage = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tinyconf-{os.getpid()}-"))
        os.chmod(stage, 0o777 & ~_umask())  # mkdtemp makes 0700 folders
        yield stage
        _swap_in(stage, target)
        done = True
    finally:
        if not done:
            if stage is not None:
                shutil.rmtree(stage, ignore_errors=True)
            for folder in created:
                with contextlib.suppress(OSError):
                    folder.rmdir()


def _swap_in(stage: Path, target: Path) -> None:
    """Puts the complete ``stage`` where ``target`` is: onto nothing or an empty folder in one rename,
    over an earlier folder in one exchange (Linux) or two renames; the earlier folder is then removed."""
    if not target.exists() or (target.is_dir() and not any(target.iterdir())):
        os.replace(stage, target)
    elif _exchange(stage, target):
        shutil.rmtree(stage, ignore_errors=True)  # now the old folder
    else:
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tinyconf-{os.getpid()}-old-"))
        os.replace(target, old / "x")
        try:
            os.replace(stage, target)
        except BaseException:
            os.replace(old / "x", target)
            raise
        shutil.rmtree(old, ignore_errors=True)


def output_error_line(err: OSError, target: PathLike) -> str:
    """One line for an ``OSError`` met while writing an export to ``target`` (read-only folder, full disk...)."""
    where = err.filename or target
    return f"cannot write {target}: {err.strerror or err} ({where})"
