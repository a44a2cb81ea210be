"""Graphs for semi-supervised node classification (Kipf & Welling, ICLR 2017), offline.

- :func:`karate_club`: Zachary's karate club (networkx), plain 0/1 adjacency (``weight=None``:
  since networkx 3 the edges carry interaction counts 1-7, which the paper does not use), the GCN
  paper's four modularity communities as labels (the list PyG hard-codes for its ``KarateClub``,
  a data fact quoted in the reference notes), one labelled node per community (the first node of
  each), features X = I (the paper's featureless setting).
- :func:`digits_knn`: a k-nearest-neighbour graph over scikit-learn's 1,797 8 x 8 digits (pixels
  as features), symmetrised, a few labelled nodes per class drawn with a seed; every other node is
  a test node. A real-data stand-in for the citation graphs, which no package ships offline.
- :func:`load_planetoid`: the standard Planetoid files ``ind.<name>.{x,y,tx,ty,allx,ally,graph,
  test.index}`` (Cora, Citeseer, Pubmed as the GCN paper used them) under a ``data_root``, with
  the standard split (the labelled ``y`` nodes for training, the next 500 for validation, the
  ``test.index`` nodes for testing).

Every loader returns a :class:`Graph` checked by :func:`check_graph`.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..ops.graph import check_adjacency

__all__ = ["Graph", "KARATE_COMMUNITIES", "check_graph", "karate_club", "digits_knn",
           "load_planetoid"]

#: The GCN paper's four communities of the karate club, node by node (PyG's KarateClub, see the
#: reference notes, region-tracking-deformable-graphs.md section 5.3).
KARATE_COMMUNITIES = (1, 1, 1, 1, 3, 3, 3, 1, 0, 1, 3, 1, 1, 1, 0, 0, 3, 1, 0, 1, 0, 1, 0, 0, 2,
                      2, 0, 0, 2, 0, 0, 2, 0, 0)


@dataclass
class Graph:
    """A graph with node features, labels and a split.

    Attributes:
        name (str): for tables.
        x (Tensor[N, F]): node features (float32).
        adjacency (Tensor[N, N]): non-negative edge weights, symmetric, no self-loops.
        y (Tensor[N]): int64 labels in ``[0, num_classes)``.
        train_mask, test_mask (BoolTensor[N]): labelled nodes; nodes the accuracy is taken on.
        val_mask (BoolTensor[N] | None): validation nodes, where the data define them.
        num_classes (int)
    """

    name: str
    x: Tensor
    adjacency: Tensor
    y: Tensor
    train_mask: Tensor
    test_mask: Tensor
    num_classes: int
    val_mask: Tensor | None = None

    @property
    def num_nodes(self) -> int:
        return self.x.shape[0]

    @property
    def num_edges(self) -> int:
        """Undirected edges (pairs i < j with a positive weight)."""
        return int(torch.triu(self.adjacency > 0, diagonal=1).sum())


def check_graph(g: Graph) -> Graph:
    """Raise a clear error for a malformed graph; return it unchanged otherwise."""
    check_adjacency(g.adjacency)
    n = g.adjacency.shape[0]
    if g.x.dim() != 2 or g.x.shape[0] != n:
        raise ValueError(f"{g.name}: features must be Tensor[N, F] with N = {n} nodes; got "
                         f"{tuple(g.x.shape)}")
    if g.y.shape != (n,):
        raise ValueError(f"{g.name}: labels must be Tensor[{n}]; got {tuple(g.y.shape)}")
    bad = (g.y < 0) | (g.y >= g.num_classes)
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise ValueError(f"{g.name}: labels must lie in [0, {g.num_classes}); node {i} has "
                         f"label {int(g.y[i])}")
    for mask_name in ("train_mask", "test_mask"):
        mask = getattr(g, mask_name)
        if mask.dtype != torch.bool or mask.shape != (n,):
            raise ValueError(f"{g.name}: {mask_name} must be a BoolTensor[{n}]")
    missing = sorted(set(range(g.num_classes)) - set(g.y[g.train_mask].tolist()))
    if missing:
        raise ValueError(f"{g.name}: class(es) {missing} have no labelled node in train_mask; "
                         f"semi-supervised training needs at least one per class")
    return g


def karate_club() -> Graph:
    """Zachary's karate club with the GCN paper's 4 communities, one labelled node each."""
    import networkx as nx

    G = nx.karate_club_graph()
    a = torch.from_numpy(nx.to_numpy_array(G, nodelist=range(34), weight=None)).float()  # 0/1
    y = torch.tensor(KARATE_COMMUNITIES)
    train = torch.zeros(34, dtype=torch.bool)
    for c in range(4):
        train[int((y == c).nonzero()[0])] = True        # the first node of each community
    return check_graph(Graph("karate club", torch.eye(34), a, y, train, ~train, 4))


def digits_knn(*, k: int = 10, labels_per_class: int = 10, seed: int = 0) -> Graph:
    """A symmetrised k-NN graph over sklearn's digits; ``labels_per_class`` labelled nodes per
    class drawn with ``seed``, the rest are test nodes. Features: the 64 pixels scaled to [0, 1].
    """
    from sklearn.datasets import load_digits
    from sklearn.neighbors import kneighbors_graph

    if k < 1 or labels_per_class < 1:
        raise ValueError(f"k and labels_per_class must be >= 1; got {k}, {labels_per_class}")
    digits = load_digits()
    x = digits.data.astype(np.float32) / 16.0
    knn = kneighbors_graph(x, n_neighbors=k, mode="connectivity", include_self=False).toarray()
    a = torch.from_numpy(np.maximum(knn, knn.T)).float()          # i ~ j if either is a k-NN
    y = torch.from_numpy(digits.target).long()
    rng = np.random.default_rng(seed)
    train = torch.zeros(len(y), dtype=torch.bool)
    for c in range(10):
        idx = np.flatnonzero(digits.target == c)
        train[torch.from_numpy(rng.choice(idx, labels_per_class, replace=False))] = True
    return check_graph(Graph(f"digits {k}-NN", torch.from_numpy(x), a, y, train, ~train, 10))


def _load_pickle(path: Path):
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def load_planetoid(root: str | os.PathLike, name: str) -> Graph:
    """Cora / Citeseer / Pubmed from the Planetoid files ``<root>/ind.<name>.*``.

    As in Kipf & Welling's ``utils.load_data``: features are ``allx`` then ``tx`` with the test
    rows put back at their ``test.index`` positions (Citeseer's test indices have gaps: isolated
    nodes with no features or label, given zero features and excluded from every split), labels
    are the arg-max of the one-hot rows, the training nodes are the first ``len(y)``, the next
    500 are validation.
    """
    import scipy.sparse as sp

    root = Path(root)
    files = {k: root / f"ind.{name}.{k}" for k in ("x", "y", "tx", "ty", "allx", "ally",
                                                   "graph", "test.index")}
    missing = [p.name for p in files.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"Planetoid data {name!r} not found under {root}: missing "
                                f"{', '.join(missing)} (the standard files of the GCN code, "
                                f"https://github.com/kimiyoung/planetoid)")
    x, y, tx, ty, allx, ally, graph = (_load_pickle(files[k]) for k in
                                        ("x", "y", "tx", "ty", "allx", "ally", "graph"))
    test_index = [int(line) for line in files["test.index"].read_text().split()]
    n = max(max(graph) + 1, allx.shape[0] + max(test_index) - min(test_index) + 1)
    n = max(n, allx.shape[0] + tx.shape[0])
    features = np.zeros((n, allx.shape[1]), dtype=np.float32)
    labels = np.full(n, -1, dtype=np.int64)
    features[:allx.shape[0]] = sp.csr_matrix(allx).toarray()
    labels[:ally.shape[0]] = np.asarray(ally).argmax(1)
    features[test_index] = sp.csr_matrix(tx).toarray()
    labels[test_index] = np.asarray(ty).argmax(1)
    # nodes without a label row (Citeseer's isolated test nodes, the unlabelled allx rows have
    # labels): excluded from every mask, given class 0 so the label tensor stays in range
    known = labels >= 0
    labels[~known] = 0
    adjacency = np.zeros((n, n), dtype=np.float32)
    for i, nbrs in graph.items():
        for j in nbrs:
            if i != j:
                adjacency[i, j] = adjacency[j, i] = 1.0
    n_train = np.asarray(y).shape[0]
    train = torch.zeros(n, dtype=torch.bool)
    train[:n_train] = True
    val = torch.zeros(n, dtype=torch.bool)
    val[n_train:n_train + 500] = True
    test = torch.zeros(n, dtype=torch.bool)
    test[test_index] = True
    test &= torch.from_numpy(known)
    return check_graph(Graph(name, torch.from_numpy(features), torch.from_numpy(adjacency),
                             torch.from_numpy(labels), train, test, int(np.asarray(y).shape[1]),
                             val_mask=val))
