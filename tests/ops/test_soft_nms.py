import doctest
import math
import sys

import pytest
import torch

from relnotes.ops.soft_nms import batched_soft_nms, greedy_nms, pairwise_iou, soft_nms


def test_docstring_examples():
    module = sys.modules["relnotes.ops.soft_nms"]
    assert doctest.testmod(module, raise_on_error=False).failed == 0


def iou(a, b, plus_one=False):
    one = 1.0 if plus_one else 0.0
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]) + one)
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]) + one)
    inter = iw * ih
    union = (a[2] - a[0] + one) * (a[3] - a[1] + one) + (b[2] - b[0] + one) * (b[3] - b[1] + one) - inter
    return inter / union if union > 0 else 0.0


def soft_nms_loop(boxes, scores, sigma, threshold, method="gaussian", nt=0.3, plus_one=False):
    """The official ``cpu_soft_nms`` (bharatsingh430/soft-nms, lib/nms/cpu_nms.pyx), line by line
    with Python lists: swap the best box to position i, rescore the boxes after it that it
    intersects, and move a rescored box below ``threshold`` past the end (N shrinks)."""
    one = 1.0 if plus_one else 0.0
    rows = [list(b) + [s, i] for i, (b, s) in enumerate(zip(boxes, scores))]
    n = len(rows)
    i = 0
    while i < n:
        best = max(range(i, n), key=lambda k: (rows[k][4], -rows[k][5]))   # ties: lower index
        rows[i], rows[best] = rows[best], rows[i]
        t = rows[i]
        pos = i + 1
        while pos < n:
            b = rows[pos]
            iw = min(t[2], b[2]) - max(t[0], b[0]) + one
            ih = min(t[3], b[3]) - max(t[1], b[1]) + one
            if iw > 0 and ih > 0:
                ov = iou(t, b, plus_one)
                if method == "linear":
                    weight = 1 - ov if ov > nt else 1.0
                else:
                    weight = math.exp(-ov * ov / sigma)
                b[4] *= weight
                if b[4] < threshold:
                    rows[pos], rows[n - 1] = rows[n - 1], rows[pos]
                    n -= 1
                    pos -= 1
            pos += 1
        i += 1
    return [(r[5], r[4]) for r in rows[:n]]


def random_boxes(n, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * 50
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * 30 + 1
    return torch.cat([xy, xy + wh], 1), torch.rand(n, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("sigma,threshold", [(0.5, 1e-3), (0.6, 1e-3), (0.2, 0.05), (0.6, 0.0)])
@pytest.mark.parametrize("method", ["gaussian", "linear"])
@pytest.mark.parametrize("plus_one", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_soft_nms_matches_official_loop(sigma, threshold, method, plus_one, seed):
    boxes, scores = random_boxes(60, seed)
    keep, new = soft_nms(boxes, scores, sigma=sigma, score_threshold=threshold, method=method,
                         plus_one=plus_one)
    ref = soft_nms_loop(boxes.tolist(), scores.tolist(), sigma, threshold, method, 0.3, plus_one)
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


# Values worked out by hand (each comment shows the arithmetic).

def test_isolated_box_below_threshold_is_kept():
    # official cpu_soft_nms: only a pick that intersects a box can drop it; box 1 touches nothing
    boxes = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]])
    keep, new = soft_nms(boxes, torch.tensor([0.9, 5e-4]), score_threshold=1e-3)
    assert keep.tolist() == [0, 1]
    assert new.tolist() == pytest.approx([0.9, 5e-4])


def test_box_dropped_only_after_a_pick_lowers_it_below_threshold():
    # IoU([0,0,10,10], [0,0,10,5]) = 50 / 100 = 0.5
    boxes = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 5]], dtype=torch.float64)
    scores = torch.tensor([0.9, 0.002], dtype=torch.float64)
    # sigma 0.5: 0.002 exp(-0.25 / 0.5) = 0.002 exp(-0.5) = 0.0012131 >= 1e-3: kept
    keep, new = soft_nms(boxes, scores, sigma=0.5, score_threshold=1e-3)
    assert keep.tolist() == [0, 1]
    assert new.tolist() == pytest.approx([0.9, 0.002 * math.exp(-0.5)], rel=1e-12)
    assert new[1].item() == pytest.approx(0.0012131, abs=1e-7)
    # sigma 0.2: 0.002 exp(-0.25 / 0.2) = 0.002 exp(-1.25) = 0.000573 < 1e-3: dropped
    keep, new = soft_nms(boxes, scores, sigma=0.2, score_threshold=1e-3)
    assert keep.tolist() == [0] and new.tolist() == pytest.approx([0.9])
    # threshold 0 (the official RN code applies none after rescoring): kept at 0.000573
    keep, new = soft_nms(boxes, scores, sigma=0.2, score_threshold=0.0)
    assert keep.tolist() == [0, 1]
    assert new[1].item() == pytest.approx(0.0005730, abs=1e-7)


