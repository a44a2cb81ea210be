"""Sphinx extension: the page furniture of the theme, made to work for this book.

1. The launch, source and edit buttons of a notebook page open its *source*.

The book shows the executed copies of the notebooks, which the runner writes to
``book/_generated/notebooks/<name>.ipynb``; that folder is not in git. The theme's Colab / Binder
buttons and its "show source" / "edit" buttons are built from the page's path, so on a notebook
page they would point at ``book/_generated/notebooks/<name>.ipynb`` and answer 404. This extension
rewrites those URLs, after the theme made them, to the notebook's source in the repository,
``notebooks/<chapter>/<name>.ipynb`` (the file a reader runs, with its ``parameters`` cell).

A generated page whose notebook has no source under ``notebooks/`` (or two) stops the build: a
launch link that opens nothing is a silent wrong answer.

2. Every inline script once. sphinx-thebe registers its configuration script (``const THEBE_JS_URL
= ...``) twice on every page of a Jupyter Book 1 build, and a browser stops at the second
declaration with "Identifier 'THEBE_JS_URL' has already been declared" (found by
``tests/book/test_browser.py``). :func:`unique_scripts` keeps the first of identical scripts.
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
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        # a repository URL (the theme's download button, a path in the built site, stays)
        return _GENERATED_NOTEBOOK.sub(lambda m: _source(m.group(1), sources), value)
    return value


def _source(name: str, sources: dict[str, str]) -> str:
    if name not in sources:
        raise ExtensionError(f"{GENERATED}{name}.ipynb has no source notebook under "
                             f"notebooks/ (its launch and edit buttons would open nothing)")
    return sources[name]


def unique_scripts(scripts: list) -> list:
    """``scripts`` (Sphinx's ``_JavaScript`` assets) without repeats of the same file or body."""
    seen, out = set(), []
    for js in scripts:
        # an inline script has filename None or "" depending on who added it: the same script
        key = (str(js.filename or ""), tuple(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            out.append(js)
    return out


def _page_context(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any],
                  doctree: Any) -> None:
    if "header_buttons" in context:
        context["header_buttons"] = rewrite(context["header_buttons"],
                                            _sources(str(app.srcdir)))
    if "script_files" in context:
        context["script_files"] = unique_scripts(list(context["script_files"]))


def setup(app: Sphinx) -> dict[str, Any]:
    # the theme adds its launch and source buttons at priority 501: rewrite them after that
    app.connect("html-page-context", _page_context, priority=900)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
