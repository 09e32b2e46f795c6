#!/usr/bin/env python3
"""Bring a training run back from the device machine in a few files, byte for byte.

The device tool returns at most 8 files from ``$OUT``, each at most 16 MiB, 64 MiB together,
named in letters, digits, ``.``, ``_`` and ``-``. A run folder's checkpoint of the 5M model
(``model.ckpt``, fp32) is ~19 MB alone, so :func:`pack_run` writes what ``--init_from RUN``
and a reader need as one byte stream cut into parts of at most :data:`PART_BYTES`:

* the best checkpoint by validation loss (``save/CKPT+*/``: ``CKPT.yaml`` with its ``loss``,
  ``model.ckpt``, ``normalizer.ckpt`` and the other small recoverables; ``optimizer.ckpt``,
  twice the model's size, only with ``include_optimizer``),
* ``tokenizer/*``, and the run's top-level files (``hyperparams.yaml``, ``train_log.txt``,
  ``log.txt``, ``command.txt``, ...; not the CSVs, which name the device's paths, nor the lock),

and ``manifest.json``: the sha256 and size of every part, of the whole stream and of every
file in it (with its offset), plus whatever the caller adds (updates, audio hours, wall time).
:func:`unpack` checks all of them and writes the run folder again; a missing, truncated or
corrupted part is refused with one line naming the file.

    python scripts/device_pack.py pack RUN_DIR OUT_DIR      # on the device, after training
    python scripts/device_pack.py verify OUT_DIR            # the hashes only
    python scripts/device_pack.py unpack OUT_DIR DEST_DIR   # here: DEST_DIR is a run folder again

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from speechbrain_tinyconf.recipe.checkpoints import checkpoint_problem  # noqa: E402  (imports no torch)

FORMAT = "tinyconf-device-pack/1"
MIB = 1 << 20
MAX_FILES = 8  # what comes back from $OUT (device README, Limits)
MAX_FILE_BYTES = 16 * MIB
MAX_TOTAL_BYTES = 64 * MIB
PART_BYTES = 15 * MIB  # a margin under MAX_FILE_BYTES
MANIFEST = "manifest.json"
PART_PREFIX = "run.part"
NAME_OK = re.compile(r"^[A-Za-z0-9._-]+$")  # what the device tool brings back
SKIPPED_TOP_LEVEL = re.compile(r"(\.csv|\.lock)$")  # device paths; the output folder's lock
OPTIMIZER = "optimizer.ckpt"


class PackError(Exception):
    """A pack that cannot be written or read; the message is one line naming the file."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------
# Splitting and joining (byte-exact)


def split_bytes(data: bytes, part_bytes: int = PART_BYTES) -> List[bytes]:
    """``data`` cut into consecutive pieces of ``part_bytes`` (the last shorter); one empty piece for no data.

    >>> [len(p) for p in split_bytes(b"x" * 10, 4)]
    [4, 4, 2]
    >>> b"".join(split_bytes(b"abcdefg", 3)) == b"abcdefg"
    True
    """
    if part_bytes < 1:
        raise ValueError(f"part_bytes={part_bytes}: must be >= 1")
    return [data[i:i + part_bytes] for i in range(0, len(data), part_bytes)] or [b""]


def check_limits(sizes: Dict[str, int], max_files: int = MAX_FILES, max_file_bytes: int = MAX_FILE_BYTES,
                 max_total_bytes: int = MAX_TOTAL_BYTES) -> None:
    """Raises :class:`PackError` when the files ``{name: bytes}`` would not all come back from ``$OUT``.

    >>> check_limits({"a": 10, "b": 20})
    >>> check_limits({f"f{i}": 1 for i in range(9)})
    Traceback (most recent call last):
    ...
    device_pack.PackError: 9 files in $OUT, at most 8 come back
    """
    if len(sizes) > max_files:
        raise PackError(f"{len(sizes)} files in $OUT, at most {max_files} come back")
    for name, size in sorted(sizes.items()):
        if not NAME_OK.match(name):
            raise PackError(f"{name}: a name the device tool does not bring back (letters, digits, '.', '_', '-')")
        if size > max_file_bytes:
            raise PackError(f"{name}: {size} bytes, over the {max_file_bytes} bytes that one file may have")
    total = sum(sizes.values())
    if total > max_total_bytes:
        raise PackError(f"$OUT holds {total} bytes, over the {max_total_bytes} bytes that come back together")


