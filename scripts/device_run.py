#!/usr/bin/env python3
"""The three steps of a campaign run on the lent GPU machine; ``scripts/train_on_device.sh`` calls them.

``prepare`` (here, CPU): the folder that travels with the run (``.device_carry/``, ignored by
git): the speechocean762 ``train`` split and a small ``dev`` subset as Kaldi data dirs with
relative audio paths, the wheels the device lacks (Python 3.12), ``carry.json``; then the
travel size against the device's 64 MiB and the exact ``run`` call.

``train`` (there): the campaign model (``hparams/shared_lowrank_5M.yaml`` + ``campaign/model.yaml``
+ ``campaign/finetune.yaml`` + ``scripts/device_finetune.yaml``) fine-tuned on the GPU from
``--init-from`` for as long as the wall clock allows, then the best checkpoint packed into
``$OUT`` (``scripts/device_pack.py``). The deadline (``--minutes`` after the script started,
wheel installation included) is kept by two means: the recipe's ``train_time_budget_minutes``
(training stops, validates and checkpoints) and, should start-up or an epoch run long, the
recipe's process group killed before the deadline, the best checkpoint so far packed anyway.

``collect`` (here): the pack checked and turned back into a run folder that ``--init_from``
accepts, and the CPU command that continues from it.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, TextIO

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import device_pack  # noqa: E402

CARRY = ".device_carry"
MIB = 1 << 20
TRAVEL_LIMIT = 64 * MIB
TRAVEL_MARGIN = 1 * MIB  # what the tree may still grow by before the call is refused
CORPUS = ROOT.parent / "shared" / "real-speech" / "speechocean762"
MODEL = "hparams/shared_lowrank_5M.yaml"
CAMPAIGN = ["recipes/SpeechOcean762/campaign/model.yaml", "recipes/SpeechOcean762/campaign/finetune.yaml"]
DEVICE_DEFAULTS = "scripts/device_finetune.yaml"
INIT_FROM = "pretrained/tinyconf-so762-5M"
# What the device's Python (3.12, torch 2.11) lacks, at the versions constraints.txt pins. Not
# ruamel.yaml.clib: ruamel.yaml runs without its C extension (0.75 MiB saved).
WHEELS = ("speechbrain", "HyperPyYAML", "ruamel.yaml", "soundfile", "cffi", "pycparser")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")
RUN_CALL_TIMEOUT_S = 600


STARTED: Optional[float] = None  # the script's start on the monotonic clock (train)


def say(message: str, log: Optional[TextIO] = None) -> None:
    stamp = f" +{time.monotonic() - STARTED:.0f}s" if STARTED is not None else ""
    line = f"[device_run{stamp}] {message}"
    print(line, flush=True)
    if log is not None:
        log.write(line + "\n")
        log.flush()


LOG: Optional[TextIO] = None  # $OUT/log.txt while `train` runs: errors go there too


def fail(message: str, code: int = 1) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    if LOG is not None and not LOG.closed:
        LOG.write(f"error: {message}\n")
        LOG.flush()
    sys.exit(code)


# ---------------------------------------------------------------------------
# prepare


def pins(path: Path = ROOT / "constraints.txt") -> Dict[str, str]:
    """``{normalised name: version}`` of constraints.txt."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


