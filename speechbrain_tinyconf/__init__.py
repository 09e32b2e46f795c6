"""speechbrain-tinyconf: tiny Conformer ASR through weight sharing and low-rank factors.

The names below are imported on first use (PEP 562), so that torch-free modules such as
``speechbrain_tinyconf.onnx_runtime`` can be imported without importing torch.
"""

from importlib import import_module

_EXPORTS = {
    "SharedTransformerASR": ".asr",
    "SharedConformerEncoder": ".encoder",
    "LowRankLinear": ".lowrank",
    "LowRankRelPosMHAXL": ".attention",
    "LowRankWeight": ".lowrank",
    "LowRankPlan": ".sharing",
    "SharingPlan": ".sharing",
    "SizeReport": ".size",
    "size_report": ".size",
}
__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
