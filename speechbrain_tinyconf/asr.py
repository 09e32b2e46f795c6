"""`SharedTransformerASR`: SpeechBrain's ``TransformerASR`` with a shared Conformer encoder.

Everything around the encoder (input projection, relative positional encoding,
masks, ``encode``/``encode_streaming``/``make_streaming_context``) is SpeechBrain's
own, so transducer recipes, ``EncoderDecoderASR`` and ``StreamingASR`` use it
unchanged.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import inspect
from typing import Any, Mapping, Union

from speechbrain.lobes.models.transformer.TransformerASR import TransformerASR

from .encoder import SharedConformerEncoder
from .sharing import SharingPlan

_BUILT_HERE = "shared_conformer"  # encoder_module given to SpeechBrain: none of its encoders


class SharedTransformerASR(TransformerASR):
    """``TransformerASR(encoder_module="conformer", ...)`` whose encoder follows ``sharing``.

    Arguments are those of SpeechBrain's ``TransformerASR`` plus ``sharing``;
    ``num_encoder_layers`` is the number of *virtual* layers.

    Example
    -------
    >>> import torch
    >>> asr = SharedTransformerASR(
    ...     input_size=40, tgt_vocab=10, d_model=32, nhead=4, num_encoder_layers=6,
    ...     num_decoder_layers=0, d_ffn=64, attention_type="RelPosMHAXL",
    ...     positional_encoding=None, normalize_before=True, causal=False,
    ...     sharing={"unique_blocks": 2},
    ... )
    >>> asr.encode(torch.rand(2, 12, 40)).shape
    torch.Size([2, 12, 32])
    """

    def __init__(self, *args: Any, sharing: Union[None, SharingPlan, Mapping[str, Any]] = None, **kwargs: Any):
        kwargs.setdefault("encoder_module", "conformer")
        bound = inspect.signature(TransformerASR.__init__).bind(self, *args, **kwargs)
        bound.apply_defaults()
        hp = {name: value for name, value in bound.arguments.items() if name != "self"}
        if hp["encoder_module"] != "conformer":
            raise ValueError(
                f"SharedTransformerASR: encoder_module={hp['encoder_module']!r}; only 'conformer' can be shared"
            )
        if not hp["normalize_before"]:  # what SpeechBrain asserts for its own Conformer
            raise ValueError("SharedTransformerASR: normalize_before must be True for a Conformer")
        # SpeechBrain builds no encoder for an encoder_module it does not know: everything else is
        # its own (input projection, positional encoding, init), and the one encoder built is ours.
        super().__init__(**{**hp, "encoder_module": _BUILT_HERE})
        self.encoder = SharedConformerEncoder(
            num_layers=hp["num_encoder_layers"],
            d_model=hp["d_model"],
            d_ffn=hp["d_ffn"],
            nhead=hp["nhead"],
            kernel_size=hp["kernel_size"],
            activation=hp["conformer_activation"],
            bias=hp["bias"],
            dropout=hp["dropout"],
            causal=self.causal,
            attention_type=self.attention_type,
            output_hidden_states=self.output_hidden_states,
            layerdrop_prob=self.layerdrop_prob,
            sharing=sharing,
        )

    @property
    def plan(self) -> SharingPlan:
        """The encoder's sharing plan."""
        return self.encoder.plan
