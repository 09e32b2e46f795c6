"""The sharing plan: which weights of a Conformer stack are reused, as data.

A plan is a pair of small dataclasses, buildable from a YAML mapping::

    sharing:
        unique_blocks: 4            # (i)   4 distinct blocks for all virtual layers
        order: cycle                # (i)   ABCDABCD... (or `consecutive`: AAAABBBB...)
                                    #       run-time depth K < num_layers: layers_at_depth()
        share_modules:              # (ii)  module -> consecutive blocks per copy
            conv: all
            attention: 2
        tie_macaron: both           # (iii) 2nd macaron FFN reuses the 1st's linears
        per_layer: [norms, biases, scales]   # (iii) small parts kept per virtual layer
        branch_scales: 0.1          # (iii) per-layer scale on each residual branch, its init
        low_rank:                   # (iv)
            targets: [ffn, attention, conv]
            rank: {ffn: 64, attention: 48, conv: 32}
            share: U                # share the U factor (input basis) ...
            share_group: all        # ... across all blocks

Every weight of virtual layer ``i`` gets an *owner key*; weights with equal
keys are one tensor. :func:`owner_key` is the whole rule, in one place.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

MODULES = ("ffn", "attention", "conv")
MACARON_TIES = ("none", "first", "second", "both")
PER_LAYER_PARTS = ("norms", "biases", "scales", "attention_out")
ORDERS = ("cycle", "consecutive")
FACTOR_SHARING = ("none", "U", "V", "both")

# Sub-module path prefixes of SpeechBrain's ConformerEncoderLayer, per module.
MODULE_PREFIXES = {
    "ffn": ("ffn_module1.", "ffn_module2."),
    "attention": ("mha_layer.",),
    "conv": ("convolution_module.",),
}
# The two linears of a macaron FFN (PositionalwiseFeedForward.ffn indices).
MACARON_LINEARS = {"first": "ffn_module{}.1.ffn.0.", "second": "ffn_module{}.1.ffn.3."}

GroupSize = Union[int, str]


def _group_size(value: GroupSize, n_blocks: int, name: str) -> int:
    if value == "all":
        return n_blocks
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r}: expected 'all' or a positive integer group size")
    if n_blocks % value:
        raise ValueError(
            f"{name}={value} does not divide the number of unique blocks ({n_blocks})"
        )
    return value


@dataclass
class LowRankPlan:
    """Level (iv): low-rank factorisation of chosen linears, with shared factors.

    Arguments
    ---------
    targets : sequence of str
        Any of ``ffn`` (both FFN linears), ``attention`` (QKV, output and
        positional projections), ``conv`` (the two pointwise convolutions).
    rank : int or mapping
        One rank for all targets, or ``{target: rank}``.
    share : str
        ``none``, ``U`` (input-side factor), ``V`` (output-side) or ``both``.
    share_group : int or "all"
        Consecutive unique blocks sharing one copy of the shared factor(s).
    """

    targets: Sequence[str] = ()
    rank: Union[int, Mapping[str, int]] = 64
    share: str = "none"
    share_group: GroupSize = "all"

    def rank_for(self, target: str) -> int:
        """The rank used for ``target``."""
        if isinstance(self.rank, Mapping):
            return self.rank[target]
        return self.rank

    def shares(self, factor: str) -> bool:
        """Whether factor ``U`` or ``V`` is shared across blocks."""
        return self.share in (factor, "both")


@dataclass
class SharingPlan:
    """Declarative weight-sharing plan for :class:`SharedConformerEncoder`.

    An empty plan (the default) shares nothing: the encoder is then exactly
    SpeechBrain's ``ConformerEncoder``.

    Arguments
    ---------
    unique_blocks : int, optional
        (i) Number of distinct Conformer blocks; must divide ``num_layers``.
    order : str
        (i) ``cycle`` (ABCABC) or ``consecutive`` (AABBCC).
    share_modules : mapping
        (ii) ``{ffn|attention|conv: "all" | group size}``: one copy of that module
        per group of consecutive unique blocks.
    tie_macaron : str
        (iii) ``first``/``second``/``both``: the second macaron FFN reuses that
        linear of the first one.
    per_layer : sequence of str
        (iii) Parts kept per virtual layer even when their module is shared:
        ``norms``, ``biases``, ``scales`` (a learnable per-channel output scale
        per virtual layer, initialised to 1), ``attention_out`` (the attention
        output projection).
    low_rank : LowRankPlan or mapping, optional
        (iv) Low-rank factorisation and factor sharing.
    branch_scales : float, optional
        (iii) Initial value of a learnable per-channel scale, kept per virtual
        layer, on the output of each residual branch (both macaron FFNs,
        attention, convolution); ``None`` (default) adds none. SpeechBrain's
        Conformer layer ends in a LayerNorm, so a deep stack is a post-LN
        network that trains slowly; a small init (0.1) starts every layer
        near the identity and lets 8-16 virtual layers learn from the first
        updates (see README, "Why branch scales").

    Example
    -------
    >>> plan = SharingPlan.from_config({"unique_blocks": 2, "share_modules": {"conv": "all"}})
    >>> plan.validate(num_layers=6)
    >>> [plan.block_of(i, 6) for i in range(6)]
    [0, 1, 0, 1, 0, 1]
    """

    unique_blocks: Optional[int] = None
    order: Optional[str] = None
    share_modules: Mapping[str, GroupSize] = field(default_factory=dict)
    tie_macaron: str = "none"
    per_layer: Sequence[str] = ()
    low_rank: Optional[LowRankPlan] = None
    branch_scales: Optional[float] = None

    # ------------------------------------------------------------------ build
    @classmethod
    def from_config(cls, config: Union[None, "SharingPlan", Mapping[str, Any]]) -> "SharingPlan":
        """Builds a plan from ``None``, a plan, or a (YAML) mapping; unknown keys raise."""
        if config is None:
            return cls()
        if isinstance(config, SharingPlan):
            return config
        if not isinstance(config, Mapping):
            raise ValueError(f"sharing: expected a mapping, got {type(config).__name__}")
        config = dict(config)
        _reject_unknown(config, cls, "sharing")
        low_rank = config.get("low_rank")
        if low_rank is not None and not isinstance(low_rank, LowRankPlan):
            if not isinstance(low_rank, Mapping):
                raise ValueError(f"sharing.low_rank: expected a mapping, got {low_rank!r}")
            _reject_unknown(low_rank, LowRankPlan, "sharing.low_rank")
            config["low_rank"] = LowRankPlan(**low_rank)
        return cls(**config)

    def to_dict(self) -> Dict[str, Any]:
        """Plain-data form (for YAML, model cards and logs)."""
        return dataclasses.asdict(self)

    # --------------------------------------------------------------- validate
    def validate(self, num_layers: int) -> None:
        """Raises ``ValueError`` naming the offending field for any invalid plan."""
        if self.unique_blocks is not None:
            if isinstance(self.unique_blocks, bool) or not isinstance(self.unique_blocks, int) or self.unique_blocks < 1:
                raise ValueError(f"sharing.unique_blocks={self.unique_blocks!r}: expected a positive integer")
            if num_layers % self.unique_blocks:
                raise ValueError(
                    f"sharing.unique_blocks={self.unique_blocks} does not divide num_layers={num_layers}"
                )
        if self.order is not None:
            if self.order not in ORDERS:
                raise ValueError(f"sharing.order={self.order!r}: expected one of {ORDERS}")
            if self.unique_blocks is None:
                raise ValueError(
                    f"sharing.order={self.order!r} is contradictory without sharing.unique_blocks "
                    "(nothing is repeated)"
                )
        n_blocks = self.n_blocks(num_layers)
        if not isinstance(self.share_modules, Mapping):
            raise ValueError(f"sharing.share_modules={self.share_modules!r}: expected a mapping")
        for module, size in self.share_modules.items():
            if module not in MODULES:
                raise ValueError(f"sharing.share_modules: unknown module {module!r}; expected one of {MODULES}")
            _group_size(size, n_blocks, f"sharing.share_modules.{module}")
        if self.tie_macaron not in MACARON_TIES:
            raise ValueError(f"sharing.tie_macaron={self.tie_macaron!r}: expected one of {MACARON_TIES}")
        if isinstance(self.per_layer, str):
            raise ValueError(f"sharing.per_layer={self.per_layer!r}: expected a list")
        for part in self.per_layer:
            if part not in PER_LAYER_PARTS:
                raise ValueError(f"sharing.per_layer: unknown part {part!r}; expected any of {PER_LAYER_PARTS}")
        if "attention_out" in self.per_layer and not (
            self.unique_blocks or "attention" in self.share_modules
        ):
            raise ValueError(
                "sharing.per_layer=['attention_out'] is contradictory: attention is not shared "
                "(set sharing.unique_blocks or sharing.share_modules.attention)"
            )
        if self.low_rank is not None:
            self._validate_low_rank(n_blocks)
        if self.branch_scales is not None and (
            isinstance(self.branch_scales, bool)
            or not isinstance(self.branch_scales, (int, float))
            or not 0.0 < self.branch_scales <= 1.0
        ):
            raise ValueError(
                f"sharing.branch_scales={self.branch_scales!r}: expected the initial scale, a number in (0, 1]"
            )

    def _validate_low_rank(self, n_blocks: int) -> None:
        lr = self.low_rank
        if isinstance(lr.targets, str):
            raise ValueError(f"sharing.low_rank.targets={lr.targets!r}: expected a list")
        for target in lr.targets:
            if target not in MODULES:
                raise ValueError(f"sharing.low_rank.targets: unknown module {target!r}; expected any of {MODULES}")
        if lr.share not in FACTOR_SHARING:
            raise ValueError(f"sharing.low_rank.share={lr.share!r}: expected one of {FACTOR_SHARING}")
        if not lr.targets and lr.share != "none":
            raise ValueError(
                f"sharing.low_rank.share={lr.share!r} is contradictory with empty sharing.low_rank.targets"
            )
        if isinstance(lr.rank, Mapping):
            for target in lr.targets:
                if target not in lr.rank:
                    raise ValueError(f"sharing.low_rank.rank: no rank given for target {target!r}")
            for target in lr.rank:
                if target not in lr.targets:
                    raise ValueError(
                        f"sharing.low_rank.rank.{target} is contradictory: {target!r} is not in sharing.low_rank.targets"
                    )
        _group_size(lr.share_group, n_blocks, "sharing.low_rank.share_group")

    # ------------------------------------------------------------ the mapping
    def n_blocks(self, num_layers: int) -> int:
        """Number of unique blocks."""
        return self.unique_blocks or num_layers

    def block_of(self, layer: int, num_layers: int) -> int:
        """Unique block used by virtual layer ``layer`` (level i)."""
        n_blocks = self.n_blocks(num_layers)
        if (self.order or "cycle") == "cycle":
            return layer % n_blocks
        return layer // (num_layers // n_blocks)

    def layers_at_depth(self, depth: int, num_layers: int) -> List[int]:
        """The virtual layers (in order) an encoder of ``num_layers`` runs at run-time depth ``depth``.

        Elastic depth needs repeated blocks (level i): dropping layers of a stack of distinct
        blocks would leave trained weights unused. The rule keeps the block order and uses every
        unique block once ``depth >= unique_blocks``:

        * ``cycle`` (ABCDABCD): the first ``depth`` virtual layers;
        * ``consecutive`` (AABBCCDD): ``depth`` layers evenly spread, layer ``j * num_layers // depth``
          for ``j < depth`` (the first copy of each block at ``depth = unique_blocks``).

        Example
        -------
        >>> plan = SharingPlan(unique_blocks=4, order="consecutive")
        >>> [plan.block_of(i, 8) for i in plan.layers_at_depth(4, 8)]
        [0, 1, 2, 3]
        >>> SharingPlan(unique_blocks=4, order="cycle").layers_at_depth(6, 8)
        [0, 1, 2, 3, 4, 5]
        """
        if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= num_layers:
            raise ValueError(f"depth={depth!r}: expected an integer from 1 to the {num_layers} virtual layers")
        if depth == num_layers:
            return list(range(num_layers))
        if self.unique_blocks is None or self.unique_blocks == num_layers:
            raise ValueError(
                f"depth={depth}: a run-time depth below num_layers={num_layers} needs repeated blocks "
                "(sharing.unique_blocks < num_layers); this encoder's layers are all distinct"
            )
        if (self.order or "cycle") == "cycle":
            return list(range(depth))
        return [j * num_layers // depth for j in range(depth)]

    def owner_key(self, layer: int, num_layers: int, path: str, kind: "ParamKind") -> Tuple:
        """Key identifying the tensor behind parameter ``path`` of virtual layer ``layer``.

        ``path`` is relative to the layer (e.g. ``ffn_module2.1.ffn.0.U``).
        Rules, later ones overriding earlier ones:
        (iii) macaron tying renames the second FFN's tied linears to the first's;
        (i) by default a weight belongs to its unique block;
        (ii) a shared module belongs to its group of blocks;
        (iv) a shared low-rank factor belongs to its factor group;
        (iii) per-layer parts belong to the virtual layer itself.
        """
        n_blocks = self.n_blocks(num_layers)
        block = self.block_of(layer, num_layers)
        name = self._macaron_alias(path)
        owner: Tuple = ("block", block)
        module = module_of(path)
        if module in self.share_modules:
            size = _group_size(self.share_modules[module], n_blocks, module)
            owner = ("module", module, block // size)
        lr = self.low_rank
        if lr is not None and kind.factor is not None and lr.shares(kind.factor):
            size = _group_size(lr.share_group, n_blocks, "share_group")
            owner = ("factor", block // size)
        if (
            (kind.is_norm and "norms" in self.per_layer)
            or (kind.is_bias and "biases" in self.per_layer)
            or (path.startswith(ATTENTION_OUT_PREFIXES) and "attention_out" in self.per_layer)
        ):
            owner, name = ("layer", layer), path
        return owner + (name,)

    def _macaron_alias(self, path: str) -> str:
        if self.tie_macaron == "none":
            return path
        parts = ("first", "second") if self.tie_macaron == "both" else (self.tie_macaron,)
        for part in parts:
            second = MACARON_LINEARS[part].format(2)
            if path.startswith(second):
                return MACARON_LINEARS[part].format(1) + path[len(second):]
        return path


# Output projection of RelPosMHAXL / regularMHA (incl. their low-rank forms).
ATTENTION_OUT_PREFIXES = ("mha_layer.out_proj.", "mha_layer.att.out_proj.")


@dataclass(frozen=True)
class ParamKind:
    """What a parameter is, as far as the plan cares."""

    is_norm: bool = False
    is_bias: bool = False
    factor: Optional[str] = None  # "U" / "V" for low-rank factors


def module_of(path: str) -> Optional[str]:
    """Which Conformer module (``ffn``/``attention``/``conv``) a layer path is in."""
    for module, prefixes in MODULE_PREFIXES.items():
        if path.startswith(prefixes):
            return module
    return None


def _reject_unknown(config: Mapping[str, Any], cls: type, where: str) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    for key in config:
        if key not in known:
            raise ValueError(f"{where}: unknown field {key!r}; expected any of {sorted(known)}")
