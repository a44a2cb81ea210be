"""Sphinx extension: the launch, source and edit buttons of a notebook page open its *source*.

The book shows the executed copies of the notebooks, which the runner writes to
``book/_generated/notebooks/<name>.ipynb``; that folder is not in git. The theme's Colab / Binder
buttons and its "show source" / "edit" buttons are built from the page's path, so on a notebook
page they would point at ``book/_generated/notebooks/<name>.ipynb`` and answer 404. This extension
rewrites those URLs, after the theme made them, to the notebook's source in the repository,
``notebooks/<chapter>/<name>.ipynb`` (the file a reader runs, with its ``parameters`` cell).

A generated page whose notebook has no source under ``notebooks/`` (or two) stops the build: a
launch link that opens nothing is a silent wrong answer.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

GENERATED = "book/_generated/notebooks/"
# a path to an executed copy (the issue button's text names the page's .html: left as it is)
_GENERATED_NOTEBOOK = re.compile(re.escape(GENERATED) + r"([\w.-]+?)\.ipynb")


def source_notebooks(root: Path) -> dict[str, str]:
    """``{name: "notebooks/<chapter>/<name>.ipynb"}`` for every source notebook under ``root``."""
    found: dict[str, list[str]] = {}
    for path in sorted((root / "notebooks").glob("*/*.ipynb")):
        found.setdefault(path.stem, []).append(path.relative_to(root).as_posix())
    twice = {name: paths for name, paths in found.items() if len(paths) > 1}
    if twice:
        raise ExtensionError(f"notebook names must be unique across notebooks/: {twice}")
    return {name: paths[0] for name, paths in found.items()}


@functools.lru_cache(maxsize=4)
def _sources(srcdir: str) -> dict[str, str]:
    return source_notebooks(Path(srcdir))


def rewrite(value: Any, sources: dict[str, str]) -> Any:
    """``value`` (the theme's header-button structure) with every URL to a generated notebook
    replaced by its source's path."""
    if isinstance(value, dict):
        return {k: rewrite(v, sources) for k, v in value.items()}
    if isinstance(value, list):
        return [rewrite(v, sources) for v in value]
    if isinstance(value, str):
        return _GENERATED_NOTEBOOK.sub(lambda m: _source(m.group(1), sources), value)
    return value


def _source(name: str, sources: dict[str, str]) -> str:
    if name not in sources:
        raise ExtensionError(f"{GENERATED}{name}.ipynb has no source notebook under "
                             f"notebooks/ (its launch and edit buttons would open nothing)")
    return sources[name]


def _point_at_sources(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any],
                      doctree: Any) -> None:
    if "header_buttons" not in context:
        return
    context["header_buttons"] = rewrite(context["header_buttons"], _sources(str(app.srcdir)))


def setup(app: Sphinx) -> dict[str, Any]:
    # the theme adds its launch and source buttons at priority 501: rewrite them after that
    app.connect("html-page-context", _point_at_sources, priority=900)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
