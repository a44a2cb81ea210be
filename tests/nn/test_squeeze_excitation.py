import pytest
import torch

from relnotes.nn import SqueezeExcitation


def test_matches_se_eqs_2_to_4():
    torch.manual_seed(0)
    se = SqueezeExcitation(32).double()
    x = torch.randn(2, 32, 3, 4, dtype=torch.float64)
    s = x.mean(dim=(2, 3))                                                  # SE Eq. (2)
    e = torch.sigmoid(torch.relu(s @ se.fc1.weight[:, :, 0, 0].T + se.fc1.bias)
                      @ se.fc2.weight[:, :, 0, 0].T + se.fc2.bias)          # SE Eq. (3)
    torch.testing.assert_close(se(x), x * e[:, :, None, None], rtol=0, atol=1e-12)  # SE Eq. (4)


def test_widths_and_parameter_counts():
    assert SqueezeExcitation(64).fc1.out_channels == 4
    assert SqueezeExcitation(64, rd_ratio=1 / 4).fc1.out_channels == 16
    assert SqueezeExcitation(64, rd_channels=3).fc1.out_channels == 3
    # 2 C P + P + C at C = 1024, r = 16
    assert sum(p.numel() for p in SqueezeExcitation(1024).parameters()) == 2 * 1024 * 64 + 64 + 1024
    with pytest.raises(ValueError, match="hidden width C/r must be >= 1; got 0"):
        SqueezeExcitation(8)


def test_equals_torchvision_squeeze_excitation_with_the_same_weights():
    from torchvision.ops import SqueezeExcitation as TorchvisionSE
    torch.manual_seed(0)
    ours, theirs = SqueezeExcitation(64).double(), TorchvisionSE(64, 4).double()
    ours.load_state_dict(theirs.state_dict())           # same names: fc1, fc2 (1x1 convs)
    x = torch.randn(2, 64, 5, 5, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-15)
