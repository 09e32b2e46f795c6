"""stream_chunks: the one waveform chunking of streaming decoding (transcribe, OrtStream.split, the benchmark)."""

import numpy as np
import pytest
import torch
from speechbrain.lobes.features import StreamingFeatureWrapper
from speechbrain.utils.filter_analysis import FilterProperties
from speechbrain.utils.streaming import split_fixed_chunks

from speechbrain_tinyconf.deploy.onnx_runtime import stream_chunks

CHUNK = 7 * 640 // 4  # samples per chunk of a 4x-subsampling front-end at 10 ms hops (SpeechBrain's (stride - 1) * C)


@pytest.mark.parametrize("window", [401, 1041, 4001])  # front-end padding below, about and above one chunk
@pytest.mark.parametrize("samples", [1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK, 5 * CHUNK + 13])
def test_chunks_are_speechbrains(window, samples):
    wrapper = StreamingFeatureWrapper(torch.nn.Identity(), FilterProperties(window_size=window, stride=640))
    pad = wrapper.get_required_padding()
    wav = torch.randn(samples)
    # StreamingASR.transcribe_file_streaming: fixed chunks (the last one shorter), then the final zero chunks
    reference = list(split_fixed_chunks(wav[None], CHUNK))
    reference += [torch.zeros(1, CHUNK)] * wrapper.get_recommended_final_chunk_count(CHUNK)
    ours = stream_chunks(wav.numpy(), CHUNK, pad, pad_last=False)
    assert len(ours) == len(reference)
    assert all(np.array_equal(a, b[0].numpy()) for a, b in zip(ours, reference))
    # static shapes (onnxruntime steps, the benchmark): the same chunks, the last one zero-padded to full size
    padded = stream_chunks(wav.numpy(), CHUNK, pad)
    assert [c.shape for c in padded] == [(CHUNK,)] * len(reference)
    flat = np.concatenate([c[0].numpy() for c in reference])
    assert np.array_equal(np.concatenate(padded), np.pad(flat, (0, len(reference) * CHUNK - flat.size)))
    assert all(c.dtype == np.float32 for c in padded)
