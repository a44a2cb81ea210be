"""The book's copy of an executed notebook: no machine paths, no stderr, the artifact and plotting
plumbing folded."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from relnotes.repro.book_copy import for_the_book, mostly_plotting, write_book_copy


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


PLOT = """fig, axes = plt.subplots(1, 2, figsize=(8, 3))
for ax, (name, values) in zip(axes, curves.items()):   # one panel per run
    ax.plot(values)
    ax.set_title(name)
fig.tight_layout()
fig.savefig(f"{artifact_dir}/curves.png", dpi=110)
"""
SCIENCE_THEN_PLOT = """weights = model.relation_weights(images)
entropy = -(weights * weights.log()).sum(-1)
edge = entropy[mask].mean()
flat = entropy[~mask].mean()
fig = show_weights(weights[0])
fig.savefig(f"{artifact_dir}/weights.png")
"""


def test_a_cell_that_mostly_draws_a_figure_is_plumbing():
    assert mostly_plotting(PLOT)
    assert mostly_plotting("fig = plot_lookup_weights(*shown)\nfig.savefig(\"x.png\")")
    assert mostly_plotting("show_samples(test, 6).savefig(f\"{artifact_dir}/data.png\")")
    assert not mostly_plotting(SCIENCE_THEN_PLOT)        # 2 of 6 lines draw
    assert not mostly_plotting(PLOT.replace("fig.savefig", "fig.show"))   # saves no figure
    assert not mostly_plotting("model.fit(data)\n# fig.savefig(x)\nprint(axes_total)")


def test_plotting_cells_are_folded_with_their_figure_and_author_tags_are_kept():
    figure = new_output("display_data", data={"image/png": "iVBOR"})
    cells = [new_code_cell(PLOT, outputs=[figure]), new_code_cell(SCIENCE_THEN_PLOT),
             new_code_cell(PLOT, metadata={"tags": ["remove-cell"]})]
    nb = for_the_book(for_the_book(new_notebook(cells=cells)))
    assert [c.metadata["tags"] for c in nb.cells] == [["hide-input"], [], ["remove-cell"]]
    assert nb.cells[0].outputs == [figure]               # the figure stays on the page


def test_written_copy_reads_back(tmp_path):
    src = tmp_path / "x.ipynb"
    nbformat.write(_executed(), src)
    write_book_copy(src, tmp_path / "book.ipynb", Path("/home/a/relnotes/_build/repro"))
    assert "/home/a" not in (tmp_path / "book.ipynb").read_text()
