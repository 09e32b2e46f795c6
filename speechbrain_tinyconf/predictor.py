"""Prediction networks selectable from the recipe YAML (``predictor: gru | stateless``).

``stateless`` is the prediction network of icefall's transducers with ``context_size=1``
(Ghodsi et al., 2020): the embedding of the last emitted token through a ReLU, no recurrence.
It is what sherpa-onnx's ``decoder.onnx`` convention expects (``decoder(y (N, 1)) -> (N, J)``),
frees the GRU's parameters (~0.3 M at the headline size) for the encoder, and SpeechBrain's
transducer searchers (greedy, beam) and ``StreamingASR`` run it unchanged: a module that is
not an RNN is called on the last token alone, with no state. A wider context
(``context_size > 1``) would need the previous tokens, which those searchers do not pass.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import torch

PREDICTORS = ("gru", "stateless")


class StatelessPredictor(torch.nn.Module):
    """ReLU over the embedding of the last token: the stateless prediction network (context 1).

    Example
    -------
    >>> emb = torch.randn(2, 5, 8)                        # (batch, tokens, emb_dim)
    >>> torch.equal(StatelessPredictor()(emb), torch.relu(emb))
    True
    """

    context_size = 1

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return torch.relu(emb)


def make_predictor(kind: str = "gru", input_size: int = 128, hidden_size: int = 256) -> torch.nn.Module:
    """The recipe's ``dec``: SpeechBrain's one-layer GRU, or :class:`StatelessPredictor`.

    The stateless one has no weights: its output is the embedding, so ``emb_dim`` must equal
    ``dec_dim`` (the width ``proj_dec`` takes).

    Example
    -------
    >>> type(make_predictor("gru", 16, 32)).__name__, type(make_predictor("stateless", 32, 32)).__name__
    ('GRU', 'StatelessPredictor')
    >>> make_predictor("stateless", 16, 32)
    Traceback (most recent call last):
    ...
    ValueError: predictor='stateless' outputs its embedding: emb_dim (16) must equal dec_dim (32)
    """
    if kind == "gru":
        from speechbrain.nnet.RNN import GRU

        return GRU(input_shape=[None, None, input_size], hidden_size=hidden_size, num_layers=1, re_init=True)
    if kind == "stateless":
        if input_size != hidden_size:
            raise ValueError(f"predictor='stateless' outputs its embedding: emb_dim ({input_size}) "
                             f"must equal dec_dim ({hidden_size})")
        return StatelessPredictor()
    raise ValueError(f"predictor={kind!r}: expected one of {', '.join(PREDICTORS)}")
