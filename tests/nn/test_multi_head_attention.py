"""MultiHeadAttention as the relation formula equals torch.nn.MultiheadAttention."""

import pytest
import torch
from torch import nn

from relnotes.nn import MultiHeadAttention


@pytest.mark.parametrize("causal", [False, True])
def test_cross_and_masked_attention_equal_torch(causal):
    torch.manual_seed(0)
    ref = nn.MultiheadAttention(16, 4, batch_first=True).double()
    ours = MultiHeadAttention(16, num_heads=4).double().copy_from(ref)
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    m = x if causal else torch.randn(2, 7, 16, dtype=torch.float64)
    allowed = torch.ones(5, m.shape[1], dtype=torch.bool)
    if causal:
        allowed = torch.tril(allowed)
    y, w = ours(x, m, mask=allowed, return_weights=True)
    # torch's boolean attn_mask is True where attention is NOT allowed
    y_ref, w_ref = ref(x, m, m, attn_mask=~allowed, average_attn_weights=False)
    assert torch.allclose(y, y_ref, atol=1e-12)
    assert torch.allclose(w, w_ref, atol=1e-12)


def test_uniform_is_the_masked_mean_of_the_values():
    torch.manual_seed(0)
    layer = MultiHeadAttention(8, num_heads=2, uniform=True).double()
    x = torch.randn(1, 4, 8, dtype=torch.float64)
    mask = torch.tril(torch.ones(4, 4, dtype=torch.bool))
    y = layer(x, mask=mask)
    v = layer.value(x)[0]
    expected = torch.stack([v[:i + 1].mean(0) for i in range(4)])
    assert torch.allclose(y[0], layer.out(expected), atol=1e-12)


def test_errors():
    with pytest.raises(ValueError, match=r"divisible"):
        MultiHeadAttention(10, num_heads=4)
    with pytest.raises(ValueError, match=r"Tensor\[B, N, 8\]"):
        MultiHeadAttention(8, num_heads=2)(torch.randn(2, 3, 6))
