import torch
import torch.nn.functional as F

from relnotes.nn import SimplifiedNonLocal2d


def test_matches_gcnet_eq2_and_its_map_is_one_per_image():
    torch.manual_seed(1)
    snl = SimplifiedNonLocal2d(8).double()
    with torch.no_grad():
        for p in snl.parameters():
            p.normal_()
    x = torch.randn(2, 8, 3, 4, dtype=torch.float64)
    z, w = snl(x, return_weights=True)
    alpha = torch.softmax((snl.conv_mask.weight.flatten() @ x.flatten(2)) + snl.conv_mask.bias, 1)
    c = (x.flatten(2) @ alpha.unsqueeze(2)).unsqueeze(3)                   # [B, C, 1, 1]
    z_ref = x + F.conv2d(c, snl.w_v.weight, snl.w_v.bias)                  # GCNet Eq. (2)
    torch.testing.assert_close(z, z_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(w, alpha, rtol=0, atol=1e-14)
    assert w.shape == (2, 12)


def test_identity_at_init_and_parameter_count():
    x = torch.randn(1, 16, 4, 4)
    torch.testing.assert_close(SimplifiedNonLocal2d(16)(x), x, rtol=0, atol=0)
    assert not torch.allclose(SimplifiedNonLocal2d(16, zero_init_last=False)(x), x)
    assert sum(p.numel() for p in SimplifiedNonLocal2d(1024).parameters()) == 1_050_625
    assert repr(SimplifiedNonLocal2d(16, zero_init_last=False)).splitlines()[1].strip() == (
        "channels=16, zero_init_last=False")
