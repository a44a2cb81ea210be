"""Sphinx extension: render a notebook's artifact, and its claims, in the book.

In a MyST page::

    ```{artifact-table} one_formula
    ```

reads ``book/_generated/artifacts/one_formula.json`` (written there by ``python -m relnotes.repro
book``) and renders one column group per metric:

- paper | ours | difference, when the paper has values for the metric and they are comparable
  with ours;
- paper | paper's delta to the baseline row | ours | our delta to the baseline row, for a
  ``Column(comparable=False)`` (a synthetic task beside the paper's COCO numbers: the sizes differ,
  the direction of an effect can be compared); without ``baseline`` just paper | ours;
- ours alone otherwise.

A seeded column shows ``mean ± sd (n = seeds)``, the ± left out below two seeds. Columns that only
the paper fills go to a second, small table; notes longer than :data:`FOLD_NOTES` characters fold
into a ``<details>`` element. The caption names the profile and versions the numbers were produced
with, so a reader always knows where they came from.

The ``{claim}`` role renders a claim of an artifact, ``artifact_id/claim_id`` between backticks,
as its statement followed by its truth value and the numbers it read; a claim that no artifact
defines stops the build with a clear message. The ``{earlier}`` role shows one number of an
earlier design's archived reference (:mod:`relnotes.repro.earlier`). The ``{scorecard}`` directive
is :mod:`relnotes.repro.scorecard`'s; ``{notebook-needs}`` is :mod:`relnotes.repro.needs`' table
of each notebook's time and memory per profile, read from the committed references.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective, SphinxRole

from .artifacts import Artifact, _fmt
from .earlier import earlier_value

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


FOLD_NOTES = 400  # characters: longer notes fold away


def _has(art: Artifact, col, who: str) -> bool:
    return any(r.values.get(col.key, {}).get(who) is not None for r in art.rows)


def paper_only(art: Artifact, col) -> bool:
    """A column that only the paper fills (ours never measured in this artifact)."""
    return _has(art, col, "paper") and not _has(art, col, "ours")


def _ours(v: dict) -> str:
    ours = v.get("ours")
    if "seeds" not in v:
        return _fmt(ours)
    n = len(v.get("seeds") or [])
    sd = v.get("sd")
    return f"{_fmt(ours)} ± {_fmt(sd)} (n = {n})" if sd is not None and n >= 2 else \
        f"{_fmt(ours)} (n = {n})"


def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def table_cells(art: Artifact) -> tuple[list[str], list[list[str]]]:
    """Header and body of the book table of ``art`` (plain strings; tested without Sphinx).

    Paper-only columns are left out here; :func:`paper_only_cells` gives their table.
    """
    base_row = next((r for r in art.rows if r.label == art.baseline), None)
    if art.baseline is not None and base_row is None:
        raise ValueError(f"artifact {art.id!r}: baseline row {art.baseline!r} does not exist; "
                         f"rows: {[r.label for r in art.rows]}")
    header, groups = [""], []
    for col in art.columns:
        if paper_only(art, col):
            continue
        has_paper = _has(art, col, "paper")
        label = f"{col.label} ({col.unit})" if col.unit else col.label
        if not col.checked:
            label += " [this machine]"
        if col.seeded:
            label += " [mean ± sd over seeds]"
        if has_paper and not col.comparable:
            mode = "delta" if base_row is not None else "side"
        else:
            mode = "diff" if has_paper else "ours"
        if mode == "diff":
            header += [f"{label}: paper", f"{label}: ours", f"{label}: difference"]
        elif mode == "delta":
            header += [f"{label}: paper", f"{label}: paper vs {art.baseline}", f"{label}: ours",
                       f"{label}: ours vs {art.baseline}"]
        elif mode == "side":
            header += [f"{label}: paper (not comparable)", f"{label}: ours"]
        else:
            header.append(label)
        groups.append((col, mode))
    body = []
    for r in art.rows:
        cells = [r.label]
        for col, mode in groups:
            v = r.values.get(col.key, {})
            ours, paper = v.get("ours"), v.get("paper")
            if mode == "diff":
                diff = _fmt(ours - paper) if _num(ours) and _num(paper) else ""
                cells += [_fmt(paper), _ours(v), diff]
            elif mode == "delta":
                b = base_row.values.get(col.key, {})
                pd = _fmt(paper - b["paper"]) if _num(paper) and _num(b.get("paper")) else ""
                od = _fmt(ours - b["ours"]) if _num(ours) and _num(b.get("ours")) else ""
                if r is base_row:
                    pd = od = "(baseline)"
                cells += [_fmt(paper), pd, _ours(v), od]
            elif mode == "side":
                cells += [_fmt(paper), _ours(v)]
            else:
                cells.append(_ours(v))
        body.append(cells)
    return header, body


def paper_only_cells(art: Artifact) -> tuple[list[str], list[list[str]]] | None:
    """The small table of the columns only the paper fills, or None when there are none."""
    cols = [c for c in art.columns if paper_only(art, c)]
    if not cols:
        return None
    header = [""] + [f"{c.label} ({c.unit}): paper" if c.unit else f"{c.label}: paper"
                     for c in cols]
    body = [[r.label] + [_fmt(r.values.get(c.key, {}).get("paper")) for c in cols]
            for r in art.rows if any(r.values.get(c.key, {}).get("paper") is not None
                                     for c in cols)]
    return header, body


def _table(header: list[str], body: list[list[str]], caption: str,
           classes: str = "relnotes-artifact") -> nodes.table:
    table = nodes.table(classes=[classes])
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
    return table


def notes_nodes(notes: str) -> list[nodes.Node]:
    """The notes as a paragraph; folded into <details> when longer than FOLD_NOTES."""
    if not notes:
        return []
    if len(notes) <= FOLD_NOTES:
        return [nodes.paragraph(text=notes)]
    return [nodes.raw("", f"<details class=\"relnotes-notes\"><summary>Notes on this table "
                          f"({len(notes):,} characters)</summary>", format="html"),
            nodes.paragraph(text=notes),
            nodes.raw("", "</details>", format="html")]


def load_artifact(srcdir: str | Path, art_id: str) -> Artifact:
    path = Path(srcdir) / ARTIFACT_DIR / f"{art_id}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no artifact {path}; build the book with `python -m "
                                f"relnotes.repro book` (or `make book`), which runs the "
                                f"notebooks first")
    return Artifact.read(path)


def claim_text(art: Artifact, claim_id: str) -> tuple[str, bool, str]:
    """``(statement, holds, detail)`` of a claim, ``detail`` the numbers it read, e.g.
    ``72 - 67 = 5 > margin 2``. Raises KeyError naming the artifact's claims."""
    rec = art.claim_record(claim_id)
    n = rec.get("numbers", {})
    op = rec["op"]
    if {"left", "right", "difference", "margin"} <= set(n):
        if op == "~":
            detail = f"|{_fmt(n['left'])} - {_fmt(n['right'])}| = {_fmt(abs(n['difference']))}" \
                     f" {'<=' if rec['holds'] else '>'} margin {_fmt(n['margin'])}"
        else:
            d = n["difference"] if op == ">" else -n["difference"]
            word = "left - right" if op == ">" else "right - left"
            detail = f"{word} = {_fmt(n['left'])} vs {_fmt(n['right'])}: {_fmt(d)} " \
                     f"{'>' if rec['holds'] else '<='} margin {_fmt(n['margin'])}"
    else:
        detail = ""
    return rec["statement"], bool(rec["holds"]), detail


