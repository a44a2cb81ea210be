"""Full-batch node classification: the loss falls, seeds repeat, snapshots are taken."""

import pytest
import torch

from relnotes.data.graphs import karate_club
from relnotes.engine import seed_everything
from relnotes.engine.node_classification import train_node_classifier
from relnotes.models.graph_nets import GCN


def run(seed=0):
    seed_everything(seed)
    model = GCN(34, 4, hidden=(4, 2), activation="tanh", dropout=0.0)
    return train_node_classifier(model, karate_club(), epochs=200, seed=seed, weight_decay=0.0,
                                 snapshot_epochs=(0, 100, 200))


def test_training_fits_the_labelled_nodes_and_repeats():
    r = run()
    assert r["final_loss"] < 0.5 * r["initial_loss"]
    assert len(r["losses"]) == 200 and 0 <= r["accuracy"] <= 1
    assert sorted(r["snapshots"]) == [0, 100, 200] and r["snapshots"][0].shape == (34, 2)
    again = run()
    assert again["losses"] == r["losses"] and again["accuracy"] == r["accuracy"]
    with pytest.raises(ValueError, match=r"epochs must be a positive int"):
        train_node_classifier(GCN(34, 4), karate_club(), epochs=0)
