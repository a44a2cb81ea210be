import json
import math

import pytest

from relnotes.repro import Artifact, Column, Source, compare, format_diffs


def make(profile="smoke", acc=0.75, params=1000):
    art = Artifact("demo", "Demo", profile=profile, source=Source("Paper", "Table 1"),
                   columns=[Column("params", "#params"), Column("acc", "top-1", abs=0.02)])
    art.add_row("net", params=params, acc=acc, paper={"acc": 0.8})
    return art


def test_round_trip(tmp_path):
    art = make()
    path = art.write(tmp_path)
    assert path == tmp_path / "demo.json"
    back = Artifact.read(path)
    assert back.to_dict() == art.to_dict()
    assert json.loads(path.read_text())["rows"][0]["values"]["acc"] == {"ours": 0.75, "paper": 0.8}


def test_identical_artifacts_compare_ok():
    diffs = compare(make(), make())
    # params, acc, acc's paper value, notes
    assert [(d.metric, d.ok) for d in diffs] == [("params", True), ("acc", True),
                                                 ("acc (paper)", True), ("notes", True)]


def test_exact_column_fails_on_any_change_and_tolerant_column_within_tolerance():
    diffs = {d.metric: d for d in compare(make(params=1001, acc=0.76), make())}
    assert not diffs["params"].ok and diffs["params"].reason == "outside tolerance"
    assert diffs["acc"].ok
    diffs = {d.metric: d for d in compare(make(acc=0.80), make())}
    assert not diffs["acc"].ok


def test_unchecked_column_is_never_compared_but_must_be_present(tmp_path):
    def timed(seconds, params=10):
        art = Artifact("bench", "Bench", profile="cpu",
                       columns=[Column("params", "#params"),
                                Column("seconds", "time", unit="s", checked=False)])
        art.add_row("op", params=params, seconds=seconds)
        return art

    diffs = {d.metric: d for d in compare(timed(9.0), timed(1.0))}
    assert diffs["seconds"].ok and diffs["seconds"].tolerance == "not checked (machine-dependent)"
    assert diffs["params"].ok
    assert not compare(timed(1.0, params=11), timed(1.0))[0].ok     # checked columns still are
    missing = timed(1.0)
    missing.rows[0].values.pop("seconds")
    assert [d.reason for d in compare(missing, timed(1.0)) if not d.ok] == ["metric missing"]
    # round trip keeps the flag; checked columns are written as before (no new key)
    back = Artifact.read(timed(1.0).write(tmp_path))
    assert [c.checked for c in back.columns] == [True, False]
    assert "checked" not in json.loads((tmp_path / "bench.json").read_text())["columns"][0]


def test_missing_rows_metrics_and_profile_mismatch_fail():
    ours = make(profile="cpu")
    ours.rows[0].values.pop("acc")
    ours.add_row("extra", params=1)
    reasons = {d.reason for d in compare(ours, make()) if not d.ok}
    assert reasons == {"profile differs", "metric missing", "row not in reference"}


def test_format_diffs_marks_failures():
    text = format_diffs(compare(make(params=999), make()))
    assert "FAIL: outside tolerance" in text
    assert "1,000" in text and "999" in text


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_values_are_rejected(bad):
    art = Artifact("x", "X", profile="smoke", columns=[Column("loss", "loss")])
    with pytest.raises(ValueError, match="non-finite value cannot go into a table"):
        art.add_row("run", loss=bad)


def test_bad_input_errors():
    with pytest.raises(ValueError, match="unknown metric"):
        make().add_row("other", nope=1)
    with pytest.raises(ValueError, match="already has a row 'net'"):
        make().add_row("net", params=1)
    with pytest.raises(ValueError, match="artifact id must be"):
        Artifact("a/b", "bad", profile="smoke", columns=[])
    with pytest.raises(ValueError, match="tolerances must be >= 0"):
        Column("x", "x", abs=-1)
    with pytest.raises(ValueError, match="has no rows"):
        Artifact("empty", "E", profile="smoke", columns=[]).write("/tmp")


def test_reading_a_non_artifact_names_the_file(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(ValueError, match=f"{path}: not a relnotes artifact"):
        Artifact.read(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        Artifact.read(path)
