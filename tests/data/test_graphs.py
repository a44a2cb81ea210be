"""Graph loaders: karate club, digits kNN, Planetoid files (a tiny folder written here), errors."""

import pickle
from collections import defaultdict

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from relnotes.data.graphs import (
    KARATE_COMMUNITIES, Graph, check_graph, digits_knn, karate_club, load_planetoid,
)


def test_karate_club_has_the_papers_communities_and_one_label_each():
    g = karate_club()
    assert (g.num_nodes, g.num_edges, g.num_classes) == (34, 78, 4)
    assert set(g.adjacency.unique().tolist()) == {0.0, 1.0}        # weight=None: plain 0/1
    assert torch.equal(g.adjacency, g.adjacency.T)
    assert g.y.tolist() == list(KARATE_COMMUNITIES)
    assert g.train_mask.nonzero().flatten().tolist() == [0, 4, 8, 24]   # first of each class
    assert sorted(g.y[g.train_mask].tolist()) == [0, 1, 2, 3]
    assert torch.equal(g.x, torch.eye(34))


def test_digits_knn_graph():
    g = digits_knn(k=5, labels_per_class=3, seed=1)
    assert (g.num_nodes, g.x.shape[1], g.num_classes) == (1797, 64, 10)
    assert torch.equal(g.adjacency, g.adjacency.T) and g.adjacency.diagonal().sum() == 0
    assert bool(((g.adjacency > 0).sum(1) >= 5).all())
    assert int(g.train_mask.sum()) == 30 and torch.equal(g.test_mask, ~g.train_mask)
    assert torch.bincount(g.y[g.train_mask]).tolist() == [3] * 10
    assert torch.equal(digits_knn(k=5, labels_per_class=3, seed=1).train_mask, g.train_mask)
    assert not torch.equal(digits_knn(k=5, labels_per_class=3, seed=2).train_mask, g.train_mask)


def write_planetoid(root, name="tiny"):
    """A 7-node, 2-class Planetoid folder: 2 labelled (y), allx = nodes 0..3, tx = test nodes
    5, 6 (node 4 is missing from the test index, like Citeseer's isolated nodes)."""
    onehot = lambda labels: np.eye(2)[labels]
    feats = np.arange(7 * 3, dtype=np.float32).reshape(7, 3)
    objs = {"x": sp.csr_matrix(feats[:2]), "y": onehot([0, 1]),
            "allx": sp.csr_matrix(feats[:4]), "ally": onehot([0, 1, 1, 0]),
            "tx": sp.csr_matrix(feats[[6, 5]]), "ty": onehot([1, 0]),
            "graph": defaultdict(list, {0: [1, 2], 1: [0], 2: [0, 3], 3: [2, 6], 5: [6],
                                        6: [3, 5]})}
    for k, v in objs.items():
        with open(root / f"ind.{name}.{k}", "wb") as f:
            pickle.dump(v, f)
    (root / f"ind.{name}.test.index").write_text("6\n5\n")
    return feats


def test_load_planetoid_reads_the_standard_files(tmp_path):
    feats = write_planetoid(tmp_path)
    g = load_planetoid(tmp_path, "tiny")
    assert g.num_nodes == 7 and g.num_classes == 2 and g.num_edges == 5
    assert torch.equal(g.x[:4], torch.from_numpy(feats[:4]))
    assert torch.equal(g.x[5], torch.from_numpy(feats[5])) and torch.equal(g.x[6],
                                                                          torch.from_numpy(feats[6]))
    assert g.x[4].abs().sum() == 0                        # the isolated node: zero features
    assert g.y[[0, 1, 2, 3, 5, 6]].tolist() == [0, 1, 1, 0, 0, 1]
    assert g.train_mask.nonzero().flatten().tolist() == [0, 1]
    assert g.test_mask.nonzero().flatten().tolist() == [5, 6]
    assert g.val_mask[2:].all() and not g.val_mask[:2].any()


def test_load_planetoid_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Planetoid data 'cora' not found .*ind.cora.x"):
        load_planetoid(tmp_path, "cora")


def tiny(**changes):
    a = torch.tensor([[0., 1., 0.], [1., 0., 1.], [0., 1., 0.]])
    kw = dict(name="g", x=torch.eye(3), adjacency=a, y=torch.tensor([0, 1, 1]),
              train_mask=torch.tensor([True, True, False]),
              test_mask=torch.tensor([False, False, True]), num_classes=2)
    kw.update(changes)
    return Graph(**kw)


@pytest.mark.parametrize("changes, message", [
    (dict(adjacency=torch.zeros(3, 2)), r"square Tensor\[N, N\]"),
    (dict(adjacency=-torch.ones(3, 3)), r">= 0"),
    (dict(y=torch.tensor([0, 1, 2])), r"labels must lie in \[0, 2\); node 2 has label 2"),
    (dict(y=torch.tensor([0, -1, 1])), r"node 1 has label -1"),
    (dict(train_mask=torch.tensor([True, False, False])),
     r"class\(es\) \[1\] have no labelled node"),
    (dict(x=torch.eye(4)), r"features must be Tensor\[N, F\] with N = 3"),
])
def test_malformed_graph_errors(changes, message):
    check_graph(tiny())
    with pytest.raises(ValueError, match=message):
        check_graph(tiny(**changes))
