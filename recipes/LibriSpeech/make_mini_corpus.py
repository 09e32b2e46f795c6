#!/usr/bin/env python3
"""Generate a small synthetic speech corpus in the genuine LibriSpeech layout.

The corpus is meant for smoke-testing / demoing tiny ASR models on CPU: the
text comes from a small self-written template grammar (``mini_corpus_text.py``,
~590 words, 4-14 words per sentence) and the audio is synthesised with the
``espeak-ng`` and ``flite`` TTS engines using many "speakers" (fixed voice,
variant, speaking rate and pitch combinations).

Usage::

    python recipes/LibriSpeech/make_mini_corpus.py OUT_DIR \\
        --n-train 6000 --n-dev 200 --n-test 200 --seed 0 --jobs 2

Output (``data_folder = OUT_DIR/LibriSpeech`` for ``librispeech_prepare``)::

    OUT_DIR/LibriSpeech/{train,dev,test}/<spk>/<chapter>/<spk>-<chapter>-<utt:04d>.flac
    OUT_DIR/LibriSpeech/{train,dev,test}/<spk>/<chapter>/<spk>-<chapter>.trans.txt
    OUT_DIR/LibriSpeech/SPEAKERS.TXT        (LibriSpeech-style speaker table)
    OUT_DIR/LibriSpeech/corpus_stats.json   (sizes, hours, vocabulary, coverage)

Audio is 16 kHz mono 16-bit FLAC, leading/trailing silence trimmed to ~0.1 s,
peak normalised to a per-speaker level.

Speakers: ``--n-speakers`` training speakers (~1/4 flite, ~3/4 espeak-ng).
Dev and test reuse the training speakers (with disjoint sentences) and in
addition each has ``--heldout-speakers`` speakers of its own that never occur
in training (unseen rate/pitch/variant combination; the underlying base voice
may be seen); ``--heldout-share`` of the dev/test utterances come from them.

Behaviour:

* deterministic: the same options give byte-identical transcripts and the
  same audio (the TTS engines, the resampler and the FLAC writer are
  deterministic for a given installation);
* idempotent: if ``corpus_stats.json`` was written with the same options and
  all files are there, nothing is done; an interrupted run resumes, because
  existing audio files are skipped (they are written atomically);
* if exactly one TTS engine is missing and ``--engines auto`` (default), the
  corpus is generated with the other engine only and a warning is printed
  (the engines used are recorded in the options, so such a corpus is not
  mistaken for a full one); if both are missing, or an engine requested with
  ``--engines`` is missing, it exits with an error naming the binary and the
  install command (``bash scripts/install_tts.sh``).

Modules beside this script: ``mini_corpus_text.py`` (the sentences), ``mini_corpus_plan.py``
(speakers, and who says what), ``mini_corpus_audio.py`` (synthesis, trimming, resampling).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict

import soundfile as sf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mini_corpus_text  # noqa: E402
from mini_corpus_audio import SAMPLE_RATE, synthesize_all  # noqa: E402
from mini_corpus_plan import SPLITS, plan_corpus, utt_relpath  # noqa: E402

FORMAT_VERSION = 1
ENGINES = ("espeak-ng", "flite")
INSTALL_HINT = (
    "install it with `bash scripts/install_tts.sh` "
    "(or: apt-get update && apt-get install -y espeak-ng flite sox)"
)


def resolve_engines(requested):
    """Return the list of engines to use, or raise SystemExit with a hint."""
    if requested == "auto":
        wanted, strict = list(ENGINES), False
    else:
        wanted = [e.strip() for e in requested.split(",") if e.strip()]
        bad = [e for e in wanted if e not in ENGINES]
        if bad or not wanted:
            raise SystemExit(f"error: unknown engine(s) {bad}; choose from {ENGINES}")
        strict = True
    missing = [e for e in wanted if shutil.which(e) is None]
    available = [e for e in wanted if e not in missing]
    if missing and (strict or not available):
        raise SystemExit(
            "error: TTS binary not found on PATH: " + ", ".join(missing)
            + f"; {INSTALL_HINT}")
    for e in missing:
        print(f"WARNING: {e} not found on PATH; falling back to "
              f"{'/'.join(available)} voices only. To get the full voice set, "
              f"{INSTALL_HINT}", file=sys.stderr)
    return available


def engine_versions(engines):
    out = {}
    for e in engines:
        try:
            proc = subprocess.run([e, "--version"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=30)
            lines = [ln.strip() for ln in proc.stdout.decode(errors="replace").splitlines() if ln.strip()]
            tagged = [ln for ln in lines if "version" in ln.lower() or "text-to-speech" in ln.lower()]
            out[e] = (tagged or lines or ["unknown"])[0]
        except Exception as exc:  # pragma: no cover - informative only
            out[e] = f"unknown ({exc})"
    return out


def options_dict(args, engines):
    return {
        "format_version": FORMAT_VERSION,
        "n_train": args.n_train,
        "n_dev": args.n_dev,
        "n_test": args.n_test,
        "seed": args.seed,
        "n_speakers": args.n_speakers,
        "heldout_speakers": args.heldout_speakers,
        "heldout_share": args.heldout_share,
        "utts_per_chapter": args.utts_per_chapter,
        "engines": engines,
        "sample_rate": SAMPLE_RATE,
    }


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_text_atomic(path, text):
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except OSError:
        pass
    tmp = path + ".part"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _count_flac(root):
    counts = {}
    for split in SPLITS:
        n = 0
        for _, _, files in os.walk(os.path.join(root, split)):
            n += sum(f.endswith(".flac") for f in files)
        counts[split] = n
    return counts


def compute_stats(options, texts, roles, utts, n_samples, versions):
    train_vocab = mini_corpus_text.vocabulary(texts["train"])
    splits = {}
    for split in SPLITS:
        su = [u for u in utts if u["split"] == split]
        secs = [n_samples[u["utt_id"]] / SAMPLE_RATE for u in su]
        vocab = mini_corpus_text.vocabulary(texts[split])
        tokens = sum(vocab.values())
        seen_tokens = sum(c for w, c in vocab.items() if w in train_vocab)
        info = {
            "utterances": len(su),
            "hours": round(sum(secs) / 3600, 4),
            "seconds": round(sum(secs), 2),
            "mean_utterance_seconds": round(sum(secs) / len(secs), 3) if secs else 0.0,
            "min_utterance_seconds": round(min(secs), 3) if secs else 0.0,
            "max_utterance_seconds": round(max(secs), 3) if secs else 0.0,
            "speakers": len({u["speaker"]["id"] for u in su}),
            "heldout_speakers": sorted({u["speaker"]["id"] for u in su
                                        if u["speaker"]["role"] != "train"}),
            "chapters": len({u["chapter"] for u in su}),
            "words": tokens,
            "vocabulary_size": len(vocab),
        }
        if split != "train":
            info["train_word_coverage_pct"] = round(100.0 * seen_tokens / tokens, 3) if tokens else 100.0
            info["train_vocabulary_coverage_pct"] = (
                round(100.0 * sum(w in train_vocab for w in vocab) / len(vocab), 3) if vocab else 100.0)
            info["oov_words"] = sorted(w for w in vocab if w not in train_vocab)
        splits[split] = info
    spk_utts = Counter((u["speaker"]["id"], u["split"]) for u in utts)
    speakers = {}
    for role in ("train", "dev", "test"):
        for spk in roles[role]:
            d = {k: v for k, v in spk.items() if k != "id"}
            d["utterances"] = {s: spk_utts[(spk["id"], s)] for s in SPLITS if spk_utts[(spk["id"], s)]}
            speakers[str(spk["id"])] = d
    all_vocab = set(train_vocab)
    for s in ("dev", "test"):
        all_vocab |= set(mini_corpus_text.vocabulary(texts[s]))
    return {
        "generator": "recipes/LibriSpeech/make_mini_corpus.py",
        "options": options,
        "engine_versions": versions,
        "splits": splits,
        "total_hours": round(sum(s["hours"] for s in splits.values()), 4),
        "vocabulary_size": len(all_vocab),
        "speakers": speakers,
    }


def write_speakers_txt(path, roles, utts, n_samples):
    minutes = Counter()
    subset = {}
    for u in utts:
        sid = u["speaker"]["id"]
        minutes[sid] += n_samples[u["utt_id"]] / SAMPLE_RATE / 60
        subset.setdefault(sid, set()).add(u["split"])
    lines = [
        "; Synthetic speakers of the mini LibriSpeech corpus (make_mini_corpus.py)",
        ";ID  |SEX| SUBSET           |MINUTES| NAME",
    ]
    for role in ("train", "dev", "test"):
        for spk in roles[role]:
            sid = spk["id"]
            if sid not in minutes:
                continue
            sub = ",".join(s for s in SPLITS if s in subset[sid])
            lines.append(f"{sid:<5}| {spk['sex']} | {sub:<17}| {minutes[sid]:5.2f} | {spk['name']}")
    _write_text_atomic(path, "\n".join(lines) + "\n")


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Generate a synthetic TTS speech corpus in LibriSpeech layout.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("out_dir", help="output directory (the corpus goes to OUT_DIR/LibriSpeech)")
    p.add_argument("--n-train", type=int, default=6000, help="training utterances")
    p.add_argument("--n-dev", type=int, default=200, help="dev utterances")
    p.add_argument("--n-test", type=int, default=200, help="test utterances")
    p.add_argument("--seed", type=int, default=0, help="random seed (text, speakers, assignment)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel synthesis processes")
    p.add_argument("--n-speakers", type=int, default=40, help="training speakers (also used in dev/test)")
    p.add_argument("--heldout-speakers", type=int, default=2,
                   help="extra speakers only in dev (and, different ones, only in test)")
    p.add_argument("--heldout-share", type=float, default=0.25,
                   help="fraction of dev/test utterances spoken by the held-out speakers")
    p.add_argument("--utts-per-chapter", type=int, default=50, help="max utterances per chapter")
    p.add_argument("--engines", default="auto",
                   help="'auto' (all available, warn on missing) or a comma list of "
                        "espeak-ng,flite (all required)")
    p.add_argument("--force", action="store_true",
                   help="delete a corpus generated with different options and regenerate")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    for name in ("n_train", "n_dev", "n_test"):
        if getattr(args, name) < 0:
            p.error(f"--{name.replace('_', '-')} must be >= 0")
    if args.n_speakers < 1 or args.heldout_speakers < 0 or args.utts_per_chapter < 1 or args.jobs < 1:
        p.error("--n-speakers, --utts-per-chapter and --jobs must be >= 1, --heldout-speakers >= 0")
    if not 0.0 <= args.heldout_share <= 1.0:
        p.error("--heldout-share must be in [0, 1]")
    return args


def main(argv=None):
    args = parse_args(argv)
    engines = resolve_engines(args.engines)
    options = options_dict(args, engines)
    root = os.path.join(os.path.abspath(args.out_dir), "LibriSpeech")
    stats_path = os.path.join(root, "corpus_stats.json")
    marker_path = os.path.join(root, ".mini_corpus_options.json")

    old_stats = _read_json(stats_path)
    if old_stats is not None and old_stats.get("options") == options:
        expected = {s: old_stats["splits"][s]["utterances"] for s in SPLITS}
        if _count_flac(root) == expected:
            print(f"{root} is up to date (same options); nothing to do.")
            return old_stats
    old_opts = (old_stats or {}).get("options") or _read_json(marker_path)
    if old_opts is not None and old_opts != options:
        if not args.force:
            diff = {k: (old_opts.get(k), v) for k, v in options.items() if old_opts.get(k) != v}
            raise SystemExit(
                f"error: {root} holds a corpus generated with other options "
                f"(old, new): {diff}. Use --force to delete it and regenerate, "
                f"or choose another OUT_DIR.")
        print(f"--force: removing the previous corpus in {root}")
        for name in SPLITS:
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        for name in ("corpus_stats.json", "SPEAKERS.TXT", ".mini_corpus_options.json"):
            if os.path.exists(os.path.join(root, name)):
                os.remove(os.path.join(root, name))
    os.makedirs(root, exist_ok=True)
    # Leftovers of an interrupted run (files are written as *.part, then renamed).
    for split in SPLITS:
        for dirpath, _, files in os.walk(os.path.join(root, split)):
            for f in files:
                if f.endswith(".part"):
                    os.remove(os.path.join(dirpath, f))
    _write_text_atomic(marker_path, json.dumps(options, indent=2, sort_keys=True) + "\n")

    t0 = time.time()
    texts, roles, utts = plan_corpus(args, engines)

    # Transcripts (cheap, always (re)written when different).
    chapters = defaultdict(list)
    for u in utts:
        chapters[os.path.dirname(utt_relpath(u))].append(u)
    for rel_dir, cu in chapters.items():
        os.makedirs(os.path.join(root, rel_dir), exist_ok=True)
        spk, chap = cu[0]["speaker"]["id"], cu[0]["chapter"]
        text = "".join(f"{u['utt_id']} {u['text']}\n" for u in cu)
        _write_text_atomic(os.path.join(root, rel_dir, f"{spk}-{chap}.trans.txt"), text)

    # Audio.
    n_samples = {}
    todo = []
    path_to_uid = {}
    for u in utts:
        path = os.path.join(root, utt_relpath(u))
        path_to_uid[path] = u["utt_id"]
        if os.path.exists(path):
            n_samples[u["utt_id"]] = sf.info(path).frames
        else:
            todo.append((path, u["speaker"], u["text"]))
    print(f"{len(utts)} utterances planned, {len(utts) - len(todo)} already present, "
          f"synthesising {len(todo)} with {args.jobs} job(s) using {', '.join(engines)}")
    t_syn = time.time()
    for path, n in synthesize_all(todo, args.jobs, args.quiet).items():
        n_samples[path_to_uid[path]] = n
    syn_secs = time.time() - t_syn
    if todo:
        new_audio = sum(n_samples[path_to_uid[p]] for p, _, _ in todo) / SAMPLE_RATE
        print(f"synthesised {len(todo)} utterances ({new_audio / 3600:.3f} h audio) in "
              f"{syn_secs:.1f} s: {len(todo) / max(syn_secs, 1e-9):.1f} utt/s, "
              f"{new_audio / 3600 / max(syn_secs / 60, 1e-9):.3f} audio-hours per minute")

    stats = compute_stats(options, texts, roles, utts, n_samples, engine_versions(engines))
    write_speakers_txt(os.path.join(root, "SPEAKERS.TXT"), roles, utts, n_samples)
    _write_text_atomic(stats_path, json.dumps(stats, indent=2, sort_keys=True) + "\n")
    for split in SPLITS:
        s = stats["splits"][split]
        cov = f", train word coverage {s['train_word_coverage_pct']:.2f}%" if split != "train" else ""
        print(f"{split:5s}: {s['utterances']} utts, {s['hours']:.3f} h, {s['speakers']} speakers, "
              f"vocab {s['vocabulary_size']}{cov}")
    print(f"done in {time.time() - t0:.1f} s -> {root}")
    return stats


if __name__ == "__main__":
    main()
