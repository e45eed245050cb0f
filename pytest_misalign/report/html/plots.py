"""Plots for the HTML report: matplotlib figures rendered to inline SVG strings (Agg backend, text
kept as text so the page's font applies and the file stays small)."""

from __future__ import annotations

import io
import math
import re
from typing import Sequence

from .view import GroupRow, IntervalRow

_RC = {"svg.fonttype": "none", "svg.hashsalt": "pytest-misalign", "font.size": 9,
       "font.family": "sans-serif", "axes.spines.top": False, "axes.spines.right": False}
_PASS, _FAIL, _NEUTRAL = "#1a7f37", "#cf222e", "#0969da"


def _figure(n_rows: int):
    """A figure on its own Agg canvas: pyplot's global backend and figure list are left alone."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.2, 0.9 + 0.32 * max(n_rows, 1)))
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _rc():
    import matplotlib

    return matplotlib.rc_context(_RC)


def _to_svg(fig) -> str:
    """The figure as an `<svg>` element to inline in HTML: no XML prologue, DOCTYPE or metadata."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight",
                metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    return text.replace("<svg ", '<svg class="plot" role="img" ', 1)


def forest_plot(rows: Sequence[GroupRow], threshold: float | None, threshold_label: str,
                title: str) -> str:
    """Group accuracies (dots) with their Wilson intervals (bars), one row per group, and the
    check's threshold as a dashed vertical line (red dots: groups below it)."""
    with _rc():
        fig, ax = _figure(len(rows))
        ys = list(range(len(rows)))[::-1]
        for y, r in zip(ys, rows):
            below = threshold is not None and not math.isnan(r.accuracy) and r.accuracy < threshold - 1e-9
            color = _FAIL if below else _NEUTRAL
            ax.plot([r.lo, r.hi], [y, y], color=color, linewidth=2, solid_capstyle="butt")
            ax.plot([r.accuracy], [y], "o", color=color, markersize=5)
        if threshold is not None:
            ax.axvline(threshold, color="#57606a", linestyle="--", linewidth=1, label=threshold_label)
            ax.legend(loc="lower right", fontsize=8, frameon=False)
        ax.set_yticks(ys, [f"{r.group} (n={r.n})" for r in rows])
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_xlabel("accuracy (Wilson interval)")
        ax.set_title(title, fontsize=9, loc="left")
        ax.grid(axis="x", color="#d0d7de", linewidth=0.5)
        return _to_svg(fig)


def interval_plot(rows: Sequence[IntervalRow], limits: Sequence[float], limit_label: str, title: str,
                  xlabel: str) -> str:
    """Differences (dots) with intervals (bars), a zero line, and dashed lines at the allowed limits
    (e.g. ±max for a paired gap, max_drop for a baseline regression)."""
    with _rc():
        fig, ax = _figure(len(rows))
        ys = list(range(len(rows)))[::-1]
        for y, r in zip(ys, rows):
            outside = any((lim > 0 and r.value > lim) or (lim < 0 and r.value < lim) for lim in limits)
            color = _FAIL if outside else _NEUTRAL
            ax.plot([r.lo, r.hi], [y, y], color=color, linewidth=2, solid_capstyle="butt")
            ax.plot([r.value], [y], "o", color=color, markersize=5)
        ax.axvline(0, color="#8c959f", linewidth=0.8)
        for i, lim in enumerate(limits):
            ax.axvline(lim, color="#57606a", linestyle="--", linewidth=1, label=limit_label if i == 0 else None)
        if limits:
            ax.legend(loc="lower right", fontsize=8, frameon=False)
        ax.set_yticks(ys, [r.label for r in rows])
        ax.set_xlim(-1.02, 1.02)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_xlabel(xlabel)
        ax.set_title(title, fontsize=9, loc="left")
        ax.grid(axis="x", color="#d0d7de", linewidth=0.5)
        return _to_svg(fig)


def reliability_diagram(bins: Sequence[dict], title: str, ece: float | None = None) -> str:
    """Calibration: accuracy (bars) against mean confidence per equal-width confidence bin, the
    diagonal of perfect calibration, and each bin's count above its bar (`calibration` checks)."""
    with _rc():
        fig, ax = _figure(8)
        ax.plot([0, 1], [0, 1], color="#8c959f", linestyle="--", linewidth=1, label="perfect calibration")
        for b in bins:
            width = b["hi"] - b["lo"]
            off = abs(b["acc"] - b["conf"]) > 0.1
            ax.bar(b["lo"], b["acc"], width=width, align="edge", color=_FAIL if off else _NEUTRAL, alpha=0.75,
                   edgecolor="white")
            ax.plot([b["conf"]], [b["acc"]], "o", color="#24292f", markersize=3)
            ax.text(b["lo"] + width / 2, min(b["acc"], 0.93) + 0.02, str(b["count"]), ha="center", fontsize=7)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("confidence (largest softmax probability over the choices)")
        ax.set_ylabel("accuracy")
        label = f" (ECE {ece:.3f})" if ece is not None else ""
        ax.set_title(title + label, fontsize=9, loc="left")
        ax.legend(loc="upper left", fontsize=8, frameon=False)
        ax.grid(color="#d0d7de", linewidth=0.5)
        return _to_svg(fig)
