"""The shipped pretrained model (pretrained/*/): loads offline and transcribes real recordings as its card says."""

import re
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SO762 = ROOT.parent / "shared" / "real-speech" / "speechocean762"
MODELS = sorted(p.parent for p in ROOT.glob("pretrained/*/tinyconf-export.json"))

pytestmark = pytest.mark.skipif(not MODELS, reason="no model folder under pretrained/")


@pytest.fixture(params=MODELS, ids=[m.name for m in MODELS])
def model(request, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network access attempted while loading a shipped model")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    return request.param


def card_example(model: Path):
    card = (model / "README.md").read_text(encoding="utf-8")
    original = re.search(r"`(example\.\w+)` \(a copy of `([^`]+)`\)", card)
    text = re.search(r"Transcription: `(.*)`", card).group(1)
    return model / original.group(1), original.group(2), text


def test_card_and_size(model):
    card = (model / "README.md").read_text(encoding="utf-8")
    assert "## Results" in card and "## Training data" in card and "## Limitations" in card
    assert sum(p.stat().st_size for p in model.iterdir()) <= 25e6


def test_shipped_example_transcribes_as_the_card_says(model):
    from speechbrain.inference.ASR import EncoderDecoderASR

    example, _, text = card_example(model)
    asr = EncoderDecoderASR.from_hparams(source=str(model), savedir=None)
    assert asr.transcribe_file(str(example)) == text


@pytest.mark.skipif(not SO762.is_dir(), reason=f"speechocean762 absent ({SO762}): only the shipped copy was checked")
def test_original_recording_in_shared_transcribes_as_the_card_says(model):
    from speechbrain_tinyconf.pretrained.transcribe import load_audio, load_model, transcribe_waveform

    _, name, text = card_example(model)
    original = next(SO762.glob(f"audio/*/{name}"))
    asr = load_model(model)
    assert transcribe_waveform(asr, load_audio(asr, original)) == text
