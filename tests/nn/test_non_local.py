import pytest
import torch
import torch.nn.functional as F

from relnotes.nn import NonLocal2d


def test_matches_a_transcription_of_the_equations():
    torch.manual_seed(0)
    block = NonLocal2d(8).double()
    x = torch.randn(2, 8, 5, 6, dtype=torch.float64)
    z, w = block(x, return_weights=True)
    theta = F.conv2d(x, block.theta.weight, block.theta.bias).flatten(2)
    phi = F.conv2d(x, block.phi.weight, block.phi.bias).flatten(2)
    g = F.conv2d(x, block.g.weight, block.g.bias).flatten(2)
    w_ref = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)     # NL Eqs. (1), (3)
    y = (w_ref @ g.transpose(1, 2)).transpose(1, 2).reshape(2, 4, 5, 6)
    z_ref = block.w_z(y) + x                                        # NL Eq. (6)
    assert z.shape == x.shape and w.shape == (2, 30, 30)
    torch.testing.assert_close(z, z_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(w, w_ref, rtol=0, atol=1e-14)


def test_rd_ratio_sets_the_embedding_width_and_bad_input():
    assert NonLocal2d(16, rd_ratio=1 / 4).theta.out_channels == 4
    with pytest.raises(ValueError, match=r"x must be Tensor\[B, 8, H, W\]; got \(2, 4, 3, 3\)"):
        NonLocal2d(8)(torch.randn(2, 4, 3, 3))
    with pytest.raises(ValueError, match="channels \\* rd_ratio must be >= 1"):
        NonLocal2d(1, rd_ratio=1 / 2)