class ClaimRole(SphinxRole):
    """``{claim}`artifact_id/claim_id```: the claim's statement with its truth value."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        art_id, sep, claim_id = self.text.partition("/")
        if not sep or not art_id or not claim_id:
            return self._error(f"claim: write {{claim}}`artifact_id/claim_id`; got {self.text!r}")
        path = Path(self.env.srcdir) / ARTIFACT_DIR / f"{art_id}.json"
        self.env.note_dependency(str(path))
        try:
            art = load_artifact(self.env.srcdir, art_id)
            statement, holds, detail = claim_text(art, claim_id)
        except (FileNotFoundError, KeyError) as e:
            msg = e.args[0] if e.args else str(e)
            return self._error(f"claim {self.text!r} is cited but not defined: {msg}")
        verdict = "true" if holds else "false"
        node = nodes.inline(classes=["relnotes-claim", f"relnotes-claim-{verdict}"])
        node += nodes.emphasis(text=statement)
        mark = "\u2714 true" if holds else "\u2718 false"
        node += nodes.Text(" ")
        node += nodes.strong(text=f"[{mark} on profile {art.profile}"
                                  f"{': ' + detail if detail else ''}]")
        return [node], []

    def _error(self, message: str) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        msg = self.inliner.reporter.error(message, line=self.lineno)
        prb = self.inliner.problematic(self.rawtext, self.rawtext, msg)
        return [prb], [msg]


class EarlierRole(SphinxRole):
    """``{earlier}`COMMIT ID; ROW; METRIC```: one value of an earlier design's reference."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        try:
            text = earlier_value(self.env.srcdir, self.text)
        except (ValueError, FileNotFoundError, KeyError) as e:
            msg = self.inliner.reporter.error(f"earlier {self.text!r}: "
                                              f"{e.args[0] if e.args else e}", line=self.lineno)
            return [self.inliner.problematic(self.rawtext, self.rawtext, msg)], [msg]
        return [nodes.inline(text=text, classes=["relnotes-earlier"])], []


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
        try:
            header, body = table_cells(art)
        except ValueError as e:
            raise self.error(f"artifact-table: {e}") from None
        env = art.environment
        src = f" Paper: {art.source.paper}, {art.source.item}." if art.source else ""
        seeds = sorted({len(v["seeds"]) for r in art.rows for v in r.values.values()
                        if v.get("seeds")})
        seed_text = (f"seeds per value: {', '.join(map(str, seeds))}" if seeds
                     else f"seed {env.get('seed')}")
        caption = (f"{art.title}. Ours: profile {art.profile}, torch {env.get('torch', '?')}, "
                   f"{env.get('device') or 'cpu'}, {seed_text}.{src}")
        label = f"artifact-{art_id}".replace("_", "-")
        target = nodes.target("", "", ids=[label])
        self.env.get_domain("std").note_hyperlink_target(label, self.env.docname, label,
                                                         art.title)
        out: list[nodes.Node] = [target, _table(header, body, caption)]
        extra = paper_only_cells(art)
        if extra is not None:
            out.append(_table(*extra, f"{art.title}: values reported by the paper only, not "
                                      f"measured here."))
        out += notes_nodes(art.notes)
        return out


