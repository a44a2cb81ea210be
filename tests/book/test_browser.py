"""The built book, opened page by page in a real browser (headless Chromium driven by Playwright).

The HTML tests of `test_book_build.py` parse files; these look at what a reader's browser does with
them. The smoke book is served on localhost and every page is opened once; the tests then check,
for every page:

- no console error and no uncaught script error;
- no request leaves localhost (each one is recorded and refused);
- every equation typeset by the local MathJax, none of them a MathJax error;
- every image loaded (complete, with a width);
- every internal link resolving to a file of the site, and its ``#anchor`` to an element there;
- every artifact table rendered (visible, with rows).

A screenshot of each page's first screen is kept in ``_build/browser/`` of the checkout (CI keeps
that folder as an artifact), for a person to look at.

Chromium comes from the system (Debian's ``chromium``, installed by ``.ci/run``); Playwright's
Python package drives it through ``executable_path`` and never downloads a browser. Without a
Chromium the tests skip, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest


# the first test of the group builds the book (minutes): hence the timeout
pytestmark = [pytest.mark.book, pytest.mark.xdist_group("book"), pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "_build" / "browser"
CHROMIUM_ARGS = [
    # the flags a closed network needs: Chromium otherwise phones home at every start
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

# Evaluated in each page once MathJax has finished its first typesetting pass.
INSPECT = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const visible = el => el.offsetWidth > 0 && el.offsetHeight > 0;
  return {
    math: document.querySelectorAll('.math').length,
    typeset: document.querySelectorAll('.math mjx-container').length,
    math_errors: Array.from(document.querySelectorAll('mjx-merror'))
                      .map(e => e.getAttribute('data-mjx-error') || e.textContent),
    broken_images: Array.from(document.images)
                        .filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
    tables: Array.from(document.querySelectorAll('table.relnotes-artifact'))
                 .map(t => ({rows: t.querySelectorAll('tbody tr').length, visible: visible(t)
                             || (t.closest('details') !== null)})),
    links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
    ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id)
             .concat(Array.from(document.querySelectorAll('a[name]')).map(a => a.name)),
  };
}"""


_REDIRECT = re.compile(r'<meta http-equiv="Refresh" content="0; url=([^"]+)"', re.IGNORECASE)


@dataclass
class Page:
    path: str                                   # relative to the site root, e.g. book/intro.html
    console_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    math: int = 0
    typeset: int = 0
    math_errors: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    tables: list[dict] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test reports what matters; no access log on stderr
        pass


@pytest.fixture(scope="module")
def server(html):
    handler = functools.partial(_QuietHandler, directory=str(html))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def site(html, server) -> dict[str, Page]:
    """Every page of the site, opened once: what the browser saw."""
    executable = chromium()
    if executable is None:
        message = "no Chromium on this machine (Debian: apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message + "; .ci/run installs it")
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pages: dict[str, Page] = {}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        for file in sorted(html.rglob("*.html")):
            rel = file.relative_to(html).as_posix()
            if rel.startswith(("_static/", "_sources/", "_images/")):
                continue
            redirect = _REDIRECT.search(file.read_text())
            if redirect:    # index.html: a stub that sends the browser on; its target must exist
                target = (file.parent / redirect.group(1)).resolve()
                assert target.is_file(), f"{rel} redirects to {redirect.group(1)}: no such page"
                continue
            pages[rel] = _open(context, server, rel)
        browser.close()
    return pages


def _open(context, server: str, rel: str) -> Page:
    page = context.new_page()
    seen = Page(rel)
    page.on("console", lambda m: seen.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.console_errors.append(str(e)))

    def route(r):
        if r.request.url.startswith(server) or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            seen.external_requests.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(f"{server}/{rel}", wait_until="load")
    found = page.evaluate(INSPECT)
    seen.math, seen.typeset = found["math"], found["typeset"]
    seen.math_errors, seen.broken_images = found["math_errors"], found["broken_images"]
    seen.tables, seen.links, seen.ids = found["tables"], found["links"], set(found["ids"])
    page.screenshot(path=str(SCREENSHOTS / (rel.replace("/", "__")[:-5] + ".png")))
    page.close()
    return seen


def _failures(site: dict[str, Page], what) -> list[str]:
    return [f"{rel}: {item}" for rel, page in site.items() for item in what(page)]


def test_every_page_opens_without_a_console_error(site):
    assert len(site) >= 10
    assert _failures(site, lambda p: p.console_errors) == []


def test_no_request_leaves_localhost(site):
    assert _failures(site, lambda p: p.external_requests) == []


def test_every_equation_is_typeset(site):
    assert sum(p.math for p in site.values()) > 20   # the book has equations to typeset
    assert _failures(site, lambda p: [f"{p.typeset} of {p.math} equations typeset"]
                     if p.typeset != p.math else []) == []
    assert _failures(site, lambda p: p.math_errors) == []


def test_every_image_loads(site):
    assert _failures(site, lambda p: p.broken_images) == []


def test_every_artifact_table_is_rendered_with_rows(site):
    tables = [t for p in site.values() for t in p.tables]
    assert len(tables) >= 10
    assert _failures(site, lambda p: [t for t in p.tables
                                      if t["rows"] < 1 or not t["visible"]]) == []


def test_every_internal_link_and_anchor_resolves(site, html, server):
    def broken(page: Page) -> list[str]:
        out = []
        for href in page.links:
            if not href.startswith(server):
                continue                                  # mailto:, https:// (checked elsewhere)
            url = urlparse(href)
            target = unquote(url.path).lstrip("/") or "index.html"
            if target.endswith("/"):
                target += "index.html"
            if not (html / target).is_file():
                out.append(f"{href} -> no file {target}")
            elif url.fragment and target in site and unquote(url.fragment) not in site[target].ids:
                out.append(f"{href} -> no element #{url.fragment} in {target}")
        return out
    assert _failures(site, broken) == []


def test_a_screenshot_of_every_page_is_kept(site):
    shots = {f.name for f in SCREENSHOTS.glob("*.png")}
    missing = [rel for rel in site if rel.replace("/", "__")[:-5] + ".png" not in shots]
    assert missing == []
