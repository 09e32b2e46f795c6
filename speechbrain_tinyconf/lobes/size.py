"""Size accounting for models with shared weights.

``unique`` counts each tensor once however many layers use it (what memory and
checkpoints hold); ``virtual`` counts every use (what the model would hold if
nothing were shared).

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from .depth import at_depth
from .sharing import module_of

# A Conformer layer inside any model: "<...>layers.<i>.<ffn_module1|mha_layer|...>".
_LAYER = re.compile(r"^(.*?layers)\.\d+\.((?:ffn_module[12]|mha_layer|convolution_module|norm[12])\..*)$")


@dataclass
class SizeReport:
    """Parameter and byte counts of a module (see :func:`size_report`)."""

    unique_params: int
    virtual_params: int
    fp32_bytes: int
    int8_bytes: int
    checkpoint_bytes: int
    breakdown: Dict[str, Tuple[int, int]] = field(default_factory=dict)

    def table(self) -> str:
        """Markdown table of the breakdown and totals."""
        rows: List[str] = ["| part | unique params | virtual params |", "|---|---:|---:|"]
        for part, (unique, virtual) in self.breakdown.items():
            rows.append(f"| {part} | {unique:,} | {virtual:,} |")
        rows.append(f"| **total** | **{self.unique_params:,}** | **{self.virtual_params:,}** |")
        rows.append("")
        rows.append(
            f"fp32 {self.fp32_bytes / 1e6:.2f} MB, int8 {self.int8_bytes / 1e6:.2f} MB, "
            f"fp32 checkpoint {self.checkpoint_bytes / 1e6:.2f} MB"
        )
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.table()


def part_of(name: str) -> str:
    """Breakdown bucket of a parameter name: Conformer layers by module, else top-level child."""
    match = _LAYER.match(name)
    if match and name.endswith(".scale"):  # a ChannelScale (scales.py), whichever branch it ends
        return f"{match.group(1)}.scales"
    if match:
        return f"{match.group(1)}.{module_of(match.group(2)) or 'norms'}"
    head, _, rest = name.partition(".")
    return head if rest else name


def unique_tensors(module: nn.Module) -> List[Tuple[str, torch.Tensor]]:
    """``(first name, tensor)`` for each distinct parameter/buffer."""
    seen, out = set(), []
    for name, tensor in list(module.named_parameters(remove_duplicate=False)) + list(
        module.named_buffers(remove_duplicate=False)
    ):
        if id(tensor) not in seen:
            seen.add(id(tensor))
            out.append((name, tensor))
    return out


def checkpoint_bytes(module: nn.Module) -> int:
    """Bytes ``torch.save(module.state_dict())`` writes."""
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def count_macs(run: Callable[[], object], depth: Optional[int] = None, model: Optional[nn.Module] = None) -> int:
    """Multiply-accumulates executed by ``run()`` (matmuls and convolutions).

    With ``depth``, every shared encoder in ``model`` (the module ``run`` calls) runs that many
    virtual layers for the count (elastic depth, :func:`~speechbrain_tinyconf.lobes.depth.set_depth`).
    """
    if depth is not None and model is None:
        raise ValueError("count_macs: depth needs the model whose encoders run at it (model=...)")
    with at_depth(model, depth), torch.no_grad(), FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops() // 2


def _idle_layer_prefixes(module: nn.Module, depth: Optional[int]) -> Tuple[str, ...]:
    """Name prefixes of the virtual layers that do not run at ``depth`` (none for ``None``)."""
    from .encoder import SharedConformerEncoder

    if depth is None:
        return ()
    encoders = [(name, sub) for name, sub in module.named_modules(remove_duplicate=False)
                if isinstance(sub, SharedConformerEncoder)]
    if not encoders:
        raise ValueError("depth given, but the module has no SharedConformerEncoder")
    prefixes: List[str] = []
    for name, encoder in encoders:
        kept = set(encoder.plan.layers_at_depth(depth, encoder.num_layers))
        base = f"{name}.layers." if name else "layers."
        prefixes += [f"{base}{i}." for i in range(encoder.num_layers) if i not in kept]
    return tuple(prefixes)


def size_report(module: nn.Module, depth: Optional[int] = None) -> SizeReport:
    """Unique/virtual parameter counts, a per-part breakdown and bytes (MACs: :func:`count_macs`).

    Arguments
    ---------
    module : torch.nn.Module
        Any module; shared tensors are recognised by identity.
    depth : int, optional
        Elastic depth: virtual parameters count only the virtual layers run at ``depth``; the
        unique parameters and bytes (what memory holds) are those of the whole model.

    int8 bytes assume dynamic quantisation: matrices at 1 byte per weight,
    vectors (norms, biases, scales) kept in fp32.

    Example
    -------
    >>> lin = torch.nn.Linear(10, 10)
    >>> twice = torch.nn.Sequential(lin, lin)
    >>> r = size_report(twice)
    >>> (r.unique_params, r.virtual_params)
    (110, 220)
    """
    unique = unique_tensors(module)
    unique_params = sum(t.numel() for _, t in unique if isinstance(t, nn.Parameter))
    breakdown: Dict[str, List[int]] = {}
    for name, tensor in unique:
        if isinstance(tensor, nn.Parameter):
            breakdown.setdefault(part_of(name), [0, 0])[0] += tensor.numel()
    idle = _idle_layer_prefixes(module, depth)
    virtual_params = 0
    for name, tensor in module.named_parameters(remove_duplicate=False):
        if name.startswith(idle):
            continue
        virtual_params += tensor.numel()
        breakdown.setdefault(part_of(name), [0, 0])[1] += tensor.numel()
    fp32 = sum(t.numel() * 4 for _, t in unique)
    int8 = sum(t.numel() * (1 if t.dim() >= 2 else 4) for _, t in unique)
    return SizeReport(
        unique_params=unique_params,
        virtual_params=virtual_params,
        fp32_bytes=fp32,
        int8_bytes=int8,
        checkpoint_bytes=checkpoint_bytes(module),
        breakdown={k: (v[0], v[1]) for k, v in breakdown.items()},
    )


def encoder_macs(encoder: nn.Module, num_frames: int, depth: Optional[int] = None) -> int:
    """:func:`count_macs` of a (Shared)ConformerEncoder on one utterance of ``num_frames`` frames (eval mode),
    at ``depth`` virtual layers if given.

    Example
    -------
    >>> from speechbrain_tinyconf import SharedConformerEncoder
    >>> enc = SharedConformerEncoder(num_layers=2, d_model=16, d_ffn=32, nhead=2, kernel_size=3)
    >>> encoder_macs(enc, 10) > 0
    True
    """
    from speechbrain.nnet.attention import RelPosEncXL

    d_model = encoder.norm.norm.normalized_shape[0]
    x = torch.zeros(1, num_frames, d_model)
    pos = RelPosEncXL(d_model)(x) if encoder.attention_type == "RelPosMHAXL" else None
    was_training = encoder.training
    encoder.eval()
    try:
        return count_macs(lambda: encoder(x, pos_embs=pos), depth=depth, model=encoder)
    finally:
        encoder.train(was_training)
