"""The book's figure style: L2 dashed, Sobolev solid, log axes, bands over seeds."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

#: Line style per loss: the plain L2 loss dashed, every Sobolev loss solid (as in the paper).
LINESTYLES = {"l2": "--", "h1": "-", "h2": "-"}

STYLE = {
    "figure.figsize": (7.0, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 2.0,
    "legend.frameon": False,
    "font.size": 11,
    "image.cmap": "viridis",
}


def use_book_style() -> None:
    """Apply the book's matplotlib style (call once at the top of a chapter)."""
    mpl.rcParams.update(STYLE)


def linestyle(loss: str) -> str:
    """Dashed for ``"l2"``, solid for any Sobolev loss (names starting ``h1``/``h2``)."""
    key = loss.lower()[:2]
    return LINESTYLES.get(key, "-")


def band(ax: plt.Axes, x: Sequence[float], runs, *, label: str | None = None, loss: str = "h1",
         color=None, quantiles: tuple[float, float] = (0.1, 0.9), alpha: float = 0.2, **kwargs):
    """Plot the median over runs (rows of ``runs``) with a shaded quantile band.

    ``runs`` has shape (n_runs, len(x)); one run draws a plain line. The line is
    dashed for ``loss="l2"`` and solid for Sobolev losses.
    """
    runs = np.atleast_2d(np.asarray(runs, dtype=float))
    x = np.asarray(x)
    if runs.shape[1] != x.shape[0]:
        raise ValueError(f"runs must have shape (n_runs, {x.shape[0]}), got {runs.shape}")
    middle = np.median(runs, axis=0)
    (line,) = ax.plot(x, middle, linestyle=linestyle(loss), color=color, label=label, **kwargs)
    if runs.shape[0] > 1:
        lo, hi = np.quantile(runs, quantiles, axis=0)
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=alpha, linewidth=0)
    return line


def loglog_axes(ax: plt.Axes, xlabel: str, ylabel: str, *, logx: bool = True) -> plt.Axes:
    """Label an axes in the book's style (lowercase labels, log scales)."""
    if logx:
        ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax
