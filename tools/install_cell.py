"""Write the repository URL of ``_config.yml`` into every chapter's install cell.

    python tools/install_cell.py           # rewrite the install cells that differ (.md and .ipynb)
    python tools/install_cell.py --check   # exit 1 and list the chapters whose cell differs

Every chapter starts with the same hidden cell (tag ``remove-cell``) that installs
the ``sobolev`` package on Colab when it is missing. The URL it installs from is
``repository.url`` in ``_config.yml`` — the same URL the launch buttons use — so
publishing the book elsewhere is a one-line change there followed by this tool
(``make book`` runs it).
"""

from __future__ import annotations

import pathlib
import re
import sys

import nbformat
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
MARKER = "# On Colab: install the sobolev package if it is missing (see the introduction)"


def repository_url(root: pathlib.Path = ROOT) -> str:
    config = yaml.safe_load((root / "_config.yml").read_text())
    try:
        url = config["repository"]["url"].strip().rstrip("/")
    except (KeyError, TypeError, AttributeError):
        raise SystemExit("_config.yml has no repository.url") from None
    if not url.startswith("https://"):
        raise SystemExit(f"repository.url in _config.yml must be an https URL, got {url!r}")
    return url


def install_source(url: str) -> str:
    """The code of the install cell for ``url``."""
    return "\n".join(
        [
            MARKER,
            "try:",
            "    import sobolev  # noqa: F401",
            "except ImportError:",
            f'    repository = "git+{url}"',
            '    %pip install -q "sobolev @ {repository}"',
            "    import sobolev  # noqa: F401",
        ]
    )


def md_cell(url: str) -> str:
    return "```{code-cell} ipython3\n:tags: [remove-cell]\n\n" + install_source(url) + "\n```"


def is_install_cell(source: str) -> bool:
    """The install cell is the one that pip-installs sobolev from git (whatever its comment says)."""
    return MARKER in source or ("%pip install" in source and "sobolev @ " in source)


CELL = re.compile(r"```\{code-cell\}[^\n]*\n(?:.*?\n)?```", re.S)


def fix_md(text: str, url: str) -> str:
    """``text`` (a chapter's MyST source) with exactly one install cell, current, first."""
    cells = [m for m in CELL.finditer(text) if is_install_cell(m.group(0))]
    for match in reversed(cells[1:]):  # a second install cell (an old one) is dropped
        end = match.end() + (2 if text[match.end() : match.end() + 2] == "\n\n" else 0)
        text = text[: match.start()] + text[end:]
    if cells:
        first = cells[0]
        return text[: first.start()] + md_cell(url) + text[first.end() :]
    first = CELL.search(text)
    if first is None:
        return text
    return text[: first.start()] + md_cell(url) + "\n\n" + text[first.start() :]


def fix_ipynb(notebook: dict, url: str) -> bool:
    """Make the install cell of ``notebook`` current (and the only one) in place; True if it changed."""
    source = install_source(url)
    found = [
        k
        for k, cell in enumerate(notebook["cells"])
        if cell["cell_type"] == "code" and is_install_cell("".join(cell["source"]))
    ]
    if not found:
        raise ValueError("no install cell: run the tool on the .md, then `make execute`")
    for k in reversed(found[1:]):
        del notebook["cells"][k]
    cell = notebook["cells"][found[0]]
    tags = cell.setdefault("metadata", {}).setdefault("tags", [])
    changed = len(found) > 1 or "".join(cell["source"]) != source or "remove-cell" not in tags
    cell["source"] = source.splitlines(keepends=True)
    if "remove-cell" not in tags:
        tags.append("remove-cell")
    return changed


def chapters(root: pathlib.Path = ROOT) -> list[pathlib.Path]:
    return sorted((root / "book").glob("[0-9][0-9]-*.md"))


def main(argv: list[str]) -> int:
    check = "--check" in argv
    url = repository_url()
    stale = []
    for md in chapters():
        text = md.read_text()
        fixed = fix_md(text, url)
        nb_path = md.with_suffix(".ipynb")
        notebook = nbformat.read(nb_path, as_version=4) if nb_path.exists() else None
        nb_changed = False
        if notebook is not None:
            try:
                nb_changed = fix_ipynb(notebook, url)
            except ValueError:
                nb_changed = True
        if fixed != text or nb_changed:
            stale.append(md.relative_to(ROOT))
            if not check:
                md.write_text(fixed)
                if notebook is not None and any(
                    is_install_cell("".join(c["source"])) for c in notebook["cells"]
                ):
                    nbformat.write(notebook, nb_path)
    for path in stale:
        print(f"install cell {'out of date' if check else 'rewritten'}: {path}")
    return 1 if (check and stale) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
