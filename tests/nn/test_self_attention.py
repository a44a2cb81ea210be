import pytest
import torch

from relnotes.analysis.complexity import count_parameters
from relnotes.nn import MultiHeadSelfAttention


@pytest.mark.parametrize("bias", [True, False])
def test_matches_torch_multihead_attention(bias):
    torch.manual_seed(0)
    ref = torch.nn.MultiheadAttention(32, 4, bias=bias, batch_first=True, dtype=torch.float64)
    ours = MultiHeadSelfAttention(32, num_heads=4, bias=bias).double().copy_from(ref)
    x = torch.randn(3, 7, 32, dtype=torch.float64)
    y_ref, w_ref = ref(x, x, x, need_weights=True, average_attn_weights=False)
    y, w = ours(x, return_weights=True)
    assert y.shape == (3, 7, 32) and w.shape == (3, 4, 7, 7)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-13)
    torch.testing.assert_close(w, w_ref, rtol=0, atol=1e-13)
    assert count_parameters(ours) == count_parameters(ref)


def test_bad_input():
    with pytest.raises(ValueError, match=r"channels \(30\) must be divisible by num_heads \(4\)"):
        MultiHeadSelfAttention(30, num_heads=4)
    with pytest.raises(ValueError, match=r"x must be Tensor\[B, N, 32\]; got \(7, 32\)"):
        MultiHeadSelfAttention(32, num_heads=4)(torch.randn(7, 32))
    with pytest.raises(ValueError, match="size mismatch"):
        MultiHeadSelfAttention(32, num_heads=4).copy_from(torch.nn.MultiheadAttention(32, 8))
