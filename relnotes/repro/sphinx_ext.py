"""Sphinx extension: render a notebook's artifact as a table in the book.

In a MyST page::

    ```{artifact-table} one_formula
    ```

reads ``book/_generated/artifacts/one_formula.json`` (written there by ``python -m relnotes.repro
book``) and renders one column group per metric: paper | ours | difference (the paper and
difference columns only when the artifact has paper values for that metric). The caption names the
profile and versions the numbers were produced with, so a reader always knows where they came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from .artifacts import Artifact, _fmt

ARTIFACT_DIR = "book/_generated/artifacts"


def _cell(text: str) -> nodes.entry:
    entry = nodes.entry()
    entry += nodes.paragraph(text=text)
    return entry


def _row(cells: list[str]) -> nodes.row:
    row = nodes.row()
    for c in cells:
        row += _cell(c)
    return row


def table_cells(art: Artifact) -> tuple[list[str], list[list[str]]]:
    """Header and body of the book table of ``art`` (plain strings; tested without Sphinx)."""
    header, groups = [""], []
    for col in art.columns:
        has_paper = any(r.values.get(col.key, {}).get("paper") is not None for r in art.rows)
        label = f"{col.label} ({col.unit})" if col.unit else col.label
        if not col.checked:
            label += " [this machine]"
        if has_paper:
            header += [f"{label}: paper", f"{label}: ours", f"{label}: difference"]
        else:
            header.append(label)
        groups.append((col, has_paper))
    body = []
    for r in art.rows:
        cells = [r.label]
        for col, has_paper in groups:
            v = r.values.get(col.key, {})
            ours, paper = v.get("ours"), v.get("paper")
            if has_paper:
                diff = ""
                if isinstance(ours, (int, float)) and isinstance(paper, (int, float)):
                    diff = _fmt(ours - paper)
                cells += [_fmt(paper), _fmt(ours), diff]
            else:
                cells.append(_fmt(ours))
        body.append(cells)
    return header, body


class ArtifactTable(SphinxDirective):
    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        art_id = self.arguments[0]
        path = Path(self.env.srcdir) / ARTIFACT_DIR / f"{art_id}.json"
        self.env.note_dependency(str(path))
        if not path.is_file():
            raise self.error(f"artifact-table: no artifact {path}; build the book with "
                             f"`python -m relnotes.repro book` (or `make book`), which runs the "
                             f"notebooks first")
        art = Artifact.read(path)
        header, body = table_cells(art)
        table = nodes.table(classes=["relnotes-artifact"])
        env = art.environment
        src = f" Paper: {art.source.paper}, {art.source.item}." if art.source else ""
        caption = (f"{art.title}. Ours: profile {art.profile}, torch {env.get('torch', '?')}, "
                   f"{env.get('device') or 'cpu'}, seed {env.get('seed')}.{src}")
        table += nodes.title(text=caption)
        group = nodes.tgroup(cols=len(header))
        table += group
        for _ in header:
            group += nodes.colspec(colwidth=1)
        thead = nodes.thead()
        thead += _row(header)
        group += thead
        tbody = nodes.tbody()
        for cells in body:
            tbody += _row(cells)
        group += tbody
        out: list[nodes.Node] = [table]
        if art.notes:
            out.append(nodes.paragraph(text=art.notes))
        return out


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("artifact-table", ArtifactTable)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
