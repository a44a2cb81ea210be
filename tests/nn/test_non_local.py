import math

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
    with pytest.raises(ValueError, match="C' must be >= 1; got 0 from channels=1, rd_ratio=0.5"):
        NonLocal2d(1, rd_ratio=1 / 2)


def _transcription(block, x):
    """NL Eqs. (1)-(6) written out with the block's weights; float64."""
    B, C, H, W = x.shape
    x_j = F.max_pool2d(x, 2, 2) if block.sub_sample else x                  # floor, official
    g = F.conv2d(x_j, block.g.weight, block.g.bias).flatten(2)              # [B, C', M]
    M = g.shape[2]
    if block.mode == "gaussian":
        theta, phi = x.flatten(2), x_j.flatten(2)
    else:
        theta = F.conv2d(x, block.theta.weight, block.theta.bias).flatten(2)
        phi = F.conv2d(x_j, block.phi.weight, block.phi.bias).flatten(2)
    if block.mode in ("gaussian", "embedded_gaussian"):
        s = theta.transpose(1, 2) @ phi
        if block.use_scale:
            s = s / block.rd_channels ** 0.5
        f = torch.exp(s)                                                    # Eqs. (2), (3)
        w = f / f.sum(dim=2, keepdim=True)
    elif block.mode == "dot_product":
        w = theta.transpose(1, 2) @ phi / M                                 # Eq. (4)
    else:
        wf = block.w_f.weight[0]
        f = torch.empty(B, H * W, M, dtype=x.dtype)
        for i in range(H * W):                                              # Eq. (5), pair by pair
            for j in range(M):
                f[:, i, j] = torch.relu(torch.cat([theta[:, :, i], phi[:, :, j]], 1) @ wf)
        w = f / M
    y = (w @ g.transpose(1, 2)).transpose(1, 2).reshape(B, -1, H, W)        # Eq. (1)
    wz = F.conv2d(y, block.w_z.weight, block.w_z.bias)
    if block.norm is not None:
        wz = block.norm(wz)
    return wz + x, w                                                        # Eq. (6)


