"""Open the built book in headless Chromium, with no network, and check every page as a reader sees it.

Run after ``make book``. For each page, at a 1280 px window:

* MathJax (served from the book itself) has typeset every math element, with no errors;
* nothing of the text column is wider than the column or clipped inside it (display
  equations, tables, code, outputs, figures: :data:`OVERFLOW_JS`);
* every Claims table shows its verdict column inside the column;
* no raw ``$…$``, ``\\mathcal`` or Markdown table rows (``|---|``) are left in the rendered text;
* every figure loaded, has a caption and an alt text that says something (not a file name),
  is not shrunk below :data:`MIN_PX_PER_INCH` screen pixels per figure inch (so its text
  stays readable), and a chapter shows as many figures as its notebook has image outputs;
* no JavaScript errors, no request leaves the machine.

Full-page screenshots go to ``_build/screenshots/`` for a person to look at
(``tools/screenshot.py`` cuts them into pieces an image viewer shows at full size).
``test_the_checks_catch_each_defect`` proves on a scratch page that each check fails
when its defect is put back.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import pathlib
import re
import shutil
import struct
import threading
import urllib.parse

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
HTML = pathlib.Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))
SHOTS = ROOT / "_build" / "screenshots"
SKIP = {"genindex.html", "search.html", "index.html"}
#: A figure shown at fewer screen pixels per figure inch than this has text below ~12 px.
MIN_PX_PER_INCH = 85

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
                + el.textContent.replace(/\\\\s+/g, ' ').trim().slice(0, 60));
    }
  }
  return wide;
}"""

#: What a reader sees of each page besides overflow: verdict cells, leftover markup, figures.
READER_JS = """() => {
  const column = document.querySelector('article.bd-article') || document.querySelector('main');
  if (!column) return {verdicts: [], text: '', images: []};
  const right = column.getBoundingClientRect().right + 1;
  const verdicts = [...column.querySelectorAll('table.claims-table')].map(t => {
    const cells = [...t.querySelectorAll('td.claims-verdict')];
    const hidden = cells.filter(c => {
      const b = c.getBoundingClientRect();
      return b.width === 0 || b.right > right || c.scrollWidth > c.clientWidth + 2;
    }).map(c => c.textContent.trim());
    return {rows: t.querySelectorAll('tbody tr').length, cells: cells.length, hidden};
  });
  const copy = column.cloneNode(true);
  copy.querySelectorAll('pre, code, script, style, div.cell_input, mjx-container, .MathJax')
      .forEach(el => el.remove());
  const images = [...column.querySelectorAll('img')].filter(i => i.src.includes('_images'))
    .map(i => {
      const figure = i.closest('figure');
      const caption = figure && figure.querySelector('figcaption');
      return {src: i.src, alt: i.getAttribute('alt') || '', natural: i.naturalWidth,
              shown: i.getBoundingClientRect().width,
              caption: caption ? caption.textContent.trim() : ''};
    });
  return {verdicts, text: copy.textContent, images};
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


def png_dpi(data: bytes) -> float | None:
    """The horizontal resolution stored in a PNG's pHYs chunk, in dots per inch (None if absent)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    at = 8
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        if kind == b"pHYs":
            x, _, unit = struct.unpack(">IIB", data[at + 8 : at + 17])
            return x * 0.0254 if unit == 1 else None
        if kind == b"IDAT":
            return None
        at += 12 + length
    return None


def reader_defects(tab, read_image) -> list[str]:
    """Everything a reader would see wrong on the loaded page ``tab`` (empty if none).

    ``read_image(src)`` returns the bytes of an image of the page (for its resolution).
    """
    defects = [f"wider than the column: {item}" for item in tab.evaluate(OVERFLOW_JS)]
    page_width = tab.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if page_width[0] > page_width[1] + 1:
        defects.append(
            f"the page scrolls sideways: {page_width[0]} px wide in a {page_width[1]} px window"
        )
    state = tab.evaluate(READER_JS)
    for table in state["verdicts"]:
        if table["cells"] != table["rows"]:
            defects.append(f"a Claims table has {table['rows']} rows but {table['cells']} verdicts")
        for verdict in table["hidden"]:
            defects.append(f"Claims verdict not visible: {verdict!r}")
    text = state["text"]
    for marker in (
        "\\mathcal",
        "\\frac",
        "\\begin{",
        "|---",
        "| ---",
        "$$",
        "{prf:",
        "{cite}",
        "```{",
    ):
        if marker in text:
            at = text.index(marker)
            defects.append(
                f"raw markup {marker!r} in the text: {text[max(0, at - 30) : at + 40]!r}"
            )
    for match in re.finditer(r"\$[^$\s][^$\n]{0,80}?\$", text):
        defects.append(f"raw TeX in the text: {match.group(0)!r}")
    for image in state["images"]:
        name = image["src"].rsplit("/", 1)[-1]
        if not image["caption"]:
            defects.append(f"figure without a caption: {name}")
        alt = image["alt"].strip()
        if (
            len(alt) < 10
            or "_images" in alt
            or re.fullmatch(r"[0-9a-f]{16,}\.\w+", alt.rsplit("/", 1)[-1])
        ):
            defects.append(f"figure without a real alt text: {name} (alt={alt!r})")
        dpi = png_dpi(read_image(image["src"])) if name.endswith(".png") else None
        if dpi and image["natural"]:
            per_inch = image["shown"] / (image["natural"] / dpi)
            if per_inch < MIN_PX_PER_INCH:
                defects.append(
                    f"figure shrunk to {per_inch:.0f} px per figure inch (< {MIN_PX_PER_INCH}): "
                    f"{name}, {image['natural'] / dpi:.1f} in wide shown at {image['shown']:.0f} px"
                )
    return defects


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


