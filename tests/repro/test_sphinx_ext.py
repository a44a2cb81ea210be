import pytest

from relnotes.repro import Artifact, Cell, Column, Spread
from relnotes.repro.sphinx_ext import (FOLD_NOTES, claim_text, notes_nodes, paper_only_cells,
                                       table_cells)


def test_paper_ours_difference_columns_only_where_the_paper_has_values():
    art = Artifact("t", "T", profile="cpu",
                   columns=[Column("params", "#params", unit="M"), Column("diff", "max diff")])
    art.add_row("ResNet-50", params=25.6, diff=1e-16, paper={"params": 25.5})
    art.add_row("LR-Net-50", params=23.3, diff=2e-16)
    header, body = table_cells(art)
    assert header == ["", "#params (M): paper", "#params (M): ours", "#params (M): difference",
                      "max diff"]
    assert body[0] == ["ResNet-50", "25.5", "25.6", "0.1", "1.000e-16"]
    assert body[1] == ["LR-Net-50", "-", "23.3", "", "2.000e-16"]


def test_machine_dependent_columns_are_marked():
    art = Artifact("t", "T", profile="cpu",
                   columns=[Column("s", "time", unit="ms", checked=False)])
    art.add_row("op", s=12.5)
    header, body = table_cells(art)
    assert header == ["", "time (ms) [this machine]"]
    assert body == [["op", "12.5"]]


def test_seeded_columns_show_mean_sd_and_n_and_no_spread_below_two_seeds():
    art = Artifact("t", "T", profile="cpu", columns=[Column("ap", "AP", seeds_k=2)])
    art.add_row("three", ap=[1.0, 2.0, 3.0])
    art.add_row("one", ap=[5.0])
    header, body = table_cells(art)
    assert header == ["", "AP [mean ± sd over seeds]"]
    assert body == [["three", "2 ± 1 (n = 3)"], ["one", "5 (n = 1)"]]


def test_not_comparable_columns_show_the_papers_delta_to_the_baseline_beside_ours():
    art = Artifact("t", "T", profile="cpu", baseline="2fc",
                   columns=[Column("map", "mAP", comparable=False)])
    art.add_row("2fc", map=70.0, paper={"map": 35.0})
    art.add_row("relative", map=74.5, paper={"map": 36.5})
    header, body = table_cells(art)
    assert header == ["", "mAP: paper", "mAP: paper vs 2fc", "mAP: ours", "mAP: ours vs 2fc"]
    assert body == [["2fc", "35", "(baseline)", "70", "(baseline)"],
                    ["relative", "36.5", "1.5", "74.5", "4.5"]]
    assert "difference" not in " ".join(header)        # no "ours - paper" for these
    art.baseline = None
    assert table_cells(art)[0] == ["", "mAP: paper (not comparable)", "mAP: ours"]
    art.baseline = "nope"
    with pytest.raises(ValueError, match="baseline row 'nope' does not exist"):
        table_cells(art)


def test_paper_only_columns_go_to_their_own_table():
    art = Artifact("t", "T", profile="cpu",
                   columns=[Column("acc", "acc"), Column("ap", "AP (COCO)", unit="%")])
    art.add_row("GC", acc=0.9, paper={"ap": 39.4})
    art.add_row("SE", acc=0.8)
    header, body = table_cells(art)
    assert header == ["", "acc"]
    assert paper_only_cells(art) == (["", "AP (COCO) (%): paper"], [["GC", "39.4"]])
    plain = Artifact("p", "P", profile="cpu", columns=[Column("acc", "acc")])
    plain.add_row("x", acc=1.0)
    assert paper_only_cells(plain) is None


def test_long_notes_fold_into_details():
    assert notes_nodes("") == []
    [short] = notes_nodes("short note")
    assert short.astext() == "short note"
    opening, para, closing = notes_nodes("x" * (FOLD_NOTES + 1))
    assert opening.astext().startswith("<details") and closing.astext() == "</details>"
    assert para.astext() == "x" * (FOLD_NOTES + 1)


