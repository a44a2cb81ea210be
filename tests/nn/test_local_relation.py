import math

import pytest
import torch
import torch.nn.functional as F

from relnotes.analysis import count_parameters
from relnotes.nn import LocalRelation2d
from relnotes.ops import local_relation


def closed_form_params(C, m, h=None):
    G = math.ceil(C / m)
    h = G if h is None else h
    return 2 * C * G + C * C + (2 * h + h) + (h * G + G)


@pytest.mark.parametrize("C,m,h", [(64, 8, None), (100, 8, None), (200, 8, 32), (7, 3, 5)])
def test_parameter_count_closed_form(C, m, h):
    assert count_parameters(LocalRelation2d(C, channels_per_group=m, geometry_channels=h)) == \
        closed_form_params(C, m, h)


def test_lrnet50_stage1_layer_has_13_groups_and_12821_parameters():
    layer = LocalRelation2d(100)
    assert layer.groups == 13
    assert count_parameters(layer) == 2 * 100 * 13 + 100 * 100 + 3 * 13 + 13 * 13 + 13 == 12821


@pytest.mark.parametrize("stride,H,W", [(1, 9, 8), (2, 9, 8), (2, 8, 8)])
def test_shapes_and_stride(stride, H, W):
    x = torch.randn(2, 16, H, W)
    y = LocalRelation2d(16, kernel_size=5, channels_per_group=4, stride=stride)(x)
    assert y.shape == (2, 16, math.ceil(H / stride), math.ceil(W / stride))


def test_forward_is_the_op_between_the_1x1s():
    torch.manual_seed(0)
    layer = LocalRelation2d(10, kernel_size=3, channels_per_group=4, stride=2, composability="dot").double()
    x = torch.randn(2, 10, 7, 6, dtype=torch.float64)
    q = F.conv2d(x[:, :, ::2, ::2], layer.query.weight)          # on the output grid
    k = F.conv2d(x, layer.key.weight)
    pos = layer.positions[0]                                     # [2, 3, 3]
    assert pos[:, 0, 0].tolist() == [-1.0, -1.0] and pos[:, 2, 1].tolist() == [1.0, 0.0]
    g = layer.geometry
    prior = F.conv2d(F.relu(F.conv2d(pos[None], g[0].weight, g[0].bias)), g[2].weight,
                     g[2].bias)[0]
    y = F.conv2d(local_relation(q, k, x, prior, 3, 2, "dot"), layer.out.weight)
    torch.testing.assert_close(layer(x), y, rtol=0, atol=1e-13)


def test_every_flag_changes_the_layer():
    x = torch.randn(1, 16, 8, 8)

    def run(**kw):
        torch.manual_seed(0)
        return LocalRelation2d(16, **kw)(x)

    base = run(kernel_size=3, channels_per_group=4)
    for kw in (dict(kernel_size=5, channels_per_group=4), dict(kernel_size=3, channels_per_group=8),
               dict(kernel_size=3, channels_per_group=4, composability="abs_difference")):
        assert not torch.allclose(base, run(**kw))
    assert run(kernel_size=3, channels_per_group=4, stride=2).shape[-1] == 4
    assert LocalRelation2d(16, geometry_channels=3).geometry[0].out_channels == 3


def test_backward_reaches_every_parameter():
    layer = LocalRelation2d(12, kernel_size=3, channels_per_group=4)
    layer(torch.randn(2, 12, 5, 5)).square().sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_repr_shows_non_defaults():
    assert LocalRelation2d(100, stride=2).extra_repr() == "100, groups=13, stride=2"
    assert LocalRelation2d(8, kernel_size=3, channels_per_group=4).extra_repr() == "8, kernel_size=3, channels_per_group=4, groups=2"
    assert "composability='dot'" in repr(LocalRelation2d(8, composability="dot"))


@pytest.mark.parametrize("kwargs,message", [
    (dict(channels=0), "channels must be a positive int; got 0"),
    (dict(channels=8, kernel_size=4), "kernel_size must be a positive odd int .* got 4"),
    (dict(channels=8, channels_per_group=0), "channels_per_group must be a positive int; got 0"),
    (dict(channels=8, stride=1.5), "stride must be a positive int; got 1.5"),
    (dict(channels=8, composability="cos"), "composability must be one of .* got 'cos'"),
    (dict(channels=8, geometry_channels=0), "geometry_channels must be a positive int; got 0"),
    (dict(channels=8, position_units="cm"), "position_units must be 'window' or 'pixel'; got 'cm'"),
    (dict(channels=8, locality_sigma=0.0), "locality_sigma must be a positive number or None"),
])
def test_constructor_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LocalRelation2d(**kwargs)


