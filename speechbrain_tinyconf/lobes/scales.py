"""Per-channel scales placed inside SpeechBrain's Conformer layer.

A :class:`ChannelScale` is an ordinary module, so the scales are part of the
model: they show in ``print(model)`` and in the state_dict, and the PyTorch
and ONNX paths run them the same way, through SpeechBrain's own layer code.

* ``sharing.branch_scales``: one after the last op of each residual branch
  (the two FFNs, the attention's output projection, the convolution's
  ``after_conv``), so every branch starts small (see README).
* ``sharing.per_layer: [scales]``: one after the layer's final ``norm2``.

They are added after tying, so each virtual layer owns its scales.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

from typing import Dict

import torch
import torch.nn as nn
from speechbrain.lobes.models.transformer.Conformer import ConformerEncoderLayer
from speechbrain.nnet.attention import RelPosMHAXL


# Before the scales were modules, the per-layer ones were one (layers, d_model) tensor on the encoder.
LEGACY_LAYER_SCALES = "layer_scales"


class ChannelScale(nn.Module):
    """``y = x * scale``: one learnable factor per channel (the last dimension).

    Example
    -------
    >>> s = ChannelScale(4, init=0.5)
    >>> s(torch.ones(2, 4)).tolist()
    [[0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]]
    """

    def __init__(self, channels: int, init: float = 1.0):
        super().__init__()
        self.scale = nn.Parameter(torch.full((channels,), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale

    def extra_repr(self) -> str:
        return str(self.scale.numel())


def add_branch_scales(layer: ConformerEncoderLayer, d_model: int, init: float) -> Dict[str, str]:
    """Append a :class:`ChannelScale` to each residual branch of ``layer``.

    Returns ``{old key: new key}`` for checkpoints written before the scales were modules
    (relative to the layer; see :func:`rename_legacy_scale_keys`).
    """
    if not isinstance(layer.mha_layer, RelPosMHAXL):
        raise ValueError(
            "sharing.branch_scales needs RelPosMHAXL attention (attention_type: RelPosMHAXL), "
            f"not {type(layer.mha_layer).__name__}"
        )
    legacy: Dict[str, str] = {}
    for name, seq in (("ffn_module1", layer.ffn_module1), ("ffn_module2", layer.ffn_module2),
                      ("convolution_module", layer.convolution_module.after_conv)):
        seq.append(ChannelScale(d_model, init))
        path = name if name != "convolution_module" else "convolution_module.after_conv"
        legacy[f"{name}.branch_scale"] = f"{path}.{len(seq) - 1}.scale"
    mha = layer.mha_layer
    mha.out_proj = nn.Sequential(mha.out_proj, ChannelScale(d_model, init))
    legacy["mha_layer.branch_scale"] = "mha_layer.out_proj.1.scale"
    legacy["mha_layer.out_proj."] = "mha_layer.out_proj.0."  # a prefix: every key of the wrapped linear
    return legacy


def add_output_scale(layer: ConformerEncoderLayer, d_model: int) -> Dict[str, str]:
    """Append a :class:`ChannelScale` (init 1: the unscaled layer) after ``layer.norm2``."""
    layer.norm2 = nn.Sequential(layer.norm2, ChannelScale(d_model, 1.0))
    return {"norm2.": "norm2.0.", LEGACY_LAYER_SCALES: "norm2.1.scale"}


def has_legacy_scale_keys(keys) -> bool:
    """Whether a state_dict's ``keys`` come from before the scales were modules (``…branch_scale``,
    ``…layer_scales``). Such weights load (see below); an optimizer state saved with them does not fit
    the new parameter order."""
    return any(k.endswith(".branch_scale") or k.rpartition(".")[2] == LEGACY_LAYER_SCALES for k in keys)


def rename_legacy_scale_keys(state_dict: dict, prefix: str, num_layers: int, legacy: Dict[str, str]) -> None:
    """An encoder's pre-module keys renamed in place, for each of its ``num_layers`` layers.

    ``legacy`` is what the two functions above return: a key ending in ``.`` renames every key
    under that prefix; :data:`LEGACY_LAYER_SCALES` names the encoder-level tensor whose row ``i``
    becomes layer ``i``'s scale. Keys already in the new layout are left alone.
    """
    rows = state_dict.pop(prefix + LEGACY_LAYER_SCALES, None)
    for i in range(num_layers):
        layer = f"{prefix}layers.{i}."
        for old, new in legacy.items():
            if old == LEGACY_LAYER_SCALES:
                if rows is not None:
                    state_dict[layer + new] = rows[i]
            elif not old.endswith("."):
                if layer + old in state_dict:
                    state_dict[layer + new] = state_dict.pop(layer + old)
            else:
                for key in [k for k in state_dict if k.startswith(layer + old)]:
                    if not key.startswith((layer + new, layer + old + "1.")):
                        state_dict[layer + new + key[len(layer + old):]] = state_dict.pop(key)
