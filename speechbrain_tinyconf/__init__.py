"""speechbrain-tinyconf: tiny Conformer ASR through weight sharing and low-rank factors.

The package has four layers, each a subpackage that builds on the ones before it (two calls go
upward: ``recipe.runs`` reads model folders for ``--init_from``, and ``pretrained.transcribe`` reuses
the torch-free chunking and length limit of ``deploy.onnx_runtime``):

* :mod:`speechbrain_tinyconf.lobes` -- the model: sharing plans, low-rank factors, the shared
  Conformer encoder, predictor, front-end, losses, size reports;
* :mod:`speechbrain_tinyconf.recipe` -- what the training recipe needs: hparams files, run
  folders and their checkpoints, CPU training helpers, progress;
* :mod:`speechbrain_tinyconf.pretrained` -- the exported model folder: the module that knows it
  (:mod:`~speechbrain_tinyconf.pretrained.model_folder`), export from a run, model card, transcription;
* :mod:`speechbrain_tinyconf.deploy` -- ONNX export (tinyconf and sherpa-onnx formats) and the
  torch-free onnxruntime decoder.

The names below are imported on first use (PEP 562), so that torch-free modules such as
``speechbrain_tinyconf.deploy.onnx_runtime`` can be imported without importing torch.

Modules moved in the layout above keep their old paths for one release (:data:`_MOVED`):
``import speechbrain_tinyconf.encoder`` gives the module ``speechbrain_tinyconf.lobes.encoder`` itself
(same classes: ``isinstance``, pickles and ``!new:speechbrain_tinyconf.encoder.SharedConformerEncoder``
in a YAML keep working) with a ``DeprecationWarning`` naming the new path, and
``python -m speechbrain_tinyconf.transcribe`` runs the new module after one line on stderr.
"""

import sys
from importlib import import_module

_EXPORTS = {
    "SharedTransformerASR": ".lobes.asr",
    "SharedConformerEncoder": ".lobes.encoder",
    "LowRankLinear": ".lobes.lowrank",
    "LowRankRelPosMHAXL": ".lobes.attention",
    "LowRankWeight": ".lobes.lowrank",
    "LowRankPlan": ".lobes.sharing",
    "SharingPlan": ".lobes.sharing",
    "ElasticDepth": ".lobes.depth",
    "set_depth": ".lobes.depth",
    "SizeReport": ".lobes.size",
    "size_report": ".lobes.size",
}
__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"

# Old module path -> new one (relative to the package), deprecated since the four-layer layout.
# A package entry moves its submodules too (onnx.export -> deploy.export).
_MOVED = {
    **{name: "lobes." + name for name in ("asr", "attention", "augment", "encoder", "frontend", "losses",
                                          "lowrank", "predictor", "scales", "sharing", "size")},
    **{name: "recipe." + name for name in ("checkpoints", "cpu_training", "hparams", "progress", "runs")},
    **{name: "pretrained." + name for name in ("export", "model_card", "model_folder", "transcribe")},
    "onnx": "deploy",
    "onnx_export": "deploy.onnx_export",
    "onnx_runtime": "deploy.onnx_runtime",
}
# Command lines among them: the console script that replaces `python -m speechbrain_tinyconf.<old>`.
_SCRIPTS = {"export": "tinyconf-export", "transcribe": "tinyconf-transcribe", "onnx_export": "tinyconf-onnx-export"}


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)


def current_name(dotted: str) -> str:
    """The current path of a dotted name that may use a moved module's old path (else ``dotted`` itself).

    Example
    -------
    >>> current_name("speechbrain_tinyconf.encoder.SharedConformerEncoder")
    'speechbrain_tinyconf.lobes.encoder.SharedConformerEncoder'
    >>> current_name("speechbrain_tinyconf.onnx.export.export_onnx")
    'speechbrain_tinyconf.deploy.export.export_onnx'
    >>> current_name("speechbrain_tinyconf.SharedTransformerASR")
    'speechbrain_tinyconf.SharedTransformerASR'
    """
    prefix = __name__ + "."
    if not dotted.startswith(prefix):
        return dotted
    head, _, rest = dotted[len(prefix):].partition(".")
    if head not in _MOVED:
        return dotted
    return prefix + _MOVED[head] + ("." + rest if rest else "")


class _MovedModuleLoader:
    """Loads an old module path as the module at its new path (the same object, no second copy)."""

    def __init__(self, old: str, new: str):
        self.old, self.new = old, new
        self._spec = None

    def create_module(self, spec):
        module = import_module(self.new)
        self._spec = module.__spec__
        return module

    def exec_module(self, module) -> None:
        module.__spec__ = self._spec  # the import system set the old name's spec on it: put its own back
        import warnings

        warnings.warn(f"{self.old} moved to {self.new}; the old path is deprecated and goes in the next release",
                      DeprecationWarning, stacklevel=2)

    def get_code(self, fullname: str):
        """``python -m <old path>``: one line on stderr, then the new module as ``__main__``."""
        script = _SCRIPTS.get(self.old[len(__name__) + 1:])
        instead = f"{script} (or python -m {self.new})" if script else f"python -m {self.new}"
        source = (f"import runpy, sys\n"
                  f"print({f'warning: python -m {self.old} is deprecated (removed in the next release): use {instead}'!r},"
                  f" file=sys.stderr, flush=True)\n"
                  f"runpy.run_module({self.new!r}, run_name='__main__', alter_sys=True)\n")
        return compile(source, f"<{self.old}: moved to {self.new}>", "exec")

    def is_package(self, fullname: str) -> bool:
        return False


class _MovedModuleFinder:
    """Finds the old paths of :data:`_MOVED` (first on ``sys.meta_path``, so that ``onnx.export`` is not found
    a second time under its old name in the new package's folder)."""

    @staticmethod
    def find_spec(fullname: str, path=None, target=None):
        new = current_name(fullname)
        if new == fullname:
            return None
        from importlib.machinery import ModuleSpec

        return ModuleSpec(fullname, _MovedModuleLoader(fullname, new))


if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
    sys.meta_path.insert(0, _MovedModuleFinder())
