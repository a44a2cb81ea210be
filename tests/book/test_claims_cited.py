"""Every claim a chapter cites exists in the reference artifacts, so prose cannot cite a claim
that no notebook computes (the book build would stop on it too, but only on a full build).

A citation is the role ``{claim}`` followed by ``artifact_id/claim_id`` between backticks. Code
blocks are skipped, so that a page can show the syntax; prose examples write placeholders
(``<artifact>``) that the pattern does not match.
"""

import re
from pathlib import Path

import pytest

from relnotes.repro import Artifact

ROOT = Path(__file__).resolve().parents[2]
CITATION = re.compile(r"\{claim\}`([A-Za-z0-9_-]+)/([a-z0-9][a-z0-9_.-]*)`")
FENCE = re.compile(r"^(```|~~~)", re.M)


CODE_DIRECTIVES = ("{code-block}", "{code}", "{code-cell}", "{literalinclude}")


def citations(text: str) -> list[tuple[str, str, int]]:
    """(artifact, claim, line) of every citation outside code blocks. The content of other
    directives ({note}, {admonition}) is prose and is scanned."""
    out: list[tuple[str, str, int]] = []
    stack: list[tuple[str, bool]] = []  # (fence marker, is code)
    for lineno, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line.lstrip())
        if m:
            marker = re.match(r"^(`{3,}|~{3,})", line.lstrip()).group(1)
            rest = line.lstrip()[len(marker):].strip()
            if stack and marker == stack[-1][0] and not rest:
                stack.pop()
                continue
            is_code = not rest.startswith("{") or rest.startswith(CODE_DIRECTIVES)
            stack.append((marker, is_code))
            continue
        if any(code for _, code in stack):
            continue
        out += [(a, c, lineno) for a, c in CITATION.findall(line)]
    return out


def reference_claims(root: Path = ROOT / "notebooks" / "reference") -> dict[str, dict]:
    """profile -> artifact id -> set of claim ids, from the committed references."""
    found: dict[str, dict] = {}
    for path in sorted(root.glob("*/*.json")):
        art = Artifact.read(path)
        found.setdefault(path.parent.name, {})[art.id] = {c["id"] for c in art.claims}
    return found


def missing(pages: list[Path], refs: dict[str, dict]) -> list[str]:
    errors = []
    for page in pages:
        for art_id, claim_id, line in citations(page.read_text()):
            where = f"{page.name}:{line}: {{claim}}`{art_id}/{claim_id}`"
            profiles = [p for p, arts in refs.items() if art_id in arts]
            if not profiles:
                errors.append(f"{where}: no reference artifact {art_id!r} in any profile")
            for p in profiles:
                if claim_id not in refs[p][art_id]:
                    errors.append(f"{where}: notebooks/reference/{p}/{art_id}.json defines no "
                                  f"claim {claim_id!r}")
    return errors


def test_every_cited_claim_is_defined_by_the_reference_artifacts():
    errors = missing(sorted((ROOT / "book").glob("*.md")), reference_claims())
    assert not errors, "claims cited but not defined:\n" + "\n".join(errors)


def test_the_check_catches_an_undefined_claim_and_skips_code_blocks(tmp_path):
    page = tmp_path / "chapter.md"
    page.write_text("Text {claim}`demo/holds` and {claim}`demo/gone`, {claim}`nodemo/x`.\n"
                    "```markdown\n{claim}`demo/in-code`\n```\n"
                    "```{note}\n{claim}`demo/in-note`\n```\n"
                    "A placeholder {claim}`<artifact>/<claim-id>` is not a citation.\n")
    refs = {"smoke": {"demo": {"holds"}}, "cpu": {"demo": {"holds", "gone"}}}
    assert citations(page.read_text()) == [("demo", "holds", 1), ("demo", "gone", 1),
                                           ("nodemo", "x", 1), ("demo", "in-note", 6)]
    assert missing([page], refs) == [
        "chapter.md:1: {claim}`demo/gone`: notebooks/reference/smoke/demo.json defines no claim "
        "'gone'",
        "chapter.md:1: {claim}`nodemo/x`: no reference artifact 'nodemo' in any profile",
        "chapter.md:6: {claim}`demo/in-note`: notebooks/reference/smoke/demo.json defines no "
        "claim 'in-note'",
        "chapter.md:6: {claim}`demo/in-note`: notebooks/reference/cpu/demo.json defines no "
        "claim 'in-note'",
    ]


@pytest.mark.parametrize("line", ["{claim}`a/b`", "x {claim}`a_1/b.c-d` y"])
def test_citation_pattern(line):
    assert CITATION.search(line)
