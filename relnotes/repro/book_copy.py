"""The copy of an executed notebook that the book shows: an article, not a build log.

The runner keeps the executed notebook as papermill wrote it (the record of the run). The book's
copy, in ``book/_generated/notebooks/``, differs in four ways, none of which touches a number:

- the cell papermill injected (``injected-parameters``) names the build machine's folders
  (``artifact_dir = "/home/.../_build/repro/cpu/artifacts/x"``): every absolute path in it becomes
  the path below the build folder, so a page shows what the parameters mean, not where they ran;
- text written to stderr (library warnings, progress bars) is dropped: it is noise on a page, and
  the runner's own log keeps it;
- the plumbing that writes the artifact (a code cell that builds ``Artifact(...)``) is folded
  (the ``hide-input`` tag: a click shows it), so the science stays in view; the artifact itself is
  rendered by the chapter's table;
- so is the plotting plumbing: a cell that saves a figure (``.savefig(``) and whose code lines are
  at least half matplotlib (they name ``fig``, ``ax``, ``axes`` or ``plt``, or call a
  ``plot_*``, ``show_*``, ``draw_*`` or ``animate_*`` helper) shows its figure and folds its
  code; a cell that computes as much as it draws keeps its code in view.

A tag the author set (``hide-input``, ``remove-input``, ``hide-cell``, ``remove-cell``) is kept
as it is.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

__all__ = ["for_the_book", "mostly_plotting", "write_book_copy"]

_ABSOLUTE = re.compile(r"""(["'])(/[^"']*)\1""")
_PLOTTING = re.compile(r"\b(fig|ax|axes|plt)\b|\b(plot|show|draw|animate)_\w*\(")
_AUTHOR_TAGS = {"hide-input", "remove-input", "hide-cell", "remove-cell"}


def _relative(source: str, build_dir: Path | None) -> str:
    def repl(m: re.Match) -> str:
        path = Path(m.group(2))
        if build_dir is not None:
            try:
                return f"{m.group(1)}{path.relative_to(build_dir).as_posix()}{m.group(1)}"
            except ValueError:
                pass
        return f"{m.group(1)}{path.name}{m.group(1)}"
    return _ABSOLUTE.sub(repl, source)


def mostly_plotting(source: str) -> bool:
    """Whether a code cell is plotting plumbing: it saves a figure and at least half of its code
    lines (not blank, not comments) are matplotlib or a plotting helper."""
    if ".savefig(" not in source:
        return False
    lines = [line for line in source.splitlines()
             if line.strip() and not line.strip().startswith("#")]
    return 2 * sum(bool(_PLOTTING.search(line)) for line in lines) >= len(lines)


def for_the_book(nb: nbformat.NotebookNode, build_dir: Path | None = None
                 ) -> nbformat.NotebookNode:
    """The book's version of an executed notebook ``nb`` (changed in place and returned)."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "injected-parameters" in tags:
            cell.source = _relative(cell.source, build_dir)
        cell.outputs = [o for o in cell.get("outputs", [])
                        if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
        plumbing = "Artifact(" in cell.source or mostly_plotting(cell.source)
        if plumbing and not _AUTHOR_TAGS & set(tags):
            tags.append("hide-input")
    return nb


def write_book_copy(executed: Path, destination: Path, build_dir: Path | None = None) -> None:
    """Read the executed notebook, write the book's version of it to ``destination``."""
    nb = nbformat.read(executed, as_version=4)
    nbformat.write(for_the_book(nb, build_dir), destination)