def test_claim_text_gives_statement_truth_and_numbers():
    art = Artifact("t", "T", profile="cpu", columns=[Column("ap", "AP", seeds_k=2)])
    art.add_row("relative", ap=[71.0, 72.0, 73.0])
    art.add_row("2fc", ap=[66.0, 67.0, 68.0])
    art.claim("beats", "relative beats 2fc", Cell("relative", "ap"), ">", Cell("2fc", "ap"),
              Spread(2))
    art.claim("same", "relative equals 2fc", Cell("relative", "ap"), "~", Cell("2fc", "ap"), 1.0)
    assert claim_text(art, "beats") == ("relative beats 2fc", True,
                                        "left - right = 72 vs 67: 5 > margin 2")
    assert claim_text(art, "same") == ("relative equals 2fc", False, "|72 - 67| = 5 > margin 1")
    with pytest.raises(KeyError, match=r"defines no claim 'nope'; its claims: \['beats', 'same'\]"):
        claim_text(art, "nope")


def build(tmp_path, page):
    """A minimal Sphinx + MyST project with our extension; returns (returncode, output, html)."""
    import subprocess
    import sys

    art = Artifact("demo", "Demo", profile="smoke", columns=[Column("acc", "acc")])
    art.add_row("a", acc=0.9)
    art.add_row("b", acc=0.5)
    art.claim("a-beats-b", "a beats b", Cell("a", "acc"), ">", Cell("b", "acc"), 0.1)
    art.claim("b-beats-a", "b beats a", Cell("b", "acc"), ">", Cell("a", "acc"), 0.1)
    art.write(tmp_path / "book" / "_generated" / "artifacts")
    (tmp_path / "conf.py").write_text(
        "extensions = ['myst_parser', 'relnotes.repro.sphinx_ext']\n"
        "exclude_patterns = ['_build']\n")
    (tmp_path / "index.md").write_text(page)
    run = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(tmp_path),
                          str(tmp_path / "_build")], capture_output=True, text=True, timeout=120)
    html = tmp_path / "_build" / "index.html"
    return run.returncode, run.stdout + run.stderr, html.read_text() if html.exists() else ""


def test_claim_role_renders_statement_and_truth_value_from_the_artifact(tmp_path):
    code, out, html = build(tmp_path, "# T\n\nWe find that {claim}`demo/a-beats-b`, and not "
                                      "that {claim}`demo/b-beats-a`.\n")
    assert code == 0, out
    assert "a beats b" in html and "\u2714 true on profile smoke" in html
    assert "b beats a" in html and "\u2718 false on profile smoke" in html
    assert "relnotes-claim-false" in html


@pytest.mark.parametrize("cite, message", [
    ("demo/nope", r"claim 'demo/nope' is cited but not defined: artifact 'demo' defines no "
                  r"claim 'nope'"),
    ("other/a-beats-b", r"claim 'other/a-beats-b' is cited but not defined: no artifact "),
    ("just-an-id", r"write \{claim\}`artifact_id/claim_id`"),
])
def test_an_unknown_claim_stops_the_build_with_a_clear_message(tmp_path, cite, message):
    import re

    code, out, _ = build(tmp_path, f"# T\n\nSee {{claim}}`{cite}`.\n")
    assert code != 0
    assert re.search(message, out), out


def test_notebook_needs_renders_a_line_per_notebook_and_profile_from_the_references(write_nb,
                                                                                    tmp_path):
    import json

    for name in ("alpha", "beta"):
        write_nb(tmp_path / "notebooks" / "ch" / f"{name}.ipynb",
                 f'art = Artifact("{name}", "T")', parameters=None)
    (tmp_path / "notebooks" / "reference" / "cpu").mkdir(parents=True)
    (tmp_path / "notebooks" / "reference" / "cpu" / "alpha.json").write_text(json.dumps(
        {"environment": {"cpu": "AMD EPYC", "threads": 2, "git": "abc1234",
                         "time": {"wall_s": 683.17, "cpu_s": 771.6, "budget_s": 600,
                                  "over_budget": True, "host_peak_mib": 1234.5}}}))
    code, out, html = build(tmp_path, "# T\n\n```{notebook-needs}\n```\n")
    assert code == 0, out
    assert "relnotes-needs" in html
    assert "683 (over)" in html and "772" in html and "AMD EPYC, 2 threads, commit abc1234" in html
    assert "1,234 MiB" in html and "not used" in html
    assert "beta" in html and "no reference" in html
