"""Graph baselines and costs: label spreading (no learnt weights) and closed-form MACs.

- :func:`label_spreading_accuracy`: Zhou et al.'s label spreading (NIPS 2003), through
  ``sklearn.semi_supervised.LabelSpreading`` with the graph's own adjacency as the affinity
  (a callable kernel that looks the nodes up), so it sees exactly the edges the GCN sees and no
  features. Our choice of baseline for GCN's "LP" row (the paper's LP is label propagation).
- :func:`node_classifier_macs`: multiply-accumulates of one forward pass of a GCN / MLP / GAT of
  :mod:`relnotes.models.graph_nets` on a graph, counted with a *sparse* aggregation (one MAC per
  stored entry of a propagation matrix per output channel), as a sparse implementation (the
  paper's) runs it; the dense feature transforms count N x in x out.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.graphs import Graph
from ..models.graph_nets import GAT, GCN
from ..nn import GraphAttention
from ..ops.graph import propagation

__all__ = ["label_spreading_accuracy", "node_classifier_macs"]


def label_spreading_accuracy(graph: Graph, *, alpha: float = 0.2, max_iter: int = 1000) -> float:
    """Test accuracy (fraction) of label spreading on ``graph``'s adjacency."""
    from sklearn.semi_supervised import LabelSpreading

    a = graph.adjacency.double().numpy()
    nodes = np.arange(graph.num_nodes, dtype=np.float64)[:, None]

    def kernel(u, v):
        return a[np.ix_(u[:, 0].astype(int), v[:, 0].astype(int))]

    y = np.where(graph.train_mask.numpy(), graph.y.numpy(), -1)          # -1: unlabelled
    model = LabelSpreading(kernel=kernel, alpha=alpha, max_iter=max_iter).fit(nodes, y)
    pred = torch.from_numpy(model.transduction_)
    return float((pred == graph.y)[graph.test_mask].double().mean())


def node_classifier_macs(model: torch.nn.Module, graph: Graph) -> int:
    """MACs of one forward pass on ``graph`` (sparse aggregation; see the module docstring)."""
    n, a = graph.num_nodes, graph.adjacency
    if isinstance(model, GCN):
        nnz = [int((p != 0).sum()) for p in propagation(a, model.variant)]
        macs = 0
        for layer in model.layers:
            _, c_in, c_out = layer.weight.shape
            macs += len(nnz) * n * c_in * c_out                          # H Θ (each term)
            if model.variant == "first_order":
                macs += nnz[1] * c_out           # D^-1/2 A D^-1/2 (H Θ_1); the I term is free
            elif model.variant != "mlp":
                macs += sum(nnz) * c_out                                 # P (H Θ), sparse
        return macs
    if isinstance(model, GAT):
        edges = int(((a > 0) | torch.eye(n, dtype=torch.bool)).sum())
        macs = 0
        for layer in (model.conv1, model.conv2):
            assert isinstance(layer, GraphAttention)
            width = layer.num_heads * layer.out_channels
            macs += n * layer.channels * width                           # z = W h
            macs += 2 * n * width                                        # a_l·z_i, a_r·z_j
            macs += edges * width                                        # Σ_j w_ij z_j
        return macs
    raise TypeError(f"no MAC formula for {type(model).__name__}")
