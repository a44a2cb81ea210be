"""relnotes.repro.earlier: earlier designs' numbers read from archived references."""

import json
import subprocess
from pathlib import Path

import pytest

from relnotes.repro.earlier import archived_path, earlier_value

ROOT = Path(__file__).resolve().parents[2]
ARCHIVED = sorted((ROOT / "notebooks" / "reference").glob("*/earlier/*@*.json"))


def _write(root: Path, rows: list[dict]) -> None:
    path = archived_path(root, "toy", "abc1234")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"rows": rows}))


def _row(label: str, value: float | None) -> dict:
    return {"label": label, "values": {"mAP": {"ours": value, "paper": None}}}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    _write(tmp_path, [_row("none", 30.04), _row("NMS, N_t = 0.3", 40.9),
                      _row("NMS, N_t = 0.5", 41.25), _row("NMS, N_t = 0.7", 41.25),
                      _row("control: e2e head", None)])
    return tmp_path


def test_one_row(root: Path) -> None:
    assert earlier_value(root, "abc1234 toy; NMS, N_t = 0.3; mAP") == "40.9"
    assert earlier_value(root, "abc1234 toy; none; mAP") == "30.0"


def test_one_seed(tmp_path: Path) -> None:
    _write(tmp_path, [{"label": "ours", "values": {"mAP": {"ours": 32.7,
                                                           "seeds": [36.44, 31.0, 30.7]}}}])
    assert earlier_value(tmp_path, "abc1234 toy; ours; mAP[0]") == "36.4"
    assert earlier_value(tmp_path, "abc1234 toy; ours; mAP") == "32.7"
    with pytest.raises(KeyError, match="has no value of 'mAP\\[3\\]'"):
        earlier_value(tmp_path, "abc1234 toy; ours; mAP[3]")


def test_a_claims_truth_value(tmp_path: Path) -> None:
    path = archived_path(tmp_path, "toy", "abc1234")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"rows": [], "claims": [{"id": "a-beats-b", "holds": False},
                                                       {"id": "b-learns", "holds": True}]}))
    assert earlier_value(tmp_path, "abc1234 toy; claim; a-beats-b") == "false"
    assert earlier_value(tmp_path, "abc1234 toy; claim; b-learns") == "true"
    with pytest.raises(KeyError, match="no claim 'c-wins'; claims: \\['a-beats-b', 'b-learns'\\]"):
        earlier_value(tmp_path, "abc1234 toy; claim; c-wins")


def test_best_of_a_prefix_keeps_the_first_on_a_tie(root: Path) -> None:
    assert earlier_value(root, "abc1234 toy; NMS, N_t = *; mAP") == "41.2 (0.5)"


@pytest.mark.parametrize("spec, error, words", [
    ("abc1234 toy NMS mAP", ValueError, "COMMIT ARTIFACT_ID; ROW LABEL; METRIC"),
    ("abc1234; NMS; mAP", ValueError, "COMMIT ARTIFACT_ID"),
    ("fffffff toy; none; mAP", FileNotFoundError, "python -m relnotes.repro.earlier fffffff toy"),
    ("abc1234 toy; nothing; mAP", KeyError, "no row 'nothing'"),
    ("abc1234 toy; control: e2e head; mAP", KeyError, "has no value of 'mAP'"),
    ("abc1234 toy; Soft*; mAP", KeyError, "no row starting with 'Soft'"),
])
def test_bad_specs_name_the_problem(root: Path, spec: str, error: type, words: str) -> None:
    with pytest.raises(error, match=words.replace("(", r"\(")):
        earlier_value(root, spec)


@pytest.mark.parametrize("path", ARCHIVED, ids=[p.name for p in ARCHIVED])
def test_archived_reference_is_the_committed_one(path: Path) -> None:
    art_id, commit = path.stem.split("@")
    profile = path.parent.parent.name
    done = subprocess.run(["git", "show", f"{commit}:notebooks/reference/{profile}/{art_id}.json"],
                          cwd=ROOT, capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"git history without {commit} here (a shallow clone?)")
    assert path.read_bytes() == done.stdout


def test_every_role_in_the_book_resolves() -> None:
    import re
    specs = [m.group(1) for page in sorted((ROOT / "book").glob("*.md"))
             for m in re.finditer(r"\{earlier\}`([^`]+)`", page.read_text())]
    for spec in specs:
        earlier_value(ROOT, spec)
