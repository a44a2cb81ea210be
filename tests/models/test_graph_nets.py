"""GCN / MLP / GAT node classifiers: shapes, the cached sparse path equals the relation formula."""

import torch

from relnotes.models.graph_nets import GAT, GCN, mlp


def graph(n=9):
    torch.manual_seed(0)
    a = (torch.rand(n, n) < 0.3).float()
    a = ((a + a.T) > 0).float()
    a.fill_diagonal_(0)
    return torch.randn(n, 5), a


def test_gcn_equals_its_layers_through_the_relation_formula():
    x, a = graph()
    for variant in ("renormalized", "single", "first_order", "mlp"):
        torch.manual_seed(1)
        model = GCN(5, 3, hidden=(4, 2), variant=variant, activation="tanh").eval()
        logits, hidden = model(x, a, return_hidden=True)
        h = x
        for i, layer in enumerate(model.layers):      # the dense relation-formula path
            h = layer(torch.tanh(h) if i else h, a)
        assert torch.allclose(logits, h, atol=1e-5), variant
        assert logits.shape == (9, 3) and hidden.shape == (9, 2)


def test_mlp_ignores_the_graph_and_gat_runs():
    x, a = graph()
    torch.manual_seed(0)
    m = mlp(5, 3).eval()
    assert torch.allclose(m(x, a), m(x, torch.zeros_like(a)))
    gat = GAT(5, 3, hidden=4, num_heads=2).eval()
    assert gat(x, a).shape == (9, 3)
