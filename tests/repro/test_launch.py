"""Every source notebook starts with the cell that installs relnotes on Colab / Binder."""

from pathlib import Path

import nbformat
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from relnotes.repro.launch import INSTALL_CELL, REPOSITORY, add_install_cell, has_install_cell, main

ROOT = Path(__file__).resolve().parents[2]


def test_every_source_notebook_has_the_install_cell_first():
    notebooks = sorted((ROOT / "notebooks").glob("*/*.ipynb"))
    assert len(notebooks) >= 10
    assert main(["--check", *map(str, notebooks)]) == 0


def test_the_cell_names_the_repository_of_the_book_config():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["repository"]["url"] == REPOSITORY
    assert f"git+{REPOSITORY}" in INSTALL_CELL


def test_the_cell_does_not_pin_torch():
    assert "torch" not in INSTALL_CELL.split("import", 1)[1]


def test_adding_puts_it_first_replaces_an_old_one_and_is_idempotent():
    nb = new_notebook(cells=[new_markdown_cell("# t"),
                             new_code_cell('profile = "smoke"', metadata={"tags": ["parameters"]})])
    assert not has_install_cell(nb)
    assert add_install_cell(nb) and has_install_cell(nb)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code"]
    assert nb.cells[1].metadata["tags"] == ["install-relnotes", "remove-cell"]
    assert not add_install_cell(nb)
    nb.cells[1].source = "# an older install cell"
    assert add_install_cell(nb)
    assert [c.source for c in nb.cells].count(INSTALL_CELL) == 1 and len(nb.cells) == 3
    nbformat.validate(nb)


def test_check_lists_a_notebook_without_it(tmp_path, capsys):
    path = tmp_path / "x.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("1")]), path)
    assert main(["--check", str(path)]) == 1
    assert "x.ipynb" in capsys.readouterr().out
    assert main([str(path)]) == 0 and main(["--check", str(path)]) == 0


def test_binder_installs_relnotes_and_the_deepforest_images_like_make_env():
    """Binder (repo2docker) reads the root's environment.yml, then runs the root's postBuild; a
    binder/ or .binder/ folder would make it ignore both. Both must install what `make env`
    does: relnotes (with the pinned stack) and deepforest, --no-deps, at the Makefile's version."""
    import os
    import re

    from relnotes.data.deepforest_trees import INSTALL_HINT

    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    [pip] = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert any(re.fullmatch(r"-e \.\[.*pinned.*\]", line) for line in pip), pip
    post = ROOT / "postBuild"
    assert post.is_file() and os.access(post, os.X_OK)
    makefile = (ROOT / "Makefile").read_text()
    [pin] = re.findall(r"install --no-deps (deepforest==[\d.]+)", makefile)
    assert f"pip install --no-deps {pin}" in post.read_text()
    assert INSTALL_HINT == f"pip install --no-deps {pin}"


def _pip_commands(source, missing):
    """The pip commands the cell runs where the modules ``missing`` are not installed."""
    import importlib.util
    import subprocess
    from unittest import mock

    real = importlib.util.find_spec
    with mock.patch("importlib.util.find_spec",
                    lambda name, *a: None if name in missing else real(name, *a)), \
            mock.patch("subprocess.run") as run:
        exec(compile(source, "install-cell", "exec"), {})
    assert all(c.kwargs == {"check": True} for c in run.call_args_list)
    return [c.args[0][c.args[0].index("install") + 1:] for c in run.call_args_list]


def test_the_forest_notebook_also_installs_deepforest_without_its_dependencies():
    """rn_dedup_forest reads deepforest's images: on Colab its cell installs deepforest with
    --no-deps at the Makefile's pin, after relnotes; the other notebooks install relnotes only,
    and in a checkout nothing is installed."""
    import re

    makefile = (ROOT / "Makefile").read_text()
    [pin] = re.findall(r"install --no-deps (deepforest==[\d.]+)", makefile)
    needs = {}
    for path in sorted((ROOT / "notebooks").glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code").source
        needs[path.stem] = _pip_commands(first, {"relnotes", "deepforest"})
        assert _pip_commands(first, set()) == []
    relnotes_only = [["-q", f"relnotes @ git+{REPOSITORY}"]]
    assert needs.pop("rn_dedup_forest") == relnotes_only + [["-q", "--no-deps", pin]]
    assert needs and all(cmds == relnotes_only for cmds in needs.values())


def test_a_notebook_that_starts_using_deepforest_gets_the_longer_cell():
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    add_install_cell(nb)
    assert nb.cells[0].source == INSTALL_CELL
    nb.cells.append(new_code_cell("from relnotes.data import load_deepforest_trees"))
    assert not has_install_cell(nb) and add_install_cell(nb) and has_install_cell(nb)
    assert "deepforest==" in nb.cells[0].source and len(nb.cells) == 3
