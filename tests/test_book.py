"""Structural checks of the book: every chapter is complete, executed and timed."""

import json
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from execute import TIMINGS, timing_table  # noqa: E402
from toc_notebooks import notebooks  # noqa: E402

CHAPTERS = list(notebooks())
BUDGET_SECONDS = 15 * 60


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
        assert any("Claims" in "".join(o.get("text", "")) for c in checked for o in c["outputs"])


def test_every_chapter_is_timed_within_budget():
    timings = json.loads(TIMINGS.read_text())
    missing = [str(nb) for nb in CHAPTERS if str(nb) not in timings]
    assert not missing, f"run `make execute` for: {missing}"
    total = sum(timings[str(nb)] for nb in CHAPTERS)
    assert total <= BUDGET_SECONDS, f"the book takes {total:.0f} s at book scale, over {BUDGET_SECONDS} s"


def test_timing_tables_are_current():
    table = timing_table(json.loads(TIMINGS.read_text()))
    for page in ("README.md", "book/status.md"):
        assert table in (ROOT / page).read_text(), f"{page}: timing table out of date (run tools/execute.py)"