@pytest.mark.parametrize("mode", ["embedded_gaussian", "gaussian", "dot_product", "concatenation"])
@pytest.mark.parametrize("sub_sample", [False, True])
def test_every_mode_matches_the_transcription(mode, sub_sample):
    torch.manual_seed(0)
    block = NonLocal2d(6, mode=mode, sub_sample=sub_sample).double()
    x = torch.randn(2, 6, 5, 4, dtype=torch.float64)
    z, w = block(x, return_weights=True)
    z_ref, w_ref = _transcription(block, x)
    M = 2 * 2 if sub_sample else 20                      # 5 x 4 pools to 2 x 2 (floor)
    assert z.shape == x.shape and w.shape == (2, 20, M)
    torch.testing.assert_close(z, z_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(w, w_ref, rtol=0, atol=1e-12)


def test_use_scale_divides_by_sqrt_inner_width():
    torch.manual_seed(0)
    block = NonLocal2d(8, use_scale=True).double()
    x = torch.randn(1, 8, 3, 3, dtype=torch.float64)
    z, w = block(x, return_weights=True)
    z_ref, w_ref = _transcription(block, x)
    torch.testing.assert_close(w, w_ref, rtol=0, atol=1e-14)
    unscaled = NonLocal2d(8).double()
    unscaled.load_state_dict(block.state_dict())
    assert not torch.allclose(unscaled(x, return_weights=True)[1], w)


def test_identity_at_init_with_a_norm_or_zero_init_last():
    x = torch.randn(2, 8, 4, 4)
    bn = NonLocal2d(8, norm_layer=torch.nn.BatchNorm2d)
    assert torch.equal(bn.norm.weight, torch.zeros(8))
    torch.testing.assert_close(bn.eval()(x), x, rtol=0, atol=0)
    torch.testing.assert_close(NonLocal2d(8, zero_init_last=True)(x), x, rtol=0, atol=0)
    assert not torch.allclose(NonLocal2d(8)(x), x)        # the default keeps a random W_z


def test_parameter_counts():
    # C = 1024, C' = 512: the +1 NL of the GCNet COCO table, +2,099,712 (reference note §2.1)
    def n(m):
        return sum(p.numel() for p in m.parameters())
    assert n(NonLocal2d(1024, sub_sample=True)) == 2_099_712
    assert n(NonLocal2d(1024, norm_layer=torch.nn.BatchNorm2d)) == 2_099_712 + 2_048
    assert n(NonLocal2d(16, mode="gaussian")) == 16 * 8 + 8 + 8 * 16 + 16
    # theta, phi, g: 3 x (16*8 + 8); w_f: 2*8 -> 1, no bias; W_z: 8*16 + 16
    assert n(NonLocal2d(16, mode="concatenation")) == 3 * (16 * 8 + 8) + 16 + (8 * 16 + 16)


def test_every_flag_changes_the_module_and_the_repr():
    base = NonLocal2d(16)
    variants = [NonLocal2d(16, rd_ratio=1 / 4), NonLocal2d(16, rd_channels=3),
                NonLocal2d(16, mode="gaussian"), NonLocal2d(16, mode="dot_product"),
                NonLocal2d(16, mode="concatenation"), NonLocal2d(16, sub_sample=True),
                NonLocal2d(16, use_scale=True), NonLocal2d(16, norm_layer=torch.nn.BatchNorm2d),
                NonLocal2d(16, zero_init_last=True)]
    reprs = {repr(base)} | {repr(v) for v in variants}
    assert len(reprs) == len(variants) + 1
    assert repr(base).splitlines()[1].strip() == "channels=16, rd_ratio=0.5"
    # dot_product and use_scale change the forward, not the parameters
    torch.manual_seed(0)
    x = torch.randn(1, 16, 4, 4)
    dp = NonLocal2d(16, mode="dot_product")
    eg = NonLocal2d(16)
    eg.load_state_dict(dp.state_dict())
    assert not torch.allclose(dp(x), eg(x))


def test_errors_and_dtypes():
    with pytest.raises(ValueError, match="mode must be one of"):
        NonLocal2d(8, mode="gauss")
    with pytest.raises(ValueError, match="use_scale applies to mode='embedded_gaussian' only"):
        NonLocal2d(8, mode="dot_product", use_scale=True)
    with pytest.raises(ValueError, match="C' must be >= 1; got 0"):
        NonLocal2d(8, rd_channels=0)
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        block = NonLocal2d(8, sub_sample=True).to(dtype)
        z, w = block(torch.randn(1, 8, 5, 5, dtype=dtype), return_weights=True)
        assert z.dtype == w.dtype == dtype and w.shape == (1, 25, 4)
    with pytest.raises(ValueError, match=r"sub_sample pools 2x2 and needs H, W >= 2; got H, W = \(1, 4\)"):
        NonLocal2d(8, sub_sample=True)(torch.randn(1, 8, 1, 4))


def test_sub_sample_on_odd_sides_follows_the_official_floor_pooling():
    """A 3 x 5 map, worked out by hand. The Gaussian mode with C = C' = 1, g and W_z the identity:
    z_i = x_i + sum_j softmax_j(x_i k_j) v_j over the pooled keys k_j = v_j. Floor pooling (the
    official Caffe2 code, mmcv's nn.MaxPool2d((2, 2))) keeps the 1 x 2 windows rows 0-1 x cols 0-1
    and rows 0-1 x cols 2-3: k = (max(1, 0, 0, 0), max(0, 2, 0, 0)) = (1, 2); the 9s in the last
    row and column are never keys. (Ceil pooling would keep 2 x 3 = 6 keys, the 9s among them.)"""
    block = NonLocal2d(1, rd_channels=1, mode="gaussian", sub_sample=True).double()
    with torch.no_grad():
        for conv in (block.g, block.w_z):
            conv.weight.fill_(1.0)
            conv.bias.zero_()
    x = torch.tensor([[1., 0., 0., 2., 9.],
                      [0., 0., 0., 0., 9.],
                      [9., 9., 9., 9., 9.]], dtype=torch.float64).reshape(1, 1, 3, 5)
    z, w = block(x, return_weights=True)
    assert w.shape == (1, 15, 2)
    e = math.e
    # query x_i = 0: weights (1/2, 1/2), y = (1 + 2) / 2
    assert w[0, 1].tolist() == pytest.approx([0.5, 0.5], abs=1e-15)
    assert z[0, 0, 0, 1].item() == pytest.approx(1.5, abs=1e-15)
    # query x_i = 1: weights (e, e^2) / (e + e^2), y = (e + 2 e^2) / (e + e^2) = (1 + 2e) / (1 + e)
    assert w[0, 0].tolist() == pytest.approx([1 / (1 + e), e / (1 + e)], abs=1e-15)
    assert z[0, 0, 0, 0].item() == pytest.approx(1 + (1 + 2 * e) / (1 + e), abs=1e-14)
    # query x_i = 2: y = (e^2 + 2 e^4) / (e^2 + e^4) = (1 + 2 e^2) / (1 + e^2)
    assert z[0, 0, 0, 3].item() == pytest.approx(2 + (1 + 2 * e ** 2) / (1 + e ** 2), abs=1e-14)
    # query x_i = 9: y = (1 + 2 e^9) / (1 + e^9)
    assert z[0, 0, 2, 4].item() == pytest.approx(9 + (1 + 2 * e ** 9) / (1 + e ** 9), abs=1e-14)