def spread(items: List[str], n: int) -> List[str]:
    """``n`` items evenly spread over ``items`` (all of them for n <= 0 or n >= len).

    >>> spread(list("abcdefghij"), 3)
    ['a', 'd', 'g']
    """
    if n <= 0 or n >= len(items):
        return list(items)
    return [items[(i * len(items)) // n] for i in range(n)]


def read_table(path: Path) -> Dict[str, str]:
    rows = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            key = line.split(maxsplit=1)[0]
            rows[key] = line.rstrip("\r")
    return rows


def copy_split(src_root: Path, split: str, dest_root: Path, count: int, reencode_kbps: Optional[int]) -> Dict:
    """``src_root/split`` (``count`` utterances spread over it, 0: all) into ``dest_root/split`` with
    its audio under ``dest_root/audio`` (the same relative paths); returns counts, hours and bytes."""
    import soundfile

    scp, text, utt2spk = (read_table(src_root / split / name) for name in ("wav.scp", "text", "utt2spk"))
    utts = spread(sorted(u for u in text if u in scp and u in utt2spk), count)
    out = dest_root / split
    out.mkdir(parents=True, exist_ok=True)
    seconds, size = 0.0, 0
    for utt in utts:
        rel = scp[utt].split()[1]
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            fail(f"{src_root / split / 'wav.scp'}: {utt}: expected a path relative to {src_root}, got {rel}")
        src, dst = src_root / rel, dest_root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if reencode_kbps:
            reencode(src, dst, reencode_kbps)
        else:
            shutil.copyfile(src, dst)
        seconds += soundfile.info(str(dst)).duration
        size += dst.stat().st_size
    for name, table in (("wav.scp", scp), ("text", text), ("utt2spk", utt2spk)):
        (out / name).write_text("".join(table[u] + "\n" for u in utts), encoding="utf-8")
    return {"utterances": len(utts), "hours": round(seconds / 3600, 4), "audio_bytes": size}


def reencode(src: Path, dst: Path, kbps: int) -> None:
    """``src`` decoded (16 kHz) and encoded again as Ogg/Opus at ``kbps`` with opusenc (opus-tools)."""
    import tempfile

    import soundfile

    audio, rate = soundfile.read(str(src), dtype="int16")
    with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
        soundfile.write(wav.name, audio, rate, subtype="PCM_16")
        subprocess.run(["opusenc", "--quiet", "--bitrate", str(kbps), "--comp", "10", wav.name, str(dst)], check=True)


def download_wheels(dest: Path, python_version: str) -> List[str]:
    """The :data:`WHEELS` at their pinned versions for CPython ``python_version`` on x86-64 Linux
    (the device README's pip command); other wheels in ``dest`` are removed (one version of each)."""
    pinned = pins()
    specs = [f"{name}=={pinned[re.sub(r'[-_.]+', '-', name).lower()]}" for name in WHEELS]
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
           "--only-binary=:all:", "--python-version", python_version, "--implementation", "cp",
           *(arg for p in PLATFORMS for arg in ("--platform", p)), "-d", str(dest), *specs]
    subprocess.run(cmd, check=True)
    wanted = {(re.sub(r"[-_.]+", "_", s.split("==")[0]).lower(), s.split("==")[1]) for s in specs}
    kept = []
    for wheel in sorted(dest.glob("*.whl")):
        name, version = wheel.name.split("-")[:2]
        if (name.lower(), version) in wanted:
            kept.append(wheel.name)
        else:
            wheel.unlink()
    if len(kept) != len(specs):
        fail(f"{dest}: expected {len(specs)} wheels ({', '.join(specs)}), found {', '.join(kept) or 'none'}")
    return kept


def git_lines(repo: Path, *args: str) -> List[str]:
    out = subprocess.run(["git", "-C", str(repo), *args, "-z"], capture_output=True, check=True).stdout
    return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]


