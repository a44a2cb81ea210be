import doctest
import math
import sys

import pytest
import torch

from relnotes.analysis import count_parameters
from relnotes.nn.duplicate_removal import (
    DuplicateRemoval, duplicate_removal_loss, duplicate_removal_targets, select_top_n,
)

GT = torch.tensor([[0.0, 0.0, 10.0, 10.0]])


def test_docstring_examples():
    module = sys.modules["relnotes.nn.duplicate_removal"]
    assert doctest.testmod(module, raise_on_error=False).failed == 0


def test_parameter_counts():
    # official code layout: rank FC 1024 -> 128 (544,789 recounted from the MXNet symbol)
    assert count_parameters(DuplicateRemoval(rank_dim=1024)) == 544_789
    # the paper's layout (rank embedding 128-d): 128*128+128 + 1024*128+128 + ORM + 128*5+5
    assert count_parameters(DuplicateRemoval()) == 16_512 + 131_200 + 281_744 + 645 == 430_101


def test_targets_highest_score_per_gt_and_threshold():
    # IoU with GT: 0.9, 0.7 (exactly representable in float64), 0.3
    dets = torch.tensor([[0.0, 0, 10, 9], [0.0, 0, 10, 7], [0.0, 0, 10, 3]], dtype=torch.float64)
    scores = torch.tensor([0.5, 0.9, 0.95], dtype=torch.float64)
    t = duplicate_removal_targets(dets, scores, GT.double(), (0.2, 0.5, 0.7, 0.8, 0.9))
    assert t.tolist() == [
        [0, 0, 1, 1, 0],   # IoU 0.9: correct once the 0.7 box no longer qualifies; not > 0.9
        [0, 1, 0, 0, 0],   # IoU 0.7: the best-scoring box above 0.5; not > 0.7
        [1, 0, 0, 0, 0],   # IoU 0.3: highest score of all, correct only for eta = 0.2
    ]
    inclusive = duplicate_removal_targets(dets, scores, GT.double(), (0.7, 0.9), inclusive=True)
    assert inclusive.tolist() == [[0, 1], [1, 0], [0, 0]]


def test_targets_assign_each_detection_to_its_best_gt():
    gts = torch.tensor([[0.0, 0, 10, 10], [0.0, 4, 10, 14]], dtype=torch.float64)
    # box A is on gt 0 only; box B overlaps gt 0 (IoU 0.6) but gt 1 more (IoU 1.0)
    dets = torch.tensor([[0.0, 0, 10, 8], [0.0, 4, 10, 14]], dtype=torch.float64)
    scores = torch.tensor([0.3, 0.9], dtype=torch.float64)
    t = duplicate_removal_targets(dets, scores, gts, (0.5,))
    # without the assignment B would be the best box of gt 0 and A a duplicate
    assert t.tolist() == [[1.0], [1.0]]


def test_targets_ties_and_empty():
    dets = torch.tensor([[0.0, 0, 10, 10], [0.0, 0, 10, 10]])
    t = duplicate_removal_targets(dets, torch.tensor([0.5, 0.5]), GT, (0.5,))
    assert t.tolist() == [[1.0], [0.0]]                      # equal scores: lower index wins
    assert duplicate_removal_targets(dets, torch.ones(2), torch.zeros(0, 4)).tolist() == [[0.0] * 5] * 2
    assert duplicate_removal_targets(torch.zeros(0, 4), torch.zeros(0), GT).shape == (0, 5)
    with pytest.raises(ValueError, match=r"scores must be Tensor\[N\] with N = boxes.shape\[0\] = 2"):
        duplicate_removal_targets(dets, torch.ones(3), GT)
    with pytest.raises(ValueError, match=r"gt_boxes must be Tensor\[G, 4\]"):
        duplicate_removal_targets(dets, torch.ones(2), torch.zeros(4))


