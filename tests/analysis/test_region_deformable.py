"""Reading adaptive layers: DCN sampling points, LR window weights, extractor memory."""

import torch

from relnotes.analysis.region_deformable import (
    dcn_sampling_points, effective_candidates, region_extractor_peak_memory,
    relation_window_weights,
)
from relnotes.nn import LearnedRegionFeatures, LocalRelation2d, ModulatedDeformConv2d


def test_untrained_dcn_samples_the_regular_grid():
    layer = ModulatedDeformConv2d(4)
    points, mask = dcn_sampling_points(layer, torch.rand(1, 4, 6, 6), [(2, 3)])
    xs, ys = points[0, :, 0].tolist(), points[0, :, 1].tolist()
    assert xs == [2.0, 3.0, 4.0] * 3 and ys == [1.0] * 3 + [2.0] * 3 + [3.0] * 3
    assert (mask == 0.5).all()


def test_an_offset_bias_moves_every_point():
    layer = ModulatedDeformConv2d(4)
    with torch.no_grad():
        layer.offset_conv.bias[0:18:2] = 0.5        # Δy of every point
        layer.offset_conv.bias[1:18:2] = -1.0       # Δx
    points, _ = dcn_sampling_points(layer, torch.rand(1, 4, 6, 6), [(2, 3)])
    assert points[0, 4].tolist() == [2.0, 2.5]     # the centre point, (x, y) = (3 - 1, 2 + 0.5)


def test_relation_window_weights_sum_to_one():
    torch.manual_seed(0)
    layer = LocalRelation2d(8, kernel_size=5, channels_per_group=4)
    w = relation_window_weights(layer, torch.rand(1, 8, 9, 9), [(4, 4), (0, 0)])
    assert w.shape == (2, 5, 5)
    torch.testing.assert_close(w.sum((1, 2)), torch.ones(2))
    assert (w[1, :2] == 0).all()                     # corner pixel: rows above the image


def test_effective_candidates():
    assert abs(effective_candidates(torch.full((3, 3), 1 / 9)).item() - 9) < 1e-4
    one_hot = torch.zeros(3, 3)
    one_hot[1, 1] = 1
    assert abs(effective_candidates(one_hot).item() - 1) < 1e-4


def test_the_lean_aggregation_needs_less_memory_than_the_dense_sum():
    torch.manual_seed(0)
    m = LearnedRegionFeatures(16, spatial_scale=0.25, support="image")
    x = torch.randn(1, 16, 16, 16)
    boxes = [torch.tensor([[0.0, 0.0, 32.0, 32.0]] * 16)]
    lean = region_extractor_peak_memory(m, x, boxes, dense=False)
    dense = region_extractor_peak_memory(m, x, boxes, dense=True)
    # the dense sum holds at least the [R, K, P, C] product: 16 * 49 * 256 * 16 * 4 bytes
    assert dense >= 16 * 49 * 256 * 16 * 4
    assert dense > 4 * lean
