"""The first cell of every source notebook: install ``relnotes`` where the notebook runs.

A reader who opens a notebook on Colab or Binder (the book's launch buttons open the source in
``notebooks/``) has a Python with its own PyTorch, often with CUDA, and no ``relnotes``. The cell
installs ``relnotes`` from the repository *without* re-pinning that PyTorch: the package's own
requirement is a range (``torch>=2.4``); the exact versions of the book's references are an extra
(``relnotes[pinned]``) that only ``make env`` installs. In a checkout, where ``relnotes`` imports,
the cell does nothing; the book does not show it (tag ``remove-cell``).

A notebook that reads data shipped in another package installs that package too, as ``make env``
does (:data:`EXTRA_INSTALLS`): ``rn_dedup_forest`` uses deepforest's sample tree images, installed
with ``--no-deps`` (deepforest's own dependencies are heavy and relnotes uses none of them).

``python -m relnotes.repro.launch [--check] [NOTEBOOK ...]`` gives each notebook its install cell
(default: every notebook under ``notebooks/``), or with ``--check`` only lists the notebooks whose
first code cell is not it and exits 1 if any; ``tests/repro/test_launch.py`` runs the check on
the repository.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

__all__ = ["REPOSITORY", "INSTALL_CELL", "EXTRA_INSTALLS", "install_cell", "has_install_cell",
           "add_install_cell", "main"]

#: The repository's address, as in ``_config.yml`` (``repository.url``; a test checks they agree).
REPOSITORY = "https://github.com/relnotes/relnotes"

INSTALL_CELL = f"""\
# On Colab or Binder: install relnotes beside the host's own PyTorch (in a checkout: nothing to do)
import importlib.util, subprocess, sys
if importlib.util.find_spec("relnotes") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "relnotes @ git+{REPOSITORY}"], check=True)"""

TAG = "install-relnotes"

#: What a notebook installs besides relnotes when its code uses a name: {name: (module to look
#: for, pip arguments, why)}. The deepforest pin is the Makefile's (a test checks they agree).
EXTRA_INSTALLS = {
    "load_deepforest_trees": ("deepforest", ("--no-deps", "deepforest==2.1.0"),
                              "deepforest's sample images, the data of this notebook; --no-deps "
                              "as in `make env`"),
}


def _code(nb: nbformat.NotebookNode) -> str:
    """The notebook's code, its install cell left out."""
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code"
                     and TAG not in c.get("metadata", {}).get("tags", []))


def install_cell(nb: nbformat.NotebookNode | None = None) -> str:
    """The install cell of ``nb``: :data:`INSTALL_CELL`, then one install for each name of
    :data:`EXTRA_INSTALLS` its code uses (``None``: the plain cell)."""
    code = _code(nb) if nb is not None else ""
    lines = [INSTALL_CELL]
    for name, (module, args, why) in EXTRA_INSTALLS.items():
        if re.search(rf"\b{re.escape(name)}\b", code):
            quoted = ", ".join(f'"{a}"' for a in args)
            lines += [f"# {why}",
                      f'if importlib.util.find_spec("{module}") is None:',
                      '    subprocess.run([sys.executable, "-m", "pip", "install", "-q",',
                      f"                    {quoted}], check=True)"]
    return "\n".join(lines)


def has_install_cell(nb: nbformat.NotebookNode) -> bool:
    """Whether the first code cell of ``nb`` is its current install cell (:func:`install_cell`)."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    return bool(code) and code[0].source == install_cell(nb)


def add_install_cell(nb: nbformat.NotebookNode) -> bool:
    """Make the current install cell the first code cell of ``nb``, replacing an older one;
    return whether ``nb`` changed."""
    if has_install_cell(nb):
        return False
    nb.cells = [c for c in nb.cells if TAG not in c.get("metadata", {}).get("tags", [])]
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    cell = nbformat.v4.new_code_cell(install_cell(nb), metadata={"tags": [TAG, "remove-cell"]})
    cell.id = TAG                       # a stable id: the same cell in every notebook
    nb.cells.insert(first_code, cell)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m relnotes.repro.launch", description=__doc__
                                     .split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true", help="list, change nothing")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(Path("notebooks").glob("*/*.ipynb"))
    lacking = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if args.check:
            if not has_install_cell(nb):
                lacking.append(path)
        elif add_install_cell(nb):
            nbformat.write(nb, path)
            print(f"added the install cell to {path}")
    for path in lacking:
        print(f"{path}: the first code cell is not relnotes' install cell "
              f"(python -m relnotes.repro.launch {path})")
    return 1 if lacking else 0


if __name__ == "__main__":
    sys.exit(main())
