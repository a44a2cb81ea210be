"""LRF's general form: RoIAlign and RoI pooling as hand-set weights, learned weights, errors."""

import doctest

import pytest
import torch
from torchvision.ops import roi_align, roi_pool

import importlib
from relnotes.ops.region_features import (
    boxes_to_rois, learned_region_weights, pixel_centres, region_features, region_features_dense,
    roi_align_weights, roi_pool_weights, support_mask,
)


def test_doctests():
    module = importlib.import_module("relnotes.ops.region_features")
    assert doctest.testmod(module, extraglobs={"torch": torch}).failed == 0


def _case(scale):
    """Two images, a 10 x 12 map; boxes (image pixels) of several sizes, one smaller than a
    map pixel, one on the border, one with half-pixel corners."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 10, 12, dtype=torch.float64)
    w_img, h_img = 12 / scale, 10 / scale
    rel = torch.tensor([[0, 0.03, 0.05, 0.64, 0.63], [1, 0.0, 0.0, 1.0, 1.0],
                        [0, 0.10, 0.12, 0.11, 0.14], [1, 0.42, 0.25, 0.999, 0.998],
                        [0, 0.07, 0.19, 0.2, 0.34], [1, 0.5, 0.5, 0.5, 0.5]], dtype=torch.float64)
    rois = rel * torch.tensor([1, w_img, h_img, w_img, h_img], dtype=torch.float64)
    return x, rois


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.25])
@pytest.mark.parametrize("sampling_ratio", [-1, 1, 2, 3])
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("output_size", [(7, 7), (3, 5)])
def test_roi_align_is_a_special_case(scale, sampling_ratio, aligned, output_size):
    x, rois = _case(scale)
    w = roi_align_weights(x, rois, output_size, scale, sampling_ratio, aligned)
    assert w.shape == (6, output_size[0] * output_size[1], 120)
    ours = region_features(x, w, rois[:, 0].long())
    ref = roi_align(x, rois, output_size, scale, sampling_ratio, aligned).flatten(2)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)


def test_roi_align_weights_of_a_bin_inside_the_map_sum_to_one():
    x, _ = _case(1.0)
    w = roi_align_weights(x, torch.tensor([[0, 2.0, 2.0, 9.0, 8.0]], dtype=x.dtype), 7, 1.0, 2)
    torch.testing.assert_close(w.sum(-1), torch.ones(1, 49, dtype=x.dtype))


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.25])
@pytest.mark.parametrize("output_size", [(7, 7), (2, 3)])
def test_roi_pool_is_a_special_case(scale, output_size):
    x, rois = _case(scale)
    w = roi_pool_weights(x, rois, output_size, scale)
    assert w.shape == (6, output_size[0] * output_size[1], 3, 120)
    ours = region_features(x, w, rois[:, 0].long())
    ref = roi_pool(x, rois, output_size, scale).flatten(2)
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)


def test_roi_pool_weights_are_one_hot_per_channel():
    x, rois = _case(0.5)
    w = roi_pool_weights(x, rois, 7, 0.5)
    assert set(w.unique().tolist()) <= {0.0, 1.0}
    assert (w.sum(-1) <= 1).all()


def test_list_of_boxes_equals_rois_tensor():
    x, rois = _case(1.0)
    boxes = [rois[rois[:, 0] == n, 1:] for n in range(2)]
    converted = boxes_to_rois(boxes)
    order = torch.cat([(rois[:, 0] == n).nonzero().squeeze(1) for n in range(2)])
    torch.testing.assert_close(converted, rois[order])
    torch.testing.assert_close(roi_align_weights(x, boxes, 7, 1.0), roi_align_weights(x, rois[order], 7, 1.0))


def test_region_features_equals_the_dense_sum():
    torch.manual_seed(1)
    x = torch.randn(3, 4, 5, 6, dtype=torch.float64)
    w = torch.rand(7, 9, 30, dtype=torch.float64)
    batch_index = torch.tensor([2, 0, 0, 1, 2, 2, 0])
    expected = torch.einsum("rkp,rcp->rck", w, x.flatten(2)[batch_index])
    torch.testing.assert_close(region_features(x, w, batch_index), expected)
    torch.testing.assert_close(region_features_dense(x, w, batch_index), expected)


def test_pixel_centres_and_sparse_sampling():
    c = pixel_centres(4, 4, 0.25, stride=2)          # rows/cols 1 and 3 of a stride-4 map
    torch.testing.assert_close(c, torch.tensor([[6.0, 6.0], [14.0, 6.0], [6.0, 14.0], [14.0, 14.0]]))


def test_support_regions():
    centres = pixel_centres(4, 4, 1.0)               # centres 0.5 ... 3.5
    rois = torch.tensor([[0, 0.0, 0.0, 2.0, 1.0], [0, 1.9, 1.9, 2.1, 2.1]])
    roi = support_mask(rois, centres, "roi")
    assert roi[0].view(4, 4).tolist() == [[True, True, False, False]] + [[False] * 4] * 3
    assert roi[1].sum() == 1                           # smaller than a pixel: the nearest one
    enlarged = support_mask(rois, centres, "enlarged", enlarge=2.0)   # (-1, -0.5, 3, 1.5)
    assert enlarged[0].view(4, 4).tolist() == [[True, True, True, False],
                                               [True, True, True, False]] + [[False] * 4] * 2
    assert support_mask(rois, centres, "image").all()
    with pytest.raises(ValueError, match="support must be one of"):
        support_mask(rois, centres, "bbox")


def test_learned_weights_are_a_softmax_over_the_support():
    torch.manual_seed(2)
    box_keys, pixel_keys = torch.randn(3, 4, 8), torch.randn(16, 8)
    app = torch.randn(2, 4, 16)
    batch_index = torch.tensor([0, 1, 1])
    mask = torch.rand(3, 16) > 0.5
    mask[:, 0] = True
    w = learned_region_weights(box_keys, pixel_keys, app, batch_index, mask)
    logits = torch.einsum("rkd,pd->rkp", box_keys, pixel_keys) + app[batch_index]
    expected = torch.where(mask[:, None], logits.exp(), 0) / torch.where(
        mask[:, None], logits.exp(), 0).sum(-1, keepdim=True)
    torch.testing.assert_close(w, expected)
    assert (w[~mask.unsqueeze(1).expand_as(w)] == 0).all()


# --- errors ----------------------------------------------------------------------------------------


def test_error_box_outside_the_image():
    x = torch.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match=r"inside the image.*<= 16.*box 0 is \[-1.0"):
        roi_align_weights(x, torch.tensor([[0, -1.0, 0.0, 4.0, 4.0]]), 2, 0.25)
    with pytest.raises(ValueError, match="inside the image"):
        roi_pool_weights(x, torch.tensor([[0, 0.0, 0.0, 16.5, 4.0]]), 2, 0.25)
    with pytest.raises(ValueError, match="inside the image"):         # x2 < x1
        roi_align_weights(x, torch.tensor([[0, 3.0, 0.0, 2.0, 4.0]]), 2, 0.25)


def test_error_empty_boxes():
    x = torch.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match="empty"):
        roi_align_weights(x, torch.zeros(0, 5), 2)
    with pytest.raises(ValueError, match="empty list"):
        roi_align_weights(x, [], 2)


def test_error_wrong_shapes():
    x = torch.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match=r"Tensor\[R, 5\].*got \(1, 4\)"):
        roi_align_weights(x, torch.zeros(1, 4), 2)
    with pytest.raises(ValueError, match=r"boxes\[0\] must be Tensor\[L, 4\]"):
        roi_align_weights(x, [torch.zeros(2, 5)], 2)
    with pytest.raises(ValueError, match=r"input must be Tensor\[N, C, H, W\]; got \(2, 4, 4\)"):
        roi_align_weights(x[0], torch.zeros(1, 5), 2)
    with pytest.raises(ValueError, match=r"image indices in \[0, 1\)"):
        roi_align_weights(x, torch.tensor([[1, 0.0, 0.0, 1.0, 1.0]]), 2)
    with pytest.raises(ValueError, match=r"weights must be Tensor\[R, K, H\*W\]"):
        region_features(x, torch.zeros(1, 3, 15), torch.tensor([0]))
    with pytest.raises(ValueError, match=r"batch_index must be Tensor\[R\]"):
        region_features(x, torch.zeros(1, 3, 16), torch.tensor([0, 0]))


def test_error_wrong_dtypes_and_devices():
    x = torch.zeros(1, 2, 4, 4)
    with pytest.raises(TypeError, match="input's dtype torch.float32; got torch.float64"):
        roi_align_weights(x, torch.zeros(1, 5, dtype=torch.float64), 2)
    with pytest.raises(TypeError, match="floating-point"):
        roi_align_weights(x.long(), torch.zeros(1, 5), 2)
    with pytest.raises(TypeError, match="weights must have input's dtype"):
        region_features(x, torch.zeros(1, 3, 16, dtype=torch.float64), torch.tensor([0]))
    with pytest.raises(ValueError, match="input's device cpu; got meta"):
        roi_align_weights(x, torch.zeros(1, 5, device="meta"), 2)
