"""How the bench scripts time things and describe the machine: one helper for all of them.

Medians of repeated calls (:func:`median_time`), A/B timings interleaved so that a drift of the
machine hits both sides (:func:`interleaved`), per-name wall-clock timers around callables
(:class:`Timers`), percentiles, a process's peak RSS and the CPU's name. Standard library only:
the benchmark children that must not import torch (onnxruntime, sherpa-onnx) use it too.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in [0, 100])."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median_time(fn: Callable[[], Any], reps: int, warmup: int = 1) -> Tuple[Any, float]:
    """``(fn()'s last result, median seconds)`` over ``reps`` calls after ``warmup`` untimed calls."""
    result = None
    for _ in range(warmup):  # first-call allocations, onnxruntime's lazy session
        result = fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def interleaved(a: Callable[[], None], b: Callable[[], None], reps: int, warmup: int = 1) -> Dict[str, Any]:
    """Median seconds of ``a`` and ``b`` timed alternately (A B A B ...) after ``warmup`` calls each."""
    for _ in range(warmup):
        a()
        b()
    ta, tb = [], []
    for _ in range(reps):
        for fn, out in ((a, ta), (b, tb)):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    ma, mb = statistics.median(ta), statistics.median(tb)
    return {"ours_ms": 1e3 * ma, "reference_ms": 1e3 * mb, "ratio": ma / mb, "reps": reps,
            "ours_all_ms": [1e3 * t for t in ta], "reference_all_ms": [1e3 * t for t in tb]}


class Timers:
    """Wall-clock seconds of wrapped callables, per name."""

    def __init__(self) -> None:
        self.seconds: Dict[str, List[float]] = {}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` timed under ``name`` at every call (also when it raises)."""
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds.setdefault(name, []).append(time.perf_counter() - start)
        return timed


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB.

    Linux: ``VmHWM`` of ``/proc/self/status`` -- not ``getrusage``'s ``ru_maxrss``,
    which Linux carries over ``execve`` from the parent (a child of a 700 MB
    parent would report >= 700 MB).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / 2 ** 20


def cpu_name() -> str:
    """The CPU model as /proc/cpuinfo names it (else what the platform module knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
