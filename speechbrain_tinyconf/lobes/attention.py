"""`LowRankRelPosMHAXL`: SpeechBrain's relative-position attention with a factorised QKV projection.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from speechbrain.nnet.attention import RelPosMHAXL

from .lowrank import LowRankLinear, check_rank, svd_factors, svd_init_is_skipped


class LowRankRelPosMHAXL(RelPosMHAXL):
    """``RelPosMHAXL`` whose packed QKV projection is applied as ``(x Uᵀ) Vᵀ``.

    The projection is a bias-free :class:`LowRankLinear` ``in_proj``
    (``U: rank × E``, ``V: 3E × rank``). :meth:`forward` applies ``U`` to the
    inputs and runs SpeechBrain's ``RelPosMHAXL.forward`` on ``x Uᵀ``, where
    ``in_proj_weight`` -- the matrix that forward applies to its inputs -- is
    ``V``: ``F.linear(x Uᵀ, V) = (x Uᵀ) Vᵀ``. The dense ``(3E, E)`` product is
    never formed, so the projection costs ``rank * 4E`` MACs per frame instead
    of ``3E²``; everything else (relative positions, masks, dropout, output
    projection) is SpeechBrain's code, unchanged. Other low-rank projections
    (``out_proj``, ``linear_pos``) are plain :class:`LowRankLinear` swaps.

    Arguments
    ---------
    embed_dim, num_heads, dropout, vbias, vdim, mask_pos_future
        As for ``RelPosMHAXL`` (``vdim`` must equal ``embed_dim``, as
        SpeechBrain's forward requires).
    rank : int
        Inner dimension of the QKV projection, ``1 <= rank <= embed_dim``.

    A new module's factors are initialised as any fresh :class:`LowRankLinear`'s;
    :meth:`from_dense` factorises an existing ``RelPosMHAXL`` (the sharing plan's way).

    Example
    -------
    >>> mha = LowRankRelPosMHAXL(embed_dim=16, num_heads=2, rank=4)
    >>> x = torch.rand(2, 5, 16)
    >>> out, _ = mha(x, x, x, pos_embs=torch.rand(1, 9, 16))
    >>> out.shape, tuple(mha.in_proj.U.shape), tuple(mha.in_proj_weight.shape)
    (torch.Size([2, 5, 16]), (4, 16), (48, 4))
    """

    # state_dict names the factors had when QKV was a torch.nn.utils.parametrize
    # parametrisation (checkpoints written before issue 15); the encoder renames them on load.
    LEGACY_KEYS = {
        "parametrizations.in_proj_weight.original0": "in_proj.U",
        "parametrizations.in_proj_weight.original1": "in_proj.V",
    }

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        rank: int,
        dropout: float = 0.0,
        vbias: bool = False,
        vdim=None,
        mask_pos_future: bool = False,
    ):
        # RelPosMHAXL.__init__ registers and initialises a dense ``in_proj_weight``
        # parameter (the property below cannot answer yet, so nn.Module.__getattr__
        # finds the parameter); it is dropped for the factors.
        super().__init__(embed_dim, num_heads, dropout=dropout, vbias=vbias, vdim=vdim, mask_pos_future=mask_pos_future)
        if not self._qkv_same_embed_dim:
            raise ValueError(f"LowRankRelPosMHAXL: vdim={vdim} must equal embed_dim={embed_dim}")
        check_rank(rank, embed_dim, 3 * embed_dim)
        del self._parameters["in_proj_weight"]
        self.in_proj = LowRankLinear(3 * embed_dim, input_size=embed_dim, rank=rank, bias=False)

    @property
    def in_proj_weight(self) -> torch.Tensor:
        """``V``: what ``RelPosMHAXL.forward`` applies to the ``x Uᵀ`` it is given."""
        return self.in_proj.V

    @classmethod
    def from_dense(cls, mha: RelPosMHAXL, rank: int) -> "LowRankRelPosMHAXL":
        """``mha`` with its packed QKV weight factorised by truncated SVD (exact at full rank).

        Every other parameter is copied; the global RNG is left as it was.
        """
        with torch.random.fork_rng(devices=[]):  # the fresh init is overwritten below
            low = cls(
                mha.embed_dim, mha.num_heads, rank, dropout=mha.dropout, vbias=mha.vbias is not None,
                vdim=mha.vdim, mask_pos_future=mha.mask_pos_future,
            )
        state = mha.state_dict()
        dense = state.pop("in_proj_weight")
        # Weights about to be loaded (lowrank.svd_init_skipped): the fresh factors stay.
        U, V = (low.in_proj.U, low.in_proj.V) if svd_init_is_skipped() else svd_factors(dense, rank)
        low.load_state_dict({**state, "in_proj.U": U, "in_proj.V": V})
        return low.to(mha.pos_bias_u.device, mha.pos_bias_u.dtype).train(mha.training)

    def forward(self, query, key, value, pos_embs, key_padding_mask=None, attn_mask=None, return_attn_weights=True):
        """``RelPosMHAXL.forward`` (same arguments and outputs) on the inputs projected by ``U``."""
        U = self.in_proj.U
        q = F.linear(query, U)
        # The same tensor stays the same tensor: SpeechBrain's self-attention test is `query is key`.
        k = q if key is query else F.linear(key, U)
        v = k if value is key else (q if value is query else F.linear(value, U))
        return super().forward(
            q, k, v, pos_embs, key_padding_mask=key_padding_mask, attn_mask=attn_mask,
            return_attn_weights=return_attn_weights,
        )

