import pytest
import torch
from torchvision.ops import batched_nms

from relnotes.data.collate import detection_collate
from relnotes.data.context_shapes import make_context_shapes
from relnotes.engine.dedup import (CachedHeadOutputs, DetectorWithDedup, HeadOutputs,
                                   dedup_loss, duplicates_per_object, e2e_loss,
                                   frozen_detector_dedup_loss, head_outputs, learned_detections,
                                   mean_dedup_loss,
                                   rule_detections, saturated_fraction, stream_detections)
from relnotes.engine.detection import freeze_detector_body
from relnotes.models.tiny_rcnn import tiny_faster_rcnn
from relnotes.nn import DuplicateRemoval
from relnotes.ops.soft_nms import batched_soft_nms


def small_net(feat_dim=256):
    return DuplicateRemoval(feat_dim, d_f=16, n_relations=2, d_k=8, d_g=16, rank_dim=16)


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    data = make_context_shapes(3, seed=0).torch_dataset()
    model = freeze_detector_body(tiny_faster_rcnn(proposals=16))
    return model, data


def test_head_outputs_shapes_and_gradients(setup):
    model, data = setup
    images = [data[i][0] for i in range(2)]
    outs = head_outputs(model, images, [7, 8])
    assert [o.image_id for o in outs] == [7, 8]
    for o in outs:
        r = o.features.shape[0]
        assert o.features.shape == (r, 256) and o.scores.shape == (r, 6) and o.boxes.shape == (r, 4)
        assert o.scores.sum(1).le(1 + 1e-5).all()          # softmax without the background
        assert ((o.boxes >= 0) & (o.boxes <= 64)).all()
        assert o.features.requires_grad and o.scores.requires_grad   # the head trains
        assert not o.boxes.requires_grad                             # BlockGrad on the boxes
    assert head_outputs(model, [], []) == []
    with pytest.raises(ValueError, match="same length"):
        head_outputs(model, images, [1])


def hand_outputs():
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 0., 11., 10.], [30., 30., 40., 40.],
                          [0., 1., 10., 11.]])
    scores = torch.tensor([[0.9, 0.05], [0.8, 0.3], [0.7, 0.005], [0.2, 0.6]])
    return HeadOutputs(torch.randn(4, 256), scores, boxes, 5)


def test_rules_match_torchvision_and_soft_nms():
    out = hand_outputs()
    boxes = out.boxes.repeat_interleave(2, 0)
    scores, labels = out.scores.reshape(-1), torch.tensor([1, 2] * 4)
    keep = scores >= 0.01
    b, s, lab = boxes[keep], scores[keep], labels[keep]
    (nms,) = rule_detections([out], "nms", 0.5)
    k = batched_nms(b, s, lab, 0.5)
    assert torch.equal(nms["boxes"], b[k]) and torch.equal(nms["labels"], lab[k])
    assert nms["image_id"] == 5
    (soft,) = rule_detections([out], "soft_nms", 0.6)
    k, new = batched_soft_nms(b, s, lab, sigma=0.6)
    assert soft["scores"].tolist() == pytest.approx(new.tolist())
    assert torch.equal(soft["labels"], lab[k])
    (none,) = rule_detections([out], "none")
    assert len(none["scores"]) == 7                             # the 0.005 box is dropped
    (top,) = rule_detections([out], "none", max_per_image=2)
    assert top["scores"].tolist() == pytest.approx([0.9, 0.8])
    with pytest.raises(ValueError, match="method must be"):
        rule_detections([out], "greedy")


def test_empty_detections_give_empty_results():
    empty = HeadOutputs(torch.zeros(0, 256), torch.zeros(0, 6), torch.zeros(0, 4), 3)
    net = small_net()
    for dets in (learned_detections(net, [empty]), rule_detections([empty], "nms"),
                 rule_detections([empty], "soft_nms")):
        assert dets[0]["boxes"].shape == (0, 4) and dets[0]["scores"].shape == (0,)
        assert dets[0]["labels"].shape == (0,) and dets[0]["image_id"] == 3
    # every class below the class-score threshold: nothing is processed
    low = HeadOutputs(torch.randn(4, 256), torch.full((4, 6), 0.001), torch.rand(4, 4) + 1, 4)
    low.boxes[:, 2:] += 2
    assert learned_detections(net, [low])[0]["scores"].numel() == 0
    target = dict(boxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.int64))
    loss = dedup_loss(net, [empty], [target])
    assert loss.item() == 0.0
    loss.backward()                                             # a graph, even when empty
    assert dedup_loss(net, [], []).item() == 0.0
    with pytest.raises(ValueError, match="one entry per image"):
        dedup_loss(net, [empty], [])


def test_learned_scores_are_s0_times_mean_s1_and_loss_trains_s0():
    torch.manual_seed(0)
    out = hand_outputs()
    out = HeadOutputs(out.features.requires_grad_(), out.scores.clone().requires_grad_(),
                      out.boxes, 5)
    net = small_net()
    (dets,) = learned_detections(net, [out.detach()], first_n=4)
    s1 = net(out.features[:, None].expand(4, 1, 256).transpose(0, 1)[0:1].detach(),
             out.scores[:, :1].T.detach(), out.boxes[None])                  # class 1 alone
    ref = (out.scores[:, 0].detach() * s1.mean(-1)[0])
    got = dets["scores"][dets["labels"] == 1]
    assert sorted(got.tolist()) == pytest.approx(sorted(ref.tolist()), abs=1e-6)
    target = dict(boxes=torch.tensor([[0., 0., 10., 10.]]), labels=torch.tensor([1]))
    loss = dedup_loss(net, [out], [target], first_n=4)
    loss.backward()
    assert out.scores.grad.abs().sum() > 0 and out.features.grad.abs().sum() > 0


