"""Low-rank linear layers whose factors can be shared between layers.

``W ≈ V @ U`` with ``U: (rank, in)`` and ``V: (out, rank)``, so a layer costs
``rank * (in + out)`` parameters (and MACs per frame) instead of ``in * out``.
Either factor may be a parameter owned by another layer: that is how level
(iv) of the sharing plan ties a basis across virtual layers.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from typing import Iterator, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


def check_rank(rank: int, in_features: int, out_features: int, name: str = "rank") -> None:
    """Raises ``ValueError`` naming ``name`` unless ``1 <= rank <= min(in, out)``."""
    limit = min(in_features, out_features)
    if not isinstance(rank, int) or isinstance(rank, bool) or not 1 <= rank <= limit:
        raise ValueError(
            f"{name}={rank!r} is invalid for a {out_features}x{in_features} "
            f"weight: it must be an integer in [1, min(in, out)={limit}]"
        )


# True while the factors being built are about to be overwritten by loaded weights (see svd_init_skipped).
_SKIP_SVD = contextvars.ContextVar("tinyconf_skip_svd_init", default=False)


@contextlib.contextmanager
def svd_init_skipped() -> Iterator[None]:
    """Within this block, low-rank factors keep their fresh initialisation instead of the SVD of the dense one.

    For models whose weights are loaded right after they are built (a model folder, a checkpoint):
    the SVDs of random weights would be thrown away, and they are most of the build time (144 of
    them, 4 of 5 s on one thread, for ``shared_lowrank_5M``). The fresh factors are initialised
    like any new :class:`LowRankLinear` (same random draws as the SVD path), so a model built here
    is still a valid, trainable model if nothing gets loaded after all.

    Example
    -------
    >>> with svd_init_skipped():
    ...     svd_init_is_skipped()
    True
    >>> svd_init_is_skipped()
    False
    """
    token = _SKIP_SVD.set(True)
    try:
        yield
    finally:
        _SKIP_SVD.reset(token)


def svd_init_is_skipped() -> bool:
    """Whether :func:`svd_init_skipped` is active here."""
    return _SKIP_SVD.get()


def svd_factors(weight: torch.Tensor, rank: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Truncated-SVD factors ``(U, V)`` of ``weight (out, in)`` with ``V @ U ≈ weight``.

    The singular values are split evenly (``sqrt``) between the two factors so
    both start at the same scale, which keeps their gradients balanced.

    Example
    -------
    >>> w = torch.randn(6, 4)
    >>> U, V = svd_factors(w, 4)
    >>> torch.allclose(V @ U, w, atol=1e-5)
    True
    """
    check_rank(rank, weight.shape[1], weight.shape[0])
    left, sing, right_t = torch.linalg.svd(weight.detach().double(), full_matrices=False)
    root = sing[:rank].sqrt()
    U = (root[:, None] * right_t[:rank]).to(weight.dtype)
    V = (left[:, :rank] * root[None, :]).to(weight.dtype)
    return U.contiguous(), V.contiguous()


def _as_parameter(t: torch.Tensor) -> nn.Parameter:
    return t if isinstance(t, nn.Parameter) else nn.Parameter(t)


