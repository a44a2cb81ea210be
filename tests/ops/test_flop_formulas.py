"""The MAC formula registered for torchvision's deform_conv2d (relnotes.ops.flop_formulas)."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from torchvision.ops import deform_conv2d

import relnotes.ops.flop_formulas  # noqa: F401  (registers the formula)


def macs(fn, *args, **kwargs) -> int:
    with FlopCounterMode(display=False) as counter:
        fn(*args, **kwargs)
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("stride,groups,offset_groups,mask", [(1, 1, 1, False), (2, 1, 1, True),
                                                             (1, 2, 2, True), (1, 4, 1, False)])
def test_deform_conv2d_costs_its_convolution(stride, groups, offset_groups, mask):
    b, c_in, c_out, k, h, w = 2, 8, 12, 3, 10, 9
    x = torch.randn(b, c_in, h, w)
    weight = torch.randn(c_out, c_in // groups, k, k)
    h_out, w_out = (h + 2 - k) // stride + 1, (w + 2 - k) // stride + 1
    offset = torch.zeros(b, 2 * offset_groups * k * k, h_out, w_out)
    m = torch.ones(b, offset_groups * k * k, h_out, w_out) if mask else None
    got = macs(deform_conv2d, x, offset, weight, stride=stride, padding=1, mask=m)
    # one MAC per weight per output position: B C_out H_out W_out (C_in / groups) k k
    assert got == b * c_out * h_out * w_out * (c_in // groups) * k * k
    conv = macs(torch.nn.functional.conv2d, x, weight, None, stride, 1, 1, groups)
    assert got == conv