def test_png_dpi_reads_matplotlib_output(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(2, 1))
    fig.savefig(tmp_path / "f.png", dpi=150)
    plt.close(fig)
    assert abs(png_dpi((tmp_path / "f.png").read_bytes()) - 150) < 0.5
    assert png_dpi(b"not a png") is None


def wait_for_math(tab, url: str) -> None:
    if tab.evaluate("document.querySelectorAll('.math').length") == 0:
        return
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


def local_image(src: str) -> bytes:
    path = urllib.parse.urlparse(src).path.lstrip("/")
    return (HTML / urllib.parse.unquote(path)).read_bytes()


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
    wait_for_math(tab, url)
    tab.wait_for_function("[...document.images].every(img => img.complete)", timeout=20000)
    broken = tab.evaluate("[...document.images].filter(i => !i.naturalWidth).map(i => i.src)")
    assert not broken, f"images that did not load on {url}: {broken}"
    figures = expected_figures(page)
    if figures is not None:
        shown = tab.evaluate("document.querySelectorAll('main img[src*=\"_images\"]').length")
        assert shown == figures, f"{url} shows {shown} figures, its notebook has {figures}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{page.stem}.png"), full_page=True)
    defects = reader_defects(tab, local_image)
    context.close()
    assert not defects, f"{url}: {len(defects)} things a reader sees wrong:\n" + "\n".join(
        defects[:25]
    )
    assert not errors, f"JavaScript errors on {url}: {errors[:3]}"
    unexpected = [u for u in external if not u.startswith(("https://colab", "data:"))]
    assert not unexpected, f"{url} tried to reach the network: {unexpected[:3]}"


SCRATCH_PAGE = """<!doctype html><html><body style="margin:0">
<main><article class="bd-article" style="width:752px; margin-left:256px">
  {body}
</article></main></body></html>"""

GOOD = """<table class="claims-table" style="width:100%"><tbody><tr><td class="claims-claim">a</td>
<td class="claims-found">≈ 2×</td><td class="claims-verdict">✓ reproduced</td></tr></tbody></table>
<figure><img src="/_images/good.png" alt="error against step for L2 and H1" style="width:600px">
<figcaption>Fig. 1: a caption</figcaption></figure><p>plain prose</p>"""

DEFECTS = {
    "wider than the column": '<div class="math" style="overflow-x:auto">'
    '<span style="display:inline-block;width:1200px">M =</span></div>',
    "Claims verdict not visible": '<table class="claims-table" style="width:1400px"><tbody><tr>'
    '<td class="claims-claim">a</td><td class="claims-found">b</td>'
    '<td class="claims-verdict">✓ reproduced</td></tr></tbody></table>',
    "raw markup '\\\\mathcal'": "<p>the loss \\mathcal{L} is</p>",
    "raw markup '|---'": "<p>| a | b |<br>|---|---|</p>",
    "raw TeX in the text": "<p>with $w^*$ fixed</p>",
    "figure without a caption": '<img src="/_images/good.png" alt="error against step for L2 and H1">',
    "figure without a real alt text": '<figure><img src="/_images/good.png" '
    'alt="../_images/0123456789abcdef0123.png"><figcaption>Fig. 2</figcaption></figure>',
    "the page scrolls sideways": '<div style="position:absolute; left:0; width:1500px">x</div>',
    "figure shrunk": '<figure><img src="/_images/wide.png" alt="a sixteen inch wide figure" '
    'style="width:600px"><figcaption>Fig. 3</figcaption></figure>',
}


def test_the_checks_catch_each_defect(browser, tmp_path):
    """A scratch page passes clean, and each defect put back on it is reported."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = {}
    for name, inches in (("good.png", 7.0), ("wide.png", 16.0)):
        fig = plt.figure(figsize=(inches, 2))
        fig.savefig(tmp_path / name, dpi=150)
        plt.close(fig)
        images[name] = (tmp_path / name).read_bytes()

    def read_image(src):
        return images[src.rsplit("/", 1)[-1]]

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.route(
        "**/_images/*",
        lambda route: route.fulfill(body=read_image(route.request.url), content_type="image/png"),
    )

    def check(body):
        tab.goto("http://scratch.invalid/")  # routed below
        tab.set_content(SCRATCH_PAGE.format(body=body))
        tab.wait_for_function("[...document.images].every(img => img.complete)", timeout=5000)
        return reader_defects(tab, read_image)

    tab.route(
        "http://scratch.invalid/", lambda route: route.fulfill(body="", content_type="text/html")
    )
    assert check(GOOD) == []
    for kind, snippet in DEFECTS.items():
        found = check(GOOD + snippet)
        assert any(kind in d for d in found), f"the check missed {kind!r}: {found}"
    context.close()
