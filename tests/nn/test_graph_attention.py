"""GraphAttention as the relation formula equals GAT written directly (Veličković et al., Eq. 3-4)."""

import pytest
import torch
import torch.nn.functional as F

from relnotes.nn import GraphAttention


def direct_gat(layer, h, a):
    """GAT by its equations, node by node and head by head."""
    n, out = h.shape[0], []
    z = (h @ layer.weight).view(n, layer.num_heads, layer.out_channels)
    for k in range(layer.num_heads):
        rows = []
        for i in range(n):
            nbrs = [j for j in range(n) if a[i, j] > 0 or i == j]
            e = torch.stack([F.leaky_relu(torch.cat([z[i, k], z[j, k]])
                                          @ torch.cat([layer.att_src[k], layer.att_dst[k]]),
                                          layer.negative_slope) for j in nbrs])
            w = torch.softmax(e, 0)
            rows.append(sum(w[t] * z[j, k] for t, j in enumerate(nbrs)))
        out.append(torch.stack(rows))
    y = torch.stack(out)                                   # [K, N, d]
    y = y.transpose(0, 1).reshape(n, -1) if layer.concat else y.mean(0)
    return y + layer.bias


@pytest.mark.parametrize("concat", [True, False])
def test_relation_formula_equals_direct_gat(concat):
    torch.manual_seed(0)
    a = (torch.rand(6, 6) < 0.4).double()
    a = ((a + a.T) > 0).double()
    h = torch.randn(6, 4, dtype=torch.float64)
    layer = GraphAttention(4, out_channels=3, num_heads=2, concat=concat).double()
    with torch.no_grad():
        layer.bias.normal_()
    y, w = layer(h, a, return_weights=True)
    assert torch.allclose(y, direct_gat(layer, h, a), atol=1e-12)
    assert y.shape == (6, 6 if concat else 3)
    assert torch.allclose(w.sum(-1), torch.ones(2, 6, dtype=torch.float64))
    off_graph = (a == 0) & ~torch.eye(6, dtype=torch.bool)
    assert bool((w[:, off_graph] == 0).all())
    assert torch.allclose(layer(h, a, sparse=True), y, atol=1e-12)    # the edge-list path


def test_errors():
    layer = GraphAttention(4, out_channels=3)
    with pytest.raises(ValueError, match=r"square"):
        layer(torch.randn(3, 4), torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"N = 5 nodes"):
        layer(torch.randn(3, 4), torch.zeros(5, 5))
