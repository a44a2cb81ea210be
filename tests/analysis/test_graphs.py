"""Label spreading on a graph's adjacency; closed-form MACs of the node classifiers."""

import pytest
import torch

from relnotes.analysis.graphs import label_spreading_accuracy, node_classifier_macs
from relnotes.data.graphs import Graph, karate_club
from relnotes.models.graph_nets import GAT, GCN, mlp


def two_cliques():
    """Two 4-cliques joined by one edge; one labelled node in each: spreading gets all right."""
    a = torch.zeros(8, 8)
    a[:4, :4] = 1
    a[4:, 4:] = 1
    a.fill_diagonal_(0)
    a[3, 4] = a[4, 3] = 1
    y = torch.tensor([0] * 4 + [1] * 4)
    train = torch.zeros(8, dtype=torch.bool)
    train[[0, 7]] = True
    return Graph("cliques", torch.eye(8), a, y, train, ~train, 2)


def test_label_spreading_follows_the_edges():
    assert label_spreading_accuracy(two_cliques()) == pytest.approx(1.0)
    assert 0.25 < label_spreading_accuracy(karate_club()) <= 1.0


def test_macs_closed_form():
    g = karate_club()                     # 34 nodes, 78 edges: Ã has 34 + 156 = 190 entries
    torch.manual_seed(0)
    assert node_classifier_macs(GCN(34, 4, hidden=(16,)), g) == \
        34 * 34 * 16 + 190 * 16 + 34 * 16 * 4 + 190 * 4
    assert node_classifier_macs(mlp(34, 4, hidden=(16,)), g) == 34 * 34 * 16 + 34 * 16 * 4
    assert node_classifier_macs(GCN(34, 4, hidden=(16,), variant="first_order"), g) == \
        2 * 34 * 34 * 16 + 156 * 16 + 2 * 34 * 16 * 4 + 156 * 4
    gat = GAT(34, 4, hidden=8, num_heads=2)
    assert node_classifier_macs(gat, g) == (34 * 34 * 16 + 2 * 34 * 16 + 190 * 16
                                            + 34 * 16 * 4 + 2 * 34 * 4 + 190 * 4)
    with pytest.raises(TypeError, match=r"no MAC formula for Linear"):
        node_classifier_macs(torch.nn.Linear(2, 2), g)
