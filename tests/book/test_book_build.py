"""The book builds (Sphinx warnings are errors), offline, and shows the executed artifacts.

Builds a copy of the repository on the smoke profile with the same command as `make book`.
"""

import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[2]
IGNORE = shutil.ignore_patterns(".venv", "_build", ".git", "_generated", ".pytest_cache",
                                "__pycache__")


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    work = tmp_path_factory.mktemp("book") / "repo"
    shutil.copytree(ROOT, work, ignore=IGNORE)
    run = subprocess.run([sys.executable, "-m", "relnotes.repro", "book", "--profile", "smoke"],
                         cwd=work, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return work / "_build" / "html"


@pytest.mark.book
@pytest.mark.timeout(900)
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


@pytest.mark.book
def test_math_is_rendered_by_a_local_mathjax(html):
    page = (html / "book" / "one-formula.html").read_text()
    assert "_static/mathjax/tex-chtml.js" in page
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()


@pytest.mark.book
def test_chapter_shows_the_artifact_table_and_figure(html):
    soup = BeautifulSoup((html / "book" / "one-formula.html").read_text(), "html.parser")
    table = soup.find("table", class_="relnotes-artifact")
    assert table is not None
    text = table.get_text(" ")
    assert "profile smoke" in text and "torch.nn.MultiheadAttention" in text
    assert soup.find("img", src=lambda s: s and s.endswith("one_formula.png"))
    assert (html / "book" / "_generated" / "notebooks" / "one_formula.html").is_file()


@pytest.mark.book
def test_scorecard_page_lists_the_talk_with_statuses_and_the_intro_points_to_it(html):
    soup = BeautifulSoup((html / "book" / "scorecard.html").read_text(), "html.parser")
    table = soup.find("table", class_="relnotes-scorecard")
    assert table is not None
    text = table.get_text(" ")
    assert "not run here" in text and "Table 5: complexity of relation modules" in text
    assert table.find("a", href=lambda h: h and "#artifact-" in h) is not None
    intro = (html / "book" / "intro.html").read_text()
    assert 'href="scorecard.html"' in intro
