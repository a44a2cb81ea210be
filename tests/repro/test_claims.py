"""Claims: computed from the artifact, stored in it, and compared with the reference exactly."""

import json
import math

import pytest

from relnotes.repro import Artifact, Column, compare
from relnotes.repro.claims import Cell, Claim, ClaimError, Spread, pooled_sd


def seeded(rel=(71.0, 72.0, 73.0), base=(66.0, 67.0, 68.0), k=2.0):
    art = Artifact("heads", "Heads", profile="cpu",
                   columns=[Column("ap", "AP", seeds_k=k, unit="%"), Column("params", "#params")])
    art.add_row("relative", ap=list(rel), params=10)
    art.add_row("2fc", ap=list(base), params=8)
    return art


def test_seeded_row_keeps_every_seed_its_mean_and_sample_sd():
    art = seeded()
    cell = art.rows[0].values["ap"]
    assert cell["seeds"] == [71.0, 72.0, 73.0]
    assert cell["ours"] == pytest.approx(72.0)
    assert cell["sd"] == pytest.approx(1.0)          # sample sd (n - 1)
    assert art.cell_stats("relative", "ap") == (pytest.approx(72.0), pytest.approx(1.0), 3)
    one = seeded(rel=(70.0,), base=(60.0,))
    assert one.rows[0].values["ap"]["sd"] is None    # no spread below two seeds


def test_seeded_columns_take_lists_and_plain_columns_do_not():
    art = seeded()
    with pytest.raises(TypeError, match=r"column 'ap' is seeded .* one value per seed"):
        art.add_row("x", ap=3.0)
    with pytest.raises(TypeError, match=r"column 'params' takes one value"):
        art.add_row("y", params=[1, 2])
    with pytest.raises(ValueError, match=r"seed #1 is nan"):
        art.add_row("z", ap=[1.0, math.nan])


@pytest.mark.parametrize("op, right, margin, holds", [
    (">", Cell("2fc", "ap"), Spread(2), True),            # 5 > 2 x 1
    (">", Cell("2fc", "ap"), Spread(6), False),           # 5 > 6 x 1 fails
    (">", Cell("2fc", "ap"), Spread(2, at_least=5), False),   # 5 > max(2, 5) fails (strict)
    ("<", Cell("2fc", "ap"), 0.0, False),
    ("~", Cell("2fc", "ap"), 5.0, True),
    ("~", Cell("2fc", "ap"), 4.9, False),
    (">", 50.0, 10.0, True),                              # well above a chance level of 50
    ("<", Cell("2fc", "ap", times=2.0), 0.0, True),       # 72 < 2 x 67
])
def test_claim_truth_follows_the_numbers(op, right, margin, holds):
    art = seeded()
    assert art.claim("c", "statement", Cell("relative", "ap"), op, right, margin) is holds
    rec = art.claim_record("c")
    assert rec["holds"] is holds
    assert rec["numbers"]["left"] == pytest.approx(72.0)


def test_claim_records_the_numbers_it_used_and_the_margin():
    art = seeded()
    art.claim("rel-beats-2fc", "relative beats 2fc", Cell("relative", "ap"), ">",
              Cell("2fc", "ap"), Spread(2, at_least=0.5))
    d = json.loads(json.dumps(art.to_dict()))["claims"][0]
    assert d["statement"] == "relative beats 2fc" and d["holds"] is True
    assert d["margin"] == {"k": 2, "at_least": 0.5}
    n = d["numbers"]
    assert (n["left"], n["right"], n["difference"]) == pytest.approx((72.0, 67.0, 5.0))
    assert n["pooled_sd"] == pytest.approx(1.0) and n["margin"] == pytest.approx(2.0)
    assert [c["n"] for c in n["cells"]] == [3, 3]
    assert Claim.from_dict(d).describe() == \
        "relative / ap - 2fc / ap > max(2 x pooled sd of the seeds, 0.5)"


def test_pooled_sd_weights_by_degrees_of_freedom_and_ignores_single_seeds():
    assert pooled_sd([(0, 1.0, 3), (0, 2.0, 3)]) == pytest.approx(math.sqrt(2.5))
    assert pooled_sd([(0, None, 1), (0, None, 1)]) == 0.0
    # one seed everywhere: the margin is the floor
    art = seeded(rel=(70.0,), base=(69.0,))
    assert not art.claim("c", "s", Cell("relative", "ap"), ">", Cell("2fc", "ap"),
                         Spread(2, at_least=1.5))
    assert art.claim_record("c")["numbers"]["margin"] == 1.5


