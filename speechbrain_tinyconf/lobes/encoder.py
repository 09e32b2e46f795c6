"""`SharedConformerEncoder`: SpeechBrain's Conformer encoder with a sharing plan.

The encoder *is* a ``speechbrain.lobes.models.transformer.Conformer.ConformerEncoder``:
it builds the same ``num_layers`` (virtual) ``ConformerEncoderLayer`` objects and
then, following a :class:`~speechbrain_tinyconf.lobes.sharing.SharingPlan`,

1. swaps chosen linears for :class:`LowRankLinear` (and ``RelPosMHAXL`` for
   :class:`LowRankRelPosMHAXL`, whose packed QKV projection is one), and
2. ties parameters: every layer's parameter is replaced by the single tensor of
   its owner key, so layers run SpeechBrain's own layer code on shared weights,
3. adds the per-layer :class:`~speechbrain_tinyconf.lobes.scales.ChannelScale` modules
   (``branch_scales``, ``per_layer: [scales]``), untied, inside each layer.

Forward and streaming are SpeechBrain's, untouched: at a run-time depth ``K < num_layers``
(elastic depth, :mod:`speechbrain_tinyconf.lobes.depth`) they run over the plan's ``K`` layers.

Checkpoints store each shared tensor once, under the name of its first use; a
load pre-hook re-expands them, and refuses checkpoints whose tying differs.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Mapping, Optional, Union

import contextlib

import torch
import torch.nn as nn
from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder, ConformerEncoderLayer
from speechbrain.nnet.activations import Swish
from speechbrain.nnet.attention import RelPosMHAXL
from torch.nn.utils import parametrize

from .attention import LowRankRelPosMHAXL
from .depth import ElasticDepth
from .lowrank import LowRankLinear, LowRankWeight, check_rank, svd_init_skipped
from .scales import add_branch_scales, add_output_scale, rename_legacy_scale_keys
from .sharing import ParamKind, SharingPlan

BIAS_NAMES = ("bias", "pos_bias_u", "pos_bias_v")
FACTOR_NAMES = {"U": "U", "V": "V", "original0": "U", "original1": "V"}


class SharedConformerEncoder(ConformerEncoder):
    """Conformer encoder whose ``num_layers`` virtual layers reuse weights.

    Same arguments, forward and streaming API as SpeechBrain's
    ``ConformerEncoder``, plus ``sharing`` (a :class:`SharingPlan` or a mapping) and
    ``svd_init``: ``False`` when weights are loaded right after construction (an exported
    model's ``hyperparams.yaml``), so that low-rank factors skip the SVD of random weights
    (:func:`~speechbrain_tinyconf.lobes.lowrank.svd_init_skipped`).

    Elastic depth (repeated blocks only): ``depth`` (default all ``num_layers``) is the number of
    virtual layers run, changeable with :meth:`set_depth`; which ones is the plan's rule
    (:meth:`SharingPlan.layers_at_depth`). ``elastic_depth`` (``{min, prob}``, see
    :class:`~speechbrain_tinyconf.lobes.depth.ElasticDepth`) samples a depth per training batch.

    Example
    -------
    >>> from speechbrain.nnet.attention import RelPosEncXL
    >>> enc = SharedConformerEncoder(
    ...     num_layers=8, d_model=64, d_ffn=128, nhead=4, kernel_size=7,
    ...     sharing={"unique_blocks": 2, "low_rank": {"targets": ["ffn"], "rank": 16, "share": "U"}},
    ... )
    >>> x = torch.rand(2, 30, 64)
    >>> out, _ = enc(x, pos_embs=RelPosEncXL(64)(x))
    >>> out.shape
    torch.Size([2, 30, 64])
    >>> enc.layers[0].ffn_module1[1].ffn[0].U is enc.layers[2].ffn_module1[1].ffn[0].U
    True
    >>> enc.set_depth(4)  # cycle order: the first 4 virtual layers, ABAB
    >>> enc(x, pos_embs=RelPosEncXL(64)(x))[0].shape
    torch.Size([2, 30, 64])
    """

    def __init__(
        self,
        num_layers: int,
        d_model: int,
        d_ffn: int,
        nhead: int,
        kernel_size: int = 31,
        kdim: Optional[int] = None,
        vdim: Optional[int] = None,
        activation: type = Swish,
        bias: bool = True,
        dropout: float = 0.0,
        causal: bool = False,
        attention_type: str = "RelPosMHAXL",
        output_hidden_states: bool = False,
        layerdrop_prob: float = 0.0,
        sharing: Union[None, SharingPlan, Mapping[str, Any]] = None,
        svd_init: bool = True,
        depth: Optional[int] = None,
        elastic_depth: Union[None, ElasticDepth, Mapping[str, Any]] = None,
    ):
        self.plan = SharingPlan.from_config(sharing)
        self.plan.validate(num_layers)
        self.elastic_depth = ElasticDepth.from_config(elastic_depth)
        if self.elastic_depth is not None:
            self.elastic_depth.validate(num_layers)
            self.plan.layers_at_depth(self.elastic_depth.min, num_layers)  # repeated blocks, else one line
        super().__init__(
            num_layers=num_layers,
            d_model=d_model,
            d_ffn=d_ffn,
            nhead=nhead,
            kernel_size=kernel_size,
            kdim=kdim,
            vdim=vdim,
            activation=activation,
            bias=bias,
            dropout=dropout,
            causal=causal,
            attention_type=attention_type,
            output_hidden_states=output_hidden_states,
            layerdrop_prob=layerdrop_prob,
        )
        self.num_layers = num_layers
        if self.plan.low_rank is not None:
            with contextlib.nullcontext() if svd_init else svd_init_skipped():
                for layer in self.layers:
                    _factorise_layer(layer, self.plan)
        self._tie_parameters()
        # Scales are added after tying: each virtual layer owns its own.
        self._legacy_keys: Dict[str, str] = {}
        for layer in self.layers:
            if self.plan.branch_scales is not None:
                self._legacy_keys.update(add_branch_scales(layer, d_model, self.plan.branch_scales))
            if "scales" in self.plan.per_layer:
                self._legacy_keys.update(add_output_scale(layer, d_model))
        self._aliases = tied_aliases(self)
        self.register_state_dict_post_hook(_drop_aliases_hook)
        self.register_load_state_dict_pre_hook(_rename_legacy_keys_hook)  # before the aliases are expanded
        self.register_load_state_dict_pre_hook(_expand_aliases_hook)
        self.depth = num_layers
        self.set_depth(depth)

    # --------------------------------------------------------- elastic depth
    def set_depth(self, depth: Optional[int]) -> None:
        """Runs ``depth`` virtual layers from now on (``None``: all); see :meth:`SharingPlan.layers_at_depth`."""
        depth = self.num_layers if depth is None else depth
        self.plan.layers_at_depth(depth, self.num_layers)  # a ValueError naming the depth
        self.depth = depth

    def active_layer_indices(self) -> List[int]:
        """The virtual layers run at the current depth, in order."""
        return self.plan.layers_at_depth(self.depth, self.num_layers)

    def active_layers(self) -> List[nn.Module]:
        """The layer modules run at the current depth, in order (for code that walks the layers itself)."""
        return [self.layers[i] for i in self.active_layer_indices()]

    @contextlib.contextmanager
    def _running(self, depth: int) -> Iterator[None]:
        # SpeechBrain's forward walks self.layers: show it the depth's layers for the call.
        if depth == self.num_layers:
            yield
            return
        every = self._modules["layers"]
        self._modules["layers"] = nn.ModuleList([every[i] for i in self.plan.layers_at_depth(depth, self.num_layers)])
        try:
            yield
        finally:
            self._modules["layers"] = every

    def forward(self, src: torch.Tensor, *args: Any, **kwargs: Any):
        """SpeechBrain's forward over the current depth's layers (a sampled depth when training elastic)."""
        depth = self.depth
        if self.training and self.elastic_depth is not None:
            depth = self.elastic_depth.sample(self.num_layers)
        with self._running(depth):
            return super().forward(src, *args, **kwargs)

    def make_streaming_context(self, dynchunktrain_config):
        """SpeechBrain's streaming context, one layer context per layer run at the current depth."""
        with self._running(self.depth):
            context = super().make_streaming_context(dynchunktrain_config)
        context.encoder_depth = self.depth
        return context

    def forward_streaming(self, src: torch.Tensor, context, pos_embs: Optional[torch.Tensor] = None):
        """SpeechBrain's streaming forward at the current depth (``context`` must have been made at it)."""
        made_at = getattr(context, "encoder_depth", len(context.layers))
        if made_at != self.depth:
            raise ValueError(f"streaming context made at depth {made_at}, the encoder now runs depth {self.depth}: "
                             "make a new context (make_streaming_context) after set_depth")
        with self._running(self.depth):
            return super().forward_streaming(src, context, pos_embs=pos_embs)

    # ----------------------------------------------------------------- tying
    def _tie_parameters(self) -> None:
        owners: Dict[tuple, nn.Parameter] = {}
        for index, layer in enumerate(self.layers):
            for path, param in list(layer.named_parameters(remove_duplicate=False)):
                key = self.plan.owner_key(index, self.num_layers, path, _param_kind(layer, path))
                owner = owners.setdefault(key, param)
                if owner is param:
                    continue
                if owner.shape != param.shape:
                    raise ValueError(
                        f"sharing: cannot tie layers.{index}.{path} {tuple(param.shape)} "
                        f"to a tensor of shape {tuple(owner.shape)}"
                    )
                parent_path, _, leaf = path.rpartition(".")
                setattr(layer.get_submodule(parent_path), leaf, owner)


# ---------------------------------------------------------------------------
# Low-rank replacement of a SpeechBrain ConformerEncoderLayer's linears.


def _factorise_layer(layer: ConformerEncoderLayer, plan: SharingPlan) -> None:
    lr = plan.low_rank
    if "ffn" in lr.targets:
        rank = lr.rank_for("ffn")
        for ffn in (layer.ffn_module1, layer.ffn_module2):
            seq = ffn[1].ffn  # Linear, act, Dropout, Linear
            for idx in (0, 3):
                _swap(seq, str(idx), rank, "ffn")
    if "conv" in lr.targets:
        rank = lr.rank_for("conv")
        conv = layer.convolution_module
        _swap(conv.bottleneck, "0", rank, "conv")  # pointwise Conv1d (d -> 2d)
        _swap(conv.after_conv, "2", rank, "conv")  # pointwise Linear (d -> d)
    if "attention" in lr.targets:
        rank = lr.rank_for("attention")
        mha = layer.mha_layer
        if isinstance(mha, RelPosMHAXL):
            check_rank(rank, mha.embed_dim, 3 * mha.embed_dim, name="sharing.low_rank.rank.attention")
            mha = layer.mha_layer = LowRankRelPosMHAXL.from_dense(mha, rank)  # packed QKV applied factorised
            _swap(mha, "out_proj", rank, "attention")
            _swap(mha, "linear_pos", rank, "attention")
        elif hasattr(mha, "att") and isinstance(mha.att, nn.MultiheadAttention):
            _parametrise(mha.att, "in_proj_weight", rank)
            _parametrise(mha.att.out_proj, "weight", rank)  # read as a raw tensor by torch
        else:
            raise ValueError(
                f"sharing.low_rank.targets: 'attention' is supported for RelPosMHAXL and regularMHA, "
                f"not {type(mha).__name__}"
            )


def _swap(parent: nn.Module, name: str, rank: int, target: str) -> None:
    full = getattr(parent, name) if not name.isdigit() else parent[int(name)]
    out_f, in_f = _dims(full)
    check_rank(rank, in_f, out_f, name=f"sharing.low_rank.rank.{target}")
    low = LowRankLinear.from_linear(full, rank)
    if name.isdigit():
        parent[int(name)] = low
    else:
        setattr(parent, name, low)


def _parametrise(module: nn.Module, name: str, rank: int) -> None:
    out_f, in_f = getattr(module, name).shape
    check_rank(rank, in_f, out_f, name="sharing.low_rank.rank.attention")
    parametrize.register_parametrization(module, name, LowRankWeight(rank))


def _dims(layer: nn.Module):
    weight = layer.weight
    return weight.shape[0], weight.shape[1]


def _param_kind(layer: nn.Module, path: str) -> ParamKind:
    parent_path, _, leaf = path.rpartition(".")
    parent = layer.get_submodule(parent_path)
    if isinstance(parent, nn.LayerNorm):
        return ParamKind(is_norm=True)
    if isinstance(parent, (LowRankLinear, parametrize.ParametrizationList)) and leaf in FACTOR_NAMES:
        return ParamKind(factor=FACTOR_NAMES[leaf])
    return ParamKind(is_bias=leaf in BIAS_NAMES)


# ---------------------------------------------------------------------------
# Checkpoints: shared tensors stored once.


def tied_aliases(module: nn.Module) -> Dict[str, str]:
    """``{alias name: canonical name}`` for every tensor reachable under several names."""
    first: Dict[int, str] = {}
    aliases: Dict[str, str] = {}
    for name, tensor in list(module.named_parameters(remove_duplicate=False)) + list(
        module.named_buffers(remove_duplicate=False)
    ):
        canonical = first.setdefault(id(tensor), name)
        if canonical != name:
            aliases[name] = canonical
    return aliases


def _drop_aliases_hook(module, state_dict, prefix, local_metadata) -> None:
    for alias in module._aliases:
        state_dict.pop(prefix + alias, None)


def _rename_legacy_keys_hook(module, state_dict, prefix, *args) -> None:
    # Checkpoints from before LowRankRelPosMHAXL store its QKV factors under parametrize's names.
    for path, sub in module.named_modules(prefix=prefix.rstrip(".")):
        if isinstance(sub, LowRankRelPosMHAXL):
            for old, new in sub.LEGACY_KEYS.items():
                if f"{path}.{old}" in state_dict:
                    state_dict[f"{path}.{new}"] = state_dict.pop(f"{path}.{old}")
    # Checkpoints from before the scales were modules (scales.py).
    rename_legacy_scale_keys(state_dict, prefix, len(module.layers), module._legacy_keys)


def _expand_aliases_hook(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
    untied = []
    for alias, canonical in module._aliases.items():
        key, source = prefix + alias, prefix + canonical
        if key in state_dict:
            same = source in state_dict and state_dict[key].shape == state_dict[source].shape and torch.equal(
                state_dict[key], state_dict[source]
            )
            if not same:
                untied.append(f"{key} (tied to {source} in this model)")
            continue
        if source in state_dict:
            state_dict[key] = state_dict[source]
    if untied:
        shown = ", ".join(untied[:8]) + (f", ... ({len(untied)} in all)" if len(untied) > 8 else "")
        error_msgs.append(
            "checkpoint was saved with a different sharing plan: it stores separate tensors for "
            f"keys this model ties: {shown}"
        )
