"""The time-and-memory page's rows come from the committed references, one per notebook and
profile, and cover every notebook (book/needs.md renders them)."""

import doctest
import json
from pathlib import Path


import relnotes.repro.needs as needs
from relnotes.repro.needs import artifact_ids, needs_rows, reference_profiles
from relnotes.repro.runner import discover

ROOT = Path(__file__).resolve().parents[2]


def test_doctests():
    assert doctest.testmod(needs).failed == 0


def test_every_notebook_has_a_row_with_its_time_on_every_reference_profile():
    rows = needs_rows(ROOT / "notebooks" / "reference", ROOT / "notebooks")
    profiles = reference_profiles(ROOT / "notebooks" / "reference")
    assert profiles == ["smoke", "cpu"]
    names = [nb.stem for nb in discover(ROOT / "notebooks")]
    assert len(names) >= 20
    assert [(r["notebook"], r["profile"]) for r in rows] == \
        [(n, p) for n in names for p in profiles]
    no_time = [(r["notebook"], r["profile"]) for r in rows
               if r["artifact"] is None or r["wall_s"] is None or r["cpu_s"] is None]
    assert not no_time, f"no reference with a time for {no_time}"
    # the row reads the reference: one_formula's three artifacts share the notebook's time
    ref = json.loads((ROOT / "notebooks/reference/cpu/one_formula.json").read_text())
    [row] = [r for r in rows if r["notebook"] == "one_formula" and r["profile"] == "cpu"]
    assert row["artifact"] == "one_formula"
    assert row["wall_s"] == ref["environment"]["time"]["wall_s"]
    assert row["commit"] == ref["environment"]["git"]


def test_a_notebook_without_reference_is_listed_and_gpu_peaks_are_read(write_nb, tmp_path):
    nbs = tmp_path / "notebooks"
    write_nb(nbs / "ch" / "a.ipynb", 'x = Artifact("a_table", "A")\ny = Artifact("a_fig", "A")',
             parameters=None)
    write_nb(nbs / "ch" / "b.ipynb", "pass", parameters=None)
    assert artifact_ids(nbs / "ch" / "a.ipynb") == ["a_table", "a_fig"]
    assert artifact_ids(nbs / "ch" / "b.ipynb") == ["b"]
    refs = tmp_path / "refs"
    (refs / "gpu").mkdir(parents=True)
    (refs / "gpu" / "a_fig.json").write_text(json.dumps({"environment": {
        "cpu": "X", "threads": 8, "git": "abc1234",
        "time": {"wall_s": 100.0, "cpu_s": 90.0, "budget_s": 3600, "over_budget": False,
                 "gpu_peak_mib": 2048.0, "gpu_name": "H200"}}}))
    rows = needs_rows(refs, nbs)
    assert [(r["notebook"], r["profile"], r["artifact"]) for r in rows] == \
        [("a", "gpu", "a_fig"), ("b", "gpu", None)]
    assert rows[0]["gpu_peak_mib"] == 2048.0 and rows[0]["gpu_name"] == "H200"
    assert rows[1]["wall_s"] is None


def test_the_page_renders_the_table_and_is_linked_from_reproducing():
    page = (ROOT / "book" / "needs.md").read_text()
    assert "```{notebook-needs}" in page
    assert "{doc}`needs`" in (ROOT / "book" / "reproducing.md").read_text()
    assert "file: book/needs" in (ROOT / "_toc.yml").read_text()
