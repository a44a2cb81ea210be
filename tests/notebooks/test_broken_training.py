"""A notebook whose training is broken on purpose fails the smoke check, and says which claim.

Issue "Numbers a reader can trust": every notebook that trains states a claim that holds on `smoke`
only if it learns, so `make test` catches a notebook that stopped learning. Here the GCN notebook
(the cheapest that trains, about 10 s on smoke) runs with its learning rate overridden to 0: its
networks keep their initial weights, the `renorm-learns` claim turns false, and the comparison
with the committed smoke reference fails on that claim.
"""

from pathlib import Path

import pytest

from relnotes.repro import Artifact, format_diffs
from relnotes.repro.runner import check_artifacts, run_notebook

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "graphs" / "gcn_propagation.ipynb"


@pytest.mark.timeout(300)
def test_learning_rate_zero_fails_the_smoke_check_naming_the_claim(tmp_path):
    result = run_notebook(NOTEBOOK, "smoke", tmp_path, notebooks_root=ROOT / "notebooks",
                          parameters={"overrides": {"lr": 0.0}})
    assert result.error is None, result.error
    diffs = check_artifacts(result.artifacts, "smoke", ROOT / "notebooks" / "reference")
    failing = [d for d in diffs if not d.ok]
    table = format_diffs(failing)
    assert failing, "a notebook trained with lr 0 matched its reference"
    assert "renorm-learns" in table, table
    learns = [c for c in Artifact.read(result.artifacts[0]).claims if c["id"] == "renorm-learns"]
    assert [c["holds"] for c in learns] == [False]
