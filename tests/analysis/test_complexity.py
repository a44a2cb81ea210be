"""Tests for relnotes.analysis.complexity: exact parameter and MAC counts against closed forms
and published numbers."""

import doctest

import pytest
import torch
import torchvision
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from relnotes.analysis import complexity
from relnotes.analysis.complexity import (
    complexity_row,
    count_macs,
    count_macs_by_op,
    count_parameters,
    in_units,
    register_mac_formula,
)

RESNET50_PARAMS = 25_557_032
RESNET50_MACS_224 = 4_089_184_256  # FlopCounterMode total / 2, torch 2.14.1
RESNET50_BN_AFFINE = 53_120  # 2 x (channels of every BatchNorm2d)


# Two identical custom ops: one gets a MAC formula, the other is the pitfall (no formula).
def _define_scaled_mm(name):
    @torch.library.custom_op(f"relnotes_test::{name}", mutates_args=())
    def op(a: torch.Tensor, c: torch.Tensor, scale: float) -> torch.Tensor:
        return scale * torch.bmm(a, c)

    @op.register_fake
    def _(a, c, scale):
        return a.new_empty(a.shape[0], a.shape[1], c.shape[2])

    return op


scaled_mm = _define_scaled_mm("scaled_mm")
scaled_mm_uncounted = _define_scaled_mm("scaled_mm_uncounted")


@register_mac_formula(torch.ops.relnotes_test.scaled_mm)
def scaled_mm_macs(a_shape, c_shape, scale, *, out_shape=None, **kwargs):
    (b, m, k), (_, _, n) = a_shape, c_shape
    return b * m * k * n


class _OpCall(nn.Module):
    def __init__(self, op):
        super().__init__()
        self.op = op

    def forward(self, a, c):
        return self.op(a, c, 0.5)


class _TinyAttention(nn.Module):
    """softmax(Q K^T / sqrt(d)) V with 1x1 projections, in the style of a relation module."""

    def __init__(self, d_f, d_k):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(d_f, d_k), nn.Linear(d_f, d_k), nn.Linear(d_f, d_f)
        self.d_k = d_k

    def forward(self, f):  # f: [B, N, d_f]
        q, k, v = self.q(f), self.k(f), self.v(f)
        w = torch.softmax(torch.matmul(q, k.transpose(1, 2)) / self.d_k**0.5, dim=-1)  # [B, N, N]
        return torch.bmm(w, v)  # [B, N, d_f]


def test_doctests():
    result = doctest.testmod(complexity, extraglobs={"nn": nn, "torch": torch})
    assert result.attempted >= 4 and result.failed == 0


def test_units():
    assert in_units(2**20, "Mi") == 1.0
    assert in_units(3 * 10**6) == 3.0
    assert in_units(2**30, "Gi") == 1.0 and in_units(5 * 10**8, "G") == 0.5
    assert round(in_units(RESNET50_PARAMS, "Mi"), 2) == 24.37
    with pytest.raises(ValueError, match=r"unit must be one of \['G', 'Gi', 'M', 'Mi'\]; got 'MB'"):
        in_units(10, "MB")
    with pytest.raises(TypeError, match="n must be a real number; got str"):
        in_units("10")


def test_parameters_exclude_buffers_and_frozen():
    bn = nn.BatchNorm2d(8)
    assert count_parameters(bn) == 16  # affine weight + bias; running stats are buffers
    assert count_parameters(FrozenBatchNorm2d(8)) == 0
    net = nn.Sequential(nn.Conv2d(3, 8, 3), bn)
    net[0].requires_grad_(False)
    assert count_parameters(net) == 3 * 8 * 9 + 8 + 16
    assert count_parameters(net, trainable_only=True) == 16
    shared = nn.Linear(4, 4)
    assert count_parameters(nn.Sequential(shared, shared)) == 20  # counted once
    with pytest.raises(TypeError, match="module must be an nn.Module; got Tensor"):
        count_parameters(torch.zeros(3))


def test_resnet50_params_and_macs():
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None)
    assert count_parameters(model) == RESNET50_PARAMS
    frozen = torchvision.models.resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
    assert count_parameters(frozen) == RESNET50_PARAMS - RESNET50_BN_AFFINE
    macs = count_macs(model, torch.randn(1, 3, 224, 224))
    assert macs == RESNET50_MACS_224
    assert round(macs / 1e9, 2) == 4.09  # torchvision ResNet50_Weights "_ops": 4.089
    with torch.device("meta"):  # shapes only: the same count without any arithmetic
        meta_model, meta_x = torchvision.models.resnet50(weights=None), torch.empty(1, 3, 224, 224)
    assert count_parameters(meta_model) == RESNET50_PARAMS
    assert count_macs(meta_model, meta_x) == RESNET50_MACS_224


