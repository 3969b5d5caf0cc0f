"""Structural checks of the book: every chapter is complete, executed and timed."""

import json
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from execute import TIMINGS, timing_table  # noqa: E402
from install_cell import MARKER, install_source, repository_url  # noqa: E402
from toc_notebooks import notebooks  # noqa: E402

CHAPTERS = list(notebooks())
# The guide's budget is 15 minutes for the whole book on this 2-core machine. On 2026-12-02 the
# machine ran the same code 1.6-2.4 times slower than when that budget was last met (chapter 06's
# unchanged code: 70 s then, about 200 s that day; chapter 09: 83 s then, 138 s), and the book,
# re-timed chapter by chapter alone, took 981 s. Until it is re-timed on a machine at its usual
# speed, the check allows 1,100 s; the closing note of issue 12 says so.
BUDGET_SECONDS = 1_100


def cells(path):
    return json.loads((ROOT / path).read_text())["cells"]


def test_the_toc_has_chapters():
    assert len(CHAPTERS) >= 2
    assert str(CHAPTERS[0]) == "book/00-introduction.ipynb"


@pytest.mark.parametrize("notebook", CHAPTERS, ids=str)
def test_chapter_is_complete_and_executed(notebook):
    notebook_cells = cells(notebook)
    assert (ROOT / notebook).with_suffix(".md").exists(), "no paired MyST source"
    code = [c for c in notebook_cells if c["cell_type"] == "code"]
    assert code and all(c.get("execution_count") for c in code), "not fully executed"
    markdown = "".join("".join(c["source"]) for c in notebook_cells if c["cell_type"] == "markdown")
    assert "## Claims" in markdown, "no Claims section"
    for cell in code:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"stored error: {output.get('evalue')}"
            text = "".join(output.get("text", ""))
            assert "it/s]" not in text, "a progress bar was stored"
    if notebook.name != "00-introduction.ipynb":
        assert "Deviations from the paper" in markdown, "no Deviations admonition"
        checked = [c for c in code if "".join(c["source"]).startswith("# NBVAL_CHECK_OUTPUT")]
        assert checked, "no regression-checked Claims cell"
        assert any(found_cells(o) for c in checked for o in c["outputs"]), "no Claims table stored"


#: A number in a checked cell: not part of a name such as H1, E12 or L2.
NUMBER = re.compile(r"(?<![A-Za-z_\d.])(\d+(?:\.\d+)?)(?:e[-+]?\d+)?")


def significant_digits(number: str) -> int:
    """Significant digits of a decimal numeral: '0.003' -> 1, '120' -> 2, '2000' -> 1, '1.5' -> 2."""
    digits = number.replace(".", "").lstrip("0").rstrip("0")
    return max(len(digits), 1)


def test_significant_digits():
    assert [significant_digits(n) for n in ("0.003", "120", "2000", "1.5", "0", "10")] == [
        1,
        2,
        1,
        2,
        1,
        1,
    ]
    found = [m.group(1) for m in NUMBER.finditer("H1 ≈ 2×, E12 3e-4 at d = 50, 1.5 and L2")]
    assert found == ["2", "3", "50", "1.5"]


def found_cells(output) -> list[str]:
    """The "this run" cells of a Claims table stored as HTML."""
    html = "".join(output.get("data", {}).get("text/html", ""))
    return [
        re.sub(r"<[^>]+>", "", c)
        for c in re.findall(r'<td class="claims-found">(.*?)</td>', html, re.S)
    ]


@pytest.mark.parametrize("notebook", CHAPTERS, ids=str)
def test_checked_claims_are_coarse(notebook):
    """Checked Claims cells print one Claims table whose "this run" column has one-digit numbers.

    nbval compares these cells on CPU here and on GPU runners: a second significant
    digit is what changes between devices, thread counts and BLAS libraries.
    """
    for cell in cells(notebook):
        source = "".join(cell["source"])
        if cell["cell_type"] != "code" or not source.startswith("# NBVAL_CHECK_OUTPUT"):
            continue
        outputs = cell.get("outputs", [])
        assert len(outputs) == 1, (
            f"a checked cell shows only its Claims table, got {len(outputs)} outputs"
        )
        found = found_cells(outputs[0])
        assert found, (
            "the checked cell's output is not a Claims table (sobolev.report.claims_table)"
        )
        for text in found:
            long = [n for n in NUMBER.findall(text) if significant_digits(n) > 1]
            assert not long, f"{notebook}: {text!r} has numbers with 2+ significant digits: {long}"


@pytest.mark.parametrize("notebook", CHAPTERS, ids=str)
def test_install_cell_is_current(notebook):
    """The first code cell installs sobolev from the repository.url of _config.yml, hidden."""
    first = next(c for c in cells(notebook) if c["cell_type"] == "code")
    assert MARKER in "".join(first["source"]), "the first code cell is not the install cell"
    assert "".join(first["source"]) == install_source(repository_url()), (
        "install cell out of date: run `python tools/install_cell.py`"
    )
    assert "remove-cell" in first["metadata"].get("tags", [])


def test_every_chapter_is_timed_within_budget():
    timings = json.loads(TIMINGS.read_text())
    missing = [str(nb) for nb in CHAPTERS if str(nb) not in timings]
    assert not missing, f"run `make execute` for: {missing}"
    total = sum(timings[str(nb)] for nb in CHAPTERS)
    assert total <= BUDGET_SECONDS, (
        f"the book takes {total:.0f} s at book scale, over {BUDGET_SECONDS} s"
    )


def test_timing_tables_are_current():
    table = timing_table(json.loads(TIMINGS.read_text()))
    for page in ("README.md", "book/status.md"):
        assert table in (ROOT / page).read_text(), (
            f"{page}: timing table out of date (run tools/execute.py)"
        )


def test_introduction_counts_the_stored_verdicts():
    """The introduction's verdict counts were made from the chapters as they are stored now."""
    from sobolev.report import verdict_counts

    intro = cells("book/00-introduction.ipynb")
    cell = next(
        c for c in intro if c["cell_type"] == "code" and "verdict_counts(" in "".join(c["source"])
    )
    stored = "".join(cell["outputs"][0]["data"]["text/plain"])
    chapters = sorted((ROOT / "book").glob("[0-9][0-9]-*.ipynb"))
    current = str(verdict_counts([nb for nb in chapters if not nb.name.startswith("00-")]))
    assert stored == current, (
        "re-execute the introduction after the chapters: make execute NB=book/00-introduction.md"
    )
