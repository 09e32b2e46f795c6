"""Section 2 of the CPU benchmark: the shared encoder's time against SpeechBrain's own ``ConformerEncoder``.

Forward (eval, no grad) and one train step (forward + backward + AdamW) of the variant's
``SharedConformerEncoder`` against the stock encoder with the identical virtual configuration,
timed interleaved (:func:`timing.interleaved`); a low-rank variant also against its full-rank twin.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict

from benchmark_sizes import encoder_config
from timing import interleaved


def forward_fn(encoder, x, pos) -> Callable[[], None]:
    """One eval forward of ``encoder`` on ``x`` without gradients, as a call to time."""
    import torch

    encoder.eval()

    def run():
        with torch.no_grad():
            encoder(x, pos_embs=pos)

    return run


def train_fn(encoder, x, pos) -> Callable[[], None]:
    """One train step of ``encoder`` (forward, backward, AdamW) on ``x``, as a call to time."""
    import torch

    encoder.train()
    opt = torch.optim.AdamW(encoder.parameters(), lr=1e-4)

    def run():
        opt.zero_grad(set_to_none=True)
        out, _ = encoder(x, pos_embs=pos)
        out.pow(2).mean().backward()
        opt.step()

    return run


def ratio_section(name: str, path: Path, frames: int, batch: int, reps: int, train_reps: int,
                  seed: int) -> Dict[str, Any]:
    """Forward and train-step timings of ``name`` against stock SpeechBrain (and its full-rank twin)."""
    import dataclasses

    import torch
    from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder
    from speechbrain.nnet.attention import RelPosEncXL

    from speechbrain_tinyconf import SharedConformerEncoder, SharingPlan

    cfg = encoder_config(path)
    plan = SharingPlan.from_config(cfg.pop("sharing"))
    torch.manual_seed(seed)
    ours = SharedConformerEncoder(**cfg, sharing=plan)
    stock = ConformerEncoder(**cfg)  # SpeechBrain's own, same virtual configuration
    x = torch.randn(1, frames, cfg["d_model"])
    xb = torch.randn(batch, frames, cfg["d_model"])
    pos = RelPosEncXL(cfg["d_model"])(x)
    out: Dict[str, Any] = {"variant": name, "frames": frames, "train_batch": batch, "low_rank": plan.low_rank is not None,
                           "threads": torch.get_num_threads()}
    out["forward"] = interleaved(forward_fn(ours, x, pos), forward_fn(stock, x, pos), reps)
    out["train"] = interleaved(train_fn(ours, xb, pos), train_fn(stock, xb, pos), train_reps)
    if plan.low_rank is not None:
        twin = SharedConformerEncoder(**cfg, sharing=dataclasses.replace(plan, low_rank=None))
        out["vs_full_rank"] = interleaved(forward_fn(ours, x, pos), forward_fn(twin, x, pos), reps)
    return out
