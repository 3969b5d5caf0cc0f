"""The book's figure style: L2 dashed, Sobolev solid, log axes, bands over seeds.

Figures are drawn for the book's text column (752 px at a 1280 px window): at
most :data:`COLUMN_WIDTH` inches wide, stored as 150 dpi PNG, with no text
smaller than 9 pt. A wider figure is shrunk in the column until its text is
unreadable (``tests/test_site.py`` fails when a figure is shown at fewer than
85 px per figure inch); one that needs the page's whole width says so with the
cell tag ``full-width``.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

#: Line style per loss: the plain L2 loss dashed, every Sobolev loss solid (as in the paper).
LINESTYLES = {"l2": "--", "h1": "-", "h2": "-"}

#: The widest figure, in inches, that the text column shows at full size.
COLUMN_WIDTH = 7.5

STYLE = {
    "figure.figsize": (COLUMN_WIDTH, 4.0),
    "figure.dpi": 150,
    "savefig.dpi": 150,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 2.0,
    "legend.frameon": False,
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "image.cmap": "viridis",
}


def use_book_style() -> None:
    """Apply the book's matplotlib style (:func:`sobolev.config.start_chapter` calls it)."""
    mpl.rcParams.update(STYLE)


def figure(ncols: int = 1, nrows: int = 1, *, height: float | None = None, **kwargs):
    """``plt.subplots`` sized for the text column: :data:`COLUMN_WIDTH` wide, ``height`` inches
    (default 3.2 per row, 4 for one panel)."""
    if height is None:
        height = 4.0 if nrows == 1 and ncols == 1 else 3.2 * nrows
    kwargs.setdefault("layout", "constrained")
    return plt.subplots(nrows, ncols, figsize=(COLUMN_WIDTH, height), **kwargs)


def linestyle(loss: str) -> str:
    """Dashed for ``"l2"``, solid for any Sobolev loss (names starting ``h1``/``h2``)."""
    key = loss.lower()[:2]
    return LINESTYLES.get(key, "-")


def band(
    ax: plt.Axes,
    x: Sequence[float],
    runs,
    *,
    label: str | None = None,
    loss: str = "h1",
    color=None,
    quantiles: tuple[float, float] = (0.1, 0.9),
    alpha: float = 0.2,
    **kwargs,
):
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
