import pytest
import torch
import torch.nn.functional as F

from relnotes.nn import ContextBlock, GlobalContextBlock, SimplifiedNonLocal2d, SqueezeExcitation


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def _randomize(module):
    """Random weights everywhere, so that zero-initialised layers do not hide a wrong formula."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_()
    return module


def _bottleneck(t, c):
    """W_v2 ReLU(LN(W_v1 c)) written out, for an nn.Sequential built by ContextBlock."""
    h = F.conv2d(c, t[0].weight, t[0].bias)
    if isinstance(t[1], torch.nn.LayerNorm):
        mu = h.mean(dim=(1, 2, 3), keepdim=True)
        var = h.var(dim=(1, 2, 3), unbiased=False, keepdim=True)
        h = (h - mu) / torch.sqrt(var + t[1].eps) * t[1].weight + t[1].bias
    return F.conv2d(torch.relu(h), t[-1].weight, t[-1].bias)


@pytest.mark.parametrize("pooling", ["att", "avg"])
@pytest.mark.parametrize("fusion", [("add",), ("mul",), ("add", "mul")])
@pytest.mark.parametrize("layer_norm", [True, False])
def test_matches_a_transcription_of_gcnet_eq3(pooling, fusion, layer_norm):
    block = _randomize(ContextBlock(16, rd_ratio=1 / 4, pooling=pooling, fusion=fusion,
                                    layer_norm=layer_norm).double())
    x = torch.randn(2, 16, 5, 3, dtype=torch.float64)
    z, w = block(x, return_weights=True)
    xf = x.flatten(2)                                                       # [B, C, N]
    if pooling == "att":
        logits = (block.conv_mask.weight.flatten() @ xf) + block.conv_mask.bias   # W_k x_j: [B, N]
        alpha = torch.exp(logits) / torch.exp(logits).sum(dim=1, keepdim=True)
    else:
        alpha = torch.full((2, 15), 1 / 15, dtype=torch.float64)
    c = torch.einsum("bj,bcj->bc", alpha, xf)[:, :, None, None]             # Σ_j α_j x_j
    z_ref = x
    if "mul" in fusion:
        z_ref = z_ref * torch.sigmoid(_bottleneck(block.transform_mul, c))
    if "add" in fusion:
        z_ref = z_ref + _bottleneck(block.transform_add, c)
    assert z.shape == x.shape and w.shape == (2, 15)
    torch.testing.assert_close(z, z_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(w, alpha, rtol=0, atol=1e-14)


def test_framework_reproduces_simplified_non_local_exactly():
    snl = _randomize(SimplifiedNonLocal2d(16)).double()
    fw = ContextBlock(16, pooling="att", transform="linear", fusion=("add",)).double()
    fw.conv_mask.load_state_dict(snl.conv_mask.state_dict())
    fw.transform_add[0].load_state_dict(snl.w_v.state_dict())
    x = torch.randn(2, 16, 5, 5, dtype=torch.float64)
    (z_fw, w_fw), (z_snl, w_snl) = fw(x, return_weights=True), snl(x, return_weights=True)
    torch.testing.assert_close(z_fw, z_snl, rtol=0, atol=0)
    torch.testing.assert_close(w_fw, w_snl, rtol=0, atol=0)
    assert n_params(fw) == n_params(snl)


def test_framework_reproduces_squeeze_excitation_exactly():
    se = SqueezeExcitation(32).double()
    fw = ContextBlock(32, pooling="avg", layer_norm=False, fusion=("mul",)).double()
    fw.transform_mul[0].load_state_dict(se.fc1.state_dict())
    fw.transform_mul[2].load_state_dict(se.fc2.state_dict())
    x = torch.randn(2, 32, 5, 5, dtype=torch.float64)
    torch.testing.assert_close(fw(x), se(x), rtol=0, atol=0)
    assert n_params(fw) == n_params(se)


def test_parameter_counts_per_block():
    # (C+1) + (C·P+P) + 2P + (P·C+C), reference note §1.1: r16 at C = 512, 1024, 2048
    assert [n_params(GlobalContextBlock(c)) for c in (512, 1024, 2048)] == [33_889, 133_313, 528_769]
    assert n_params(SimplifiedNonLocal2d(1024)) == 1_050_625            # +1 SNL at c4
    assert n_params(GlobalContextBlock(1024, rd_ratio=1 / 4)) == (1025 + 1024 * 256 + 256 + 512
                                                                   + 256 * 1024 + 1024)
    # GC-framework SE (with LN) has 2P more than classic SE
    assert n_params(ContextBlock(512, pooling="avg", fusion=("mul",))) == n_params(
        SqueezeExcitation(512)) + 2 * 32
    assert n_params(ContextBlock(64, fusion=("add", "mul"))) == 65 + 2 * (64 * 4 + 4 + 8 + 4 * 64 + 64)


def test_every_flag_changes_the_module():
    base = ContextBlock(64)
    variants = [ContextBlock(64, rd_ratio=1 / 4), ContextBlock(64, rd_channels=8),
                ContextBlock(64, pooling="avg"), ContextBlock(64, transform="linear"),
                ContextBlock(64, layer_norm=False), ContextBlock(64, fusion=("mul",)),
                ContextBlock(64, zero_init_last=False)]
    reprs = [repr(v) for v in [base] + variants]
    assert len(set(reprs)) == len(reprs)
    assert reprs[0].splitlines()[1].strip() == "channels=64, rd_ratio=0.0625"
    x = torch.randn(1, 64, 4, 4)
    assert torch.equal(base(x), x) and not torch.equal(variants[-1](x), x)
    assert {repr(SqueezeExcitation(64)), repr(SqueezeExcitation(64, rd_ratio=1 / 4)),
            repr(SqueezeExcitation(64, rd_channels=3))}.__len__() == 3
    assert SimplifiedNonLocal2d(8, zero_init_last=False).w_v.weight.abs().sum() > 0
    assert SimplifiedNonLocal2d(8).w_v.weight.abs().sum() == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_shapes_and_dtypes(dtype):
    x = torch.randn(2, 32, 7, 3, dtype=dtype)
    for block in (ContextBlock(32, fusion=("add", "mul"), zero_init_last=False),
                  SimplifiedNonLocal2d(32), SqueezeExcitation(32), GlobalContextBlock(32, pooling="avg")):
        z = block.to(dtype)(x)
        assert z.shape == x.shape and z.dtype == dtype
    _, w = ContextBlock(32, pooling="avg").to(dtype)(x, return_weights=True)
    assert w.dtype == dtype and w.shape == (2, 21)


def test_errors():
    with pytest.raises(ValueError, match="pooling must be one of \\('att', 'avg'\\); got 'max'"):
        ContextBlock(8, pooling="max")
    with pytest.raises(ValueError, match="transform must be one of"):
        ContextBlock(8, transform="mlp")
    for bad in [(), ("add", "add"), ("sum",)]:
        with pytest.raises(ValueError, match="fusion must be a non-empty subset"):
            ContextBlock(8, fusion=bad)
    with pytest.raises(ValueError, match="bottleneck width P must be >= 1; got 0"):
        ContextBlock(8)                                                      # 8 / 16 = 0
    with pytest.raises(ValueError, match="has no bottleneck width; got rd_channels=4, rd_min=None"):
        ContextBlock(8, transform="linear", rd_channels=4)
    with pytest.raises(ValueError, match="hidden width C/r must be >= 1"):
        SqueezeExcitation(8)
    for block in (ContextBlock(32), SimplifiedNonLocal2d(32), SqueezeExcitation(32)):
        with pytest.raises(ValueError, match=r"x must be Tensor\[B, 32, H, W\]; got \(2, 16, 3, 3\)"):
            block(torch.randn(2, 16, 3, 3))


def test_rd_min_floors_the_bottleneck_and_shows_in_the_repr():
    # C = 32, r = 1/16: P = 2 without the floor; rd_min=8 gives 8, and a LayerNorm over 8 channels
    assert ContextBlock(32).rd_channels == 2
    gc = GlobalContextBlock(32, rd_min=8)
    assert gc.rd_channels == 8 and gc.transform_add[0].out_channels == 8
    assert gc.transform_add[1].normalized_shape == (8, 1, 1)
    assert "rd_ratio=0.0625, rd_min=8" in repr(gc)
    assert GlobalContextBlock(256, rd_min=8).rd_channels == 16        # above the floor: unchanged
    assert repr(GlobalContextBlock(256, rd_min=8)) == repr(GlobalContextBlock(256))
    se = SqueezeExcitation(16, rd_min=8)
    assert se.rd_channels == 8 and se.fc1.out_channels == 8 and "rd_min=8" in repr(se)
    assert GlobalContextBlock(32, rd_channels=4, rd_min=8).rd_channels == 4  # explicit width wins
    with pytest.raises(ValueError, match="has no bottleneck width; got rd_channels=None, rd_min=8"):
        ContextBlock(8, transform="linear", rd_min=8)
    with pytest.raises(ValueError, match="rd_min must be None or an int >= 1; got 0"):
        GlobalContextBlock(32, rd_min=0)
