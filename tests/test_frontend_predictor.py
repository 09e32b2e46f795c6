"""The sherpa-onnx-compatible recipe options: Kaldi fbank front-end and stateless predictor."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speechbrain_tinyconf.lobes.frontend import KaldiFbank
from speechbrain_tinyconf.lobes.predictor import StatelessPredictor, reset_word_starts

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "librispeech-sample" / "LibriSpeech"


def sherpa_fbank(wav: np.ndarray) -> np.ndarray:
    """kaldi-native-fbank with sherpa-onnx's feature settings (FeatureExtractorConfig defaults)."""
    knf = pytest.importorskip("kaldi_native_fbank")
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0
    opts.frame_opts.snip_edges = False
    opts.frame_opts.samp_freq = 16000
    opts.mel_opts.num_bins = 80
    opts.mel_opts.low_freq = 20
    opts.mel_opts.high_freq = -400
    fbank = knf.OnlineFbank(opts)
    fbank.accept_waveform(16000, wav.tolist())
    fbank.input_finished()
    return np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])


def test_kaldi_fbank_equals_what_sherpa_onnx_computes(tone_corpus):
    """Measured 2026-12-01: max |difference| 1.2e-4 on log-mel values up to ~16 (float32 rounding)."""
    files = sorted((tone_corpus / "test").rglob("*.flac"))[:2] + sorted(SAMPLE.rglob("*.flac"))[:2]
    for path in files:
        wav = sf.read(path, dtype="float32")[0]
        ours = KaldiFbank()(torch.from_numpy(wav)[None])[0].numpy()
        ref = sherpa_fbank(wav)
        assert ours.shape == ref.shape, path
        assert np.abs(ours - ref).max() < 1e-3, path
    # the settings matter: SpeechBrain's Fbank is another feature
    from speechbrain.lobes.features import Fbank

    sb = Fbank(n_mels=80)(torch.from_numpy(wav)[None])[0].numpy()
    assert sb.shape[0] != ref.shape[0] or np.abs(sb - ref).max() > 1.0


def test_stateless_predictor_has_no_state():
    emb = torch.randn(3, 4, 8)
    out = StatelessPredictor()(emb)
    assert torch.equal(out[:, 2], StatelessPredictor()(emb[:, 2:3])[:, 0])  # each token on its own
    assert not list(StatelessPredictor().parameters())


def test_reset_word_starts_blanks_only_word_starts_at_the_rate_asked():
    """predictor_reset_prob: the context of a word-initial target becomes blank with probability p; the
    context of a word-internal piece and the padding never change. 20,000 word starts at p = 0.3: the
    binomial standard deviation of the rate is 0.0032, the bound is 5 of them."""
    torch.manual_seed(0)
    word_start = torch.tensor([False, True, False, True, False])  # ids 1 and 3 begin words
    targets = torch.randint(1, 5, (200, 201))
    targets[:, -1] = 0  # padding
    tokens_bos = torch.cat([torch.zeros(200, 1, dtype=torch.long), targets], dim=1)
    out = reset_word_starts(tokens_bos, word_start, prob=0.3)
    starts = word_start[targets]
    changed = out[:, :-1] != tokens_bos[:, :-1]
    assert not changed[~starts].any()  # word-internal contexts kept (padding included)
    assert (out[:, :-1][changed] == 0).all() and torch.equal(out[:, -1], tokens_bos[:, -1])
    rate = (out[:, :-1][starts] == 0).float().mean().item()  # contexts that were blank already count too
    already = (tokens_bos[:, :-1][starts] == 0).float().mean().item()
    assert abs(rate - (already + (1 - already) * 0.3)) < 5 * 0.0032, rate


def test_predictor_reset_needs_the_stateless_predictor(tmp_path):
    """A GRU keeps its state through a blank input, so the option would not be the keyword spotter's reset."""
    import subprocess
    import sys

    (tmp_path / "data").mkdir()
    proc = subprocess.run([sys.executable, str(ROOT / "recipes" / "LibriSpeech" / "train.py"),
                           str(ROOT / "tests" / "configs" / "tiny.yaml"), "--data_folder", str(tmp_path / "data"),
                           "--output_folder", str(tmp_path / "run"), "--device", "cpu", "--predictor", "gru",
                           "--predictor_reset_prob", "0.3"], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == ("error: predictor_reset_prob: 0.3: needs predictor: stateless "
                                                     "(a 'gru' predictor keeps the context a blank input would reset)")
    assert not (tmp_path / "run" / "hyperparams.yaml").exists()  # refused before the run is written


@pytest.mark.slow
def test_predictor_reset_trains_through_the_recipe(tone_corpus, tmp_path, monkeypatch):
    """The option end to end: main builds the word-start table from the run's own tokenizer, and the
    training step runs with the predictor inputs reset (p = 1: every word start's context is blank)."""
    import subprocess
    import sys

    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, str(ROOT / "recipes" / "LibriSpeech" / "train.py"),
                           str(ROOT / "tests" / "configs" / "tiny.yaml"), "--data_folder", str(tone_corpus),
                           "--output_folder", str(out), "--device", "cpu", "--predictor", "stateless",
                           "--emb_dim", "32", "--predictor_reset_prob", "1.0", "--number_of_epochs", "1",
                           "--optimizer_step_limit", "2"], capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "predictor_reset_prob: 1.0" in (out / "hyperparams.yaml").read_text()
    assert (out / "wer_test.txt").is_file()


