"""A notebook whose training is broken on purpose fails the smoke check, and says which claim.

Issue "Numbers a reader can trust": every notebook that trains states a claim that holds on `smoke`
only if it learns, so `make test` catches a notebook that stopped learning. Here three of the
cheapest notebooks that train run with their learning rate overridden to 0 (their `overrides`
parameter): their networks keep their initial weights, the learning claims turn false, and the
comparison with the committed smoke reference fails on those claims.

- `gcn_propagation` (about 10 s on smoke): `renorm-learns`, accuracy far above chance;
- `lrnet_figures` (about 10 s on smoke): `lr-learns` and `conv-learns`, the training MSE over all
  crops falls below half of the untrained network's (with a rate of 0 the two are equal);
- `rn_dedup_forest` (about 16 s on smoke), the duplicate-removal network's rate set to 0 (the
  detector still trains): `learned-learns`, its loss on the test tiles falls below 0.9 of the
  untrained network's.
"""

from pathlib import Path

import pytest

from relnotes.repro import Artifact, format_diffs
from relnotes.repro.runner import check_artifacts, run_notebook

ROOT = Path(__file__).resolve().parents[2]
CASES = {  # notebook -> (the override that stops its training, the claims that must turn false)
    "graphs/gcn_propagation.ipynb": ({"lr": 0.0}, ["renorm-learns"]),
    "lrnet/lrnet_figures.ipynb": ({"lr": 0.0}, ["lr-learns", "conv-learns"]),
    "relation_networks/rn_dedup_forest.ipynb": ({"dedup_lr": 0.0}, ["learned-learns"]),
}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("notebook", list(CASES))
def test_learning_rate_zero_fails_the_smoke_check_naming_the_claim(notebook, tmp_path):
    overrides, claims = CASES[notebook]
    result = run_notebook(ROOT / "notebooks" / notebook, "smoke", tmp_path,
                          notebooks_root=ROOT / "notebooks", parameters={"overrides": overrides})
    assert result.error is None, result.error
    diffs = check_artifacts(result.artifacts, "smoke", ROOT / "notebooks" / "reference")
    failing = [d for d in diffs if not d.ok]
    table = format_diffs(failing)
    assert failing, f"{notebook} trained with {overrides} matched its reference"
    found = {c["id"]: c["holds"] for a in result.artifacts for c in Artifact.read(a).claims}
    for claim in claims:
        assert claim in table, table
        assert found[claim] is False, (claim, found)
