#!/usr/bin/env python3
"""WER of a model deployed with sherpa-onnx (fp32, int8 and int4) on a Kaldi data dir, scored like every
other real-speech row (``bench/real_speech.py``).

    python bench/sherpa_onnx_wer.py pretrained/ ../shared/real-speech/speechocean762 \\
        --split test --out results/sherpa_onnx_pretrained

Exports SOURCE (a run folder of the recipe or a pretrained folder) with
``speechbrain_tinyconf.deploy.onnx_export --format sherpa-onnx --int8 --int4`` into ``OUT/sherpa-onnx``, decodes
every utterance of ``CORPUS/SPLIT`` with ``sherpa_onnx.OfflineRecognizer`` (greedy search, one
thread) for each precision, and writes ``OUT/wer_<split>_<precision>.txt`` (SpeechBrain
alignments), ``OUT/summary_<split>.json`` (WER by children/adults and on-disk model sizes).
Needs the ``sherpa`` and ``export`` extras.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, Optional, Sequence

import soundfile as sf
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_speech import read_data_dir, score  # noqa: E402

PRECISIONS = ("fp32", "int8", "int4")


def decode_all(model_dir: Path, items, precision: str) -> Dict[str, str]:
    """``{utterance id: upper-case hypothesis}`` from sherpa-onnx's offline greedy search."""
    import sherpa_onnx

    from speechbrain_tinyconf.deploy.sherpa import sherpa_files

    recognizer = sherpa_onnx.OfflineRecognizer.from_transducer(
        *sherpa_files(model_dir, precision), num_threads=1, sample_rate=16000, feature_dim=80,
        decoding_method="greedy_search")
    hyps = {}
    for utt, path, _ in tqdm(items, desc=f"sherpa-onnx {precision}"):
        wav, rate = sf.read(path, dtype="float32", always_2d=True)
        stream = recognizer.create_stream()
        stream.accept_waveform(rate, wav[:, 0])
        recognizer.decode_stream(stream)
        hyps[utt] = stream.result.text.strip().upper()
    return hyps


def decode_all_streaming(model_dir: Path, items, precision: str, chunk_frames: int) -> Dict[str, str]:
    """The same with ``sherpa_onnx.OnlineRecognizer`` on a streaming export: audio fed at once, then one
    chunk and 0.3 s of silence, so that the last speech frames fall in a complete chunk (OnlineRecognizer
    decodes complete chunks only), as a live stream's end would be."""
    import numpy as np
    import sherpa_onnx

    from speechbrain_tinyconf.deploy.sherpa import sherpa_files

    encoder, decoder, joiner, tokens = sherpa_files(model_dir, precision)
    recognizer = sherpa_onnx.OnlineRecognizer.from_transducer(
        tokens, encoder, decoder, joiner, num_threads=1, sample_rate=16000, feature_dim=80,
        decoding_method="greedy_search")
    hyps = {}
    for utt, path, _ in tqdm(items, desc=f"sherpa-onnx streaming {precision}"):
        wav, rate = sf.read(path, dtype="float32", always_2d=True)
        stream = recognizer.create_stream()
        stream.accept_waveform(rate, wav[:, 0])
        stream.accept_waveform(rate, np.zeros(int((0.04 * chunk_frames + 0.3) * rate), np.float32))
        stream.input_finished()
        while recognizer.is_ready(stream):
            recognizer.decode_stream(stream)
        hyps[utt] = recognizer.get_result(stream).strip().upper()
    return hyps


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="run folder or pretrained folder (frontend: kaldi, predictor: stateless)")
    parser.add_argument("corpus", type=Path, help="folder of Kaldi data dirs (wav.scp paths relative to it)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--precisions", default=",".join(PRECISIONS),
                        help="offline precisions to decode, comma-separated (default fp32,int8,int4; '' for none)")
    parser.add_argument("--streaming-chunk-frames", type=int, default=None,
                        help="also decode a streaming export with OnlineRecognizer: chunk in encoder frames of 40 ms "
                             "(8 = 320 ms); fp32 and int8")
    parser.add_argument("--streaming-left-chunks", type=int, default=4,
                        help="attention left context of the streaming export, in chunks (default 4)")
    args = parser.parse_args(argv)
    precisions = [p for p in args.precisions.split(",") if p]
    if set(precisions) - set(PRECISIONS):
        print(f"error: --precisions={args.precisions}: expected a comma-separated subset of {','.join(PRECISIONS)}",
              file=sys.stderr)
        return 1
    if args.streaming_chunk_frames is not None and args.streaming_chunk_frames < 1:
        print(f"error: --streaming-chunk-frames={args.streaming_chunk_frames}: must be a positive integer",
              file=sys.stderr)
        return 1
    if args.streaming_left_chunks < 1:
        print(f"error: --streaming-left-chunks={args.streaming_left_chunks}: must be a positive integer "
              "(sherpa-onnx keeps a fixed-size attention cache)", file=sys.stderr)
        return 1
    if not (args.corpus / args.split / "wav.scp").is_file():  # before importing torch: fails in a second
        print(f"error: {args.corpus / args.split / 'wav.scp'} not found", file=sys.stderr)
        return 1
    from speechbrain_tinyconf.deploy.load import load_transducer
    from speechbrain_tinyconf.deploy.sherpa import SherpaExportError, export_sherpa_onnx

    model_dir = args.out / "sherpa-onnx"
    try:
        files = export_sherpa_onnx(load_transducer(args.source), model_dir, int8=True, int4="int4" in precisions)
    except (SherpaExportError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    items = read_data_dir(args.corpus, args.split)
    summary: Dict[str, Dict] = {"source": str(args.source), "split": args.split}
    for precision in precisions:
        hyps = decode_all(model_dir, items, precision)
        summary[precision] = score(items, hyps, args.out / f"wer_{args.split}_{precision}.txt", args.corpus / args.split)
        suffix = "" if precision == "fp32" else f".{precision}"
        summary[precision]["model_bytes"] = sum(files[f"{n}{suffix}"].stat().st_size
                                                for n in ("encoder", "decoder", "joiner"))
    if args.streaming_chunk_frames:
        from speechbrain_tinyconf.deploy.sherpa_streaming import export_sherpa_streaming

        chunk, left = args.streaming_chunk_frames, args.streaming_left_chunks
        tag = f"{chunk * 40}ms" + ("" if left == 4 else f"-left{left}")  # 4: the names of earlier reports
        streaming_dir = args.out / f"sherpa-onnx-streaming-{tag}"
        streaming_files = export_sherpa_streaming(load_transducer(args.source), streaming_dir, chunk_frames=chunk,
                                                  left_chunks=left, int8=True)
        for precision in ("fp32", "int8"):
            name = f"streaming {chunk * 40} ms {precision}" + ("" if left == 4 else f", {left} left chunks")
            hyps = decode_all_streaming(streaming_dir, items, precision, chunk)
            wer_file = args.out / f"wer_{args.split}_streaming{tag.replace('-', '_')}_{precision}.txt"
            summary[name] = score(items, hyps, wer_file, args.corpus / args.split)
            suffix = "" if precision == "fp32" else f".{precision}"
            summary[name]["model_bytes"] = sum(streaming_files[f"{n}{suffix}"].stat().st_size
                                               for n in ("encoder", "decoder", "joiner"))
    (args.out / f"summary_{args.split}.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({p: summary[p]["all"] for p in summary if isinstance(summary[p], dict)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
