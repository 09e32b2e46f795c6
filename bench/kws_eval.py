#!/usr/bin/env python3
"""Keyword spotting on a corpus split: detection rate and false alarms per hour of a streaming sherpa-onnx export.

    python bench/kws_eval.py MODEL_DIR CORPUS --split test --out DIR \\
        [--keywords-from train --num-keywords 10 | --keywords "ONE,TWO"] [--limit N] \\
        [--boost 1] [--threshold 0.25] [--threads 1] [--int8] [--trailing-blanks 1] [--tokenizer PATH]

``MODEL_DIR`` is a streaming sherpa-onnx export (``tinyconf-onnx-export ... --format sherpa-onnx --streaming``),
run by :class:`speechbrain_tinyconf.deploy.kws.KeywordSpotter` exactly as ``tinyconf-kws`` runs it (one
stream per utterance); ``CORPUS/SPLIT`` a Kaldi data dir (``text``, ``wav.scp``) or a LibriSpeech split
(``<spk>/<chapter>/*.trans.txt`` and the audio beside it, as the CPU demo's corpus is written).

The rule for the keywords, fixed before anything is decoded and blind to the evaluated audio: the
``--num-keywords`` most frequent words of ``CORPUS/<keywords-from>/text`` (default ``train``: never pick on
test) that are letters only (no contraction), at least 3 of them, are not in :data:`FUNCTION_WORDS`, and occur in the evaluated split's
transcripts at least once (else they have no positives); ties in alphabetical order. ``--keywords`` names
them instead (e.g. the digit words of speechocean762's digit strings).

* Positives: utterances whose transcript contains a keyword (as a word sequence). Each occurrence counts once;
  a Kaldi data dir has no word times, so the detections of keyword ``k`` in an utterance are matched to its
  occurrences there by count: detected = ``min(detections of k, occurrences of k)``.
  Detection rate = detected / occurrences.
* Negatives: utterances with no keyword. False alarms = the detections in them, per hour of their audio.
  Detections in positives that match no occurrence (another keyword, a repeat) are counted apart
  ("extra in positives"), in neither rate.

``--limit N`` keeps the first N positives and the first N negatives (utterance-id order): a quick end-to-end
check, not a measurement. Writes ``OUT/kws_eval.json`` (settings, keywords and their pieces, counts per
keyword, every detection) and ``OUT/kws_eval.md`` (the table). Needs the ``sherpa`` extra.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_speech import read_data_dir  # noqa: E402

SAMPLE_RATE = 16000
MIN_LETTERS = 3
# Words too short of meaning (or too frequent inside others) to be keywords; with MIN_LETTERS this keeps
# content words.
FUNCTION_WORDS = frozenset("""
    THE AND ARE WAS WERE HAS HAVE HAD FOR FROM WITH THIS THAT THESE THOSE THEY THEM THEIR THERE HERE WHAT WHEN
    WHERE WHICH WHO WHOM WHY HOW NOT BUT ALL ANY CAN COULD WILL WOULD SHALL SHOULD MAY MIGHT MUST YOU YOUR HIS
    HER SHE HIM ITS OUR OURS INTO ONTO OVER THAN THEN ALSO VERY JUST ONLY SOME SUCH DOES DID DONE BEEN BEING