def test_loss_by_hand():
    probs = torch.tensor([[[0.8, 0.1], [0.3, 0.6]]], dtype=torch.float64)   # [C=1, N=2, T=2]
    targets = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)
    expected = (-4 * math.log(0.8 + 1e-8) - math.log(0.9 + 1e-8) - math.log(0.7 + 1e-8)
                - 4 * math.log(0.6 + 1e-8)) / 4
    assert duplicate_removal_loss(probs, targets).item() == pytest.approx(expected, rel=1e-12)
    # classes are summed, not averaged
    two = torch.cat([probs, probs])
    assert duplicate_removal_loss(two, torch.cat([targets, targets])).item() == \
        pytest.approx(2 * expected, rel=1e-12)
    plain = duplicate_removal_loss(probs, targets, pos_weight=1.0).item()
    assert plain == pytest.approx(torch.nn.functional.binary_cross_entropy(
        probs, targets).item(), rel=1e-6)
    assert duplicate_removal_loss(torch.zeros(0, 5), torch.zeros(0, 5)).item() == 0.0
    # p = 0 or 1 stays finite
    assert math.isfinite(duplicate_removal_loss(torch.tensor([[0.0, 1.0]]),
                                                torch.tensor([[1.0, 0.0]])).item())


def random_detections(c, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(c, n, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + torch.rand(c, n, 2, generator=g) * 30 + 2], -1)
    return torch.randn(c, n, 64, generator=g), torch.rand(c, n, generator=g), boxes


def small_net(**kw):
    torch.manual_seed(0)
    return DuplicateRemoval(64, d_f=32, rank_dim=16, n_relations=4, d_k=8, d_g=16, **kw)


def test_forward_shapes_init_and_gradients():
    net = small_net()
    f, s, b = random_detections(3, 10)
    s.requires_grad_(True)
    b.requires_grad_(True)
    s1, w = net(f, s, b, return_weights=True)
    assert s1.shape == (3, 10, 5) and w.shape == (3, 4, 10, 10)
    # logit bias -3: every detection starts near sigmoid(-3)
    assert float((s1.detach() - torch.sigmoid(torch.tensor(-3.0))).abs().max()) < 0.05
    loss = duplicate_removal_loss(s[..., None] * s1, torch.zeros_like(s1))
    loss.backward()
    assert s.grad is not None and bool((s.grad != 0).any())       # s0 receives gradient (e2e)
    assert b.grad is None                                          # boxes are blocked
    final = DuplicateRemoval.final_scores(s, s1)
    torch.testing.assert_close(final, s * s1.mean(-1))


def test_single_threshold_is_one_column_of_several():
    # RN Table 4 "eta = 0.5": the same network, targets and loss as the eta = 0.5 column of the
    # five-threshold one (issue 3: the single-threshold path has nothing of its own)
    five = small_net()
    one = small_net(thresholds=(0.5,))
    one.load_state_dict({k: (v[:1] if k.startswith("logit.") else v)
                         for k, v in five.state_dict().items()})
    with torch.no_grad():
        five.logit.weight.normal_(0, 0.5)
        one.logit.weight.copy_(five.logit.weight[:1])
    f, s, b = random_detections(2, 12)
    s1 = five(f, s, b)
    torch.testing.assert_close(one(f, s, b), s1[..., :1])
    torch.testing.assert_close(DuplicateRemoval.final_scores(s, one(f, s, b)), s * s1[..., 0])
    gt = b[0, :3] + 1.0
    t5 = duplicate_removal_targets(b[0], s[0], gt)
    t1 = duplicate_removal_targets(b[0], s[0], gt, one.thresholds)
    assert t1.sum() > 0 and torch.equal(t1, t5[:, :1])
    p, t = s[0] * s1[0, :, 0], t5[:, 0]                              # the eta = 0.5 column
    by_hand = (-4 * t * torch.log(p + 1e-8) - (1 - t) * torch.log(1 - p + 1e-8)).mean()
    assert duplicate_removal_loss(p[None, :, None], t1[None]).item() == pytest.approx(
        by_hand.item(), rel=1e-6)


def test_rank_not_score_and_permutation_equivariance():
    net = small_net()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.3)
    f, s, b = random_detections(1, 8)
    s1 = net(f, s, b)
    # only the order of the scores matters
    torch.testing.assert_close(net(f, s ** 3 * 0.5, b), s1)
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(net(f[:, perm], s[:, perm], b[:, perm]), s1[:, perm])
    # swapping two scores changes the result
    s2 = s.clone()
    i, j = int(s[0].argmax()), int(s[0].argmin())
    s2[0, i], s2[0, j] = s[0, j], s[0, i]
    assert not torch.allclose(net(f, s2, b), s1)


