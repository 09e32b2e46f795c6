"""The walk of ``export_onnx`` on a model folder: how often reading the folder leaves a module and comes back.

    python scripts/module_walk.py [--model-dir MODEL_DIR] [--json]

Issue 22, item 2 ("one room for the model folder") asks that the ``source`` argument of
``export_onnx`` pass through each module once, with at most 3 returns. This tool measures it,
on this package's layout or on the one before it (``speechbrain_tinyconf.onnx.export``), whichever
``speechbrain_tinyconf`` is imported.

What is counted
---------------
``export_onnx(MODEL_DIR, OUT_DIR)`` runs under ``sys.setprofile``, and every call is recorded that

* calls a function of the package (its code file is inside the package folder),
* is made by package code (the caller's frame is inside the package folder too: a call made by
  SpeechBrain, hyperpyyaml or torch -- a pretrainer hook, a module's ``forward`` -- is not
  recorded, but the package calls that such a function makes are), and
* is handed the model folder: one of its arguments (positional, keyword, ``*args`` or
  ``**kwargs``, or an item of a list, tuple, set or dict argument) is ``MODEL_DIR`` or a path inside
  it, as a ``str`` or a path object.

A *stop* is the module of a recorded call, dotted and relative to the package
(``pretrained.model_folder``). The walk starts with the module of ``export_onnx`` itself, and
consecutive stops in the same module are one stop. **returns = stops - distinct modules**: the
number of stops at a module the walk had already left.

Without ``--model-dir`` the folder is a tiny one made for the purpose (``tests/configs/tiny.yaml``
with random weights, exported by the package itself: a few seconds), so the count is that of the
code, not of a model.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "configs" / "tiny.yaml"


@dataclass
class Walk:
    """The stops of a walk (consecutive repeats collapsed) and what they add up to."""

    stops: List[str] = field(default_factory=list)

    @property
    def modules(self) -> int:
        return len(set(self.stops))

    @property
    def returns(self) -> int:
        return len(self.stops) - self.modules

    def line(self) -> str:
        return " > ".join(self.stops)

    def summary(self) -> str:
        return f"{len(self.stops)} stops, {self.modules} modules, {self.returns} returns"


def _package_dir() -> str:
    import speechbrain_tinyconf

    return os.path.dirname(os.path.abspath(speechbrain_tinyconf.__file__)) + os.sep


def _module(filename: str, package_dir: str) -> Optional[str]:
    """Dotted module of a code file inside the package (``pretrained.model_folder``), else None."""
    if not filename.startswith(package_dir) or not filename.endswith(".py"):
        return None
    return filename[len(package_dir):-len(".py")].replace(os.sep, ".")


def _handed(value: Any, folders: Sequence[str], depth: int = 0) -> bool:
    """Whether ``value`` is one of ``folders`` or a path inside one (also as an item of a container)."""
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        return isinstance(text, str) and any(text == f or text.startswith(f + os.sep) for f in folders)
    if depth < 2 and isinstance(value, (list, tuple, set, frozenset)):
        return any(_handed(item, folders, depth + 1) for item in value)
    if depth < 2 and isinstance(value, dict):
        return any(_handed(item, folders, depth + 1) for item in value.values())
    return False


def _arguments(frame) -> List[Any]:
    """The arguments a call was handed (its frame at the 'call' event)."""
    code, local = frame.f_code, frame.f_locals
    count = code.co_argcount + code.co_kwonlyargcount
    values = [local.get(name) for name in code.co_varnames[:count]]
    if code.co_flags & 0x04:  # *args
        values += list(local.get(code.co_varnames[count]) or ())
        count += 1
    if code.co_flags & 0x08:  # **kwargs
        values += list((local.get(code.co_varnames[count]) or {}).values())
    return values


def trace_walk(function: Callable, folder: Path, *args: Any, **kwargs: Any) -> Walk:
    """Runs ``function(folder, *args, **kwargs)`` and returns the walk of ``folder`` through the package
    (see the module docstring)."""
    package_dir = _package_dir()
    folders = sorted({str(folder), os.path.abspath(folder), os.path.realpath(folder)})
    stops = [_module(os.path.abspath(function.__code__.co_filename), package_dir) or function.__module__]

    def profile(frame, event, arg):
        if event != "call":
            return
        callee = _module(frame.f_code.co_filename, package_dir)
        caller = frame.f_back
        if callee is None or caller is None or _module(caller.f_code.co_filename, package_dir) is None:
            return
        if any(_handed(value, folders) for value in _arguments(frame)) and stops[-1] != callee:
            stops.append(callee)

    sys.setprofile(profile)
    try:
        function(folder, *args, **kwargs)
    finally:
        sys.setprofile(None)
    return Walk(stops)


def _export_functions():
    """``(export, export_onnx, recipe_yaml, load_detached)`` of the imported package, in either layout."""
    try:
        from speechbrain_tinyconf.deploy.export import export_onnx
        from speechbrain_tinyconf.pretrained.export import export
        from speechbrain_tinyconf.recipe.hparams import load_detached, recipe_yaml
    except ImportError:  # the layout before issue 22 (to measure it)
        from speechbrain_tinyconf.export import export
        from speechbrain_tinyconf.hparams import load_detached, recipe_yaml
        from speechbrain_tinyconf.onnx.export import export_onnx
    return export, export_onnx, recipe_yaml, load_detached


def tiny_model_folder(folder: Path, config: Path = TINY, vocab_size: int = 24) -> Path:
    """A model folder exported by the package from a fake run of ``config``: random weights, identity
    feature statistics, a ``vocab_size``-piece tokenizer on random words. Returns it (``folder/model``)."""
    import sentencepiece
    import torch
    from speechbrain.utils.checkpoints import Checkpointer

    export, _, recipe_yaml, load_detached = _export_functions()
    run = Path(folder) / "run"
    run.mkdir(parents=True)
    (run / "hyperparams.yaml").write_text(recipe_yaml(config), encoding="utf-8")
    hparams = load_detached(config)
    normalize = hparams["normalize"]
    n_mels = int(hparams.get("n_mels", 80))
    normalize.glob_mean, normalize.glob_std, normalize.count = torch.zeros(n_mels), torch.ones(n_mels), 1
    Checkpointer(str(run / "save"), recoverables={"model": hparams["model"], "normalizer": normalize}) \
        .save_checkpoint(meta={"loss": 1.0})
    rng = random.Random(0)
    words = ["".join(rng.choice("abcdefghijklmnop") for _ in range(rng.randint(2, 6))) for _ in range(200)]
    lines = [" ".join(rng.choice(words) for _ in range(8)) for _ in range(300)]
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=model, vocab_size=vocab_size,
                                             model_type="unigram", minloglevel=2)
    (run / "tokenizer").mkdir()
    (run / "tokenizer" / f"{vocab_size}_unigram.model").write_bytes(model.getvalue())
    return Path(export(run, Path(folder) / "model", ckpt="best"))


def measure(model_dir: Optional[Path] = None, work: Optional[Path] = None) -> Walk:
    """The walk of ``export_onnx(model_dir, <work>/onnx)``; without ``model_dir``, of a :func:`tiny_model_folder`."""
    _, export_onnx, _, _ = _export_functions()
    with tempfile.TemporaryDirectory(prefix="module_walk_") as tmp:
        work = Path(work or tmp)
        if model_dir is None:
            model_dir = tiny_model_folder(work / "tiny")
        return trace_walk(export_onnx, Path(model_dir), work / "onnx", chunk_frames=(8,))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="model folder to export (default: a tiny one made for the purpose)")
    parser.add_argument("--json", action="store_true", help="print the walk as JSON")
    args = parser.parse_args(argv)
    import speechbrain_tinyconf

    walk = measure(args.model_dir)
    if args.json:
        print(json.dumps({"package": os.path.dirname(speechbrain_tinyconf.__file__), "stops": walk.stops,
                          "modules": walk.modules, "returns": walk.returns}, indent=2))
    else:
        print(f"package: {os.path.dirname(speechbrain_tinyconf.__file__)}")
        print(walk.line())
        print(walk.summary())
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # the package of this tree (run from a checkout of another layout: its own)
    sys.exit(main())
