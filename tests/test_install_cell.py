"""tools/install_cell.py writes the repository URL of _config.yml into every chapter's install cell."""

import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import install_cell  # noqa: E402

URL = "https://example.org/someone/book"
OLD = (
    "```{code-cell} ipython3\ntry:\n    import sobolev\nexcept ImportError:  # on Colab\n"
    '    %pip install -q "sobolev @ git+https://old.example/x"\n    import sobolev\n```'
)
BODY = "```{code-cell} ipython3\nimport numpy as np\n```"


def test_the_cell_installs_from_the_url_and_is_hidden():
    source = install_cell.install_source(URL)
    assert f'"git+{URL}"' in source and "%pip install" in source
    assert install_cell.md_cell(URL).startswith("```{code-cell} ipython3\n:tags: [remove-cell]")
    assert all(len(line) <= 80 for line in source.splitlines())  # fits the column and ruff


def test_fix_md_inserts_replaces_and_deduplicates():
    inserted = install_cell.fix_md(f"# Title\n\n{BODY}\n", URL)
    assert inserted.index(URL) < inserted.index("import numpy")
    replaced = install_cell.fix_md(f"# Title\n\n{OLD}\n\n{BODY}\n", URL)
    assert "old.example" not in replaced and replaced.count("%pip install") == 1
    twice = install_cell.fix_md(f"# T\n\n{install_cell.md_cell(URL)}\n\n{OLD}\n\n{BODY}\n", URL)
    assert twice.count("%pip install") == 1 and "import numpy" in twice
    assert install_cell.fix_md(inserted, URL) == inserted  # idempotent


def test_fix_ipynb_rewrites_the_cell_in_place():
    def code(src):
        return {"cell_type": "code", "source": src, "metadata": {}, "outputs": []}

    notebook = {"cells": [code(OLD.split("\n", 1)[1].rsplit("\n", 1)[0]), code("x = 1")]}
    assert install_cell.fix_ipynb(notebook, URL)
    assert "".join(notebook["cells"][0]["source"]) == install_cell.install_source(URL)
    assert notebook["cells"][0]["metadata"]["tags"] == ["remove-cell"]
    assert not install_cell.fix_ipynb(notebook, URL)  # now current
    with pytest.raises(ValueError, match="no install cell"):
        install_cell.fix_ipynb({"cells": [code("x = 1")]}, URL)


def test_the_url_comes_from_the_config(tmp_path):
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://example.org/a/b/\n")
    assert install_cell.repository_url(tmp_path) == "https://example.org/a/b"
    (tmp_path / "_config.yml").write_text("title: x\n")
    with pytest.raises(SystemExit, match="repository.url"):
        install_cell.repository_url(tmp_path)
