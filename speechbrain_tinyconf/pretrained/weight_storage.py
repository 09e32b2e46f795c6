"""How a model folder's ``model.ckpt`` stores its weights: ``fp32`` (a plain state dict) or ``int4``.

``int4`` keeps a 5M model folder small enough to live in git (about 2.8 MiB instead of 17.6): each
matrix or convolution kernel of at least :data:`MIN_QUANTIZED` values is cut, in row-major order, into
groups (:data:`GROUP_SIZES`, by tensor name), and each group is stored as 4-bit codes with an 8-bit
scale (on a log grid below the tensor's largest) and an 8-bit zero point: ``value = (code - zero) *
scale``. Within each group the range is clipped where that lowers the squared error
(:data:`CLIP_RATIOS`). Everything else (biases, norms, small tables) is stored in fp16, integers as
they are. Loading (:func:`unpack_state_dict`, called by every reader of the folder through
``model_folder.read_checkpoint``) gives an ordinary fp32 state dict, so ``EncoderDecoderASR``, the ONNX
export and ``--init_from`` see fp32 weights. The WER cost is measured by ``bench/weight_storage.py``.

Example
-------
>>> import torch
>>> state = {"w": torch.randn(8, 256), "b": torch.randn(8)}
>>> packed = pack_state_dict(state, "int4")
>>> packed["format"], packed["layout"]["w"]["kind"], packed["layout"]["b"]["kind"]
('tinyconf-int4', 'int4', 'fp16')
>>> back = unpack_state_dict(packed)
>>> float((back["w"] - state["w"]).norm() / state["w"].norm()) < 0.1
True

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

FORMAT = "tinyconf-int4"
VERSION = 1
STORAGES = ("fp32", "int4")
# Group size by tensor name, first match: finer groups cost bytes (2 per group) and buy accuracy where
# the WER needs it. A one-off probe on the shipped model (one kind of weight at a time in groups of 64,
# 250 dev utterances, noise about +-0.5 points) found the feed-forward weights, half of the model, cost
# nothing (-0.06 points), and the convolution (+1.1), joint projections (+0.9, +1.0) and attention
# (+0.8) weights most. The result of the rule: docs/deployment.md (bench/weight_storage.py).
GROUP_SIZES: Tuple[Tuple[str, int], ...] = (("ffn_module", 64), ("", 16))
SCALE_STEPS = 16  # scale grid: 16 steps per octave (4.4 % apart), 256 steps below the tensor's largest
# Kept exactly, by name: computed tables whose rounding would shift every use (the relative positional
# encoding's frequencies: an fp16 error of 2e-4 turns into a phase error growing with the distance).
EXACT: Tuple[str, ...] = ("inv_freq",)
MIN_QUANTIZED = 1024  # smaller tensors (and all 1-D ones) are fp16: they are ~3 % of a 5M model
# Candidate clipping of each group's range, as fractions of its min/max (1.0: no clipping).
CLIP_RATIOS = (1.0, 0.95, 0.9, 0.85, 0.8)
LEVELS = 15  # 4 bits
BLOBS = ("codes", "scale_step", "zero", "fp16")  # the file's tensors, each the concatenation of every entry's


def is_packed(obj: Any) -> bool:
    """Whether a loaded ``model.ckpt`` is in the int4 format (rather than a plain state dict)."""
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def storage_of(obj: Any) -> str:
    """``"int4"`` or ``"fp32"``: how a loaded ``model.ckpt`` stores its weights."""
    return "int4" if is_packed(obj) else "fp32"


def _quantizable(tensor: torch.Tensor) -> bool:
    return tensor.is_floating_point() and tensor.dim() >= 2 and tensor.numel() >= MIN_QUANTIZED


def _groups(tensor: torch.Tensor, group_size: int) -> torch.Tensor:
    flat = tensor.detach().reshape(-1).float()
    pad = (-flat.numel()) % group_size
    if pad:  # the last group is padded with its own last value (no effect on its range)
        flat = torch.cat([flat, flat[-1:].expand(pad)])
    return flat.view(-1, group_size)


def quantize(tensor: torch.Tensor, group_size: int) -> Dict[str, Any]:
    """One tensor as 4-bit codes (two per byte) with, per group, an 8-bit scale and an 8-bit zero point.

    ``value = (code - zero) * scale``. Scales are stored on a log grid below the tensor's largest
    (:data:`SCALE_STEPS` steps per octave), so a group costs 2 bytes besides its codes; the codes are
    chosen after the scale and zero point are rounded, so that rounding is part of the error minimised.
    """
    groups = _groups(tensor, group_size)
    lo, hi = groups.min(dim=1, keepdim=True).values, groups.max(dim=1, keepdim=True).values
    # A group far from zero against its spread would need a zero point beyond int8: a coarser scale
    # there, never below `floor` on the grid (a relative error of at most 1/254 of the values).
    floor = torch.maximum(lo.abs(), hi.abs()) / 127
    top = torch.maximum((hi - lo) / LEVELS, floor).max().clamp_min(1e-12)
    max_step = (-SCALE_STEPS * torch.log2(floor / top)).floor()  # +inf where floor is 0
    best_err, best = None, None
    for ratio in CLIP_RATIOS:  # the clipping with the least squared error, group by group
        mid, half = (hi + lo) / 2, (hi - lo) / 2 * ratio
        wanted = torch.maximum(2 * half / LEVELS, floor).clamp_min(top * 2.0 ** (-255 / SCALE_STEPS))
        step = torch.minimum((-SCALE_STEPS * torch.log2(wanted / top)).round(), max_step).clamp(0, 255)
        scale = top * 2.0 ** (-step / SCALE_STEPS)
        zero = (-(mid - half) / scale).round().clamp(-128, 127)
        codes = ((groups / scale).round() + zero).clamp(0, LEVELS)
        err = (((codes - zero) * scale - groups) ** 2).sum(dim=1, keepdim=True)
        if best is None:
            best_err, best = err, (codes, step, zero)
        else:
            better = err < best_err
            best_err = torch.where(better, err, best_err)
            best = tuple(torch.where(better, new, old) for new, old in zip((codes, step, zero), best))
    codes, step, zero = best
    codes = codes.to(torch.uint8).view(-1)
    if codes.numel() % 2:
        codes = torch.cat([codes, codes.new_zeros(1)])
    return {"codes": codes[0::2] | (codes[1::2] << 4), "scale_step": step.view(-1).to(torch.uint8),
            "zero": zero.view(-1).to(torch.int8), "top_scale": float(top), "shape": list(tensor.shape),
            "group_size": group_size}


def dequantize(entry: Mapping[str, Any]) -> torch.Tensor:
    """The fp32 tensor of one :func:`quantize` entry."""
    shape, group_size = list(entry["shape"]), int(entry["group_size"])
    numel = 1
    for dim in shape:
        numel *= dim
    codes = torch.stack([entry["codes"] & 0x0F, entry["codes"] >> 4], dim=1).view(-1).float()
    groups = codes[: entry["zero"].numel() * group_size].view(-1, group_size)
    scale = float(entry["top_scale"]) * 2.0 ** (-entry["scale_step"].float() / SCALE_STEPS)
    values = (groups - entry["zero"].float()[:, None]) * scale[:, None]
    return values.view(-1)[:numel].view(shape).contiguous()


def group_size_for(name: str, sizes: Optional[Sequence[Tuple[str, int]]] = None) -> int:
    """The group size of the first pattern of ``sizes`` (default :data:`GROUP_SIZES`; the last is ``""``)
    found in ``name``."""
    return next(size for pattern, size in (GROUP_SIZES if sizes is None else sizes) if pattern in name)


def pack_state_dict(state: Mapping[str, torch.Tensor], storage: str = "int4",
                    group_size: Optional[int] = None) -> Any:
    """``state`` as ``model.ckpt`` stores it: itself for ``fp32``, the int4 format for ``int4``, with
    ``group_size`` values per group (``None``: by name, :data:`GROUP_SIZES`)."""
    if storage not in STORAGES:
        raise ValueError(f"weight storage {storage!r}: expected one of {', '.join(STORAGES)}")
    if storage == "fp32":
        return state
    if group_size is not None and (group_size < 2 or group_size % 2):
        raise ValueError(f"int4 group size {group_size}: expected an even number of at least 2")
    # One tensor per kind for the whole file: torch.save spends ~300 bytes on each tensor it stores.
    layout: Dict[str, Dict[str, Any]] = {}
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"weight {name} is not finite (NaN or inf): nothing to store in int4")
        if tensor.is_floating_point() and not _quantizable(tensor) and tensor.abs().max() > 65504:
            raise ValueError(f"weight {name} exceeds fp16's range (|x| > 65504): export it with --weights fp32")
    blobs: Dict[str, List[torch.Tensor]] = {key: [] for key in BLOBS}
    exact: Dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        entry: Dict[str, Any] = {"shape": list(tensor.shape), "dtype": str(tensor.dtype).replace("torch.", "")}
        if any(pattern in name for pattern in EXACT) or not tensor.is_floating_point():
            entry.update(kind="exact")
            exact[name] = tensor
        elif _quantizable(tensor):
            q = quantize(tensor, group_size or group_size_for(name))
            entry.update(kind="int4", group_size=q["group_size"], top_scale=q["top_scale"])
            for key in BLOBS[:3]:
                entry[key] = _append(blobs[key], q[key])
        else:
            entry.update(kind="fp16", fp16=_append(blobs["fp16"], tensor.detach().reshape(-1).half()))
        layout[name] = entry
    return {"format": FORMAT, "version": VERSION, "layout": layout, "exact": exact,
            **{key: torch.cat(parts) if parts else torch.empty(0) for key, parts in blobs.items()}}


def _append(parts: List[torch.Tensor], tensor: torch.Tensor) -> List[int]:
    start = sum(p.numel() for p in parts)
    parts.append(tensor)
    return [start, start + tensor.numel()]


def unpack_state_dict(obj: Any) -> Any:
    """A plain state dict (fp32 weights, each tensor in its saved dtype) of a loaded ``model.ckpt``;
    a plain one is returned as it is. A ``ValueError`` for a format version this package cannot read."""
    if not is_packed(obj):
        return obj
    if obj.get("version") != VERSION:
        raise ValueError(f"int4 weights of format version {obj.get('version')!r}; this package reads "
                         f"version {VERSION} (install the version that exported the folder)")
    out = {}
    for name, entry in obj["layout"].items():
        dtype = getattr(torch, entry["dtype"])
        if entry["kind"] == "exact":
            tensor = obj["exact"][name]
        elif entry["kind"] == "fp16":
            tensor = obj["fp16"][slice(*entry["fp16"])].view(entry["shape"])
        else:
            tensor = dequantize({**entry, **{key: obj[key][slice(*entry[key])] for key in BLOBS[:3]}})
        out[name] = tensor.to(dtype)
    return out