def test_maskrcnn_params_on_meta():
    # weights_backbone=None gives a trainable BatchNorm2d backbone, so BN affine is counted.
    with torch.device("meta"):
        model = torchvision.models.detection.maskrcnn_resnet50_fpn(
            weights=None, weights_backbone=None, num_classes=81
        )
    assert next(model.parameters()).is_meta
    assert count_parameters(model) == 44_400_693
    assert round(in_units(count_parameters(model)), 1) == 44.4


def test_linear_and_conv_closed_form():
    assert count_macs(nn.Linear(64, 32), torch.randn(5, 64)) == 5 * 64 * 32
    conv = nn.Conv2d(6, 8, kernel_size=3, stride=2, padding=1, groups=2)
    # out 8 x 5 x 5, each output sums (6 / groups) x 3 x 3 products
    assert count_macs(conv, torch.randn(2, 6, 10, 10)) == 2 * 8 * 5 * 5 * (6 // 2) * 3 * 3
    assert complexity_row(conv, torch.randn(1, 6, 10, 10)) == {
        "params": 8 * 3 * 3 * 3 + 8,
        "macs": 8 * 5 * 5 * 3 * 3 * 3,
    }


def test_attention_matmuls_counted():
    B, N, d_f, d_k = 2, 7, 16, 8
    by_op = count_macs_by_op(_TinyAttention(d_f, d_k), torch.randn(B, N, d_f))
    projections = B * N * d_f * (d_k + d_k + d_f)
    relations = B * N * N * d_k + B * N * N * d_f  # Q K^T, then W V
    assert by_op == {"aten.addmm": projections, "aten.bmm": relations}
    assert list(by_op.values()) == sorted(by_op.values(), reverse=True)  # largest first
    assert count_macs(_TinyAttention(d_f, d_k), torch.randn(B, N, d_f)) == projections + relations


def test_modes_restored_and_kwargs_outputs():
    class Detectorish(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.drop = nn.Linear(4, 3), nn.Dropout(0.5)

        def forward(self, x, *, scale=1.0):
            assert not self.training  # counted in eval mode
            return [{"scores": self.drop(self.fc(x)) * scale}]

    model = Detectorish().train()
    model.drop.eval()  # mixed modes must come back as they were
    assert count_macs(model, torch.randn(2, 4), scale=2.0) == 2 * 4 * 3
    assert model.training and model.fc.training and not model.drop.training
    model.eval()
    count_macs(model, torch.randn(2, 4))
    assert not model.training
    assert count_macs(nn.ReLU(), torch.randn(3)) == 0  # nothing counted: no "Global" key


def test_custom_op_formula_and_pitfall():
    a, c = torch.randn(2, 3, 4), torch.randn(2, 4, 5)
    torch.testing.assert_close(scaled_mm(a, c, 0.5), 0.5 * torch.bmm(a, c))
    assert count_macs_by_op(_OpCall(scaled_mm), a, c) == {"relnotes_test.scaled_mm": 2 * 3 * 4 * 5}
    assert count_macs(_OpCall(scaled_mm_uncounted), a, c) == 0  # runs, silently not counted
    with pytest.raises(RuntimeError, match="duplicate"):
        register_mac_formula(torch.ops.relnotes_test.scaled_mm)(scaled_mm_macs)
    with pytest.raises(ValueError, match="OpOverloadPacket"):
        register_mac_formula(torch.ops.relnotes_test.scaled_mm_uncounted.default)(scaled_mm_macs)


def test_odd_flop_formula_rejected():
    odd = _define_scaled_mm("scaled_mm_odd")
    torch.utils.flop_counter.register_flop_formula(torch.ops.relnotes_test.scaled_mm_odd)(
        lambda *args, **kwargs: 3  # a formula that forgot the 2 FLOPs per MAC
    )
    message = r"relnotes_test.scaled_mm_odd counted an odd number of FLOPs \(3\)"
    with pytest.raises(RuntimeError, match=message):
        count_macs(_OpCall(odd), torch.randn(1, 2, 2), torch.randn(1, 2, 2))


def test_narrowest_width_by_hand():
    from relnotes.analysis import narrowest_width

    assert narrowest_width(lambda w: w * w, 1000, start=16) == 32       # 24^2 = 576, 32^2 = 1024
    assert narrowest_width(lambda w: w, 10, start=16) == 16              # already enough
    assert narrowest_width(lambda w: w, 17, start=16, step=1) == 17
    with pytest.raises(ValueError, match="step"):
        narrowest_width(lambda w: w, 17, start=16, step=0)
