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
from typing import Any, Dict, Mapping, Optional, Union

from speechbrain.lobes.models.transformer.TransformerASR import TransformerASR

from .encoder import SharedConformerEncoder
from .sharing import SharingPlan


class SharedTransformerASR(TransformerASR):
    """``TransformerASR(encoder_module="conformer", ...)`` whose encoder follows ``sharing``.

    Arguments are those of SpeechBrain's ``TransformerASR`` plus ``sharing``, ``svd_init``, ``depth`` and
    ``elastic_depth`` (see :class:`SharedConformerEncoder`); ``num_encoder_layers`` is the number of
    *virtual* layers.

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

    def __init__(self, *args: Any, sharing: Union[None, SharingPlan, Mapping[str, Any]] = None,
                 svd_init: bool = True, depth: Optional[int] = None,
                 elastic_depth: Optional[Mapping[str, Any]] = None, **kwargs: Any):
        kwargs.setdefault("encoder_module", "conformer")
        bound = inspect.signature(TransformerASR.__init__).bind(self, *args, **kwargs)
        bound.apply_defaults()
        hp = bound.arguments
        if hp["encoder_module"] != "conformer":
            raise ValueError(
                f"SharedTransformerASR: encoder_module={hp['encoder_module']!r}; only 'conformer' can be shared"
            )
        # SpeechBrain builds and initialises its own encoder first, replaced below. Not building it
        # would save ~0.3 s, but shift the random stream: a seeded model would no longer start from
        # the weights of every run so far. The plan is validated once, by SharedConformerEncoder.
        super().__init__(*args, **kwargs)
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
            svd_init=svd_init,
            depth=depth,
            elastic_depth=elastic_depth,
        )
        if hp["num_decoder_layers"] == 0 and hasattr(self, "positional_encoding_decoder"):
            # SpeechBrain builds a sinusoid table for a decoder even when there is none: 2.56 MB of
            # a 5M model's memory and checkpoint (max_length 2500 x d_model 256), never read by a
            # transducer. Checkpoints written with it still load (the hook drops it).
            del self.positional_encoding_decoder
            self.register_load_state_dict_pre_hook(_drop_decoder_table)

    @property
    def plan(self) -> SharingPlan:
        """The encoder's sharing plan."""
        return self.encoder.plan


DECODER_TABLE = "positional_encoding_decoder.pe"


def without_decoder_table(state: Mapping[str, Any]) -> Dict[str, Any]:
    """A checkpoint's state dict without the decoder table that older checkpoints hold (what the model keeps)."""
    return {k: v for k, v in state.items() if not k.endswith("." + DECODER_TABLE) and k != DECODER_TABLE}


def _drop_decoder_table(module, state_dict, prefix, *args: Any) -> None:
    """Load hook: older checkpoints hold the unused decoder sinusoid table; it is computed, not trained."""
    state_dict.pop(prefix + DECODER_TABLE, None)
