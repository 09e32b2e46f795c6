"""Elastic depth: the plan's rule for which layers a depth keeps, the encoder running them (full
context and streaming), sizes and MACs at a depth, the training option, and every consumer
(EncoderDecoderASR's ``encoder_depth``, ``tinyconf-transcribe --depth``, ``tinyconf-onnx-export --depth``
in both formats, the model card)."""

import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from speechbrain.nnet.attention import RelPosEncXL
from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

from speechbrain_tinyconf import SharedConformerEncoder, SharingPlan, size_report
from speechbrain_tinyconf.lobes.depth import ElasticDepth, at_depth, set_depth, shared_encoders
from speechbrain_tinyconf.lobes.size import count_macs, encoder_macs

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "configs" / "tiny.yaml"


def encoder(num_layers=8, order="consecutive", unique_blocks=4, **kwargs):
    sharing = {"unique_blocks": unique_blocks, "order": order, "per_layer": ["norms", "scales"]}
    torch.manual_seed(0)
    enc = SharedConformerEncoder(num_layers=num_layers, d_model=32, d_ffn=64, nhead=4, kernel_size=5,
                                 sharing=sharing, **kwargs).eval()
    with torch.no_grad():  # per-layer parts away from their init, so that using the wrong layer shows
        for name, p in enc.named_parameters():
            p.add_(0.05 * torch.randn_like(p))
    return enc


def by_hand(enc, layers, x, pos):
    """The oracle: the kept layers' own code, in order, then the final norm."""
    for i in layers:
        x, _ = enc.layers[i](x, pos_embs=pos)
    return enc.norm(x)


# ------------------------------------------------------------------------------------ the rule
@pytest.mark.parametrize("order", ["cycle", "consecutive"])
@pytest.mark.parametrize("num_layers, blocks", [(8, 2), (8, 4), (12, 3), (16, 4), (16, 8)])
def test_every_unique_block_stays_in_use_from_unique_blocks_up(order, num_layers, blocks):
    plan = SharingPlan(unique_blocks=blocks, order=order)
    for depth in range(1, num_layers + 1):
        kept = plan.layers_at_depth(depth, num_layers)
        assert len(kept) == depth and kept == sorted(set(kept)) and kept[-1] < num_layers
        used = {plan.block_of(i, num_layers) for i in kept}
        assert len(used) == min(depth, blocks), (depth, kept)
    assert plan.layers_at_depth(num_layers, num_layers) == list(range(num_layers))


def test_the_rule_per_order():
    assert SharingPlan(unique_blocks=4, order="cycle").layers_at_depth(6, 16) == [0, 1, 2, 3, 4, 5]
    consecutive = SharingPlan(unique_blocks=8, order="consecutive")  # the shipped 5M plan (AABB..., 16 layers)
    assert consecutive.layers_at_depth(8, 16) == [0, 2, 4, 6, 8, 10, 12, 14]  # each block once
    assert consecutive.layers_at_depth(12, 16) == [0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14]
    assert consecutive.layers_at_depth(4, 16) == [0, 4, 8, 12]


@pytest.mark.parametrize("plan, depth, words", [
    (SharingPlan(), 4, "needs repeated blocks"),
    (SharingPlan(unique_blocks=8), 4, "needs repeated blocks"),
    (SharingPlan(unique_blocks=4), 0, "from 1 to the 8"),
    (SharingPlan(unique_blocks=4), 9, "from 1 to the 8"),
    (SharingPlan(unique_blocks=4), 2.0, "from 1 to the 8"),
])
def test_a_depth_the_plan_cannot_run_is_one_line(plan, depth, words):
    with pytest.raises(ValueError, match=words) as err:
        plan.layers_at_depth(depth, 8)
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------------------- the encoder
@pytest.mark.parametrize("order", ["cycle", "consecutive"])
def test_encoder_at_depth_runs_exactly_the_plans_layers(order):
    enc = encoder(order=order)
    x = torch.randn(2, 23, 32)
    pos = RelPosEncXL(32)(x)
    full = by_hand(enc, range(8), x, pos)
    with torch.no_grad():
        assert torch.equal(enc(x, pos_embs=pos)[0], full)
        for depth in (2, 4, 5, 8):
            enc.set_depth(depth)
            kept = enc.plan.layers_at_depth(depth, 8)
            assert enc.active_layer_indices() == kept
            out = enc(x, pos_embs=pos)[0]
            assert torch.equal(out, by_hand(enc, kept, x, pos))
            assert (depth == 8) == torch.equal(out, full)
    enc.set_depth(None)
    assert enc.depth == 8 and len(enc.layers) == 8