# ---------------------------------------------------------------------------
# What is packed


def checkpoint_loss(folder: Path) -> Optional[float]:
    """The validation loss recorded in ``folder/CKPT.yaml`` (None if absent or unreadable)."""
    try:
        meta = yaml.safe_load((folder / "CKPT.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    loss = meta.get("loss") if isinstance(meta, dict) else None
    return float(loss) if isinstance(loss, (int, float)) and not isinstance(loss, bool) else None


def best_checkpoint(run_dir: Path) -> Tuple[Path, float]:
    """``save/CKPT+*`` with the lowest validation loss among the complete ones (the newest on a tie),
    what ``runs.init_source`` picks; a :class:`PackError` when there is none."""
    candidates = []
    for folder in sorted(Path(run_dir, "save").glob("CKPT+*")):
        loss = checkpoint_loss(folder)
        if loss is None or checkpoint_problem(folder, ["model", "normalizer"]):
            continue
        candidates.append((loss, folder.name, folder))
    if not candidates:
        raise PackError(f"{Path(run_dir) / 'save'}: no complete checkpoint with a validation loss")
    newest_first = sorted(candidates, key=lambda c: c[1], reverse=True)  # names are timestamps
    loss, _, folder = min(newest_first, key=lambda c: c[0])
    return folder, loss


def run_files(run_dir: Path, checkpoint: Path, include_optimizer: bool = False) -> List[str]:
    """Paths relative to ``run_dir`` of what is packed, in a fixed order."""
    run_dir = Path(run_dir)
    top = sorted(p.name for p in run_dir.iterdir() if p.is_file() and not SKIPPED_TOP_LEVEL.search(p.name))
    tokenizer = sorted(f"tokenizer/{p.name}" for p in (run_dir / "tokenizer").glob("*") if p.is_file())
    ckpt = sorted(f"save/{checkpoint.name}/{p.name}" for p in checkpoint.iterdir()
                  if p.is_file() and (include_optimizer or p.name != OPTIMIZER))
    return [*ckpt, *tokenizer, *top]


# ---------------------------------------------------------------------------
# Pack / unpack


def pack_run(run_dir: Path, out_dir: Path, info: Optional[Dict] = None, include_optimizer: bool = False,
             part_bytes: int = PART_BYTES) -> Dict:
    """Writes ``run.part0..N`` and ``manifest.json`` into ``out_dir``; returns the manifest.

    The files already in ``out_dir`` (a log, say) count towards the device's limits, which are
    checked before anything is written.
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    checkpoint, loss = best_checkpoint(run_dir)
    entries, chunks, offset = [], [], 0
    for rel in run_files(run_dir, checkpoint, include_optimizer):
        data = (run_dir / rel).read_bytes()
        entries.append({"path": rel, "offset": offset, "bytes": len(data), "sha256": sha256_bytes(data)})
        chunks.append(data)
        offset += len(data)
    bundle = b"".join(chunks)
    parts = split_bytes(bundle, part_bytes)
    names = [f"{PART_PREFIX}{i}" for i in range(len(parts))]
    meta = yaml.safe_load((checkpoint / "CKPT.yaml").read_text(encoding="utf-8")) or {}
    manifest = {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "stamp": time.strftime("%Y%m%d-%H%M%S", time.gmtime()),
        "checkpoint": {"name": checkpoint.name, "valid_loss": loss, "epoch": meta.get("epoch"),
                       "optimizer_included": include_optimizer},
        "parts": [{"name": n, "bytes": len(p), "sha256": sha256_bytes(p)} for n, p in zip(names, parts)],
        "bundle": {"bytes": len(bundle), "sha256": sha256_bytes(bundle)},
        "files": entries,
        **({"info": info} if info else {}),
    }
    text = json.dumps(manifest, indent=1, sort_keys=False) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    sizes = {p.name: p.stat().st_size for p in out_dir.iterdir()
             if p.is_file() and p.name != MANIFEST and not p.name.startswith(PART_PREFIX)}
    sizes.update({n: len(p) for n, p in zip(names, parts)})
    sizes[MANIFEST] = len(text.encode("utf-8"))
    check_limits(sizes)
    for stale in out_dir.glob(f"{PART_PREFIX}*"):
        stale.unlink()
    for name, part in zip(names, parts):
        (out_dir / name).write_bytes(part)
    (out_dir / MANIFEST).write_text(text, encoding="utf-8")  # last: its presence marks a whole pack
    return manifest


def read_manifest(src_dir: Path) -> Dict:
    path = Path(src_dir) / MANIFEST
    if not path.is_file():
        raise PackError(f"{path}: missing (the device run wrote no pack: read log.txt beside it)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise PackError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise PackError(f"{path}: not a {FORMAT} manifest")
    return manifest


def verify(src_dir: Path) -> Tuple[Dict, bytes]:
    """The manifest and the joined stream, every hash checked; :class:`PackError` names the bad file."""
    src_dir = Path(src_dir)
    manifest = read_manifest(src_dir)
    pieces = []
    for part in manifest["parts"]:
        name = part["name"]
        if not NAME_OK.match(name) or "/" in name:
            raise PackError(f"{src_dir / MANIFEST}: bad part name {name!r}")
        path = src_dir / name
        if not path.is_file():
            raise PackError(f"{path}: missing")
        data = path.read_bytes()
        if len(data) != part["bytes"]:
            raise PackError(f"{path}: {len(data)} bytes, the manifest says {part['bytes']} (truncated or corrupted)")
        if sha256_bytes(data) != part["sha256"]:
            raise PackError(f"{path}: sha256 differs from the manifest's (corrupted)")
        pieces.append(data)
    bundle = b"".join(pieces)
    if len(bundle) != manifest["bundle"]["bytes"] or sha256_bytes(bundle) != manifest["bundle"]["sha256"]:
        raise PackError(f"{src_dir / MANIFEST}: the parts joined do not give the recorded stream")
    return manifest, bundle


def _safe_relative(rel: str) -> Path:
    path = Path(rel)
    if path.is_absolute() or not path.parts or any(p in ("", ".", "..") for p in path.parts):
        raise PackError(f"manifest entry {rel!r}: not a plain relative path")
    return path


def unpack(src_dir: Path, dest: Path) -> Dict:
    """Checks the pack in ``src_dir`` and writes its files under ``dest`` (which must not exist
    or be empty); returns the manifest. Written into ``dest``'s sibling first, renamed at the end."""
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise PackError(f"{dest}: exists and is not an empty folder")
    manifest, bundle = verify(src_dir)
    tmp = dest.with_name(dest.name + ".unpacking")
    if tmp.exists():
        shutil.rmtree(tmp)
    for entry in manifest["files"]:
        rel = _safe_relative(entry["path"])
        data = bundle[entry["offset"]:entry["offset"] + entry["bytes"]]
        if len(data) != entry["bytes"] or sha256_bytes(data) != entry["sha256"]:
            shutil.rmtree(tmp, ignore_errors=True)
            raise PackError(f"{entry['path']}: its bytes in the stream differ from the manifest's")
        target = tmp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    if dest.exists():
        dest.rmdir()
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, dest)
    return manifest


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="run folder -> parts + manifest.json")
    p.add_argument("run_dir")
    p.add_argument("out_dir")
    p.add_argument("--include-optimizer", action="store_true", help="also optimizer.ckpt (2x the model)")
    p = sub.add_parser("verify", help="check the hashes of a pack")
    p.add_argument("src_dir")
    p = sub.add_parser("unpack", help="pack -> run folder")
    p.add_argument("src_dir")
    p.add_argument("dest")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "pack":
            manifest = pack_run(Path(args.run_dir), Path(args.out_dir), include_optimizer=args.include_optimizer)
            print(f"packed {manifest['checkpoint']['name']} (valid loss {manifest['checkpoint']['valid_loss']:.4g}): "
                  + ", ".join(f"{p['name']} {p['bytes']} B" for p in manifest["parts"]))
        elif args.cmd == "verify":
            manifest, _ = verify(Path(args.src_dir))
            print(f"ok: {len(manifest['parts'])} part(s), {len(manifest['files'])} file(s)")
        else:
            manifest = unpack(Path(args.src_dir), Path(args.dest))
            print(f"unpacked {len(manifest['files'])} file(s) into {args.dest}")
    except PackError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