def test_forward_error_names_the_expected_shape():
    with pytest.raises(ValueError, match=r"x must be Tensor\[B, 8, H, W\]; got \(2, 4, 3, 3\)"):
        LocalRelation2d(8)(torch.randn(2, 4, 3, 3))


@pytest.mark.parametrize("stride,composability", [(1, "squared_difference"), (2, "dot")])
def test_aggregation_weights_reproduce_the_forward(stride, composability):
    """Aggregating the input with the returned weights, then the output 1x1, is the forward."""
    torch.manual_seed(1)
    layer = LocalRelation2d(12, kernel_size=5, channels_per_group=4, stride=stride,
                            composability=composability).double()
    x = torch.randn(2, 12, 9, 8, dtype=torch.float64)
    w = layer.aggregation_weights(x)                              # [B, G, k, k, H', W']
    Ho, Wo = -(-9 // stride), -(-8 // stride)
    assert w.shape == (2, 3, 5, 5, Ho, Wo)
    torch.testing.assert_close(w.sum(dim=(2, 3)), torch.ones(2, 3, Ho, Wo, dtype=torch.float64))
    assert w[:, :, 0, :, 0, :].abs().max() == 0                   # rows above the image
    xu = F.unfold(x, 5, padding=2, stride=stride).view(2, 3, 4, 25, Ho, Wo)
    y = torch.einsum("bgkij,bgmkij->bgmij", w.flatten(2, 3), xu).reshape(2, 12, Ho, Wo)
    torch.testing.assert_close(layer(x), F.conv2d(y, layer.out.weight), rtol=0, atol=1e-12)


def test_pixel_units_and_the_locality_term():
    torch.manual_seed(0)
    window = LocalRelation2d(8, kernel_size=5, channels_per_group=4)
    torch.manual_seed(0)
    pixel = LocalRelation2d(8, kernel_size=5, channels_per_group=4, position_units="pixel",
                            locality_sigma=1.5)
    # offsets: in [-1, 1] by default, in pixels (row, column) with position_units="pixel"
    assert window.positions[0, :, 0, 4].tolist() == [-1.0, 1.0]
    assert pixel.positions[0, :, 0, 4].tolist() == [-2.0, 2.0]
    # the locality term: -|d|^2 / 2 sigma^2, 0 at the centre, the same for every group
    d2 = torch.tensor([[8., 5, 4, 5, 8], [5, 2, 1, 2, 5], [4, 1, 0, 1, 4], [5, 2, 1, 2, 5],
                       [8, 5, 4, 5, 8]])
    torch.testing.assert_close(pixel.locality, -d2 / (2 * 1.5**2))
    mlp = pixel.geometry(pixel.positions)[0]
    torch.testing.assert_close(pixel.geometry_prior(), mlp - d2 / 4.5)
    assert window.locality is None and "locality" not in pixel.state_dict()
    assert count_parameters(pixel) == count_parameters(window)
    assert "position_units='pixel', locality_sigma=1.5" in repr(pixel)
    # a strong locality term makes the layer's weights peak at the centre
    torch.manual_seed(0)
    sharp = LocalRelation2d(8, kernel_size=5, channels_per_group=4, position_units="pixel",
                            locality_sigma=0.1)
    w = sharp.aggregation_weights(torch.randn(1, 8, 9, 9))
    assert (w[..., 2, 2, 4, 4] > 0.99).all()


def test_strided_query_input_has_slicings_numbers():
    """The layer takes its strided query input through one copy (_Subsample) instead of slicing:
    the same numbers forward and backward, bit for bit."""
    from relnotes.nn.local_relation import _Subsample

    x = torch.randn(2, 5, 9, 8, requires_grad=True)
    g = torch.randn(2, 5, 5, 4)
    ours = _Subsample.apply(x, 2)
    (grad_ours,) = torch.autograd.grad(ours, x, g)
    sliced = x[:, :, ::2, ::2]
    (grad_sliced,) = torch.autograd.grad(sliced, x, g)
    assert ours.is_contiguous() and torch.equal(ours, sliced)
    assert torch.equal(grad_ours, grad_sliced)
