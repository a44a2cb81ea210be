"""The book builds (Sphinx warnings are errors), offline, and shows the executed artifacts: checks
of the HTML files (what a browser does with them: test_browser.py)."""

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from bs4 import BeautifulSoup

# `html` (the smoke book, built once a session) comes from tests/book/conftest.py
# the first test of the group builds the book (minutes): hence the timeout
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.book, pytest.mark.xdist_group("book"), pytest.mark.timeout(1500)]


def _soup_and_table(html, page: str, table_class: str):
    soup = BeautifulSoup((html / "book" / page).read_text(), "html.parser")
    table = soup.find("table", class_=table_class)
    assert table is not None, f"{page} has no table.{table_class}"
    return soup, table, table.get_text(" ")


def test_every_page_loads_scripts_and_styles_locally(html):
    pages = list(html.rglob("*.html"))
    assert len(pages) >= 4
    for page in pages:
        soup = BeautifulSoup(page.read_text(), "html.parser")
        for tag, attr in (("script", "src"), ("link", "href"), ("img", "src")):
            for el in soup.find_all(tag):
                url = el.get(attr)
                if not url or (tag == "link" and "stylesheet" not in (el.get("rel") or [])):
                    continue
                assert not urlparse(url).scheme and not url.startswith("//"), \
                    f"{page.relative_to(html)} loads {url} from the network"


def test_math_is_rendered_by_a_local_mathjax(html):
    page = (html / "book" / "one-formula.html").read_text()
    assert "_static/mathjax/tex-chtml.js" in page
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()


def test_chapter_shows_the_artifact_table_and_figure(html):
    soup, table, text = _soup_and_table(html, "one-formula.html", "relnotes-artifact")
    assert "profile smoke" in text and "torch.nn.MultiheadAttention" in text
    assert soup.find("img", src=lambda s: s and s.endswith("one_formula.png"))
    assert (html / "book" / "_generated" / "notebooks" / "one_formula.html").is_file()


def test_scorecard_page_lists_the_talk_with_statuses_and_the_intro_points_to_it(html):
    _, table, text = _soup_and_table(html, "scorecard.html", "relnotes-scorecard")
    # every item of the talk has a notebook now, so none is "not run here" in a whole-book build
    from relnotes.repro.scorecard import TALK
    missing = [t.item for t in TALK if t.item not in text]
    assert not missing, f"talk items missing from the scorecard: {missing}"
    assert "not run here" not in text and "effect shown" in text
    assert table.find("a", href=lambda h: h and "#artifact-" in h) is not None
    intro = (html / "book" / "intro.html").read_text()
    assert 'href="scorecard.html"' in intro


def test_needs_page_lists_every_notebook_on_every_reference_profile(html):
    _, table, _ = _soup_and_table(html, "needs.html", "relnotes-needs")
    from relnotes.repro.runner import discover
    cells = [[td.get_text(" ").strip() for td in tr.find_all("td")] for tr in table.find_all("tr")]
    listed = {(c[0], c[1]) for c in cells if c}
    missing = [(nb.stem, p) for nb in discover(ROOT / "notebooks") for p in ("smoke", "cpu")
               if (nb.stem, p) not in listed]
    assert not missing, f"notebooks missing from the time-and-memory page: {missing}"
    assert not any("no reference" in c for row in cells for c in row)
    assert 'href="needs.html"' in (html / "book" / "reproducing.html").read_text()


def test_launch_source_and_edit_links_open_files_of_this_repository(html):
    """Colab, Binder, "show source" and "edit" buttons name a path in the repository: every one
    must exist in this checkout (the executed copies under book/_generated are not in git)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = urlparse(config["repository"]["url"]).path.strip("/")       # org/name
    patterns = [rf"colab\.research\.google\.com/github/{repo}/blob/main/(?P<path>[^\"'?#]+)",
                rf"mybinder\.org/v2/gh/{repo}/main\?urlpath=lab/tree/(?P<path>[^\"'&#]+)",
                rf"github\.com/{repo}/(?:blob|edit)/main/(?P<path>[^\"'?#]+)"]
    seen, missing = 0, []
    for page in html.rglob("*.html"):
        text = page.read_text()
        for pattern in patterns:
            for match in re.finditer(pattern, text):
                seen += 1
                if not (ROOT / match["path"]).is_file():
                    missing.append(f"{page.relative_to(html)}: {match.group(0)}")
    assert seen >= 3 * len(list((ROOT / "notebooks").glob("*/*.ipynb")))   # colab, binder, edit
    assert missing == []
