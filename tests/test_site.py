"""Open the built book in headless Chromium, with no network, and check every page.

Run after ``make book``. For each page: MathJax (served from the book itself)
has typeset every math element and no raw TeX is left; every image loaded; a
chapter page shows as many figures as its notebook has image outputs. A
screenshot of each page goes to ``_build/screenshots/`` for a human to look at.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import pathlib
import shutil
import threading

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
SKIP = {"genindex.html", "search.html", "index.html"}


#: The elements of the text column that are wider than it, or clipped inside it (scrolled):
#: display equations, tables, code, outputs, figures. Returns one description per element.
OVERFLOW_JS = """() => {
  const column = document.querySelector('article.bd-article') || document.querySelector('main');
  if (!column) return [];
  const right = column.getBoundingClientRect().right + 1;
  const selector = 'mjx-container[display="true"], div.math, table, pre, img, figure, '
                 + 'div.cell_output, div.output, div.highlight, div.admonition, div.proof';
  const wide = [];
  for (const el of column.querySelectorAll(selector)) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;   // hidden (e.g. a collapsed input)
    const clipped = el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 2;
    if (box.right > right || clipped) {
      wide.push(`${el.tagName.toLowerCase()}.${[...el.classList].join('.')} right=${Math.round(box.right)} `
                + `column=${Math.round(right)} scroll=${el.scrollWidth}/${el.clientWidth}: `
                + el.textContent.replace(/\\s+/g, ' ').trim().slice(0, 60));
    }
  }
  return wide;
}"""


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("CHROMIUM"),
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        shutil.which("chromium"),
        shutil.which("google-chrome"),
    ):
        if candidate and pathlib.Path(candidate).exists():
            return candidate
    return None


def pages() -> list[pathlib.Path]:
    if not HTML.exists():
        return []
    return sorted(
        p
        for p in HTML.rglob("*.html")
        if p.name not in SKIP and "_static" not in p.parts and "_sources" not in p.parts
    )


def expected_figures(page: pathlib.Path) -> int | None:
    """Image outputs in the notebook the page was built from (None for plain pages)."""
    notebook = ROOT / page.relative_to(HTML).with_suffix(".ipynb")
    if not notebook.exists():
        return None
    cells = json.loads(notebook.read_text())["cells"]
    return sum(
        1
        for c in cells
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    )


@pytest.fixture(scope="module")
def server():
    if not (HTML / "book").exists():
        pytest.fail("the book is not built: run `make book` first")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    playwright_sync = pytest.importorskip("playwright.sync_api")
    executable = chromium_path()
    if executable is None:
        pytest.fail("no Chromium found: install Debian's `chromium` package (or set CHROMIUM)")
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-quic",
                "--no-first-run",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


def test_site_has_pages():
    names = {p.name for p in pages()}
    assert "00-introduction.html" in names and "bibliography.html" in names


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(HTML)))
def test_page_renders(page, server, browser):
    external = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()

    def offline(route):
        if route.request.url.startswith(server):
            route.continue_()
        else:  # the book must not need the network
            external.append(route.request.url)
            route.abort()

    tab.route("**/*", offline)
    errors = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    url = f"{server}/{page.relative_to(HTML).as_posix()}"
    tab.goto(url, wait_until="load")
    has_math = tab.evaluate("document.querySelectorAll('.math').length") > 0
    if has_math:
        loaded = tab.evaluate("!!document.querySelector('script[src*=\"mathjax\"]')")
        raw = tab.evaluate(
            "[...document.querySelectorAll('.math')].map(el => el.textContent.slice(0, 40))"
        )
        assert loaded, (
            f"{url} has math but loads no MathJax (math in a title shown in the sidebar?): {raw[:3]}"
        )
        tab.wait_for_function(
            "window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20000
        )
        tab.evaluate("MathJax.startup.promise")
        state = tab.evaluate("""() => {
            const math = [...document.querySelectorAll('.math')];
            const raw = math.filter(el => !el.querySelector('mjx-container'))
                            .map(el => el.textContent.slice(0, 60));
            const errors = [...document.querySelectorAll('mjx-merror')].map(el => el.textContent);
            return {count: math.length, raw, errors};
        }""")
        assert not state["raw"], f"math left as raw TeX on {url}: {state['raw'][:3]}"
        assert not state["errors"], f"MathJax errors on {url}: {state['errors'][:3]}"
    text = tab.evaluate(
        "document.querySelector('main') ? document.querySelector('main').innerText : ''"
    )
    for marker in ("$$", "\\begin{", "{prf:", "{cite}", "```{"):
        assert marker not in text, f"unrendered {marker!r} on {url}"
    tab.wait_for_function("[...document.images].every(img => img.complete)", timeout=20000)
    broken = tab.evaluate("[...document.images].filter(i => !i.naturalWidth).map(i => i.src)")
    assert not broken, f"images that did not load on {url}: {broken}"
    figures = expected_figures(page)
    if figures is not None:
        shown = tab.evaluate("document.querySelectorAll('main img[src*=\"_images\"]').length")
        assert shown == figures, f"{url} shows {shown} figures, its notebook has {figures}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{page.stem}.png"), full_page=False)
    context.close()
    assert not errors, f"JavaScript errors on {url}: {errors[:3]}"
    unexpected = [u for u in external if not u.startswith(("https://colab", "data:"))]
    assert not unexpected, f"{url} tried to reach the network: {unexpected[:3]}"
