import pytest
import torch

from relnotes.nn import GraphConv


def test_matches_kipf_welling_formula():
    torch.manual_seed(0)
    adj = (torch.rand(8, 8) > 0.6).double()
    adj = ((adj + adj.T) > 0).double().fill_diagonal_(0)
    h = torch.randn(2, 8, 5, dtype=torch.float64)
    layer = GraphConv(5, out_channels=3).double()
    torch.nn.init.normal_(layer.bias)
    a_tilde = adj + torch.eye(8, dtype=torch.float64)
    d = torch.diag(a_tilde.sum(1) ** -0.5)
    ref = d @ a_tilde @ d @ h @ layer.weight + layer.bias
    torch.testing.assert_close(layer(h, adj), ref, rtol=0, atol=1e-13)


def test_bias_flag_and_bad_adjacency():
    assert GraphConv(5, out_channels=3, bias=False).bias is None
    assert sum(p.numel() for p in GraphConv(5, out_channels=3).parameters()) == 5 * 3 + 3
    with pytest.raises(ValueError, match=r"adjacency must be Tensor\[N, N\] with N = 4 nodes; "
                                         r"got \(4, 5\)"):
        GraphConv(2, out_channels=2)(torch.randn(4, 2), torch.ones(4, 5))
