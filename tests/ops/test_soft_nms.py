import doctest
import math
import sys

import pytest
import torch

from relnotes.ops.soft_nms import batched_soft_nms, greedy_nms, soft_nms


def test_docstring_examples():
    module = sys.modules["relnotes.ops.soft_nms"]
    assert doctest.testmod(module, raise_on_error=False).failed == 0


def iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def soft_nms_loop(boxes, scores, sigma, threshold):
    """Gaussian Soft-NMS (Bodla et al. 2017, Algorithm 1) with Python lists."""
    items = [(i, s) for i, s in enumerate(scores) if s >= threshold]
    keep = []
    while items:
        best = max(range(len(items)), key=lambda k: (items[k][1], -items[k][0]))
        i, s = items.pop(best)
        keep.append((i, s))
        items = [(j, t * math.exp(-iou(boxes[i], boxes[j]) ** 2 / sigma)) for j, t in items]
        items = [(j, t) for j, t in items if t >= threshold]
    return keep


def random_boxes(n, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * 50
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * 30 + 1
    return torch.cat([xy, xy + wh], 1), torch.rand(n, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("sigma,threshold", [(0.5, 1e-3), (0.6, 1e-3), (0.2, 0.05)])
@pytest.mark.parametrize("seed", [0, 1])
def test_soft_nms_matches_plain_loop(sigma, threshold, seed):
    boxes, scores = random_boxes(60, seed)
    keep, new = soft_nms(boxes, scores, sigma=sigma, score_threshold=threshold)
    ref = soft_nms_loop(boxes.tolist(), scores.tolist(), sigma, threshold)
    assert keep.tolist() == [i for i, _ in ref]
    assert new.tolist() == pytest.approx([s for _, s in ref], rel=1e-12)
    assert bool((new[:-1] >= new[1:]).all())


def test_soft_nms_without_overlap_keeps_everything():
    boxes = torch.tensor([[0.0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 5, 5]])
    keep, new = soft_nms(boxes, torch.tensor([0.2, 0.9, 0.5]))
    assert keep.tolist() == [1, 2, 0] and new.tolist() == pytest.approx([0.9, 0.5, 0.2])


def test_batched_soft_nms_per_class():
    boxes, scores = random_boxes(40, 3)
    classes = torch.arange(40) % 3
    keep, new = batched_soft_nms(boxes, scores, classes, sigma=0.5)
    expected = {}
    for c in range(3):
        members = torch.nonzero(classes == c).flatten()
        for i, s in soft_nms_loop(boxes[members].tolist(), scores[members].tolist(), 0.5, 1e-3):
            expected[int(members[i])] = s
    assert sorted(keep.tolist()) == sorted(expected)
    assert new.tolist() == pytest.approx([expected[int(i)] for i in keep], rel=1e-12)
    assert bool((new[:-1] >= new[1:]).all())


def test_greedy_nms_matches_torchvision_per_class():
    boxes, scores = random_boxes(40, 4)
    classes = torch.arange(40) % 2
    keep = greedy_nms(boxes, scores, 0.5, classes)
    for c in range(2):
        members = torch.nonzero(classes == c).flatten()
        # a kept box never overlaps a higher-scoring kept box of its class by more than 0.5
        kept = [int(i) for i in keep if classes[i] == c]
        for a in range(len(kept)):
            for b in range(a):
                assert iou(boxes[kept[a]].tolist(), boxes[kept[b]].tolist()) <= 0.5
        assert len(kept) >= 1 and len(kept) <= len(members)


def test_empty_and_bad_input():
    keep, new = soft_nms(torch.zeros(0, 4), torch.zeros(0))
    assert keep.shape == (0,) and keep.dtype == torch.int64 and new.shape == (0,)
    keep, new = batched_soft_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64))
    assert keep.shape == (0,) and new.shape == (0,)
    assert greedy_nms(torch.zeros(0, 4), torch.zeros(0), 0.5).shape == (0,)
    # zero-area boxes: IoU 0/0 is taken as 0, never NaN
    keep, new = soft_nms(torch.tensor([[1.0, 1, 1, 1], [1.0, 1, 1, 1]]), torch.tensor([0.9, 0.8]))
    assert keep.tolist() == [0, 1] and bool(torch.isfinite(new).all())
    with pytest.raises(ValueError, match=r"scores must be Tensor\[N\] with N = boxes.shape\[0\] = 2"):
        soft_nms(torch.zeros(2, 4), torch.zeros(3))
    with pytest.raises(ValueError, match=r"boxes must be Tensor\[N, 4\]"):
        soft_nms(torch.zeros(2, 5), torch.zeros(2))
    with pytest.raises(ValueError, match=r"x1 <= x2"):
        soft_nms(torch.tensor([[3.0, 0, 1, 1]]), torch.ones(1))
    with pytest.raises(ValueError, match=r"sigma must be > 0"):
        soft_nms(torch.zeros(1, 4), torch.ones(1), sigma=0)
    with pytest.raises(ValueError, match=r"finite"):
        soft_nms(torch.zeros(1, 4), torch.tensor([float("nan")]))
