"""Claims tables: what the paper claims and what this run found.

The Claims table at the end of each chapter is the output that the nbval
regression compares, so it must read the same on CPU and GPU and between runs.
:func:`compare` turns a measured ratio into ``True``/``False`` only when it is
clear of the threshold by a margin, and into ``"close"`` otherwise, so that
floating-point differences between machines cannot flip a verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Claim:
    """One row of a Claims table."""

    claim: str      # what the paper says, in a few words
    found: str      # what this run measured, rounded coarsely
    verdict: str    # "True", "False", "close" or "not tested"


def compare(value: float, threshold: float, *, above: bool = True, margin: float = 0.1) -> str:
    """``"True"`` if ``value`` is clearly above ``threshold`` (or below, with ``above=False``).

    "Clearly" means by a relative ``margin``: with the default 0.1 a value within
    ±10 % of the threshold is reported as ``"close"`` rather than flipping.
    """
    if margin < 0:
        raise ValueError(f"margin must be non-negative, got {margin!r}")
    lo, hi = threshold - abs(threshold) * margin, threshold + abs(threshold) * margin
    if value > hi:
        return "True" if above else "False"
    if value < lo:
        return "False" if above else "True"
    return "close"


def round_sig(value: float, digits: int = 1) -> str:
    """``value`` rounded to ``digits`` significant figures, as text (``"3e-04"``, ``"20"``)."""
    if value is None:
        return "not reached"
    if value == 0:
        return "0"
    text = f"{value:.{digits}g}"
    return text.replace("e-0", "e-").replace("e+0", "e")


def claims_table(claims: Sequence[Claim], title: str = "Claims") -> str:
    """A plain-text table of claims, aligned for printing."""
    rows = [("claim (paper)", "this run", "verdict")] + [(c.claim, c.found, c.verdict) for c in claims]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    rule = "  ".join("-" * w for w in widths)
    lines = [title, rule]
    for k, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if k == 0:
            lines.append(rule)
    lines.append(rule)
    return "\n".join(lines)
