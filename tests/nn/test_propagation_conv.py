"""PropagationConv: each Table 3 variant equals its matrix formula; renormalized == GraphConv."""

import pytest
import torch

from relnotes.nn import GraphConv, PropagationConv
from relnotes.ops.graph import normalized_adjacency, propagation, renormalized_adjacency


def graph(n=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = (torch.rand(n, n, generator=g) < 0.4).double()
    a = ((a + a.T) > 0).double()
    a.fill_diagonal_(0)
    return a, torch.randn(n, 5, generator=g, dtype=torch.float64)


def test_renormalized_equals_graph_conv():
    a, h = graph()
    torch.manual_seed(0)
    conv = PropagationConv(5, out_channels=3).double()
    ref = GraphConv(5, out_channels=3).double()
    with torch.no_grad():
        ref.weight.copy_(conv.weight[0])
        ref.bias.copy_(torch.randn(3))
        conv.bias.copy_(ref.bias)
    assert torch.allclose(conv(h, a), ref(h, a), atol=1e-12)
    assert torch.allclose(conv(h, a), renormalized_adjacency(a) @ h @ conv.weight[0] + conv.bias)


def test_other_variants_match_their_equations():
    a, h = graph(seed=1)
    eye = torch.eye(7, dtype=torch.float64)
    n = normalized_adjacency(a)
    for variant, expected in [
        ("first_order", lambda w: h @ w[0] + n @ h @ w[1]),          # Eq. (6)
        ("single", lambda w: (eye + n) @ h @ w[0]),                  # Eq. (7)
        ("mlp", lambda w: h @ w[0]),
    ]:
        conv = PropagationConv(5, out_channels=3, variant=variant, bias=False).double()
        assert torch.allclose(conv(h, a), expected(conv.weight), atol=1e-12), variant
        sparse = tuple(p.to_sparse() for p in propagation(a, variant))
        assert torch.allclose(conv(h, a, matrices=sparse), expected(conv.weight), atol=1e-12)
    assert PropagationConv(5, out_channels=3, variant="first_order").weight.shape == (2, 5, 3)


def test_errors():
    with pytest.raises(ValueError, match=r"variant must be one of"):
        PropagationConv(5, out_channels=3, variant="cheb")
    conv = PropagationConv(5, out_channels=3)
    with pytest.raises(ValueError, match=r"adjacency Tensor\[N, N\]"):
        conv(torch.randn(4, 5), torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r">= 0"):
        conv(torch.randn(3, 5), -torch.ones(3, 3))
