"""A training batch whose loss is not finite leaves no trace, and leaves what is needed to replay it.

SpeechBrain's ``Brain.fit_batch`` runs ``backward()`` and the optimizer step even when the loss is
NaN or inf (``skip_nonfinite_grads`` then drops the NaN gradients), and the forward pass has already
updated the statistics kept in buffers: the global feature normaliser's running mean and std, batch
norms. A real-speech fine-tuning run of 2026-12-06 went non-finite on four batches in a row, on
other batches at each relaunch, and SpeechBrain stopped it. :class:`BufferGuard` puts the buffers
back as they were before the batch, and :func:`dump_batch` writes the batch and the weights, so
that the first bad batch can be run again outside training.

>>> import torch
>>> bn = torch.nn.BatchNorm1d(2)
>>> guard = BufferGuard(bn)
>>> _ = bn(torch.tensor([[1.0, float("nan")], [2.0, 3.0]]))
>>> guard.changed_to_nonfinite()
['running_mean', 'running_var']
>>> guard.restore()
>>> bn.running_mean.tolist()
[0.0, 0.0]
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import torch
from torch import nn


def statistics_modules(module: nn.Module) -> List[Tuple[str, nn.Module]]:
    """``(name, submodule)`` of the submodules whose training forward updates running statistics: batch
    norms and SpeechBrain's ``InputNormalization``."""
    from speechbrain.processing.features import InputNormalization

    return [(name, sub) for name, sub in module.named_modules()
            if isinstance(sub, (nn.modules.batchnorm._NormBase, InputNormalization))]


class BufferGuard:
    """A copy of the statistics a training forward pass updates, taken before the step: the running
    statistics of the batch norms (their buffers) and of SpeechBrain's ``InputNormalization`` (plain
    attributes: ``glob_mean``, ``glob_std`` and the int ``count``). A few KiB here; the other buffers
    (e.g. the positional-encoding table, 2.5 MB) do not change in forward and are not copied."""

    def __init__(self, module: nn.Module):
        from speechbrain.processing.features import InputNormalization

        self.module = module
        self.saved: Dict[str, torch.Tensor] = {}
        self.attrs: Dict[str, object] = {}
        for name, sub in statistics_modules(module):  # 0.8 ms for the 5M recipe's modules
            prefix = f"{name}." if name else ""
            if isinstance(sub, InputNormalization):
                for attr in ("glob_mean", "glob_std", "count"):
                    value = getattr(sub, attr)
                    self.attrs[prefix + attr] = value.detach().clone() if isinstance(value, torch.Tensor) else value
            else:
                for buf_name, buf in sub.named_buffers(recurse=False):
                    self.saved[prefix + buf_name] = buf.detach().clone()

    def _current(self) -> Dict[str, object]:
        buffers = dict(self.module.named_buffers())
        now: Dict[str, object] = {name: buffers[name] for name in self.saved}
        for key in self.attrs:
            owner, _, attr = key.rpartition(".")
            now[key] = getattr(self.module.get_submodule(owner) if owner else self.module, attr)
        return now

    def changed_to_nonfinite(self) -> List[str]:
        """Names of the saved statistics that are finite in the copy and not finite now."""
        now = self._current()
        names = []
        for key, old in [*self.saved.items(), *self.attrs.items()]:
            new = now.get(key)
            if isinstance(old, torch.Tensor) and isinstance(new, torch.Tensor) and old.is_floating_point() \
                    and bool(torch.isfinite(old).all()) and not bool(torch.isfinite(new).all()):
                names.append(key)
        return names

    def restore(self) -> None:
        """Puts every saved statistic back, in place for buffers."""
        buffers = dict(self.module.named_buffers())
        with torch.no_grad():
            for name, value in self.saved.items():
                buffers[name].copy_(value)
        for key, value in self.attrs.items():
            owner, _, attr = key.rpartition(".")
            setattr(self.module.get_submodule(owner) if owner else self.module, attr,
                    value.clone() if isinstance(value, torch.Tensor) else value)


def nonfinite_parameters(module: nn.Module) -> List[str]:
    """Names of the parameters holding a NaN or inf."""
    return [name for name, p in module.named_parameters() if not bool(torch.isfinite(p).all())]


def dump_batch(path: Path, module: nn.Module, batch_ids: Sequence[str], step: int, extra: Dict = None) -> Path:
    """Writes the weights (as they were for the batch), its utterance ids and the training step to
    ``path`` (``torch.load`` reads it back), for running the batch again outside training."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": module.state_dict(), "batch_ids": list(batch_ids), "step": step, **(extra or {})}, path)
    return path
