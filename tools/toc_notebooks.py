"""Print the executed notebooks named in _toc.yml, one per line (in book order)."""

import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


def toc_files(node):
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                yield node[key]
        for value in node.values():
            if isinstance(value, (list, dict)):
                yield from toc_files(value)
    elif isinstance(node, list):
        for item in node:
            yield from toc_files(item)


def notebooks():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    for name in toc_files(toc):
        path = ROOT / f"{name}.ipynb"
        if path.exists():
            yield path.relative_to(ROOT)


if __name__ == "__main__":
    paths = list(notebooks())
    if not paths:
        sys.exit("no notebooks found in _toc.yml")
    print("\n".join(str(p) for p in paths))
