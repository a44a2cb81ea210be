"""RepPointsHead: the DCN reads the features at the points, the gradient scales, pseudo boxes."""

import pytest
import torch
import torch.nn.functional as F

from relnotes.nn import RepPointsHead


def _head(**kw):
    torch.manual_seed(0)
    return RepPointsHead(4, num_classes=3, feat_channels=6, point_feat_channels=5, **kw)


def _set_points(head, offsets):
    """Make every initial point set the constant ``offsets`` (Tensor[2n], (y, x) pairs)."""
    with torch.no_grad():
        head.pts_init_out.weight.zero_()
        head.pts_init_out.bias.copy_(offsets)


def test_shapes():
    cls, pts_init, pts_refine = _head()(torch.randn(2, 4, 7, 9))
    assert cls.shape == (2, 3, 7, 9)
    assert pts_init.shape == pts_refine.shape == (2, 18, 7, 9)


def test_points_on_the_kernel_grid_make_the_dcn_the_ordinary_conv():
    head = _head()
    _set_points(head, head.dcn_base_offset.flatten())
    x = torch.randn(2, 4, 7, 9)
    cls, _, _ = head(x)
    feat = head.cls_conv(x).relu()
    conv = F.conv2d(feat, head.cls_dcn.weight, head.cls_dcn.bias, padding=1)
    torch.testing.assert_close(cls, head.cls_out(conv.relu()), rtol=1e-5, atol=1e-6)


def test_points_at_the_centre_read_the_centre_pixel_nine_times():
    head = _head()
    _set_points(head, torch.zeros(18))
    x = torch.randn(1, 4, 5, 5)
    cls, _, _ = head(x)
    feat = head.cls_conv(x).relu()
    centre_only = F.conv2d(feat, head.cls_dcn.weight.sum((2, 3), keepdim=True), head.cls_dcn.bias)
    torch.testing.assert_close(cls, head.cls_out(centre_only.relu()), rtol=1e-5, atol=1e-6)


def test_refined_points_are_residuals_on_the_detached_initial_points():
    head = _head()
    with torch.no_grad():
        head.refine_out.weight.zero_()
        head.refine_out.bias.fill_(0.25)
    _, pts_init, pts_refine = head(torch.randn(1, 4, 5, 5))
    torch.testing.assert_close(pts_refine, pts_init + 0.25)
    pts_refine.sum().backward()
    assert head.pts_init_out.weight.grad is None or not head.pts_init_out.weight.grad.any()


def test_gradient_mul_scales_the_gradient_into_the_initial_points():
    x = torch.randn(1, 4, 6, 6)
    grads = {}
    for g in (0.1, 1.0):
        head = _head(gradient_mul=g)
        _set_points(head, head.dcn_base_offset.flatten() + 0.3)   # off the grid
        cls, _, _ = head(x)
        cls.square().sum().backward()
        grads[g] = head.pts_init_out.bias.grad.clone()
    assert grads[1.0].abs().sum() > 0
    torch.testing.assert_close(grads[0.1], 0.1 * grads[1.0])


def test_boxes_of_the_grid_points():
    head = _head(transform="minmax")
    points = head.dcn_base_offset.expand(1, 18, 2, 3)          # the 3x3 grid at every location
    boxes = head.boxes(points, stride=4)
    assert boxes.shape == (1, 2, 3, 4)
    # location (i, j) = (1, 2): points at x in {1, 2, 3}, y in {0, 1, 2}, times the stride
    assert boxes[0, 1, 2].tolist() == [4.0, 0.0, 12.0, 8.0]
    head.transform = "moment"
    half = 4 * (6 / 8) ** 0.5                                  # unbiased sd of -1, 0, 1 (x3)
    torch.testing.assert_close(head.boxes(points, stride=4)[0, 1, 2],
                               torch.tensor([8 - half, 4 - half, 8 + half, 4 + half]))


def test_moment_transfer_gradient_is_scaled():
    grads = {}
    for m in (0.01, 1.0):
        head = _head(moment_mul=m)
        torch.manual_seed(2)
        pts = torch.randn(1, 18, 2, 2)
        (head.boxes(pts, stride=8) * torch.tensor([-1.0, -1.0, 1.0, 1.0])).sum().backward()
        grads[m] = head.moment_transfer.grad.clone()
    assert grads[1.0].abs().sum() > 0
    torch.testing.assert_close(grads[0.01], 0.01 * grads[1.0])


def test_errors_and_repr():
    with pytest.raises(ValueError, match="square of an odd number"):
        RepPointsHead(4, n_points=8)
    with pytest.raises(ValueError, match="transform must be one of"):
        RepPointsHead(4, transform="box")
    head = _head()
    with pytest.raises(ValueError, match=r"Tensor\[N, 4, H, W\]; got \(1, 3, 5, 5\)"):
        head(torch.zeros(1, 3, 5, 5))
    with pytest.raises(TypeError, match="module's dtype and device"):
        head(torch.zeros(1, 4, 5, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"points must be Tensor\[B, 18, H, W\]"):
        head.boxes(torch.zeros(1, 16, 5, 5), stride=4)
    assert head.extra_repr() == "4, num_classes=3, feat_channels=6, point_feat_channels=5"
    assert RepPointsHead(8).extra_repr() == "8"
