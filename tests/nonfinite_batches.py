"""A two-utterance training batch for the tiny config, one waveform optionally holding a NaN
(tests/test_recipe.py and tests/ddp_nonfinite_worker.py)."""

import torch
from speechbrain.dataio.batch import PaddedBatch


def tiny_batch(nan: bool, prefix: str = "u") -> PaddedBatch:
    sigs = [torch.randn(8000), torch.randn(6000)]
    if nan:
        sigs[1][100] = float("nan")
    return PaddedBatch([{"id": f"{prefix}{i}", "sig": s, "tokens_bos": torch.LongTensor([0, 3, 5]),
                         "tokens": torch.LongTensor([3, 5]), "wrd": "A B"} for i, s in enumerate(sigs)])
