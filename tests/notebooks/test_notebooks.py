"""Notebook regression tests: every notebook on `smoke` (and, with -m slow, on `cpu`).

Each notebook is executed with papermill on the profile, its artifacts are compared cell by cell
with notebooks/reference/<profile>/, and a failing notebook or a value outside its tolerance fails
the test with the runner's diff table.
"""

from pathlib import Path

import nbformat
import pytest

from relnotes.repro import format_diffs, get_profile
from relnotes.repro.runner import (
    check_artifacts, check_parameters, discover, explain_failures, run_notebook,
)

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = discover(ROOT / "notebooks")
BOOK_NOTEBOOKS = sorted((ROOT / "book").glob("**/*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebook found under notebooks/"


@pytest.mark.parametrize("nb", NOTEBOOKS + [p for p in BOOK_NOTEBOOKS if "_generated" not in p.parts],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_without_outputs(nb):
    for i, cell in enumerate(nbformat.read(nb, as_version=4).cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, \
                f"{nb.relative_to(ROOT)} cell {i} has outputs: strip them before committing"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_parameters_cell_declares_profile(nb):
    params = check_parameters(nb)
    assert params["profile"]["default"].strip("'\"") == "cpu", "the default profile of a notebook is 'cpu'"


def _reproduce(nb: Path, profile: str, tmp_path: Path) -> None:
    result = run_notebook(nb, profile, tmp_path, notebooks_root=ROOT / "notebooks")
    assert result.error is None, result.error
    diffs = check_artifacts(result.artifacts, profile, ROOT / "notebooks" / "reference")
    assert diffs and all(d.ok for d in diffs), "\n" + format_diffs(diffs) + "\n" + \
        explain_failures(diffs, result.artifacts, profile, ROOT / "notebooks" / "reference")
    budget = get_profile(profile).budget_s
    assert result.seconds < 3 * budget, \
        f"{nb.name} took {result.seconds:.0f} s on {profile}, budget {budget:.0f} s"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_smoke_reproduces_reference(nb, tmp_path):
    _reproduce(nb, "smoke", tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_cpu_reproduces_reference(nb, tmp_path):
    _reproduce(nb, "cpu", tmp_path)


# The `full` branches (real COCO, a GPU) cannot run here at their size. They run on a tiny
# COCO-format folder (tests/conftest.py) on the CPU, with every knob overridden down to seconds:
# (lists, not tuples: papermill passes a tuple as its string). This catches what the
# components' tests cannot (a name error in a full-only cell, a key the
# SCALES entry lacks), not the numbers.
FULL_SMALL = {
    "rn_ablation_head": dict(
        rows=["2fc", "relative", "3fc"], d_f=32, n_relations=4, d_k=8, d_g=16, proposals=20,
        coco=dict(train_split="val2017", pretrained_backbone=False, min_size=64, max_size=96,
                  epochs=1, batch_size=2, warmup_steps=1, lr_steps=[], num_workers=0,
                  eval_batch_size=2)),
    "rn_figures": dict(
        n_test=4, d_f=32, n_relations=4, d_k=8, d_g=16, proposals=20,
        coco=dict(train_split="val2017", pretrained_backbone=False, min_size=64, max_size=96,
                  epochs=1, batch_size=2, warmup_steps=1, lr_steps=[], num_workers=0,
                  eval_batch_size=2)),
    "region_extractors": dict(
        n_show=1, d_f=16, proposals=8, memory_rois=4, head_epochs=1, body_epochs=1, batch_size=2,
        learned=dict(support="enlarged", d_e=8, d_k=8),
        coco=dict(train_split="val2017", image_size=96, anchor_sizes=[8, 16, 32],
                  eval_batch_size=2)),
    "rn_duplicate_removal": dict(
        n_test=4, d_f=16, n_relations=2, d_k=8, d_g=16, rank_dim=16, first_n=8, proposals=20,
        dedup_epochs=1, dedup_batch=2,
        coco=dict(train_split="val2017", pretrained_backbone=False, min_size=64, max_size=96,
                  epochs=1, batch_size=2, warmup_steps=1, lr_steps=[], num_workers=0,
                  eval_batch_size=2)),
}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", sorted(FULL_SMALL))
def test_full_branch_runs_on_a_tiny_coco_folder(name, tiny_coco_root, tmp_path):
    import json

    import papermill

    nb = next(p for p in NOTEBOOKS if p.stem == name)
    out = tmp_path / "artifacts"
    out.mkdir()
    papermill.execute_notebook(
        str(nb), str(tmp_path / nb.name), cwd=str(nb.parent), progress_bar=False,
        parameters=dict(profile="full", artifact_dir=str(out), data_root=str(tiny_coco_root),
                        checkpoint_dir=str(tmp_path / "ckpt"), overrides=FULL_SMALL[name],
                        device="cpu"))
    art = json.loads((out / f"{name}.json").read_text())
    assert art["profile"] == "full" and "overridden" in art["notes"]
    assert [r["label"] for r in art["rows"]]
