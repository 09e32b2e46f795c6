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
from typing import Dict, List, Sequence

import torch
from torch import nn


class BufferGuard:
    """A copy of a module's buffers, taken before a training step (a few KiB here: the normaliser's
    statistics, the batch norms' running statistics and counters)."""

    def __init__(self, module: nn.Module):
        self.module = module
        self.saved: Dict[str, torch.Tensor] = {
            name: buf.detach().clone() for name, buf in module.named_buffers()
        }
        # InputNormalization keeps its statistics as plain tensor attributes (glob_mean, glob_std) and its
        # sample count as an int: not buffers, so they are saved here by name.
        self.attrs: Dict[str, object] = {}
        for name, sub in module.named_modules():
            for attr in ("glob_mean", "glob_std", "count"):
                value = getattr(sub, attr, None)
                if isinstance(value, torch.Tensor):
                    self.attrs[f"{name}.{attr}".lstrip(".")] = value.detach().clone()
                elif isinstance(value, int) and attr == "count":
                    self.attrs[f"{name}.{attr}".lstrip(".")] = value

    def _current(self) -> Dict[str, object]:
        now: Dict[str, object] = dict(self.module.named_buffers())
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
