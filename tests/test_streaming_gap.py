"""bench/streaming_gap.py: full context and chunked attention decoded by the same greedy search."""

import re

import pytest

from conftest import bench_script


def streaming_gap():
    return bench_script("streaming_gap")


@pytest.mark.slow
def test_a_chunk_longer_than_every_utterance_is_full_context(trained_sherpa_run, learnable_corpus, tmp_path):
    """One chunk of 1,000 frames (40 s) holds each whole test utterance: its WER is the full-context WER;
    320 ms chunks are decoded too (a row each, in the order asked)."""
    out = tmp_path / "gap"
    assert streaming_gap().main([str(trained_sherpa_run), str(learnable_corpus), "--split", "test",
                                 "--configs", "full", "1000x1", "8x2", "--out", str(out)]) == 0
    rows = re.findall(r"^\| (\S+) \| [^|]+ \| ([\d.]+) \|$", (out / "streaming_gap.md").read_text(), re.M)
    assert [r[0] for r in rows] == ["full", "1000x1", "8x2"]
    assert rows[0][1] == rows[1][1]


def test_a_bad_config_is_one_line(capsys):
    assert streaming_gap().main(["model", "corpus", "--configs", "full", "8by4", "--out", "x"]) == 1
    assert capsys.readouterr().err.strip() == ("error: --configs '8by4': expected 'full' or CxL with positive "
                                               "integers (e.g. 8x4)")


@pytest.mark.slow
def test_the_chunked_forward_is_what_the_streaming_encoder_computes(trained_sherpa_run):
    """The bench's whole-utterance chunked forward equals SpeechBrain's encode_streaming fed chunk by chunk
    (with its caches), and differs from full context: the chunk configuration is what is decoded."""
    import torch
    from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

    from speechbrain_tinyconf.deploy.load import load_transducer

    mods = load_transducer(trained_sherpa_run)
    torch.manual_seed(0)
    wav = torch.randn(32000) * 0.1
    chunk, left = 8, 2
    with torch.no_grad():
        x = mods.CNN(mods.normalize(mods.compute_features(wav[None]), torch.ones(1)))
        chunks = x.shape[1] // chunk
        ctx = mods.Transformer.make_streaming_context(DynChunkTrainConfig(chunk, left))
        streamed = torch.cat([mods.proj_enc(mods.Transformer.encode_streaming(x[:, k * chunk: (k + 1) * chunk], ctx))
                              for k in range(chunks)], dim=1)
    assert chunks >= 4  # more chunks than the left context holds: the context limit is exercised
    chunked = streaming_gap().encode(mods, wav, (chunk, left))[:, : chunks * chunk]
    full = streaming_gap().encode(mods, wav, None)[:, : chunks * chunk]
    scale = streamed.abs().max()
    assert (chunked - streamed).abs().max() <= 1e-5 * scale  # float32 rounding of two summation orders
    assert (full - streamed).abs().max() > 1e-2 * scale