def test_saturated_fraction_and_no_gradient_once_saturated():
    torch.manual_seed(0)
    out = hand_outputs()
    target = dict(boxes=torch.tensor([[0., 0., 10., 10.]]), labels=torch.tensor([1]))
    net = small_net()
    assert saturated_fraction(net, [out], first_n=4).tolist() == [0.0] * 5     # s1 ~ 0.05
    assert saturated_fraction(net, [], first_n=4).tolist() == [0.0] * 5
    with torch.no_grad():
        net.logit.bias[:2] = 40.0      # sigmoid(40) == 1 in float32
        net.logit.bias[2] = -200.0     # and sigmoid(-200) == 0
    assert saturated_fraction(net, [out], first_n=4).tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]
    # issue 3: a network with s1 == 1 everywhere gets exactly no gradient, so it never recovers
    with torch.no_grad():
        net.logit.bias[:] = 40.0
    dedup_loss(net, [out], [target], first_n=4).backward()
    assert all(p.grad is None or not p.grad.any() for p in net.parameters())


def test_cached_outputs_and_e2e_step(setup):
    model, data = setup
    cached = CachedHeadOutputs(model, data, batch_size=2)
    assert len(cached) == 3 and not cached[0][0].features.requires_grad
    torch.manual_seed(0)
    pair = DetectorWithDedup(model, small_net(), first_n=8)
    pair.train()
    before = {k: v.clone() for k, v in pair.state_dict().items()}
    opt = torch.optim.SGD([p for p in pair.parameters() if p.requires_grad], lr=0.1)
    loss = e2e_loss(pair, detection_collate([data[0], data[1]]))
    assert torch.isfinite(loss)
    loss.backward()
    opt.step()
    after = pair.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert not any(k.startswith(("detector.backbone", "detector.rpn")) for k in changed)
    assert any(k.startswith("detector.roi_heads") for k in changed)
    assert any(k.startswith("dedup") for k in changed)
    with pytest.raises(ValueError, match="dedup.channels"):
        DetectorWithDedup(model, small_net(feat_dim=32))


def test_duplicates_per_object():
    out = hand_outputs()
    target = dict(boxes=torch.tensor([[0., 0., 10., 10.]]), labels=torch.tensor([1]))
    # class 1 boxes with s0 >= 0.05 and IoU >= 0.5 with the object: rows 0, 1, 3
    assert duplicates_per_object([out], [target]) == 3.0
    assert duplicates_per_object([out], [target], score_thresh=0.5) == 2.0


def test_streamed_detections_and_loss_are_those_of_the_cache(setup):
    """What the COCO path computes batch by batch equals what the cached path computes."""
    model, data = setup
    cached = CachedHeadOutputs(model, data, batch_size=2)
    outputs = [o for o, _ in cached.items]
    torch.manual_seed(0)
    net = small_net()
    methods = {"nms": lambda o: rule_detections(o, "nms", 0.5),
               "learned": lambda o: learned_detections(net, o, first_n=8)}
    streamed = stream_detections(model, data, methods, batch_size=2)
    for name, method in methods.items():
        expected = method(outputs)
        assert [d["image_id"] for d in streamed[name]] == [d["image_id"] for d in expected]
        for a, b in zip(streamed[name], expected):
            for k in ("boxes", "scores", "labels"):
                assert torch.equal(a[k], b[k]), (name, k)
    batch = detection_collate([data[0], data[1]])
    for p in model.parameters():          # an earlier test trained this module-scoped model
        p.grad = None
    on_the_fly = frozen_detector_dedup_loss(model, first_n=8)(net, batch)
    assert on_the_fly.item() == pytest.approx(
        dedup_loss(net, outputs[:2], list(batch[1]), first_n=8).item(), rel=1e-6)
    on_the_fly.backward()
    assert all(p.grad is None for p in model.parameters())      # the detector stays frozen
    assert any(p.grad is not None for p in net.parameters())



def test_mean_dedup_loss_is_the_mean_over_images_and_leaves_the_net_alone(setup):
    model, data = setup
    cached = CachedHeadOutputs(model, data, batch_size=2)
    torch.manual_seed(0)
    net = small_net()
    net.train()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    per_image = [dedup_loss(net, [o], [t], first_n=8, class_score_threshold=0.01).item()
                 for o, t in cached.items]
    expected = sum(per_image) / len(per_image)
    for batch_size in (1, 2, 32):
        assert mean_dedup_loss(net, cached, first_n=8, batch_size=batch_size) == pytest.approx(
            expected, rel=1e-5)
    assert net.training and all(torch.equal(v, net.state_dict()[k]) for k, v in state.items())
    with torch.no_grad():             # a trained network gives another number (can fail)
        net.logit.bias += 3.0
    assert mean_dedup_loss(net, cached, first_n=8) != pytest.approx(expected, rel=1e-3)
    with pytest.raises(ValueError, match="at least one"):
        mean_dedup_loss(net, [], first_n=8)
    with pytest.raises(ValueError, match="batch_size"):
        mean_dedup_loss(net, cached, batch_size=0)