@pytest.mark.parametrize("value", ["1.5", "-0.1"])
def test_predictor_reset_prob_is_a_probability(tmp_path, value):
    import subprocess
    import sys

    (tmp_path / "data").mkdir()
    proc = subprocess.run([sys.executable, str(ROOT / "recipes" / "LibriSpeech" / "train.py"),
                           str(ROOT / "tests" / "configs" / "tiny.yaml"), "--data_folder", str(tmp_path / "data"),
                           "--output_folder", str(tmp_path / "run"), "--device", "cpu", "--predictor", "stateless",
                           "--emb_dim", "32", "--predictor_reset_prob", value], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == f"error: predictor_reset_prob: {float(value)}: a probability, from 0 (off) to 1"


def test_recipe_options_sizes():
    from speechbrain_tinyconf.lobes.lowrank import svd_init_skipped
    from speechbrain_tinyconf.recipe.hparams import load_detached
    from speechbrain_tinyconf.lobes.size import size_report

    with svd_init_skipped():  # sizes only: the low-rank factors' initial values do not matter (144 SVDs a build)
        gru = load_detached(ROOT / "hparams" / "shared_lowrank_5M.yaml")
        stateless = load_detached(ROOT / "hparams" / "shared_lowrank_5M.yaml",
                                  {"frontend": "kaldi", "predictor": "stateless", "emb_dim": 256})
        assert isinstance(stateless["compute_features"], KaldiFbank)
        freed = size_report(gru["model"]).unique_params - size_report(stateless["model"]).unique_params
        assert freed == 3 * (128 * 256 + 256 * 256 + 2 * 256) - 128 * 256  # the GRU, less the wider embedding
        with pytest.raises(ValueError, match="emb_dim .* must equal dec_dim"):
            load_detached(ROOT / "hparams" / "shared_lowrank_5M.yaml", {"predictor": "stateless"})


@pytest.mark.slow
def test_sherpa_options_train_and_decode_with_speechbrain_searchers(trained_sherpa_run, learnable_corpus, tmp_path,
                                                                     capsys, monkeypatch):
    """Trained with both options, the model transcribes with SpeechBrain's greedy and beam searchers,
    EncoderDecoderASR and StreamingASR (through the exported folder), unchanged."""
    from speechbrain.decoders.transducer import TransducerBeamSearcher
    from speechbrain.inference.ASR import StreamingASR
    from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

    from speechbrain_tinyconf.pretrained.export import export
    from speechbrain_tinyconf.deploy.load import load_transducer

    wer = float((trained_sherpa_run / "wer_test.txt").read_text().split()[1])
    assert wer < 50, f"test WER {wer}: the options must still learn the tone corpus (measured 34.6 %)"
    mods = load_transducer(trained_sherpa_run)
    assert isinstance(mods.compute_features, KaldiFbank) and isinstance(mods.dec, StatelessPredictor)
    beam = TransducerBeamSearcher(decode_network_lst=[mods.emb, mods.dec, mods.proj_dec], tjoint=mods.Tjoint,
                                  classifier_network=[mods.transducer_lin], blank_id=0, beam_size=4, nbest=1)
    path = sorted((learnable_corpus / "test").rglob("*.flac"))[0]
    wav = torch.from_numpy(sf.read(path, dtype="float32")[0])
    greedy_tokens = mods.transcribe(wav)
    with torch.no_grad():
        beam_tokens = beam(mods.encode(wav[None]))[0][0]
    assert greedy_tokens and beam_tokens
    model_dir = export(trained_sherpa_run, tmp_path / "model")
    from speechbrain_tinyconf.pretrained.transcribe import main as transcribe_main  # tinyconf-transcribe, in-process

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    capsys.readouterr()
    status = transcribe_main([str(model_dir), str(path)])
    printed = capsys.readouterr()
    assert status == 0, printed.err[-2000:]
    reference = dict(line.split(" ", 1) for line in (path.parent / "7-11.trans.txt").read_text().splitlines())[path.stem]
    text = printed.out.split("\t")[1].strip()
    assert text
    streaming = StreamingASR.from_hparams(source=str(model_dir), savedir=None)
    chunks = streaming.transcribe_file_streaming(str(path), DynChunkTrainConfig(8, 2), use_torchaudio_streaming=False)
    streamed = "".join(chunks).strip()
    assert streamed  # streaming decodes with the stateless predictor too
    assert len(set(text.split()) & set(reference.split())) >= 1
