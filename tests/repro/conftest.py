"""Shared fixtures of the runner's tests: the toy notebooks they write into ``tmp_path``."""

import nbformat
import pytest

#: The parameters cell of a toy notebook: what the runner injects, declared.
PARAMETERS = 'profile = "smoke"\nartifact_dir = "a"'


def _write_nb(path, *cells, parameters=PARAMETERS, install=None):
    """Write a notebook to ``path`` and return ``path``: an install cell (tagged as
    ``relnotes.repro.launch`` tags it) when ``install`` is given, the parameters cell (tag
    ``parameters``; none when ``parameters`` is None), then one code cell per string of
    ``cells``; a python3 kernelspec, as papermill needs."""
    nb = nbformat.v4.new_notebook()
    if install is not None:
        nb.cells.append(nbformat.v4.new_code_cell(
            install, metadata={"tags": ["install-relnotes", "remove-cell"]}))
    if parameters is not None:
        nb.cells.append(nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture
def write_nb():
    """``write_nb(path, *cells, parameters=..., install=None)``: a toy notebook (see
    :func:`_write_nb`)."""
    return _write_nb