def test_claim_errors_are_clear():
    art = seeded()
    art.claim("c", "s", Cell("relative", "ap"), ">", 0.0)
    with pytest.raises(ClaimError, match=r"artifact 'heads': claim 'c' defined twice"):
        art.claim("c", "again", Cell("relative", "ap"), ">", 0.0)
    with pytest.raises(ClaimError, match=r"claim 'd' of artifact 'heads': no row 'nope'"):
        art.claim("d", "s", Cell("nope", "ap"), ">", 0.0)
    with pytest.raises(ClaimError, match=r"claim 'e' of artifact 'heads': .*no column 'acc'"):
        art.claim("e", "s", Cell("relative", "acc"), ">", 0.0)
    with pytest.raises(ClaimError, match=r"op must be one of"):
        Claim("f", "s", 1.0, ">=", 0.0)
    with pytest.raises(ClaimError, match=r"claim id must be"):
        Claim("Bad Id", "s", 1.0, ">", 0.0)
    with pytest.raises(ClaimError, match=r"margin must be >= 0"):
        Claim("g", "s", 1.0, ">", 0.0, margin=-1)


def test_a_claim_defined_twice_in_a_file_is_an_error(tmp_path):
    d = seeded().to_dict()
    d["claims"] = [{"id": "c", "statement": "s", "left": 1, "op": ">", "right": 0, "margin": 0,
                    "holds": True, "numbers": {}}] * 2
    with pytest.raises(ClaimError, match=r"claim\(s\) \['c'\] defined twice"):
        Artifact.from_dict(d)


def test_tolerance_is_seeds_k_sd_cut_to_the_smallest_difference_a_claim_reads():
    art = seeded(k=3.0)
    art.claim("c", "s", Cell("relative", "ap"), ">", Cell("2fc", "ap"))
    d = art.to_dict()
    # seeds_k x sd = 3 x 1 = 3, and the claim reads a difference of 5: 3
    assert d["rows"][0]["values"]["ap"]["tolerance"] == pytest.approx(3.0)
    assert "smallest difference a claim" in d["tolerance_rule"]
    art = seeded(rel=(70.0, 71.0, 72.0), base=(68.0, 69.0, 70.0), k=3.0)
    art.claim("c", "s", Cell("relative", "ap"), ">", Cell("2fc", "ap"))
    # the claim reads 2.0 < 3 x 1: the tolerance is cut to 2.0
    assert art.to_dict()["rows"][1]["values"]["ap"]["tolerance"] == pytest.approx(2.0)


def test_claim_cut_applies_to_a_plain_tolerant_column_too():
    art = Artifact("fig", "Fig", profile="smoke", columns=[Column("r", "r", abs=0.3)])
    art.add_row("pearson", r=-0.16)
    art.claim("neg", "r is negative", Cell("pearson", "r"), "<", 0.0)
    assert art.to_dict()["rows"][0]["values"]["r"]["tolerance"] == pytest.approx(0.16)
    moved = Artifact("fig", "Fig", profile="smoke", columns=[Column("r", "r", abs=0.3)])
    moved.add_row("pearson", r=0.05)   # within the column's abs 0.3, beyond the cut 0.16
    moved.claim("neg", "r is negative", Cell("pearson", "r"), "<", 0.0)
    ref = Artifact.from_dict(json.loads(json.dumps(art.to_dict())))
    bad = {d.metric: d for d in compare(moved, ref) if not d.ok}
    assert "r" in bad and bad["r"].reason == "outside tolerance"
    assert bad["r"].tolerance == "abs 0.16 (derived)"
    assert "neg" in bad


def test_flipping_a_number_so_that_a_claim_changes_fails_compare_naming_the_claim(tmp_path):
    """The issue's bar: edit a generated artifact so that a claim flips; compare fails on it."""
    art = seeded()
    art.claim("rn-relative-beats-2fc", "the relative geometry beats 2fc",
              Cell("relative", "ap"), ">", Cell("2fc", "ap"), Spread(2))
    path = art.write(tmp_path / "ref")
    reference = Artifact.read(path)
    # the notebook's numbers change: relative no longer ahead
    flipped = seeded(rel=(66.0, 67.0, 68.0))
    flipped.claim("rn-relative-beats-2fc", "the relative geometry beats 2fc",
                  Cell("relative", "ap"), ">", Cell("2fc", "ap"), Spread(2))
    failures = [d for d in compare(flipped, reference) if not d.ok]
    claim_failures = [d for d in failures if d.row == "claim"]
    assert len(claim_failures) == 1
    assert claim_failures[0].metric == "rn-relative-beats-2fc"
    assert ("claim 'rn-relative-beats-2fc' ('the relative geometry beats 2fc') is now false, "
            "the reference says true") == claim_failures[0].reason
    assert compare(Artifact.read(path), reference) and \
        all(d.ok for d in compare(Artifact.read(path), reference))


