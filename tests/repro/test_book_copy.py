"""The book's copy of an executed notebook: no machine paths, no stderr, the artifact cell folded."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from relnotes.repro.book_copy import for_the_book, write_book_copy


def _executed():
    injected = new_code_cell('profile = "cpu"\nartifact_dir = "/home/a/relnotes/_build/repro/cpu/'
                             'artifacts/x"\nimages = "/data/coco"\n',
                             metadata={"tags": ["injected-parameters"]})
    science = new_code_cell("fit(model)", outputs=[
        new_output("stream", name="stderr", text="TqdmWarning: IProgress not found\n"),
        new_output("stream", name="stdout", text="epoch 1: loss 0.5\n")])
    artifact = new_code_cell('art = Artifact("x", "t")\nart.save(artifact_dir)')
    shown = new_code_cell('art = Artifact("y", "t")', metadata={"tags": ["remove-input"]})
    return new_notebook(cells=[new_markdown_cell("# x"), injected, science, artifact, shown])


def test_machine_paths_become_paths_below_the_build_folder():
    nb = for_the_book(_executed(), Path("/home/a/relnotes/_build/repro"))
    assert nb.cells[1].source == ('profile = "cpu"\nartifact_dir = "cpu/artifacts/x"\n'
                                  'images = "coco"\n')


def test_stderr_is_dropped_and_stdout_kept():
    nb = for_the_book(_executed())
    assert [o["name"] for o in nb.cells[2].outputs] == ["stdout"]


def test_the_artifact_cell_is_folded_once_and_an_author_tag_is_kept():
    nb = for_the_book(for_the_book(_executed()))
    assert nb.cells[3].metadata["tags"] == ["hide-input"]
    assert nb.cells[4].metadata["tags"] == ["remove-input"]
    assert nb.cells[2].metadata["tags"] == []


def test_written_copy_reads_back(tmp_path):
    src = tmp_path / "x.ipynb"
    nbformat.write(_executed(), src)
    write_book_copy(src, tmp_path / "book.ipynb", Path("/home/a/relnotes/_build/repro"))
    assert "/home/a" not in (tmp_path / "book.ipynb").read_text()
