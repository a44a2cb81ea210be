"""The scorecard's statuses come from the artifacts and their claims, by stated rules."""

import subprocess
import sys

import pytest

from relnotes.repro import Artifact, Cell, Column
from relnotes.repro.scorecard import TALK, TalkItem, paper_vs_ours, scorecard_rows, status


def art(ours, paper, comparable=True, id="a"):
    a = Artifact(id, "A", profile="smoke", columns=[Column("v", "v", comparable=comparable)])
    for i, (o, p) in enumerate(zip(ours, paper)):
        a.add_row(f"r{i}", v=o, paper={"v": p})
    return a


def test_matched_exactly_then_within_rounding():
    assert status(art([44_529_000, 3], [44_529_000, 3]))[0] == "matched exactly"
    assert status(art([0.4132, 12.44], [0.41, 12.5]))[0] == "effect not shown"  # 12.44 -> 12.4
    assert status(art([0.4132, 12.46], [0.41, 12.5]))[0] == "within rounding"
    assert status(art([0.4132, 12.46], [0.41, 12.5]))[1] == \
        "2 value(s) equal the paper's to its decimals"


def test_claims_decide_when_values_are_not_comparable():
    a = art([70.0, 74.5], [35.0, 36.5], comparable=False)
    assert status(a) == ("effect not shown",
                         "no paper value to match and no claim states the effect")
    a.claim("learns", "the loss fell", 1.0, ">", 0.0)
    a.claim("gain", "r1 beats r0", Cell("r1", "v"), ">", Cell("r0", "v"), 1.0, effect=True)
    assert status(a) == ("effect shown", "r1 beats r0")
    b = art([70.0, 70.5], [35.0, 36.5], comparable=False)
    b.claim("learns", "the loss fell", 1.0, ">", 0.0)
    b.claim("gain", "r1 beats r0", Cell("r1", "v"), ">", Cell("r0", "v"), 1.0, effect=True)
    assert status(b) == ("effect not shown", "false: r1 beats r0")
    # without effect marks every claim counts
    c = art([70.0, 70.5], [35.0, 36.5], comparable=False)
    c.claim("x", "x holds", 1.0, ">", 0.0)
    c.claim("y", "y holds", 0.0, ">", 1.0)
    assert status(c) == ("effect not shown", "false: y holds")


def test_not_run_here_and_paper_beside_ours():
    assert status(None)[0] == "not run here"
    a = art([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 5.0])
    assert paper_vs_ours(a) == ("r0, v: 1; r1, v: 2; r2, v: 3 (+1 more)",
                                "r0, v: 1; r1, v: 2; r2, v: 3 (+1 more)")
    nc = art([70.0], [35.0], comparable=False)
    assert paper_vs_ours(nc) == ("r0, v: 35", "r0, v: 70")


def test_rows_cover_every_talk_item_and_every_built_artifact():
    talk = (TalkItem("Table 1", "P", ("a",)), TalkItem("Slide", "Q"))
    rows = scorecard_rows({"a": art([1], [1]), "extra": art([1], [2], id="extra")}, talk)
    assert [(r["item"], r["artifact"], r["status"]) for r in rows] == [
        ("Table 1", "a", "matched exactly"), ("Slide", None, "not run here"),
        ("A", "extra", "effect not shown")]
    assert rows[0]["profile"] == "smoke"
    every = {a for t in TALK for a in t.artifacts}
    assert {"rn_ablation_head", "gcnet_coco_ap", "lrnet_robustness", "rn_figures", "region_extractors",
            "region_deformable", "strn_benchmark", "strn_ablation"} <= every


def test_scorecard_directive_builds_and_links_to_the_artifact_table(tmp_path):
    a = art([1.0], [1.0], id="rn_complexity")
    a.write(tmp_path / "book" / "_generated" / "artifacts")
    (tmp_path / "conf.py").write_text("extensions = ['myst_parser', 'relnotes.repro.sphinx_ext']\n"
                                      "exclude_patterns = ['_build']\n")
    (tmp_path / "index.md").write_text("# Home\n\n```{toctree}\nchapter\ncard\n```\n")
    (tmp_path / "chapter.md").write_text("# Chapter\n\n```{artifact-table} rn_complexity\n```\n")
    (tmp_path / "card.md").write_text("# Scorecard\n\n```{scorecard}\n```\n")
    run = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(tmp_path),
                          str(tmp_path / "_build")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    card = (tmp_path / "_build" / "card.html").read_text()
    assert 'href="chapter.html#artifact-rn-complexity"' in card
    assert "matched exactly" in card and "not run here" in card
    assert 'id="artifact-rn-complexity"' in (tmp_path / "_build" / "chapter.html").read_text()
