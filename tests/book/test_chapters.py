"""Every chapter ends as d2l's sections do: "What to remember", then "Exercises" (issue 20); and
no page has a line that MyST would drop silently as a comment.

The chapters are the pages of ``_toc.yml`` outside the part "Using this book" (the scorecard,
reproducing and the bibliography are reference pages) and other than the root (the introduction).
"""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def chapters(toc: dict) -> list[str]:
    """The chapter files of a jb-book table of contents, without the reference part."""
    return [c["file"] for part in toc["parts"] if part.get("caption") != "Using this book"
            for c in part["chapters"]]


def outside_code(text: str) -> list[tuple[int, str]]:
    """The lines (numbered from 1) outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(r"^\s*(```|~~~)", line):
            fenced = not fenced
        elif not fenced:
            lines.append((number, line))
    return lines


def last_sections(text: str, n: int = 2) -> list[str]:
    """The titles of the last ``n`` level-2 sections, outside code blocks."""
    return [line[3:].strip() for _, line in outside_code(text) if line.startswith("## ")][-n:]


def test_every_chapter_ends_with_what_to_remember_and_exercises():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = chapters(toc)
    assert "book/one-formula" in pages and "book/summary" in pages and "book/scorecard" not in pages
    wrong = {page: last_sections((ROOT / f"{page}.md").read_text()) for page in pages}
    wrong = {page: got for page, got in wrong.items() if got != ["What to remember", "Exercises"]}
    assert not wrong, f"chapters whose last sections are not What to remember, Exercises: {wrong}"


def test_the_checks_can_fail():
    text = "# t\n## A\n```\n## not a section\n```\n## What to remember\n## Exercises\n"
    assert last_sections(text) == ["What to remember", "Exercises"]
    assert last_sections("## Exercises\n## What to remember\n") == ["Exercises", "What to remember"]


def comment_lines(text: str) -> list[int]:
    """The numbers (from 1) of the lines outside code blocks that begin with ``%``: MyST reads
    such a line as a comment and drops it without a warning, so a wrapped sentence whose next
    line starts with a percentage sign (``{earlier}`...` %, and ...``) loses its words."""
    return [number for number, line in outside_code(text) if line.startswith("%")]


def test_no_page_has_a_line_that_myst_drops_as_a_comment():
    pages = sorted((ROOT / "book").glob("*.md")) + [ROOT / "README.md"]
    dropped = {p.name: comment_lines(p.read_text()) for p in pages}
    dropped = {name: lines for name, lines in dropped.items() if lines}
    assert not dropped, (f"lines that begin with '%' (MyST drops them as comments; move the % "
                         f"to the end of the line before): {dropped}")


def test_the_comment_check_can_fail():
    text = "a value of\n{earlier}`x` %, and more\n```\n% inside code\n```\n%, the rest\n"
    assert comment_lines(text) == [6]
    assert comment_lines("100 %\n") == []
