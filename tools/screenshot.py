"""Full-page screenshots of built pages at a 1280 px window, for a person to look at.

    python tools/screenshot.py [--html _build/html] [--out _build/screenshots] [page ...]

``page`` is a chapter name such as ``06-student-teacher-sgd`` (default: every page).
Each screenshot is cut into 4000 px tall pieces (``NAME-1.png``, ...) so that an image
viewer shows them at full resolution. Prints, per page, the elements of the text column
that are wider than the column (what the browser check of tests/test_site.py fails on).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from test_site import OVERFLOW_JS, chromium_path  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*")
    parser.add_argument("--html", default=str(ROOT / "_build" / "html"))
    parser.add_argument("--out", default=str(ROOT / "_build" / "screenshots"))
    parser.add_argument("--piece", type=int, default=4000, help="height of one piece in px")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    html = pathlib.Path(args.html)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = args.pages or [p.stem for p in sorted((html / "book").glob("*.html"))]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        for name in names:
            tab.goto((html / "book" / f"{name}.html").resolve().as_uri(), wait_until="load")
            tab.wait_for_timeout(1500)  # MathJax
            height = tab.evaluate("document.documentElement.scrollHeight")
            for k, top in enumerate(range(0, height, args.piece), start=1):
                clip = {"x": 0, "y": top, "width": 1280, "height": min(args.piece, height - top)}
                tab.screenshot(path=str(out / f"{name}-{k}.png"), full_page=True, clip=clip)
            wide = tab.evaluate(OVERFLOW_JS)
            print(f"{name}: {height} px tall, {len(wide)} elements wider than the column")
            for item in wide[:20]:
                print("   ", item)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
