"""Re-execute the book's notebooks in place and record how long each took.

    python tools/execute.py                          # every notebook in _toc.yml
    python tools/execute.py book/01-sobolev-losses.md  # one chapter (.md or .ipynb)
    python tools/execute.py --out DIR [chapters]     # execute copies into DIR (the tree is untouched)

Each chapter's MyST source is synced into its notebook first (the .md is the
source of truth), then the notebook is executed with nbconvert, in place, at
the scale of SOBOLEV_SCALE (the committed notebooks use ``book``). The wall
times go to book/timings.json and into the tables between the timing markers
of README.md and book/status.md.
"""

import json
import os
import pathlib
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from toc_notebooks import notebooks  # noqa: E402

TIMINGS = ROOT / "book" / "timings.json"
START, END = "<!-- timings:start -->", "<!-- timings:end -->"


def execute(notebook: pathlib.Path, out: pathlib.Path | None = None) -> float:
    """Execute ``notebook`` in place (synced from its .md first), or, with ``out``, the
    committed notebook into ``out`` (run from book/, the tree left as it is)."""
    md = notebook.with_suffix(".md")
    bin_dir = pathlib.Path(sys.executable).parent
    if md.exists() and out is None:
        subprocess.run(
            [bin_dir / "jupytext", "--to", "ipynb", "--update", str(md)],
            check=True,
            capture_output=True,
        )
    started = time.perf_counter()
    subprocess.run(
        [
            bin_dir / "jupyter",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            *(["--inplace"] if out is None else ["--output-dir", str(out)]),
            "--ExecutePreprocessor.timeout=-1",
            str(notebook),
        ],
        check=True,
    )
    return time.perf_counter() - started


def timing_table(timings: dict) -> str:
    lines = ["| chapter | seconds at book scale |", "| --- | ---: |"]
    total = 0.0
    for path in (str(p) for p in notebooks()):
        if path in timings:
            lines.append(f"| `{path}` | {timings[path]:.0f} |")
            total += timings[path]
    lines.append(f"| **whole book** | **{total:.0f}** |")
    return "\n".join(lines)


def write_tables(timings: dict) -> None:
    table = timing_table(timings)
    for page in (ROOT / "README.md", ROOT / "book" / "status.md"):
        if not page.exists():
            continue
        text = page.read_text()
        if START in text and END in text:
            text = re.sub(
                re.escape(START) + ".*?" + re.escape(END),
                f"{START}\n{table}\n{END}",
                text,
                flags=re.S,
            )
            page.write_text(text)


def main(args: list[str]) -> None:
    os.chdir(ROOT)
    os.environ.setdefault("SOBOLEV_QUIET", "1")  # no progress bars in stored outputs
    out = None
    if "--out" in args:
        k = args.index("--out")
        if k + 1 >= len(args):
            sys.exit("--out needs a directory")
        out = pathlib.Path(args[k + 1]).resolve()
        args = args[:k] + args[k + 2 :]
        out.mkdir(parents=True, exist_ok=True)
    scale = os.environ.get("SOBOLEV_SCALE", "book")
    record = scale == "book" and out is None
    if not record:
        print(
            f"note: executing at scale {scale!r}; timings are recorded only at book scale, in place"
        )
    targets = [pathlib.Path(a).with_suffix(".ipynb") for a in args] or list(notebooks())
    timings = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    for nb in targets:
        seconds = execute(nb, out)
        print(f"{nb}: {seconds:.0f} s" + (f" (written to {out})" if out else ""))
        if record:
            timings[str(nb)] = round(seconds, 1)
    if not record:
        return
    TIMINGS.write_text(json.dumps(dict(sorted(timings.items())), indent=1) + "\n")
    write_tables(timings)


if __name__ == "__main__":
    main(sys.argv[1:])
