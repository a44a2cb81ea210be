"""DCN v1/v2 on torchvision's deform_conv2d: zero offsets (and unit masks) are the ordinary conv."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

import relnotes.ops.flop_formulas  # noqa: F401  (registers deform_conv2d's MAC formula)

from relnotes.nn import DeformConv2dV1, ModulatedDeformConv2d


@pytest.mark.parametrize("kw", [dict(), dict(stride=2), dict(dilation=2), dict(groups=2),
                                dict(offset_groups=2), dict(kernel_size=5, bias=False)])
def test_untrained_v1_is_the_ordinary_conv(kw):
    torch.manual_seed(0)
    x = torch.randn(2, 4, 9, 11, dtype=torch.float64)
    m = DeformConv2dV1(4, out_channels=6, **kw).double()
    ref = F.conv2d(x, m.weight, m.bias, m.stride, m.padding, m.dilation, m.groups)
    torch.testing.assert_close(m(x), ref)


@pytest.mark.parametrize("kw", [dict(), dict(stride=2), dict(offset_groups=4)])
def test_v2_with_zero_offsets_and_unit_masks_is_the_ordinary_conv(kw):
    torch.manual_seed(1)
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    m = ModulatedDeformConv2d(4, out_channels=5, **kw).double()
    ref = F.conv2d(x, m.weight, m.bias, m.stride, m.padding)
    g, k = m.offset_groups, m.kernel_size
    offset = torch.zeros(2, 2 * g * k * k, *ref.shape[-2:], dtype=x.dtype)
    mask = torch.ones(2, g * k * k, *ref.shape[-2:], dtype=x.dtype)
    torch.testing.assert_close(m(x, offset, mask), ref)


def test_untrained_v2_weighs_every_sample_by_a_half():
    torch.manual_seed(2)
    x = torch.randn(1, 3, 7, 7, dtype=torch.float64)
    m = ModulatedDeformConv2d(3, out_channels=4).double()
    out, offset, mask = m(x, return_offsets=True)
    assert (offset == 0).all() and (mask == 0.5).all()
    torch.testing.assert_close(out, 0.5 * F.conv2d(x, m.weight, None, 1, 1) + m.bias.view(1, -1, 1, 1))


def test_an_integer_offset_shifts_the_sampling_point():
    # a 1x1 deformable conv with offset (dy, dx) = (0, 1) reads the right neighbour
    x = torch.arange(16.).view(1, 1, 4, 4)
    m = DeformConv2dV1(1, kernel_size=1, bias=False)
    with torch.no_grad():
        m.weight.fill_(1.0)
    offset = torch.zeros(1, 2, 4, 4)
    offset[:, 1] = 1.0
    out = m(x, offset)
    torch.testing.assert_close(out[..., :3], x[..., 1:])
    assert (out[..., 3] == 0).all()       # beyond the border: zero padding


def test_offsets_are_learned():
    torch.manual_seed(3)
    x = torch.randn(2, 4, 8, 8)
    m = ModulatedDeformConv2d(4)
    m(x).square().sum().backward()
    assert m.offset_conv.weight.grad.abs().sum() > 0


def test_errors_and_repr():
    with pytest.raises(ValueError, match=r"divisible by groups \(3\)"):
        DeformConv2dV1(4, out_channels=6, groups=3)
    with pytest.raises(ValueError, match=r"offset_groups \(3\)"):
        DeformConv2dV1(4, offset_groups=3)
    with pytest.raises(ValueError, match=r"Tensor\[B, 4, H, W\]; got \(1, 3, 5, 5\)"):
        DeformConv2dV1(4)(torch.zeros(1, 3, 5, 5))
    assert DeformConv2dV1(4, out_channels=8, stride=2).extra_repr() == \
        "4, out_channels=8, kernel_size=3, stride=2"
    assert ModulatedDeformConv2d(4).offset_conv.out_channels == 27


def _macs(module, x) -> int:
    with FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops() // 2


def test_layers_count_the_deformed_and_the_offset_conv():
    x = torch.randn(1, 4, 6, 6)
    per_position = 6 * 6 * 4 * 9
    assert _macs(DeformConv2dV1(4, out_channels=5), x) == per_position * (5 + 18)
    assert _macs(ModulatedDeformConv2d(4, out_channels=5), x) == per_position * (5 + 27)