def test_bad_and_empty_input():
    net = small_net()
    f, s, b = random_detections(2, 6)
    assert net(f[:, :0], s[:, :0], b[:, :0]).shape == (2, 0, 5)
    with pytest.raises(ValueError, match=r"scores must be Tensor\[..., N\] = \(2, 6\)"):
        net(f, s[:, :5], b)
    with pytest.raises(ValueError, match=r"boxes must be Tensor\[..., N, 4\] with the leading"):
        net(f, s, b[:, :5])
    with pytest.raises(ValueError, match=r"features must be Tensor\[..., N, 64\]"):
        net(f[..., :10], s, b)
    bad = b.clone()
    bad[0, 0, 2] = bad[0, 0, 0]
    with pytest.raises(ValueError, match=r"positive width and height"):
        net(f, s, bad)
    with pytest.raises(ValueError, match=r"scores must be finite"):
        net(f, torch.full_like(s, float("nan")), b)
    with pytest.raises(ValueError, match=r"thresholds must be"):
        DuplicateRemoval(thresholds=(0.5, 1.5))


def test_select_top_n():
    scores = torch.tensor([[0.1, 0.005], [0.7, 0.001], [0.4, 0.002]])
    classes, index, top = select_top_n(scores, first_n=2)
    assert classes.tolist() == [0, 1] and index.tolist() == [[1, 2], [0, 2]]
    torch.testing.assert_close(top, torch.tensor([[0.7, 0.4], [0.005, 0.002]]))
    classes, index, top = select_top_n(scores, first_n=5, class_score_threshold=0.01)
    assert classes.tolist() == [0] and index.tolist() == [[1, 2, 0]]
    classes, index, top = select_top_n(torch.zeros(0, 3), 100)
    assert classes.shape == (0,) and index.shape == (0, 0)


def test_input_ablations_of_table3():
    torch.manual_seed(0)
    feats, scores = torch.randn(2, 5, 32), torch.rand(2, 5)
    xy = torch.rand(2, 5, 2) * 50
    boxes = torch.cat([xy, xy + 5 + torch.rand(2, 5, 2) * 20], -1)
    kw = dict(d_f=16, n_relations=2, d_k=8, d_g=16, rank_dim=16)
    full = DuplicateRemoval(32, **kw)
    state = full.state_dict()
    ref = full(feats, scores, boxes)
    # no rank input: W_fR is gone and the output no longer depends on the order of the scores
    no_rank = DuplicateRemoval(32, rank_input="none", **kw)
    assert no_rank.rank_fc is None
    no_rank.load_state_dict({k: v for k, v in state.items() if not k.startswith("rank_fc")})
    out = no_rank(feats, scores, boxes)
    assert not torch.allclose(out, ref)
    assert torch.equal(out, no_rank(feats, scores.flip(-1), boxes))
    # the score instead of the rank: same parameters, depends on the values, not just the order
    by_score = DuplicateRemoval(32, rank_input="score", **kw)
    by_score.load_state_dict(state)
    assert not torch.allclose(by_score(feats, scores, boxes), by_score(feats, scores / 2, boxes))
    assert torch.equal(full(feats, scores, boxes), full(feats, scores / 2, boxes))
    # no appearance: the features do not matter
    no_app = DuplicateRemoval(32, appearance=False, **kw)
    assert no_app.feature_fc is None
    assert torch.equal(no_app(feats, scores, boxes), no_app(feats * 0, scores, boxes))
    # geometry none / unary swap the relation module (RN Table 1(a) terms)
    assert type(DuplicateRemoval(32, geometry="none", **kw).relation).__name__ == \
        "ObjectRelationNoGeometry"
    assert type(DuplicateRemoval(32, geometry="unary", **kw).relation).__name__ == \
        "ObjectRelationUnary"
    assert "geometry='unary'" in repr(DuplicateRemoval(32, geometry="unary", **kw))
    with pytest.raises(ValueError, match="rank_input must be one of"):
        DuplicateRemoval(32, rank_input="rnk")
    with pytest.raises(ValueError, match="geometry must be one of"):
        DuplicateRemoval(32, geometry="pairwise")
    with pytest.raises(ValueError, match="no input"):
        DuplicateRemoval(32, rank_input="none", appearance=False)