class LowRankLinear(nn.Module):
    """Drop-in for ``speechbrain.nnet.linear.Linear`` computing ``y = (x Uᵀ) Vᵀ + b``.

    Arguments
    ---------
    n_neurons : int
        Output features.
    input_shape : tuple, optional
        Expected input shape (SpeechBrain convention); last dim is the feature dim.
    input_size : int, optional
        Input features (alternative to ``input_shape``).
    rank : int
        Inner dimension, ``1 <= rank <= min(input_size, n_neurons)``.
    bias : bool
        Whether to add a (never shared) bias.
    combine_dims : bool
        As in SpeechBrain's ``Linear``: fold the last two dims of a 4-D input.
    U : torch.nn.Parameter, optional
        A ``(rank, input_size)`` factor owned elsewhere, to be shared.
    V : torch.nn.Parameter, optional
        A ``(n_neurons, rank)`` factor owned elsewhere, to be shared.
    channels_first : bool
        Apply over dim 1 of a ``(batch, channels, time)`` input, i.e. act as a
        1x1 convolution (Conformer's pointwise convolution).

    Example
    -------
    >>> lin = LowRankLinear(n_neurons=32, input_size=16, rank=4)
    >>> lin(torch.rand(2, 10, 16)).shape
    torch.Size([2, 10, 32])
    >>> twin = LowRankLinear(n_neurons=32, input_size=16, rank=4, U=lin.U)
    >>> twin.U is lin.U
    True
    """

    def __init__(
        self,
        n_neurons: int,
        input_shape: Optional[Sequence[int]] = None,
        input_size: Optional[int] = None,
        rank: int = 32,
        bias: bool = True,
        combine_dims: bool = False,
        U: Optional[torch.Tensor] = None,
        V: Optional[torch.Tensor] = None,
        channels_first: bool = False,
    ):
        super().__init__()
        self.combine_dims = combine_dims
        self.channels_first = channels_first
        if input_shape is None and input_size is None:
            raise ValueError("LowRankLinear: expected one of input_shape or input_size")
        if input_size is None:
            input_size = input_shape[-1]
            if len(input_shape) == 4 and combine_dims:
                input_size = input_shape[2] * input_shape[3]
        self.in_features = int(input_size)
        self.out_features = int(n_neurons)
        check_rank(rank, self.in_features, self.out_features)
        self.rank = rank

        self.U = _as_parameter(U) if U is not None else nn.Parameter(torch.empty(rank, self.in_features))
        self.V = _as_parameter(V) if V is not None else nn.Parameter(torch.empty(self.out_features, rank))
        for name, got, want in (
            ("U", self.U, (rank, self.in_features)),
            ("V", self.V, (self.out_features, rank)),
        ):
            if tuple(got.shape) != want:
                raise ValueError(
                    f"LowRankLinear: shared factor {name} has shape {tuple(got.shape)}, expected {want}"
                )
        self.bias = nn.Parameter(torch.empty(self.out_features)) if bias else None
        self._init_fresh(U is None, V is None)

    def _init_fresh(self, init_U: bool, init_V: bool) -> None:
        # Each factor initialised like an nn.Linear of its own shape.
        if init_U:
            nn.init.kaiming_uniform_(self.U, a=math.sqrt(5))
        if init_V:
            nn.init.kaiming_uniform_(self.V, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            nn.init.uniform_(self.bias, -bound, bound)

    @classmethod
    def from_linear(
        cls,
        linear: nn.Module,
        rank: int,
        U: Optional[torch.Tensor] = None,
        V: Optional[torch.Tensor] = None,
    ) -> "LowRankLinear":
        """Initialises from a trained full layer by truncated SVD.

        Accepts ``torch.nn.Linear``, SpeechBrain's ``Linear`` (wrapping ``.w``)
        or a ``Conv1d`` with kernel size 1 (then ``channels_first=True``).
        At full rank the result reproduces ``linear``; at rank ``r`` the spectral
        norm of the weight error is the (r+1)-th singular value (Eckart-Young).
        A factor passed in is shared as is, the other one is fitted by least
        squares given it.

        Example
        -------
        >>> full = torch.nn.Linear(8, 6)
        >>> low = LowRankLinear.from_linear(full, rank=6)
        >>> x = torch.rand(3, 8)
        >>> torch.allclose(low(x), full(x), atol=1e-5)
        True
        """
        combine_dims, channels_first = False, False
        if hasattr(linear, "w") and isinstance(linear.w, nn.Linear):
            combine_dims = getattr(linear, "combine_dims", False)
            linear = linear.w
        if isinstance(linear, nn.Conv1d):
            if linear.kernel_size != (1,) or linear.groups != 1:
                raise ValueError("from_linear: only kernel_size=1, groups=1 Conv1d layers are linear maps")
            weight = linear.weight.detach()[:, :, 0]
            channels_first = True
        elif isinstance(linear, nn.Linear):
            weight = linear.weight.detach()
        else:
            raise TypeError(f"from_linear: unsupported layer type {type(linear).__name__}")
        out_f, in_f = weight.shape
        check_rank(rank, in_f, out_f)
        layer = cls(
            n_neurons=out_f,
            input_size=in_f,
            rank=rank,
            bias=linear.bias is not None,
            combine_dims=combine_dims,
            U=U,
            V=V,
            channels_first=channels_first,
        ).to(weight.device, weight.dtype)
        if svd_init_is_skipped():  # weights are about to be loaded: keep the fresh init
            if layer.bias is not None:
                with torch.no_grad():
                    layer.bias.copy_(linear.bias.detach())
            return layer
        fit_U, fit_V = svd_factors(weight, rank)
        if U is not None and V is None:
            fit_V = weight @ torch.linalg.pinv(U.detach())
        elif V is not None and U is None:
            fit_U = torch.linalg.pinv(V.detach()) @ weight
        with torch.no_grad():
            if U is None:
                layer.U.copy_(fit_U)
            if V is None:
                layer.V.copy_(fit_V)
            if layer.bias is not None:
                layer.bias.copy_(linear.bias.detach())
        return layer

    def weight(self) -> torch.Tensor:
        """The dense ``(out, in)`` matrix this layer represents."""
        return self.V @ self.U

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Applies ``x Uᵀ Vᵀ + b`` over the feature dim (dim 1 if ``channels_first``)."""
        if self.channels_first:
            # (batch, channels, time) -> (batch, time, channels)
            return self._apply_factors(x.transpose(1, 2)).transpose(1, 2)
        if x.ndim == 4 and self.combine_dims:
            x = x.reshape(x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        return self._apply_factors(x)

    def _apply_factors(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(F.linear(x, self.U), self.V, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"rank={self.rank}, bias={self.bias is not None}"
            + (", channels_first=True" if self.channels_first else "")
        )


class LowRankWeight(nn.Module):
    """``torch.nn.utils.parametrize`` parametrization ``W = V @ U``.

    Used for weights that upstream code reads as raw tensors (e.g. the packed
    QKV ``in_proj_weight`` of SpeechBrain's attention), so the attention code
    runs unchanged. Registering it factorises the current weight by SVD and
    stores ``original0 = U`` and ``original1 = V``.

    Example
    -------
    >>> from torch.nn.utils import parametrize
    >>> lin = torch.nn.Linear(8, 12)
    >>> lin = parametrize.register_parametrization(lin, "weight", LowRankWeight(3))
    >>> tuple(lin.parametrizations.weight.original0.shape)
    (3, 8)
    >>> int(torch.linalg.matrix_rank(lin.weight.detach()))
    3
    """

    def __init__(self, rank: int):
        super().__init__()
        self.rank = rank

    def forward(self, U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
        return V @ U

    def right_inverse(self, weight: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if svd_init_is_skipped():  # weights are about to be loaded: any factors of the right shapes
            return weight[: self.rank].detach().clone(), torch.eye(weight.shape[0], self.rank, dtype=weight.dtype)
        return svd_factors(weight, self.rank)