def test_plus_one_iou():
    # [0,0,9,9] vs [5,0,14,9]: without +1, 4*9 / (81+81-36) = 36/126 = 2/7;
    # with +1, 5*10 / (100+100-50) = 50/150 = 1/3
    boxes = torch.tensor([[0.0, 0, 9, 9], [5, 0, 14, 9]], dtype=torch.float64)
    iou0, _ = pairwise_iou(boxes)
    iou1, _ = pairwise_iou(boxes, plus_one=True)
    assert iou0[0, 1].item() == pytest.approx(2 / 7, rel=1e-12)
    assert iou1[0, 1].item() == pytest.approx(1 / 3, rel=1e-12)
    scores = torch.tensor([0.9, 0.8], dtype=torch.float64)
    # Gaussian, sigma 0.5: 0.8 exp(-(2/7)^2 / 0.5) = 0.8 exp(-8/49); with +1: 0.8 exp(-2/9)
    _, new = soft_nms(boxes, scores, sigma=0.5)
    assert new[1].item() == pytest.approx(0.8 * math.exp(-8 / 49), rel=1e-12)
    _, new = soft_nms(boxes, scores, sigma=0.5, plus_one=True)
    assert new[1].item() == pytest.approx(0.8 * math.exp(-2 / 9), rel=1e-12)
    # touching boxes [0,0,9,9], [9,0,18,9]: no overlap without +1; with +1 a 1 x 10 strip,
    # IoU 10 / (100 + 100 - 10) = 1/19
    touching = torch.tensor([[0.0, 0, 9, 9], [9, 0, 18, 9]], dtype=torch.float64)
    _, new = soft_nms(touching, scores, sigma=0.5)
    assert new[1].item() == pytest.approx(0.8, rel=1e-12)
    _, new = soft_nms(touching, scores, sigma=0.5, plus_one=True)
    assert new[1].item() == pytest.approx(0.8 * math.exp(-(1 / 19) ** 2 / 0.5), rel=1e-12)


def test_linear_variant():
    # A = [0,0,10,10] 0.9; B = [0,0,10,6] 0.8, IoU(A,B) = 60/100 = 0.6; C = [0,0,10,2] 0.7,
    # IoU(A,C) = 20/100 = 0.2. Pick A: B -> 0.8 (1 - 0.6) = 0.32 (0.6 > N_t = 0.3); C stays 0.7
    # (0.2 <= 0.3). Pick C: IoU(C,B) = 20/60 = 1/3 > 0.3, B -> 0.32 (2/3) = 0.21333. Pick B.
    boxes = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 6], [0, 0, 10, 2]], dtype=torch.float64)
    scores = torch.tensor([0.9, 0.8, 0.7], dtype=torch.float64)
    keep, new = soft_nms(boxes, scores, method="linear", iou_threshold=0.3)
    assert keep.tolist() == [0, 2, 1]
    assert new.tolist() == pytest.approx([0.9, 0.7, 0.32 * 2 / 3], rel=1e-12)
    # N_t = 0.7: nothing exceeds it (0.6, 0.2, 1/3), so no score changes
    keep, new = soft_nms(boxes, scores, method="linear", iou_threshold=0.7)
    assert keep.tolist() == [0, 1, 2] and new.tolist() == pytest.approx([0.9, 0.8, 0.7])
    # the official code tests the threshold on every box the pick intersects, even when the
    # linear weight is 1: C scored 5e-4 (IoU 0.2 <= N_t) is dropped, an untouched box is not
    low = torch.tensor([0.9, 0.8, 5e-4], dtype=torch.float64)
    keep, _ = soft_nms(boxes, low, method="linear", iou_threshold=0.3)
    assert keep.tolist() == [0, 1]
    with pytest.raises(ValueError, match=r"method must be 'gaussian' or 'linear'; got 'cubic'"):
        soft_nms(boxes, scores, method="cubic")
