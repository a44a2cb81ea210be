"""The book cites papers from one bibliography, each paper once (issue 20).

Every key a page cites (``{cite}``, ``{cite:t}``, ``{cite:p}``, several keys separated by commas)
is an entry of ``book/references.bib``, and no paper is entered twice (the same key, or the same
title under two keys). The book build would warn on an unknown key too, but only on a full build.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIB = ROOT / "book" / "references.bib"
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
ENTRY = re.compile(r"^@\w+\{([^,\s]+),", re.M)
TITLE = re.compile(r"^\s*title\s*=\s*\{(.+)\},?\s*$", re.M)


def cited_keys(text: str) -> list[str]:
    return [key.strip() for keys in CITE.findall(text) for key in keys.split(",")]


def normal_title(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", title.replace("{", "").replace("}", "").lower()).strip()


def test_every_cited_key_is_in_the_bibliography():
    keys = set(ENTRY.findall(BIB.read_text()))
    unknown = [f"{page.name}: {key}" for page in sorted((ROOT / "book").glob("*.md"))
               for key in cited_keys(page.read_text()) if key not in keys]
    assert not unknown, f"cited but not in book/references.bib: {unknown}"


def test_each_paper_is_entered_once():
    text = BIB.read_text()
    keys = ENTRY.findall(text)
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    titles = [normal_title(t) for t in TITLE.findall(text)]
    assert len(titles) == len(keys)          # every entry has a title the pattern reads
    assert len(titles) == len(set(titles)), sorted(t for t in titles if titles.count(t) > 1)


def test_papers_are_cited_not_linked():
    """A paper is a bibliography entry, not an inline arXiv link (code repositories may be linked)."""
    linked = [f"{page.name}:{n}" for page in sorted((ROOT / "book").glob("*.md"))
              for n, line in enumerate(page.read_text().splitlines(), 1)
              if re.search(r"\]\(https?://(www\.)?arxiv\.org/", line)]
    assert not linked, f"inline arXiv links (cite the paper instead): {linked}"


def test_the_checks_can_fail():
    assert cited_keys("see {cite}`a2018, b2019` and {cite:t}`c2020`.") == ["a2018", "b2019", "c2020"]
    assert normal_title("{GCNet}: Non-local Networks") == normal_title("GCNet: non-local networks")
