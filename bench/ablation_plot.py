"""``ablation.png``: test WER against unique parameters, and the small-budget rows side by side.

Authors
-------
* speechbrain-tinyconf team 2026
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

# one marker shape per role (sharing level), the same in both panels
MARKERS = {"reference": "s", "small_plain": "D", "i": "o", "ii": "v", "iii": "^", "iv": "*", "low_rank": "P"}


def plot(rows: List[Dict[str, Any]], path: Path) -> None:
    """``ablation.png``: left, test WER against unique parameters (log x), one numbered point per
    variant; right, the small-budget rows side by side (they sit too close on the x axis to read)."""
    try:
        import matplotlib
    except ImportError as err:
        raise ImportError("bench/ablation.py needs matplotlib for ablation.png: pip install -e '.[bench]'") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    done = sorted((r for r in rows if r["test_wer"]), key=lambda r: r["unique_params"])
    small_budget = sorted((r for r in done if r["role"] != "reference"), key=lambda r: r["test_wer"]["mean"])
    fig, (ax, zoom) = plt.subplots(1, 2, figsize=(13, 5.5), gridspec_kw={"width_ratios": [1.2, 1]})

    def bars(w: Dict[str, Any]):
        return [[w["mean"] - w["min"]], [w["max"] - w["mean"]]] if w["n"] > 1 else None

    colours: Dict[str, str] = {}
    for i, r in enumerate(done, 1):
        w = r["test_wer"]
        ax.errorbar(r["unique_params"], w["mean"], yerr=bars(w), fmt=MARKERS[r["role"]], markersize=9, capsize=4,
                    label=f"{i}: {r['label']} ({r['unique_params'] / 1e6:.2f}M)")
        # numbers next to the points, names in the legend; alternating sides keep neighbours apart
        ax.annotate(str(i), (r["unique_params"], w["mean"]), textcoords="offset points",
                    xytext=(7 if i % 2 else -7, 5), ha="left" if i % 2 else "right", fontsize=9)
        colours[r["variant"]] = ax.lines[-1].get_color()
    ax.set_xscale("log")
    millions = FuncFormatter(lambda x, _: f"{x / 1e6:g}M")
    ax.xaxis.set_major_formatter(millions)
    ax.xaxis.set_minor_formatter(millions)
    ax.set_xlabel("unique parameters (whole ASR model, log scale)")
    ax.set_ylabel("test WER (%)")
    ax.set_title("test WER vs unique parameters (bars: min–max over seeds)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")

    for y, r in enumerate(small_budget):
        w = r["test_wer"]
        zoom.errorbar(w["mean"], y, xerr=bars(w), fmt=MARKERS[r["role"]], markersize=9, capsize=4,
                      color=colours[r["variant"]])
    zoom.set_yticks(range(len(small_budget)))
    zoom.set_yticklabels([f"{r['label']} ({r['unique_params'] / 1e6:.2f}M)" for r in small_budget], fontsize=8)
    zoom.yaxis.tick_right()
    zoom.invert_yaxis()  # best on top
    # what sharing must beat (small plain) and what it approaches (the reference)
    for role, style in (("small_plain", "--"), ("reference", ":")):
        row = next((r for r in done if r["role"] == role), None)
        if row:
            ax.axhline(row["test_wer"]["mean"], color="grey", linestyle=style, linewidth=0.8)
            zoom.axvline(row["test_wer"]["mean"], color="grey", linestyle=style, linewidth=0.8)
    zoom.set_xlabel("test WER (%)   dashed: small plain, dotted: reference")
    zoom.set_title("small-budget rows, best first")
    zoom.grid(True, axis="x", alpha=0.3)
    fig.suptitle("CPU-scale ablation of the sharing levels")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