def test_depth_changes_no_weight_and_no_checkpoint_key():
    enc = encoder()
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    enc.set_depth(4)
    x = torch.randn(1, 9, 32)
    with torch.no_grad():
        enc(x, pos_embs=RelPosEncXL(32)(x))
    after = enc.state_dict()
    assert list(after) == list(before) and all(torch.equal(after[k], before[k]) for k in before)
    other = encoder()
    other.load_state_dict(after)  # strict: the same keys at any depth


def test_streaming_at_depth_uses_one_context_per_kept_layer_and_refuses_a_stale_one():
    enc = encoder()
    enc.set_depth(4)
    config = DynChunkTrainConfig(4, 2)
    context = enc.make_streaming_context(config)
    assert len(context.layers) == 4
    ref_contexts = [enc.layers[i].make_streaming_context(mha_left_context_size=config.left_context_size_frames())
                    for i in enc.active_layer_indices()]
    with torch.no_grad():
        for _ in range(3):
            chunk = torch.randn(1, 4, 32)
            left = context.layers[0].mha_left_context  # as TransformerASR.encode_streaming sizes them
            pos = RelPosEncXL(32)(torch.zeros(1, 4 + (0 if left is None else left.shape[1]), 32))
            out = enc.forward_streaming(chunk, context, pos_embs=pos)[0]
            ref = chunk
            for i, ctx in zip(enc.active_layer_indices(), ref_contexts):
                ref, _ = enc.layers[i].forward_streaming(ref, pos_embs=pos, context=ctx)
            assert torch.equal(out, enc.norm(ref))
    enc.set_depth(8)
    with pytest.raises(ValueError, match="made at depth 4, the encoder now runs depth 8"):
        enc.forward_streaming(torch.randn(1, 4, 32), context, pos_embs=pos)


def test_memory_is_the_same_and_macs_scale_with_depth():
    enc = encoder(num_layers=8, unique_blocks=4)
    full = size_report(enc)
    macs = {depth: encoder_macs(enc, 20, depth=depth) for depth in (2, 4, 6, 8)}
    for depth in (2, 4, 6):
        report = size_report(enc, depth=depth)
        assert (report.unique_params, report.fp32_bytes) == (full.unique_params, full.fp32_bytes)
        per_layer = (full.virtual_params - sum(p.numel() for p in enc.norm.parameters())) / 8
        assert report.virtual_params == full.virtual_params - per_layer * (8 - depth)
        assert macs[depth] * 8 == macs[8] * depth  # every layer costs the same
    assert enc.depth == 8  # restored after each count
    with pytest.raises(ValueError, match="needs the model"):
        count_macs(lambda: None, depth=4)
    with pytest.raises(ValueError, match="no SharedConformerEncoder"):
        size_report(torch.nn.Linear(2, 2), depth=1)


# ------------------------------------------------------------------------- elastic training
def test_elastic_training_samples_a_depth_per_batch_and_evaluation_runs_the_set_depth():
    enc = encoder(elastic_depth={"min": 2, "prob": 1.0})
    runs = []
    for layer in enc.layers:
        layer.register_forward_hook(lambda *args: runs.append(1))
    x = torch.randn(1, 7, 32)
    pos = RelPosEncXL(32)(x)
    torch.manual_seed(1)
    enc.train()
    depths = []
    for _ in range(40):
        runs.clear()
        enc(x, pos_embs=pos)
        depths.append(len(runs))
    assert set(depths) == set(range(2, 8))  # min .. num_layers - 1, at prob 1
    enc.eval()
    runs.clear()
    enc(x, pos_embs=pos)
    assert len(runs) == 8


@pytest.mark.parametrize("config, words", [
    ({"min": 8, "prob": 0.5}, "elastic_depth.min=8"),
    ({"min": 0}, "elastic_depth.min=0"),
    ({"min": 4, "prob": 0.0}, "elastic_depth.prob=0.0"),
    ({"min": 4, "p": 0.5}, "unknown field 'p'"),
    ({"prob": 0.5}, "'min'"),
    ("8", "expected a mapping"),
])
def test_bad_elastic_depth_is_one_line_naming_the_field(config, words):
    with pytest.raises(ValueError, match=words):
        encoder(elastic_depth=config)


