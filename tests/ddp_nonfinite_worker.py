"""Run by tests/test_recipe.py under ``torch.distributed.run --nproc_per_node=2`` (gloo): one training step
on finite batches, then one where rank 1's batch holds a NaN; each rank writes what it saw to OUT/rank<N>.json."""

import json
import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "recipes" / "LibriSpeech"))
sys.path.insert(0, str(ROOT / "tests"))
from nonfinite_batches import tiny_batch  # noqa: E402


def main(out: Path) -> None:
    import importlib.util

    from speechbrain_tinyconf.recipe.hparams import load_detached

    torch.distributed.init_process_group("gloo")
    rank = torch.distributed.get_rank()
    spec = importlib.util.spec_from_file_location("librispeech_train", ROOT / "recipes" / "LibriSpeech" / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    hp = load_detached(ROOT / "tests" / "configs" / "tiny.yaml",
                       {"wav_augment_prob": 0, "fea_augment_prob": 0, "output_folder": str(out / f"run{rank}")})
    asr = train.TransducerASR(modules=hp["modules"], opt_class=hp["opt_class"], hparams=hp,
                              run_opts={"device": "cpu", "distributed_backend": "gloo"}, checkpointer=None)
    asr._wrap_distributed()
    asr.init_optimizers()
    torch.manual_seed(rank)

    def batch(nan: bool):
        return tiny_batch(nan, prefix=f"r{rank}u")

    first = float(asr.fit_batch(batch(False)))
    norm = asr.modules.normalize
    before = norm.glob_mean.clone()
    weights = {k: v.clone() for k, v in asr.modules.state_dict().items()}
    second = float(asr.fit_batch(batch(nan=rank == 1)))
    (out / f"rank{rank}.json").write_text(json.dumps({
        "first_finite": bool(torch.isfinite(torch.tensor(first))),
        "second_finite": bool(torch.isfinite(torch.tensor(second))),
        "normaliser_restored": bool(torch.equal(norm.glob_mean, before)),
        "normaliser_finite": bool(torch.isfinite(norm.glob_mean).all()),
        "weights_unchanged": all(torch.equal(weights[k], v) for k, v in asr.modules.state_dict().items()),
    }))
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