class scorecard_link(nodes.Inline, nodes.TextElement):
    """Placeholder for the link from a scorecard line to the section that shows the artifact;
    resolved once every page is read (:func:`_resolve_links`)."""


class Scorecard(SphinxDirective):
    """``{scorecard}``: the table of :mod:`relnotes.repro.scorecard` over every artifact."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from .scorecard import scorecard_rows

        folder = Path(self.env.srcdir) / ARTIFACT_DIR
        if not folder.is_dir():
            raise self.error(f"scorecard: no artifacts in {folder}; build the book with "
                             f"`python -m relnotes.repro book`")
        arts = {}
        for path in sorted(folder.glob("*.json")):
            self.env.note_dependency(str(path))
            art = Artifact.read(path)
            arts[art.id] = art
        rows = scorecard_rows(arts)
        header = ["table / figure", "paper", "paper's value", "ours", "profile", "status",
                  "why", "section"]
        table = _table(header, [[r["item"], r["paper"], r["paper_value"], r["ours"], r["profile"],
                                 r["status"], r["detail"]] for r in rows],
                       "Every table and figure of the talk: the paper beside ours, "
                       "with a status computed from the artifacts and their claims.",
                       classes="relnotes-scorecard")
        tbody = next(iter(table.findall(nodes.tbody)))
        for row, r in zip(tbody.children, rows):
            link = nodes.entry()
            para = nodes.paragraph()
            if r["artifact"]:
                para += scorecard_link("", r["artifact"], artifact=r["artifact"])
            link += para
            row += link
        return [table]


class NotebookNeeds(SphinxDirective):
    """``{notebook-needs}``: :func:`relnotes.repro.needs.needs_rows` over the committed
    references (``notebooks/reference/<profile>/``), one line per notebook and profile."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from .needs import needs_rows

        src = Path(self.env.srcdir)
        reference_root = src / "notebooks" / "reference"
        rows = needs_rows(reference_root, src / "notebooks")
        if not rows:
            raise self.error(f"notebook-needs: no references in {reference_root}")
        for r in rows:
            if r["artifact"]:
                self.env.note_dependency(
                    str(reference_root / r["profile"] / f"{r['artifact']}.json"))

        def num(x: Any, fmt: str = "{:,.0f}") -> str:
            return "-" if x is None else fmt.format(x)

        body = []
        for r in rows:
            if r["artifact"] is None:
                body.append([r["notebook"], r["profile"], "no reference", "", "", "", "", ""])
                continue
            wall = num(r["wall_s"]) + (" (over)" if r["over_budget"] else "")
            gpu = ("not used" if r["gpu_peak_mib"] is None else
                   f"{r['gpu_peak_mib']:,.0f} MiB ({r['gpu_name']})")
            machine = ", ".join(str(x) for x in (
                r["processor"], None if r["threads"] is None else f"{r['threads']} threads",
                None if r["commit"] is None else f"commit {r['commit']}") if x)
            host = ("not recorded" if r["host_peak_mib"] is None else
                    f"{r['host_peak_mib']:,.0f} MiB")
            body.append([r["notebook"], r["profile"], wall, num(r["cpu_s"]), num(r["budget_s"]),
                         host, gpu, machine])
        header = ["notebook", "profile", "wall (s)", "CPU (s)", "budget (s)",
                  "peak host memory", "peak GPU memory", "measured on"]
        return [_table(header, body, "What each notebook needed when its committed reference "
                                     "was made: wall-clock and CPU seconds, the profile's "
                                     "budget, the peak host memory where it was recorded, and "
                                     "the peak GPU memory where CUDA was used.",
                       classes="relnotes-needs")]