def test_elastic_depth_needs_repeated_blocks():
    with pytest.raises(ValueError, match="needs repeated blocks"):
        encoder(unique_blocks=8, elastic_depth={"min": 4})


def test_the_recipe_wires_elastic_depth_from_yaml():
    from speechbrain_tinyconf.recipe.hparams import load_detached

    hp = load_detached(TINY, {"elastic_depth": {"min": 2, "prob": 0.5}})
    assert hp["Transformer"].encoder.elastic_depth == ElasticDepth(min=2, prob=0.5)
    assert load_detached(TINY, {})["Transformer"].encoder.elastic_depth is None  # off by default ({})
    variant = (ROOT / "hparams" / "shared_lowrank_5M_elastic.yaml").read_text()
    assert "elastic_depth: {min: 8, prob: 0.5}" in variant


def test_card_states_the_depths_the_weights_were_trained_for():
    from speechbrain_tinyconf.pretrained.model_card import depth_section

    plain = depth_section({"num_encoder_layers": 16, "sharing": {"unique_blocks": 8}})
    assert "Trained at full depth only" in plain and "encoder_depth" in plain
    elastic = depth_section({"num_encoder_layers": 16, "sharing": {"unique_blocks": 8},
                             "elastic_depth": {"min": 8, "prob": 0.5}})
    assert "depths 8 to 16 were trained" in elastic
    assert "fixed" in depth_section({"num_encoder_layers": 16, "sharing": {}})


# ------------------------------------------------------------------------------ the consumers
@pytest.fixture(scope="module")
def model_dir(trained_run, tmp_path_factory):
    from speechbrain_tinyconf.pretrained.export import export

    return export(trained_run, tmp_path_factory.mktemp("elastic") / "model")


