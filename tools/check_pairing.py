"""Check that every book/NN-slug.md and its book/NN-slug.ipynb hold the same cells.

Timestamp-free: the notebook is rendered to MyST with the repository's
jupytext.toml settings and compared with the committed .md text.
"""

import pathlib
import sys

import jupytext
from jupytext.config import find_jupytext_configuration_file, load_jupytext_configuration_file

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> int:
    config = load_jupytext_configuration_file(find_jupytext_configuration_file(str(ROOT)))
    problems = []
    mds = sorted((ROOT / "book").glob("[0-9][0-9]-*.md"))
    for md in mds:
        nb_path = md.with_suffix(".ipynb")
        if not nb_path.exists():
            problems.append(f"{md.name}: no paired {nb_path.name}")
            continue
        notebook = jupytext.read(nb_path)
        rendered = jupytext.writes(notebook, fmt="md:myst", config=config)
        if rendered.strip() != md.read_text().strip():
            problems.append(
                f"{md.name} and {nb_path.name} differ: run `jupytext --sync {md.relative_to(ROOT)}`"
            )
    for nb_path in sorted((ROOT / "book").glob("[0-9][0-9]-*.ipynb")):
        if not nb_path.with_suffix(".md").exists():
            problems.append(f"{nb_path.name}: no paired .md source")
    for p in problems:
        print("pairing:", p)
    print(f"pairing: {len(mds)} pairs checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