def _resolve_links(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Each scorecard link points at the artifact's table (its ``artifact-<id>`` target), else
    at the notebook page of the same name, else stays plain text."""
    labels = app.env.get_domain("std").labels
    for node in list(doctree.findall(scorecard_link)):
        art_id = node["artifact"]
        label = f"artifact-{art_id}".replace("_", "-")
        target = None
        if label in labels:
            doc, anchor, _ = labels[label]
            target = (doc, anchor)
        elif f"book/_generated/notebooks/{art_id}" in app.env.all_docs:
            target = (f"book/_generated/notebooks/{art_id}", "")
        if target is None or not hasattr(app.builder, "get_relative_uri"):
            node.replace_self(nodes.Text(art_id))
            continue
        uri = app.builder.get_relative_uri(docname, target[0])
        ref = nodes.reference("", art_id, refuri=uri + (f"#{target[1]}" if target[1] else ""),
                              internal=True)
        node.replace_self(ref)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("artifact-table", ArtifactTable)
    app.add_role("claim", ClaimRole())
    app.add_role("earlier", EarlierRole())
    app.add_node(scorecard_link)
    app.add_directive("scorecard", Scorecard)
    app.add_directive("notebook-needs", NotebookNeeds)
    app.connect("doctree-resolved", _resolve_links)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