""".split())


def count_phrase(words: Sequence[str], phrase: Sequence[str]) -> int:
    """Non-overlapping occurrences of the word sequence ``phrase`` in ``words``.

    >>> count_phrase("ONE TWO ONE TWO ONE".split(), ["ONE", "TWO"]), count_phrase(["ONE"], ["TWO"])
    (2, 0)
    """
    n, i, found = len(phrase), 0, 0
    while i + n <= len(words):
        if list(words[i: i + n]) == list(phrase):
            found, i = found + 1, i + n
        else:
            i += 1
    return found


def pick_keywords(rule_texts: Sequence[str], eval_texts: Sequence[str], count: int) -> List[str]:
    """The keyword rule (module docstring): most frequent qualifying words of ``rule_texts``, in ``eval_texts`` too.

    >>> pick_keywords(["THE CAT SAT", "THE CAT RAN", "A DOG RAN"], ["DOG RAN", "CAT"], 2)
    ['CAT', 'RAN']
    """
    counts = Counter(w for text in rule_texts for w in text.upper().split())
    present = {w for text in eval_texts for w in text.upper().split()}
    ok = [w for w in counts if w.isalpha() and len(w) >= MIN_LETTERS and w not in FUNCTION_WORDS and w in present]
    return sorted(ok, key=lambda w: (-counts[w], w))[:count]


def of_speakers(items, data: Path, speakers: Sequence[str]):
    """The items of ``speakers``: a Kaldi data dir's ``utt2spk`` names them, else (LibriSpeech) the id's first field."""
    utt2spk = data / "utt2spk"
    owner = (dict(line.split()[:2] for line in utt2spk.read_text().splitlines() if line.strip()) if utt2spk.is_file()
             else {utt: utt.split("-")[0] for utt, _, _ in items})
    unknown = sorted(set(speakers) - set(owner.values()))
    if unknown:
        raise ValueError(f"--speakers: {unknown[0]} has no utterance in {data}")
    return [item for item in items if owner.get(item[0]) in set(speakers)]


def split_items(items, keywords: Sequence[str], limit: Optional[int] = None):
    """(positives, negatives): the items whose transcript has a keyword, and the others (first ``limit`` each)."""
    phrases = [k.upper().split() for k in keywords]
    positives, negatives = [], []
    for item in sorted(items):
        words = item[2].split()
        (positives if any(count_phrase(words, p) for p in phrases) else negatives).append(item)
    if limit is not None:
        positives, negatives = positives[:limit], negatives[:limit]
    return positives, negatives


def score(keywords: Sequence[str], positives, negatives, detections: Dict[str, List[str]],
          seconds: Dict[str, float]) -> Dict:
    """The counts and rates of the module docstring.

    ``detections[utt]``: the keywords found in ``utt`` (as the keyword texts, repeats included);
    ``seconds[utt]``: its duration.
    """
    rows = {k: {"occurrences": 0, "detected": 0, "false_alarms": 0, "extra_in_positives": 0} for k in keywords}
    for utt, _, text in positives:
        words, found = text.split(), Counter(detections.get(utt, []))
        for k in keywords:
            occurrences = count_phrase(words, k.upper().split())
            hit = min(found[k], occurrences)
            rows[k]["occurrences"] += occurrences
            rows[k]["detected"] += hit
            rows[k]["extra_in_positives"] += found[k] - hit
    for utt, _, _ in negatives:
        for k, n in Counter(detections.get(utt, [])).items():
            rows[k]["false_alarms"] += n
    neg_hours = sum(seconds[u] for u, _, _ in negatives) / 3600
    total = {key: sum(r[key] for r in rows.values()) for key in ("occurrences", "detected", "false_alarms",
                                                                  "extra_in_positives")}
    for r in list(rows.values()) + [total]:
        r["detection_rate"] = r["detected"] / r["occurrences"] if r["occurrences"] else None
        r["false_alarms_per_hour"] = r["false_alarms"] / neg_hours if neg_hours else None
    return {"keywords": rows, "total": total, "positives": len(positives), "negatives": len(negatives),
            "negative_hours": neg_hours, "positive_hours": sum(seconds[u] for u, _, _ in positives) / 3600}


def _fmt(value, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def markdown(report: Dict) -> str:
    """The table of ``report`` (what :func:`main` writes to ``kws_eval.md``)."""
    s, r = report["settings"], report["results"]
    lines = [
        f"Keyword spotting: `{s['model_dir']}` ({s['precision']}) on `{s['corpus']}/{s['split']}`"
        + (f" (speakers {s['speakers']})" if s.get("speakers") else "") + "; "
        f"keywords: {s['keyword_rule']}; boost {s['boost']:g}, threshold {s['threshold']:g}"
        + (f"; --limit {s['limit']} (a check, not a measurement)" if s["limit"] is not None else "") + ".",
        "",
        f"{r['positives']} positive utterances ({r['positive_hours']:.3f} h), {r['negatives']} negative "
        f"({r['negative_hours']:.3f} h); real-time factor {report['rtf']:.3f} ({s['threads']} thread(s)).",
        "",
        "| keyword | pieces | occurrences | detected | detection rate | false alarms | false alarms / hour "
        "| extra in positives |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    pieces = {k["text"]: " ".join(k["pieces"]) for k in report["keywords"]}
    rows = list(r["keywords"].items()) + [("**all**", r["total"])]
    for name, row in rows:
        lines.append(f"| {name} | {pieces.get(name, '')} | {row['occurrences']} | {row['detected']} | "
                     f"{_fmt(row['detection_rate'], '{:.1%}')} | {row['false_alarms']} | "
                     f"{_fmt(row['false_alarms_per_hour'], '{:.1f}')} | {row['extra_in_positives']} |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", help="a streaming sherpa-onnx export")
    parser.add_argument("corpus", help="folder of Kaldi data dirs (e.g. ../shared/real-speech/speechocean762) or of "
                                           "LibriSpeech splits (the CPU demo's corpus)")
    parser.add_argument("--split", default="test", help="the data dir evaluated (default test)")
    parser.add_argument("--keywords", help="comma-separated keywords (instead of the rule)")
    parser.add_argument("--keywords-from", default="train", help="the data dir the rule counts words in (default train)")
    parser.add_argument("--num-keywords", type=int, default=10, help="how many keywords the rule picks (default 10)")
    parser.add_argument("--speakers", help="comma-separated speakers: evaluate their utterances only (e.g. the demo's "
                                           "held-out TTS voices); Kaldi: utt2spk, LibriSpeech: the id's first field")
    parser.add_argument("--limit", type=int, default=None, help="first N positives and N negatives only (a check)")
    parser.add_argument("--boost", type=float, default=1.0, help="sherpa-onnx boost of every keyword (default 1)")
    parser.add_argument("--threshold", type=float, default=0.25, help="sherpa-onnx threshold (default 0.25)")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1)")
    parser.add_argument("--int8", action="store_true", help="the int8 graphs")
    parser.add_argument("--trailing-blanks", type=int, default=1, help="as tinyconf-kws (default 1, sherpa-onnx's)")
    parser.add_argument("--tokenizer", help="sentencepiece model (default: the export's tokenizer.model)")
    parser.add_argument("--out", required=True, help="folder for kws_eval.json and kws_eval.md")
    args = parser.parse_args(argv)

    from speechbrain_tinyconf.deploy.kws import KeywordSpotter, KwsError
    from speechbrain_tinyconf.pretrained.transcribe import read_audio

    corpus = Path(args.corpus)
    try:
        items = read_data_dir(corpus, args.split)
        if args.speakers:
            items = of_speakers(items, corpus / args.split, [spk.strip() for spk in args.speakers.split(",")])
        if args.keywords:
            keywords = [" ".join(k.split()).upper() for k in args.keywords.split(",") if k.strip()]
            rule = "given (--keywords)"
        else:
            rule_texts = [text for _, _, text in read_data_dir(corpus, args.keywords_from)]
            keywords = pick_keywords(rule_texts, [text for _, _, text in items], args.num_keywords)
            rule = (f"the {args.num_keywords} most frequent words of {args.keywords_from}/text of >= {MIN_LETTERS} "
                    f"letters only, not function words, occurring in {args.split}/text")
        if not keywords:
            raise KwsError("no keywords (the rule found none; give --keywords)")
        kws = KeywordSpotter(args.model_dir, keywords, tokenizer=args.tokenizer, boost=args.boost,
                             threshold=args.threshold, threads=args.threads, int8=args.int8,
                             trailing_blanks=args.trailing_blanks)
    except (KwsError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    keywords = [k.text for k in kws.keywords]  # without an entry's own ":boost #threshold": what detections name
    positives, negatives = split_items(items, keywords, args.limit)
    detections: Dict[str, List[Tuple[str, float]]] = {}
    seconds: Dict[str, float] = {}
    busy = 0.0
    for utt, path, _ in positives + negatives:
        wav = read_audio(path).numpy()
        seconds[utt] = wav.shape[0] / SAMPLE_RATE
        start = time.perf_counter()
        detections[utt] = [(d.keyword, round(d.start, 2)) for d in kws.detect(wav)]
        busy += time.perf_counter() - start
    results = score(keywords, positives, negatives, {u: [k for k, _ in d] for u, d in detections.items()}, seconds)
    audio_s = sum(seconds.values())
    report = {
        "settings": {"model_dir": str(args.model_dir), "corpus": str(corpus), "split": args.split,
                     "speakers": args.speakers,
                     "keyword_rule": rule, "limit": args.limit, "boost": args.boost, "threshold": args.threshold,
                     "threads": args.threads, "precision": "int8" if args.int8 else "fp32",
                     "trailing_blanks": args.trailing_blanks},
        "keywords": [{"text": k.text, "pieces": list(k.pieces), "line": k.line()} for k in kws.keywords],
        "results": results,
        "rtf": busy / audio_s if audio_s else 0.0,
        "detections": {u: d for u, d in detections.items() if d},
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "kws_eval.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "kws_eval.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
