"""Notebooks stay thin: parameters, calls into relnotes, plots, the artifact (issue 11).

A notebook defines no class and no training loop (those live in ``relnotes``, with tests), and
has at most 185 lines of code (non-blank, non-comment; the install cell aside): two thirds of
the longest notebook before the package took the code over.
"""

import ast
import re
from pathlib import Path

import nbformat
import pytest

from relnotes.repro.runner import discover

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = discover(ROOT / "notebooks")
MAX_CODE_LINES = 185
TRAINING = re.compile(r"\.backward\(|\boptimizer\.step\(|\bopt\.step\(|^\s*for\s+epoch\b", re.M)


def code_cells(nb: Path) -> list[str]:
    return [c.source for c in nbformat.read(nb, as_version=4).cells
            if c.cell_type == "code" and "install-relnotes" not in c.metadata.get("tags", [])]


def code_lines(source: str) -> int:
    return sum(1 for line in source.splitlines() if line.strip() and not line.strip().startswith("#"))


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_thin(nb):
    cells = code_cells(nb)
    classes = [n.name for src in cells for n in ast.walk(ast.parse(src)) if isinstance(n, ast.ClassDef)]
    assert not classes, f"{nb.name} defines classes {classes}: move them into relnotes"
    loops = [m.group(0).strip() for src in cells for m in TRAINING.finditer(src)]
    assert not loops, f"{nb.name} trains in a cell ({loops}): call relnotes.engine instead"
    n = sum(code_lines(src) for src in cells)
    assert n <= MAX_CODE_LINES, f"{nb.name} has {n} code lines (at most {MAX_CODE_LINES})"


def test_the_checks_can_fail():
    assert code_lines("x = 1\n\n# note\n  y = 2  # end\n") == 2
    assert TRAINING.search("for epoch in range(3):\n    loss.backward()")
    assert not TRAINING.search("fit(model, data, epochs=3)")