def test_claims_missing_added_or_restated_fail():
    ref = seeded()
    ref.claim("a", "A holds", Cell("relative", "ap"), ">", 0.0)
    ours = seeded()
    ours.claim("b", "B holds", Cell("relative", "ap"), ">", 0.0)
    reasons = sorted(d.reason for d in compare(ours, ref) if not d.ok)
    assert reasons == ["claim 'a' ('A holds') missing", "claim 'b' ('B holds') not in reference"]
    restated = seeded()
    restated.claim("a", "A holds, said otherwise", Cell("relative", "ap"), ">", 0.0)
    [d] = [d for d in compare(restated, ref) if not d.ok]
    assert "statement changed" in d.reason


def test_paper_values_notes_and_seed_counts_are_compared_exactly():
    ref = seeded()
    ref.rows[0].values["ap"]["paper"] = 40.1
    ours = seeded()
    ours.rows[0].values["ap"]["paper"] = 40.2
    ours.notes = "a typed number 12.47 G"
    fewer = seeded(rel=(71.0, 73.0))
    reasons = {d.metric: d.reason for d in compare(ours, ref) if not d.ok}
    assert reasons == {"ap (paper)": "paper value changed (a reviewed change: update the "
                                     "reference)", "notes": "notes differ"}
    reasons = {d.metric: d.reason for d in compare(fewer, seeded()) if not d.ok}
    assert reasons == {"ap (seeds)": "number of seeds differs"}


def test_format_1_references_are_still_read(tmp_path):
    old = {"format": "relnotes-artifact/1", "id": "old", "title": "Old", "source": None,
           "profile": "smoke", "columns": [{"key": "x", "label": "x", "abs": 0.5, "rel": 0.0,
                                             "unit": None}],
           "rows": [{"label": "r", "values": {"x": {"ours": 1.0, "paper": None}}}],
           "notes": "n", "environment": {}}
    (tmp_path / "old.json").write_text(json.dumps(old))
    art = Artifact.read(tmp_path / "old.json")
    assert art.claims == [] and art.baseline is None
    new = Artifact("old", "Old", profile="smoke", columns=[Column("x", "x", abs=0.5)], notes="n")
    new.add_row("r", x=1.3)
    assert all(d.ok for d in compare(new, art))
    assert new.to_dict()["format"] == "relnotes-artifact/2"


def test_editing_a_number_in_a_written_artifact_so_a_claim_flips_fails_naming_it(tmp_path):
    """The issue's bar, literally: flip a value in the generated JSON."""
    art = seeded()
    art.claim("rn-relative-beats-2fc", "the relative geometry beats 2fc",
              Cell("relative", "ap"), ">", Cell("2fc", "ap"), Spread(2))
    reference = Artifact.read(art.write(tmp_path / "ref"))
    path = art.write(tmp_path / "build")
    d = json.loads(path.read_text())
    d["rows"][1]["values"]["ap"]["ours"] = 75.0          # 2fc now ahead of relative
    path.write_text(json.dumps(d))
    failures = [x for x in compare(Artifact.read(path), reference) if not x.ok]
    reasons = [x.reason for x in failures if x.row == "claim"]
    assert reasons == [
        "claim 'rn-relative-beats-2fc' ('the relative geometry beats 2fc') is recorded as true "
        "but the artifact's numbers make it false",
        "claim 'rn-relative-beats-2fc' ('the relative geometry beats 2fc') is now false, the "
        "reference says true",
    ]
    assert any(x.metric == "ap" and x.row == "2fc" for x in failures)   # and the value itself


def timed(fused=40.0, conv=10.0):
    art = Artifact("bench", "Bench", profile="cpu",
                   columns=[Column("ms", "time", unit="ms", checked=False), Column("macs", "MACs")])
    art.add_row("fused", ms=fused, macs=100)
    art.add_row("conv", ms=conv, macs=100)
    art.claim("fused-within-3x", "fused within 3x of conv", Cell("fused", "ms"), "<",
              Cell("conv", "ms", times=3))
    art.claim("fused-under-50", "fused under 50 ms", Cell("fused", "ms"), "<", 50.0)
    art.claim("equal-macs", "equal MACs", Cell("fused", "macs"), "~", Cell("conv", "macs"))
    return art


def test_a_claim_on_uncompared_columns_only_is_machine_dependent_and_not_compared():
    ref = timed(fused=40.0, conv=10.0)                 # 40 > 30: false on the reference machine
    ours = timed(fused=25.0, conv=10.0)                # true on a faster one
    diffs = {d.metric: d for d in compare(ours, ref) if d.row == "claim"}
    assert diffs["fused-within-3x"].ok
    assert diffs["fused-within-3x"].reference is False and diffs["fused-within-3x"].ours is True
    assert "machine-dependent" in diffs["fused-within-3x"].reason
    # a threshold given as a plain number is a promise about the time itself: still compared
    slow = timed(fused=60.0, conv=10.0)
    bad = {d.metric: d for d in compare(slow, ref) if not d.ok}
    assert set(bad) == {"fused-under-50"}
    # a claim on a compared column keeps failing when it flips
    assert not any(d.ok is False and d.metric == "equal-macs" for d in compare(ours, ref))
