"""LearnedRegionFeatures: shapes, the terms and options, memory-lean aggregation, errors."""

import pytest
import torch

from relnotes.nn import LearnedRegionFeatures
from relnotes.ops.region_features import region_features_dense


def _inputs():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 16, 16)
    boxes = [torch.tensor([[4.0, 4.0, 30.0, 40.0], [0.0, 0.0, 64.0, 64.0]]),
             torch.tensor([[10.0, 20.0, 12.0, 23.0]])]
    return x, boxes


def test_drop_in_shape_like_roi_align():
    x, boxes = _inputs()
    m = LearnedRegionFeatures(8, output_size=7, spatial_scale=0.25)
    out, w = m(x, boxes, return_weights=True)
    assert out.shape == (3, 8, 7, 7)
    assert w.shape == (3, 49, 256)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 49))


def test_output_is_the_weighted_sum_of_pixels():
    x, boxes = _inputs()
    m = LearnedRegionFeatures(8, output_size=(2, 3), spatial_scale=0.25, support="image")
    with torch.no_grad():
        m.app_conv.weight.normal_()
        out, w = m(x, boxes, return_weights=True)
    batch_index = torch.tensor([0, 0, 1])
    expected = region_features_dense(x, w, batch_index).view(3, 8, 2, 3)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_support_restricts_the_weights():
    x, boxes = _inputs()
    m = LearnedRegionFeatures(8, spatial_scale=0.25, support="roi")
    _, w = m(x, boxes, return_weights=True)
    # box 0 covers map columns 1..7 (centres 6 .. 30 px) and rows 1..9
    inside = torch.zeros(16, 16, dtype=torch.bool)
    inside[1:10, 1:8] = True
    assert (w[0].view(49, 16, 16)[:, ~inside] == 0).all()
    assert (w[0].view(49, 16, 16)[:, inside] > 0).all()


def test_sparse_sampling_keeps_a_subgrid():
    x, boxes = _inputs()
    m = LearnedRegionFeatures(8, spatial_scale=0.25, sample_stride=2, support="image")
    out, w = m(x, boxes, return_weights=True)
    assert w.shape == (3, 49, 64) and out.shape == (3, 8, 7, 7)


def test_appearance_starts_at_zero_and_the_weights_then_depend_on_geometry_only():
    x, boxes = _inputs()
    m = LearnedRegionFeatures(8, spatial_scale=0.25)
    _, w1 = m(x, boxes, return_weights=True)
    _, w2 = m(torch.randn_like(x), boxes, return_weights=True)
    torch.testing.assert_close(w1, w2)
    with torch.no_grad():
        m.app_conv.weight.normal_()
    _, w3 = m(x, boxes, return_weights=True)
    assert not torch.allclose(w1, w3)


@pytest.mark.parametrize("flag", [dict(geometric=False), dict(appearance=False),
                                  dict(support="image"), dict(enlarge=3.0), dict(d_k=16),
                                  dict(d_e=16), dict(wavelength=100.0), dict(sample_stride=2)])
def test_every_flag_changes_the_weights(flag):
    x, boxes = _inputs()
    torch.manual_seed(3)
    base = LearnedRegionFeatures(8, spatial_scale=0.25)
    with torch.no_grad():
        base.app_conv.weight.normal_()
    torch.manual_seed(3)
    other = LearnedRegionFeatures(8, spatial_scale=0.25, **flag)
    with torch.no_grad():
        if other.app_conv is not None:
            other.app_conv.weight.normal_()
    if other.box_proj is not None and flag.get("d_k") is None and flag.get("d_e") is None:
        other.load_state_dict({k: v for k, v in base.state_dict().items()
                               if k in other.state_dict()}, strict=False)
    _, w1 = base(x, boxes, return_weights=True)
    _, w2 = other(x, boxes, return_weights=True)
    assert w1.shape != w2.shape or not torch.allclose(w1, w2)


def test_gradients_reach_every_parameter():
    x, boxes = _inputs()
    x.requires_grad_(True)
    m = LearnedRegionFeatures(8, spatial_scale=0.25)
    m(x, boxes).square().sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert x.grad.abs().sum() > 0


def test_errors():
    x, boxes = _inputs()
    m = LearnedRegionFeatures(8, spatial_scale=0.25)
    with pytest.raises(ValueError, match="8 channels"):
        m(torch.zeros(1, 4, 16, 16), boxes)
    with pytest.raises(ValueError, match="inside the image"):
        m(x, [torch.tensor([[0.0, 0.0, 65.0, 10.0]]), torch.zeros(0, 4)])
    with pytest.raises(ValueError, match="empty"):
        m(x, torch.zeros(0, 5))
    with pytest.raises(TypeError, match="dtype"):
        m(x, [b.double() for b in boxes])
    with pytest.raises(ValueError, match="support must be one of"):
        LearnedRegionFeatures(8, support="box")
    with pytest.raises(ValueError, match="at least one"):
        LearnedRegionFeatures(8, geometric=False, appearance=False)


def test_extra_repr_shows_non_defaults():
    assert LearnedRegionFeatures(8).extra_repr() == "8"
    assert LearnedRegionFeatures(8, spatial_scale=0.25, support="roi").extra_repr() == \
        "8, spatial_scale=0.25, support='roi'"