def test_encoder_decoder_asr_takes_encoder_depth(model_dir, learnable_corpus, capsys):
    from speechbrain.inference.ASR import EncoderDecoderASR

    from speechbrain_tinyconf.pretrained.transcribe import main

    assert "encoder_depth: null" in (model_dir / "hyperparams.yaml").read_text()
    asr = EncoderDecoderASR.from_hparams(source=str(model_dir), overrides={"encoder_depth": 2})
    assert [e.depth for e in shared_encoders(asr)] == [2]
    wav = sorted((learnable_corpus / "test").rglob("*.flac"))[0]
    at_two = asr.transcribe_file(str(wav))
    assert main([str(model_dir), str(wav), "--depth", "2"]) == 0
    assert capsys.readouterr().out.split("\t")[1].strip() == at_two
    with at_depth(asr, 4):  # the trained depth again: the full model's words
        full = asr.transcribe_file(str(wav))
    assert main([str(model_dir), str(wav)]) == 0
    assert capsys.readouterr().out.split("\t")[1].strip() == full
    assert main([str(model_dir), str(wav), "--depth", "2", "--streaming"]) == 0  # StreamingASR at depth 2
    assert capsys.readouterr().out.startswith(f"{wav}\t")
    assert main([str(model_dir), str(wav), "--depth", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --depth 5:") and "\n" not in err


def test_export_still_reads_a_run_made_before_elastic_depth(trained_run, tmp_path):
    """A run's hyperparams.yaml from before the option (the campaign's) exports as before."""
    import shutil

    from speechbrain_tinyconf.pretrained.export import export

    old = tmp_path / "old_run"
    shutil.copytree(trained_run, old)
    text, removed = re.subn(r"(?m)^ *elastic_depth: .*\n", "", (old / "hyperparams.yaml").read_text())
    assert removed == 2 and "elastic_depth" not in text  # the value and the Transformer's argument
    (old / "hyperparams.yaml").write_text(text)
    out = export(old, tmp_path / "model")
    assert "Trained at full depth only" in (out / "README.md").read_text()


def test_onnx_export_at_depth_runs_the_kept_layers(tmp_path):
    from speechbrain_tinyconf.deploy.export import export_transducer
    from speechbrain_tinyconf.deploy.load import load_transducer
    from speechbrain_tinyconf.deploy.onnx_runtime import ort_session

    mods = load_transducer(TINY, seed=3, depth=2)
    assert mods.depth == 2 and len(mods.encoder.layers) == 4
    result = export_transducer(mods, tmp_path / "onnx", chunk_frames=(4,), left_chunks=2)
    config = json.loads((tmp_path / "onnx" / "onnx_config.json").read_text())
    assert (config["encoder_depth"], config["num_encoder_layers"], config["streaming"]["4"]["num_layers"]) == (2, 4, 2)
    feats = torch.randn(1, 120, 80)
    session = ort_session(result.files["encoder"])
    enc, _ = session.run(None, {"feats": feats.numpy(), "feats_lens": np.ones(1, dtype=np.float32)})
    with torch.no_grad():
        ref = mods.proj_enc(mods.enc(mods.CNN(mods.normalize(feats, torch.ones(1))), torch.ones(1), pad_idx=0))
        set_depth(mods.Transformer, 4)
        full = mods.proj_enc(mods.enc(mods.CNN(mods.normalize(feats, torch.ones(1))), torch.ones(1), pad_idx=0))
    scale = float(ref.abs().max())
    assert np.abs(enc - ref.numpy()).max() <= 1e-4 * scale  # fp32 graph vs PyTorch: measured ~1e-6
    assert np.abs(enc - full.numpy()).max() > 1e-2 * scale  # and not the full-depth model


def test_onnx_export_cli_refuses_a_depth_the_model_lacks(tmp_path, capsys):
    from speechbrain_tinyconf.deploy.onnx_export import main

    assert main([str(TINY), str(tmp_path / "out"), "--depth", "9"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --depth 9:") and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_sherpa_streaming_export_at_depth_states_it_in_the_metadata(trained_sherpa_run, tmp_path):
    from speechbrain_tinyconf.deploy.load import load_transducer
    from speechbrain_tinyconf.deploy.sherpa_streaming import export_sherpa_streaming

    # The tiny model's width is too small to hide the front-end cache in the conv caches of 2 layers
    # (SherpaStreamingEncoder): a wider random model, with the trained run's tokenizer for tokens.txt.
    overrides = {"frontend": "kaldi", "predictor": "stateless", "emb_dim": 32, "d_model": 64}
    mods = load_transducer(TINY, overrides=overrides, seed=0, depth=2)
    mods.tokenizer_path = next((trained_sherpa_run / "tokenizer").glob("*.model"))
    files = export_sherpa_streaming(mods, tmp_path / "sherpa", chunk_frames=4, left_chunks=2)
    meta = {p.key: p.value for p in onnx.load(str(files["encoder"])).metadata_props}
    assert (meta["num_encoder_layers"], meta["encoder_depth"], meta["virtual_layers"]) == ("2", "2", "4")
    config = json.loads((tmp_path / "sherpa" / "onnx_config.json").read_text())
    assert (config["encoder_depth"], config["num_encoder_layers"]) == (2, 4)


def test_bench_table_plot_and_targets(trained_run, tmp_path):
    """bench/elastic_depth.py on the tiny trained run: one row per depth, MACs in proportion, the table
    and plot written; the targets are judged from the rows (met and missed both reachable)."""
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    import elastic_depth

    out = tmp_path / "bench"
    assert elastic_depth.main(["--model", f"plain={trained_run}", "--csv", str(trained_run / "splits" / "test.csv"),
                               "--depths", "2,4", "--out", str(out)]) == 0
    report = json.loads((out / "elastic_depth.json").read_text())
    rows = {r["depth"]: r for r in report["rows"]}
    assert set(rows) == {2, 4} and report["num_layers"] == 4 and report["utterances"] == 8
    assert rows[2]["macs_per_second"] < rows[4]["macs_per_second"] < 2 * rows[2]["macs_per_second"]
    assert rows[4]["words"] == rows[2]["words"] > 0
    assert (out / "elastic_depth.png").stat().st_size > 0
    assert "| plain | 4 |" in (out / "elastic_depth.md").read_text()

    def row(model, depth, wer):
        return {"model": model, "depth": depth, "wer": wer}

    met = elastic_depth.targets([row("plain", 8, 30), row("plain", 16, 10), row("elastic", 8, 13),
                                 row("elastic", 16, 10.5)], 16)
    assert any("5 points" in line and "met (+2.50; without it +20.00)" in line for line in met)
    assert any("within 1 point" in line and "met (+0.50)" in line for line in met)
    missed = elastic_depth.targets([row("plain", 8, 30), row("plain", 16, 10), row("elastic", 8, 19),
                                    row("elastic", 16, 12)], 16)
    assert sum("**missed**" in line for line in missed) == 2
    with pytest.raises(SystemExit, match="NAME=SOURCE"):
        elastic_depth.main(["--model", "nonsense", "--csv", str(trained_run / "splits" / "test.csv"), "--out", str(out)])