def tree_bytes(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def travel_size(repo: Path, carry: Sequence[str]) -> Dict[str, int]:
    """What a ``run`` call would send, in bytes: tracked files, untracked files git does not ignore,
    a ``shared/`` folder inside the checkout, and each carried path."""
    sizes = {}
    for label, args in (("tracked", ["ls-files"]), ("untracked, not ignored", ["ls-files", "--others",
                                                                             "--exclude-standard"])):
        paths = [repo / p for p in git_lines(repo, *args)]
        sizes[label] = sum(p.lstat().st_size for p in paths if p.is_file() or p.is_symlink())
    if (repo / "shared").is_dir():
        sizes["shared/"] = tree_bytes(repo / "shared")
    for path in carry:
        sizes[f"carry {path}"] = tree_bytes(repo / path)
    return sizes


def ensure_ignored(repo: Path, rel: str) -> None:
    """The folder ``rel`` must not travel as an untracked file: ignored by .gitignore, else added to
    info/exclude (made first: a pattern ending in / matches only an existing folder)."""
    (repo / rel).mkdir(parents=True, exist_ok=True)
    if subprocess.run(["git", "-C", str(repo), "check-ignore", "-q", rel]).returncode == 0:
        return
    exclude = Path(subprocess.run(["git", "-C", str(repo), "rev-parse", "--git-path", "info/exclude"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    exclude = exclude if exclude.is_absolute() else repo / exclude
    exclude.parent.mkdir(parents=True, exist_ok=True)
    with open(exclude, "a", encoding="utf-8") as handle:
        handle.write(f"/{rel}/\n")
    print(f"added /{rel}/ to {exclude}")


def run_call(carry: str = CARRY, extra: str = "") -> Dict:
    """The device tool's ``run`` arguments for the campaign run."""
    command = "bash scripts/train_on_device.sh train"
    if carry != CARRY:
        command = f"WHEELS={shlex.quote(carry + '/whl')} {command} --data {shlex.quote(carry + '/so762')}"
    command += f" {extra}" if extra else ""
    return {"command": command, "carry": [carry], "timeout_s": RUN_CALL_TIMEOUT_S}


def cmd_prepare(args) -> int:
    repo = Path(args.repo).resolve()
    dest = Path(args.dest).resolve() if args.dest else repo / CARRY
    data = Path(args.data)
    if not (data / "train" / "wav.scp").is_file():
        fail(f"--data {data}: no train/wav.scp (the speechocean762 Kaldi data dirs)")
    inside = repo in dest.parents
    if inside:
        ensure_ignored(repo, str(dest.relative_to(repo)))
    dest.mkdir(parents=True, exist_ok=True)
    corpus = dest / "so762"
    if corpus.exists():
        shutil.rmtree(corpus)
    if args.reencode_kbps and shutil.which("opusenc") is None:
        fail("--reencode-kbps needs opusenc: apt-get install -y opus-tools")
    info = {"source": str(data.resolve()), "reencode_kbps": args.reencode_kbps,
            "train": copy_split(data, "train", corpus, args.train_utts, args.reencode_kbps),
            "dev": copy_split(data, "dev", corpus, args.dev_utts, args.reencode_kbps)}
    if args.wheels:
        info["wheels"] = download_wheels(dest / "whl", args.python_version)
        info["wheels_python"] = args.python_version
    elif (dest / "whl").is_dir():
        shutil.rmtree(dest / "whl")
    info["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    (dest / "carry.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    print(f"{dest}: train {info['train']['utterances']} utterances ({info['train']['hours']:.2f} h), dev subset "
          f"{info['dev']['utterances']}, wheels: {', '.join(info.get('wheels', [])) or 'none'}")

    if not inside:
        print(f"{dest} is outside {repo}: it cannot travel from there (nothing measured)")
        return 0
    carry = str(dest.relative_to(repo))
    sizes = travel_size(repo, [carry])
    total = sum(sizes.values())
    for label, size in sizes.items():
        print(f"  {label:<28} {size:>11,} B  {size / MIB:7.2f} MiB")
    print(f"  {'what travels':<28} {total:>11,} B  {total / MIB:7.2f} MiB  (limit {TRAVEL_LIMIT / MIB:.0f} MiB, "
          f"{(TRAVEL_LIMIT - total) / MIB:.2f} MiB left)")
    if total > TRAVEL_LIMIT - TRAVEL_MARGIN:
        fail(f"{total / MIB:.2f} MiB would travel, over {(TRAVEL_LIMIT - TRAVEL_MARGIN) / MIB:.0f} MiB (the 64 MiB "
             "limit less a margin): use a smaller --dev-utts, or --reencode-kbps 20 (opus-tools), or leave "
             "untracked files out of the checkout")
    call = run_call(carry)
    print("\nThe device tool's call (from a session whose checkout is this repository):")
    print(f"  run(command={json.dumps(call['command'])}, carry={json.dumps(call['carry'])}, "
          f"timeout_s={call['timeout_s']})")
    print("then: bash scripts/train_on_device.sh collect <files_at>")
    return 0


# ---------------------------------------------------------------------------
# train


class Tee(threading.Thread):
    """Copies a process's output to stdout and the log, line by line."""

    def __init__(self, stream, log: TextIO):
        super().__init__(daemon=True)
        self.stream, self.log = stream, log

    def run(self) -> None:
        for line in iter(self.stream.readline, ""):
            sys.stdout.write(line)
            sys.stdout.flush()
            self.log.write(line)
            self.log.flush()


def run_until(cmd: List[str], deadline: float, log: TextIO, env: Optional[Dict] = None,
              grace_s: float = 10.0) -> str:
    """Runs ``cmd`` (its own process group, output to stdout and ``log``) until it ends or the
    monotonic ``deadline`` comes; then its whole group is sent SIGTERM and, ``grace_s`` later,
    SIGKILL. Returns ``"finished"``, ``"failed (exit N)"`` or ``"stopped at the deadline"``."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True, cwd=ROOT)
    tee = Tee(proc.stdout, log)
    tee.start()
    try:
        code = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        say("deadline reached: stopping the recipe (SIGTERM to its process group)", log)
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
        _signal_group(proc, signal.SIGKILL)  # data-loader workers left behind
        tee.join(timeout=2)
        return "stopped at the deadline"
    tee.join(timeout=5)
    _signal_group(proc, signal.SIGKILL)
    return "finished" if code == 0 else f"failed (exit {code})"


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def preflight(args, log: TextIO) -> Dict:
    """Fails within seconds, naming what is missing, before any device minute goes into training."""
    from importlib import metadata

    facts = {"python": sys.version.split()[0]}
    missing = []
    for module, dist in (("torch", "torch"), ("torchaudio", "torchaudio"), ("speechbrain", "speechbrain"),
                         ("hyperpyyaml", "HyperPyYAML"), ("ruamel.yaml", "ruamel.yaml"), ("soundfile", "soundfile"),
                         ("sentencepiece", "sentencepiece"), ("yaml", "PyYAML"), ("scipy", "scipy")):
        try:
            __import__(module)
            facts[module] = metadata.version(dist)
        except Exception as err:  # ImportError, a broken native library, no metadata
            missing.append(f"{module} ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})")
    if missing:
        fail(f"cannot import {', '.join(missing)}: were the wheels carried ({CARRY}/whl) and installed?", 3)
    import soundfile
    import torch

    data = Path(args.data)
    scp = data / "train" / "wav.scp"
    if not scp.is_file():
        fail(f"--data {data}: no train/wav.scp: was {CARRY} carried (carry: [\"{CARRY}\"])?", 3)
    if not (data / "dev" / "wav.scp").is_file():
        fail(f"--data {data}: no dev/wav.scp (the dev subset validation needs)", 3)
    first = data / scp.read_text(encoding="utf-8").split("\n", 1)[0].split()[1]
    audio, rate = soundfile.read(str(first), dtype="float32")
    if rate != 16000 or audio.ndim != 1 or not len(audio):
        fail(f"{first}: decoded {audio.shape} at {rate} Hz, expected mono 16 kHz", 3)
    facts["libsndfile"] = soundfile.__libsndfile_version__
    if args.device.startswith("cuda"):
        if not torch.cuda.is_available():
            fail(f"--device {args.device}: torch {torch.__version__} sees no CUDA device", 3)
        facts["gpu"] = torch.cuda.get_device_name(torch.device(args.device))
    else:
        facts["gpu"] = None
    facts["cpus"] = os.cpu_count()
    if not (ROOT / args.init_from).exists() and not Path(args.init_from).exists():
        fail(f"--init-from {args.init_from}: not found", 3)
    say("preflight: " + ", ".join(f"{k} {v}" for k, v in facts.items()), log)
    return facts


def recipe_command(args, run_dir: Path, budget_minutes: float) -> List[str]:
    """The recipe's command line: the campaign configuration, the device defaults, this run's options."""
    import yaml

    batch = dict(yaml.safe_load((ROOT / DEVICE_DEFAULTS).read_text(encoding="utf-8"))["dynamic_batch_sampler"])
    batch["max_batch_len"] = args.batch_seconds
    cmd = [sys.executable, "recipes/SpeechOcean762/train.py", MODEL]
    for defaults in (*CAMPAIGN, DEVICE_DEFAULTS):
        cmd += ["--defaults", defaults]
    cmd += ["--data_folder", str(Path(args.data).resolve()), "--output_folder", str(run_dir), "--device", args.device,
            "--init_from", args.init_from, "--train_time_budget_minutes", f"{budget_minutes:.2f}",
            "--num_workers", str(args.workers), "--lr", str(args.lr), "--warmup_steps", str(args.warmup),
            "--dynamic_batch_sampler", yaml.safe_dump(batch, default_flow_style=True, width=1 << 30).strip(),
            "--noprogressbar"]
    if args.streaming:
        cmd += ["--streaming", "True"]
    return cmd + list(args.extra)


def train_progress(train_log: Path) -> Dict:
    """The last validation line of ``train_log.txt`` as numbers, and how many there were."""
    if not train_log.is_file():
        return {"validations": 0}
    lines = [line for line in train_log.read_text(encoding="utf-8").splitlines() if "valid loss" in line]
    found: Dict = {"validations": len(lines)}
    if lines:
        for part in re.split(r", | - ", lines[-1]):
            key, _, value = part.partition(": ")
            key = key.strip().replace(" ", "_")
            try:
                found[key] = int(value) if key in ("epoch", "steps") else float(value)
            except ValueError:
                pass
    return found


def default_workers() -> int:
    return max(0, min(12, (os.cpu_count() or 1) - 2))


def cmd_train(args) -> int:
    t0_wall = float(os.environ.get("DEVICE_T0") or time.time())
    global STARTED
    started = STARTED = time.monotonic() - max(0.0, time.time() - t0_wall)  # the script's start
    deadline = started + 60 * args.minutes
    out = Path(args.out or os.environ.get("OUT") or "")
    if not str(out):
        fail("no --out and no $OUT: where should the run come back from?", 2)
    out.mkdir(parents=True, exist_ok=True)
    global LOG
    log = LOG = open(out / "log.txt", "a", encoding="utf-8")
    say(f"train on {args.device}: {args.minutes:g} min from the script's start, out {out}; "
        f"{time.monotonic() - started:.0f} s spent before this (wheels)", log)
    facts = preflight(args, log)

    run_dir = Path(args.run_dir)
    if run_dir.exists() and any(run_dir.iterdir()):
        fail(f"--run-dir {run_dir}: not empty (a fresh run starts from --init-from)", 2)
    now = time.monotonic()
    budget_s = deadline - now - args.startup_reserve - args.final_reserve - args.pack_reserve
    if budget_s < 12:
        fail(f"--minutes {args.minutes:g} leave {budget_s:.0f} s of training after the reserves "
             f"(start-up {args.startup_reserve:g} s, final validation {args.final_reserve:g} s, "
             f"packing {args.pack_reserve:g} s)", 2)
    cmd = recipe_command(args, run_dir, budget_s / 60)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    say(f"training budget {budget_s / 60:.2f} min; recipe stopped by {deadline - args.pack_reserve - started:.0f} s "
        f"at the latest; command: {shlex.join(cmd)}", log)
    launched = time.monotonic()
    status = run_until(cmd, deadline - args.pack_reserve, log, env=env)
    ended = time.monotonic()
    progress = train_progress(run_dir / "train_log.txt")
    say(f"recipe {status} after {ended - launched:.0f} s: {json.dumps(progress)}", log)

    carry_json = Path(args.data).parent / "carry.json"
    info = {
        "status": status,
        "device": facts.get("gpu") or args.device,
        "software": {k: v for k, v in facts.items() if k not in ("gpu",)},
        "wall_s": None,  # filled below
        "recipe_s": round(ended - launched, 1),
        "train_budget_min": round(budget_s / 60, 2),
        "progress": progress,
        "settings": {"device": args.device, "minutes": args.minutes, "batch_seconds": args.batch_seconds,
                     "lr": args.lr, "warmup_steps": args.warmup, "workers": args.workers,
                     "streaming": bool(args.streaming), "init_from": args.init_from, "extra": list(args.extra)},
        "data": json.loads(carry_json.read_text(encoding="utf-8")) if carry_json.is_file() else None,
        "command": shlex.join(cmd),
    }
    if (run_dir / "train_log.txt").is_file():
        shutil.copyfile(run_dir / "train_log.txt", out / "train_log.txt")
    info["wall_s"] = round(time.monotonic() - started, 1)
    try:
        manifest = device_pack.pack_run(run_dir, out, info=info, include_optimizer=args.include_optimizer)
    except (device_pack.PackError, OSError) as err:
        say(f"nothing packed: {err}", log)
        log.close()
        return 1
    files = ", ".join(f"{p.name} {p.stat().st_size:,} B" for p in sorted(out.iterdir()) if p.is_file())
    ckpt = manifest["checkpoint"]
    say(f"packed {ckpt['name']} (valid loss {ckpt['valid_loss']:.4g}, epoch {ckpt['epoch']}) after "
        f"{time.monotonic() - started:.0f} s; $OUT: {files}", log)
    log.close()
    return 0


# ---------------------------------------------------------------------------
# collect


def continue_command(run: Path, manifest: Dict, data: str) -> str:
    """The CPU campaign's fine-tuning, started from the device run (a new output folder)."""
    settings = (manifest.get("info") or {}).get("settings", {})
    out = run.parent / f"finetune_after_{run.name}"
    cmd = ["python", "recipes/SpeechOcean762/train.py", MODEL]
    for defaults in CAMPAIGN:
        cmd += ["--defaults", defaults]
    cmd += ["--data_folder", data, "--output_folder", str(out), "--device", "cpu", "--init_from", str(run)]
    if settings.get("streaming"):
        cmd += ["--streaming", "True"]
    return shlex.join(cmd)


def cmd_collect(args) -> int:
    src = Path(args.src)
    try:
        manifest = device_pack.read_manifest(src)
        dest = Path(args.dest) if args.dest else ROOT / "results" / "campaign" / f"device_{manifest['stamp']}"
        manifest = device_pack.unpack(src, dest)
    except device_pack.PackError as err:
        fail(str(err))
    from speechbrain_tinyconf.recipe.runs import init_source

    try:
        source = init_source(dest)
    except (FileNotFoundError, ValueError) as err:
        fail(f"{dest}: unpacked, but --init_from would refuse it: {err}")
    info = manifest.get("info") or {}
    progress = info.get("progress", {})
    print(f"{dest}: {source.description}, {len(source.state_dict)} tensors")
    print(f"  device run: {info.get('status')} on {info.get('device')}, {info.get('wall_s')} s wall, "
          f"{progress.get('steps')} updates, {progress.get('epoch')} epochs, {progress.get('audio_hours')} h of audio")
    print("Continue on the CPU (a new output folder; --init_from takes the weights and the tokenizer):")
    rel = dest.relative_to(ROOT) if dest.is_absolute() and ROOT in dest.parents else dest
    print("  " + continue_command(rel, manifest, args.data))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("prepare", help="build the carry folder here and print the run call")
    p.add_argument("--data", default=str(CORPUS), help="speechocean762 Kaldi data dirs (default %(default)s)")
    p.add_argument("--repo", default=str(ROOT), help="the checkout that travels (default: this one)")
    p.add_argument("--dest", default=None, help=f"the carry folder (default REPO/{CARRY})")
    p.add_argument("--train-utts", type=int, default=0, help="train utterances to carry, spread (0: all)")
    p.add_argument("--dev-utts", type=int, default=60, help="dev utterances to carry for the validation loss")
    p.add_argument("--reencode-kbps", type=int, default=None, help="re-encode the audio (Opus, opusenc) to fit")
    p.add_argument("--no-wheels", dest="wheels", action="store_false", help="carry no wheels")
    p.add_argument("--python-version", default="3.12", help="the wheels' Python (the device's: 3.12)")

    p = sub.add_parser("train", help="on the device: train, then pack into $OUT")
    p.add_argument("--device", default="cuda:0")
    p.add_argument("--minutes", type=float, default=8.5, help="wall clock from the script's start to the end")
    p.add_argument("--out", default=None, help="default $OUT")
    p.add_argument("--data", default=str(ROOT / CARRY / "so762"))
    p.add_argument("--init-from", default=INIT_FROM)
    p.add_argument("--run-dir", default="/tmp/tinyconf_device_run")
    p.add_argument("--workers", type=int, default=default_workers())
    p.add_argument("--batch-seconds", type=float, default=300.0, help="seconds of audio per batch")
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--streaming", action="store_true", help="dynamic chunk training (--streaming True)")
    p.add_argument("--include-optimizer", action="store_true", help="pack optimizer.ckpt too (2x the model)")
    p.add_argument("--startup-reserve", type=float, default=45.0, help="s for the recipe to start training")
    p.add_argument("--final-reserve", type=float, default=30.0, help="s for the last validation and checkpoint")
    p.add_argument("--pack-reserve", type=float, default=25.0, help="s for packing after the recipe")
    p.add_argument("extra", nargs="*", help="after --: more recipe options")

    p = sub.add_parser("collect", help="here: check the pack and make a run folder of it")
    p.add_argument("src", help="the folder the device's files came back to (files_at)")
    p.add_argument("--dest", default=None, help="default results/campaign/device_<stamp>")
    p.add_argument("--data", default="../shared/real-speech/speechocean762", help="for the printed CPU command")

    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return {"prepare": cmd_prepare, "train": cmd_train, "collect": cmd_collect}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
