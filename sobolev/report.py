"""Claims tables and result tables: what the paper claims and what this run found.

The Claims table at the end of each chapter is the output that the nbval
regression compares, on CPU here and on GPU runners elsewhere, so it must read
the same on every machine and between runs. Three rules make that so:

* a **verdict is computed**: :func:`compare` (a ratio against a threshold),
  :func:`compare_seeds` (two methods over several seeds) and :func:`verdict`
  (a yes/no measurement) are the only ways to make one;
* a verdict near its threshold reads :data:`CLOSE` ("too close to call")
  instead of flipping on round-off, and a verdict with nothing to decide reads
  :data:`NOT_TESTED`;
* the "this run" column holds coarse text only: verdicts and numbers of **one
  significant digit** (:func:`round_sig`). ``tests/test_book.py`` enforces this
  on every checked Claims cell; precise numbers go in a :func:`table` in a cell
  that nbval does not check.

A :class:`ClaimsTable` displays as an HTML table on the page (and in Jupyter or
Colab) and as aligned plain text where there is no HTML; both are made from the
same rows.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

#: The four verdicts a Claims row can carry, in the words a reader sees.
REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
CLOSE = "too close to call"
NOT_TESTED = "not tested"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, CLOSE, NOT_TESTED)

#: The mark shown before each verdict.
MARKS = {REPRODUCED: "✓", NOT_REPRODUCED: "✗", CLOSE: "≈", NOT_TESTED: "–"}


@dataclass(frozen=True)
class Claim:
    """One row of a Claims table.

    ``claim`` is what the paper (or the book, marked "(book)") says, in a few
    words; ``found`` is what this run measured, coarsely (one significant digit);
    ``verdict`` is one of :data:`VERDICTS`, made by :func:`compare`,
    :func:`compare_seeds` or :func:`verdict`.
    """

    claim: str
    found: str
    verdict: str

    def __post_init__(self):
        for name in ("claim", "found", "verdict"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"Claim.{name} must be a string, got {getattr(self, name)!r}")
        if self.verdict not in VERDICTS:
            raise ValueError(
                f"Claim.verdict must be one of {VERDICTS} (made by compare, compare_seeds or verdict), "
                f"got {self.verdict!r}"
            )


def _finite(value) -> bool:
    return value is not None and isinstance(value, (int, float, np.number)) and math.isfinite(value)


def verdict(holds: bool | None) -> str:
    """The verdict of a yes/no measurement: :data:`REPRODUCED` if ``holds``, else
    :data:`NOT_REPRODUCED`; ``None`` (nothing was measured) gives :data:`NOT_TESTED`.

    Use it only where the measurement itself decides the claim (a count of
    violations, an exact identity checked to round-off), never for a condition
    beside the claim.
    """
    if holds is None:
        return NOT_TESTED
    if not isinstance(holds, (bool, np.bool_)):
        raise TypeError(f"holds must be a bool or None, got {holds!r}")
    return REPRODUCED if holds else NOT_REPRODUCED


def compare(
    value: float | None, threshold: float, *, above: bool = True, margin: float = 0.1
) -> str:
    """Does the claim "``value`` > ``threshold``" hold (or "<", with ``above=False``)?

    :data:`REPRODUCED` when ``value`` is clear of ``threshold`` on the claimed
    side by a relative ``margin`` (default 10 %), :data:`NOT_REPRODUCED` when it
    is clear on the other side, :data:`CLOSE` in between, so that round-off
    cannot flip it. ``None`` or a non-finite value (nothing was measured, e.g.
    no run reached the threshold) gives :data:`NOT_TESTED`.
    """
    if margin < 0:
        raise ValueError(f"margin must be non-negative, got {margin!r}")
    if not _finite(value):
        return NOT_TESTED
    lo, hi = threshold - abs(threshold) * margin, threshold + abs(threshold) * margin
    if value > hi:
        return REPRODUCED if above else NOT_REPRODUCED
    if value < lo:
        return NOT_REPRODUCED if above else REPRODUCED
    return CLOSE


def compare_seeds(
    better,
    worse,
    *,
    factor: float = 1.0,
    lower_is_better: bool = True,
    margin: float = 0.1,
    min_seeds: int = 3,
) -> str:
    """Is method ``better`` better than ``worse`` by ``factor``, over seeds?

    ``better`` and ``worse`` are one number per seed each (a final error, a
    number of steps). With ``lower_is_better`` (the default) the gain is
    ``median(worse) / median(better)``. The claim is

    * :data:`REPRODUCED` when the gain clears ``factor`` by ``margin`` **and** the
      seeds separate: every seed of ``better`` beats every seed of ``worse``
      (for 5 seeds against 5, a chance of 1/126 when the methods are the same);
    * :data:`NOT_REPRODUCED` when the gain falls short of ``factor`` by the margin
      and either ``factor > 1`` (a gain smaller than claimed) or the seeds
      separate the other way (``worse`` is better);
    * :data:`CLOSE` otherwise: the run cannot tell the methods apart.

    Non-finite entries (diverged runs, thresholds never reached) count as the
    worst possible value. Fewer than ``min_seeds`` seeds, or no finite value at
    all, gives :data:`NOT_TESTED`.
    """
    a = np.asarray(better, dtype=float).ravel()
    b = np.asarray(worse, dtype=float).ravel()
    if factor <= 0:
        raise ValueError(f"factor must be positive, got {factor!r}")
    if a.size < min_seeds or b.size < min_seeds:
        return NOT_TESTED
    if not (np.isfinite(a).any() or np.isfinite(b).any()):
        return NOT_TESTED
    worst = np.inf if lower_is_better else -np.inf
    a = np.where(np.isfinite(a), a, worst)
    b = np.where(np.isfinite(b), b, worst)
    if not lower_is_better:  # "higher is better": compare the reciprocals of positive scores
        if (a[np.isfinite(a)] <= 0).any() or (b[np.isfinite(b)] <= 0).any():
            raise ValueError("with lower_is_better=False the values must be positive")
        with np.errstate(divide="ignore"):
            a, b = 1.0 / np.where(a == -np.inf, 0.0, a), 1.0 / np.where(b == -np.inf, 0.0, b)
    gain = median_gain(a, b)
    if gain is None:  # both medians infinite: nothing separates them
        gain = 1.0
    if gain > factor * (1 + margin) and a.max() < b.min():
        return REPRODUCED
    if gain < factor * (1 - margin) and (factor > 1 or b.max() < a.min()):
        return NOT_REPRODUCED
    return CLOSE


def median_gain(better, worse) -> float | None:
    """How many times better the median of ``better`` is: ``median(worse) / median(better)``.

    One number per seed each, lower is better (errors, steps); non-finite entries
    (diverged, never reached) count as the worst value. ``inf`` when only ``worse``
    never got there, ``None`` when neither median is finite (nothing to compare).
    """
    a = np.asarray(better, dtype=float).ravel()
    b = np.asarray(worse, dtype=float).ravel()
    ma = float(np.median(np.where(np.isfinite(a), a, np.inf)))
    mb = float(np.median(np.where(np.isfinite(b), b, np.inf)))
    if not (math.isfinite(ma) or math.isfinite(mb)):
        return None
    if not math.isfinite(ma):
        return 0.0
    return mb / ma if ma > 0 else math.inf


def gain_text(gain: float | None) -> str:
    """A gain (> 1 when the first method is better) in coarse words for a checked cell:
    "≥ 100×", "≥ 10×", "≥ 2×", "> 1×" (1.1 to 2), "≈ 1×" (within 10 %), "< 1×"
    (½ to 0.9), "≤ 0.5×", "≤ 0.1×", "≤ 0.01×"; the 10 % band is the margin of
    :func:`compare_seeds`. ``None`` reads "–", an infinite gain "diverged"."""
    if gain is None or not math.isfinite(gain):
        return "diverged" if gain is not None and math.isinf(gain) else "–"
    for bound, text in ((100, "≥ 100×"), (10, "≥ 10×"), (2, "≥ 2×"), (1.1, "> 1×")):
        if gain >= bound:
            return text
    for bound, text in ((0.01, "≤ 0.01×"), (0.1, "≤ 0.1×"), (0.5, "≤ 0.5×"), (0.9, "< 1×")):
        if gain <= bound:
            return text
    return "≈ 1×"


def round_sig(value: float | None, digits: int = 1) -> str:
    """``value`` rounded to ``digits`` significant figures, as text (``"3e-04"`` → ``"3e-4"``).

    ``None`` reads "not reached"; non-finite values read "diverged" (inf) or "n/a" (nan).
    """
    if value is None:
        return "not reached"
    if not isinstance(digits, int) or isinstance(digits, bool) or digits < 1:
        raise ValueError(f"digits must be a positive integer, got {digits!r}")
    value = float(value)
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "diverged"
    if value == 0:
        return "0"
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


_STEPS = (1, 2, 5)
_MARGIN = 1.25


def _series_below(value: float) -> float:
    """The largest number of the series 1, 2, 5, 10, 20, … with ``1.25 × it <= value``."""
    exponent = math.floor(math.log10(value / _MARGIN))
    best = 10.0**exponent
    for step in _STEPS:
        candidate = step * 10.0**exponent
        if candidate * _MARGIN <= value * (1 + 1e-12):
            best = candidate
    return best


def _series_text(value: float) -> str:
    text = f"{value:,.0f}" if value >= 1 else f"{value:.10f}".rstrip("0")
    return text


def ratio_text(value: float | None) -> str:
    """A ratio as a reader should see it in a checked cell: ``"> 200×"``, ``"≈ 2×"``, ``"< 0.2×"``.

    Checked cells must read the same on a GPU, whose last bits differ and whose
    long training runs therefore end elsewhere within the spread of the seeds. So
    large ratios are shown as a bound on the 1-2-5 series with 25 % to spare
    (``377`` and ``501`` both read ``"> 200×"``; 8.9 and 9.6 both ``"> 5×"``): three
    boundaries a decade instead of the nine of one-digit rounding. From 2.5 up the
    ratio reads "> k×", below 0.4 "< k×" (the mirror image); between them it is
    rounded to one digit, except that 1.1 to 1.5 reads ``"> 1×"`` (rounded to
    ``"≈ 1×"`` it would stand beside a "reproduced" of :func:`compare`, whose band
    around 1 is ±10 %, and read as a tie).
    """
    if not _finite(value):
        return round_sig(value)
    value = float(value)
    if value >= 2.5:
        return f"> {_series_text(_series_below(value))}×"
    if 0 < value < 0.4:
        bound = 1 / _series_below(1 / value)
        return f"< {_series_text(round(bound, 12))}×"
    if 1.1 < value < 1.5:
        return "> 1×"
    return f"≈ {round_sig(value)}×"


def order_text(value: float | None, *, bound: str) -> str:
    """A positive ``value`` as a power of ten it clearly exceeds or stays under: ``"< 1e-9"``.

    For checked cells whose numbers are round-off (errors of 1e-10, ratios of 1e10),
    which move by tens of percent between machines: ``bound="above"`` reads
    ``"> 1e{k}"`` with ``k = floor(log10(value) - 0.5)``, ``bound="below"`` reads
    ``"< 1e{k}"`` with ``k = ceil(log10(value) + 0.5)``; half a decade to spare
    either way, so only a change by a factor of about 3 can change the text.
    """
    if bound not in ("above", "below"):
        raise ValueError(f"bound must be 'above' or 'below', got {bound!r}")
    if not _finite(value) or value <= 0:
        return round_sig(value)
    exponent = math.log10(float(value))
    if bound == "above":
        return f"> 1e{math.floor(exponent - 0.5)}"
    return f"< 1e{math.ceil(exponent + 0.5)}"


def _html_table(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    css: str,
    caption: str | None = None,
    classes: Sequence[str] | None = None,
) -> str:
    parts = [f'<table class="{css}">']
    if caption:
        parts.append(f"<caption>{html.escape(caption)}</caption>")
    parts.append(
        "<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead>"
    )
    parts.append("<tbody>")
    for row in rows:
        cells = []
        for k, cell in enumerate(row):
            cls = f' class="{classes[k]}"' if classes and classes[k] else ""
            cells.append(f"<td{cls}>{cell}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def _text_table(header: Sequence[str], rows: Sequence[Sequence[str]], title: str | None) -> str:
    rows = [tuple(header)] + [tuple(r) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    rule = "  ".join("-" * w for w in widths)
    lines = ([title] if title else []) + [rule]
    for k, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if k == 0:
            lines.append(rule)
    lines.append(rule)
    return "\n".join(lines)


class ClaimsTable:
    """A chapter's Claims: HTML on the page, aligned plain text elsewhere.

    Make it the last expression of a cell (or ``display`` it); ``str`` gives the
    plain text.
    """

    HEADER = ("claim (paper)", "this run", "verdict")

    def __init__(self, claims: Sequence[Claim], title: str = "Claims"):
        claims = list(claims)
        if not claims:
            raise ValueError("a Claims table needs at least one Claim")
        for c in claims:
            if not isinstance(c, Claim):
                raise TypeError(f"claims must be Claim objects, got {c!r}")
        self.claims = claims
        self.title = title

    def __str__(self) -> str:
        return _text_table(
            self.HEADER, [(c.claim, c.found, c.verdict) for c in self.claims], self.title
        )

    __repr__ = __str__

    def _repr_html_(self) -> str:
        rows = []
        for c in self.claims:
            slug = c.verdict.replace(" ", "-")
            mark = f'<span class="verdict verdict-{slug}">{MARKS[c.verdict]} {html.escape(c.verdict)}</span>'
            rows.append((html.escape(c.claim), html.escape(c.found), mark))
        return _html_table(
            self.HEADER,
            rows,
            css="claims-table",
            caption=self.title,
            classes=("claims-claim", "claims-found", "claims-verdict"),
        )

    def counts(self) -> dict[str, int]:
        """How many rows carry each verdict."""
        return {v: sum(c.verdict == v for c in self.claims) for v in VERDICTS}


def claims_table(claims: Sequence[Claim], title: str = "Claims") -> ClaimsTable:
    """The Claims table of a chapter (see :class:`ClaimsTable`)."""
    return ClaimsTable(claims, title)


class Table:
    """A small table of results (precise numbers, unchecked by nbval): HTML and plain text."""

    def __init__(self, header: Sequence[str], rows: Sequence[Sequence], caption: str | None = None):
        self.header = [str(h) for h in header]
        self.rows = [[_cell(v) for v in row] for row in rows]
        for row in self.rows:
            if len(row) != len(self.header):
                raise ValueError(f"every row needs {len(self.header)} cells, got {row!r}")
        self.caption = caption

    def __str__(self) -> str:
        return _text_table(self.header, self.rows, self.caption)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return _html_table(
            self.header,
            [[html.escape(v) for v in row] for row in self.rows],
            css="results-table",
            caption=self.caption,
        )


def _cell(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if value is None:
        return "–"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "–"
        if math.isinf(value):
            return "diverged" if value > 0 else "−inf"
        if value != 0 and (abs(value) < 1e-2 or abs(value) >= 1e5):
            return f"{value:.2e}".replace("e-0", "e-").replace("e+0", "e")
        return f"{value:.3g}"
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence], caption: str | None = None) -> Table:
    """A table of precise results for an unchecked cell: floats to 3 significant digits."""
    return Table(header, rows, caption)


def stored_claims(notebook) -> list[Claim]:
    """The Claims rows stored in an executed notebook (the outputs of its checked Claims cells,
    those whose source starts with ``# NBVAL_CHECK_OUTPUT``).

    ``notebook`` is a path to an ``.ipynb``. Reads the HTML that :class:`ClaimsTable`
    wrote, so the introduction can summarise every chapter's verdicts from what the
    chapters computed, without re-running them.
    """
    import json
    import pathlib
    import re

    path = pathlib.Path(notebook)
    try:
        cells = json.loads(path.read_text())["cells"]
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"{path} is not a readable notebook ({error})") from None
    row = re.compile(
        r'<td class="claims-claim">(.*?)</td><td class="claims-found">(.*?)</td>'
        r'<td class="claims-verdict"><span[^>]*>[^ ]+ (.*?)</span></td>',
        re.S,
    )
    claims = []
    for cell in cells:
        source = "".join(cell.get("source", ""))
        if cell.get("cell_type") != "code" or not source.startswith("# NBVAL_CHECK_OUTPUT"):
            continue  # only the regression-checked Claims, not tables of measured times
        for output in cell.get("outputs", []):
            page = "".join(output.get("data", {}).get("text/html", ""))
            for claim, found, verdict_text in row.findall(page):
                claims.append(
                    Claim(html.unescape(claim), html.unescape(found), html.unescape(verdict_text))
                )
    return claims


def verdict_counts(notebooks) -> Table:
    """A table of how many Claims rows of each chapter carry each verdict."""
    import pathlib

    rows = []
    for nb in notebooks:
        claims = stored_claims(nb)
        counts = {v: sum(c.verdict == v for c in claims) for v in VERDICTS}
        rows.append([pathlib.Path(nb).stem, *[counts[v] for v in VERDICTS]])
    totals = [sum(r[k] for r in rows) for k in range(1, len(VERDICTS) + 1)]
    rows.append(["whole book", *totals])
    return Table(["chapter", *[f"{MARKS[v]} {v}" for v in VERDICTS]], rows)
