import pytest
import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.ops import MultiScaleRoIAlign

from relnotes.analysis import count_parameters
from relnotes.models.relation_rcnn import (
    ClassAgnosticBoxPredictor, RelationBoxHead, RelationRoIHeads, relation_faster_rcnn,
    relation_fasterrcnn_r50_fpn,
)


def tiny_faster_rcnn(num_classes=4):
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4, padding=1), nn.ReLU())
    backbone.out_channels = 8
    return FasterRCNN(
        backbone, num_classes=num_classes, min_size=64, max_size=64,
        rpn_anchor_generator=AnchorGenerator(sizes=((16, 32),), aspect_ratios=((0.5, 1.0, 2.0),)),
        box_roi_pool=MultiScaleRoIAlign(["0"], 7, 2),
        rpn_pre_nms_top_n_train=50, rpn_post_nms_top_n_train=20,
        rpn_pre_nms_top_n_test=50, rpn_post_nms_top_n_test=20,
        box_batch_size_per_image=16, box_detections_per_img=10)


def images_and_targets():
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(3, 64, 64, generator=g) for _ in range(2)]
    targets = [dict(boxes=torch.tensor([[4.0, 4.0, 30.0, 30.0], [30.0, 10.0, 60.0, 40.0]]),
                    labels=torch.tensor([1, 2])),
               dict(boxes=torch.tensor([[10.0, 12.0, 50.0, 60.0]]), labels=torch.tensor([3]))]
    return images, targets


def test_head_parameter_count_is_2fc_plus_two_modules():
    head = RelationBoxHead(256 * 7 * 7, 1024, relations=(1, 1))
    two_fc = (256 * 49 + 1) * 1024 + (1024 + 1) * 1024
    assert count_parameters(head) == two_fc + 2 * 3_149_840
    assert count_parameters(RelationBoxHead(256 * 7 * 7, relations=(0, 0))) == two_fc
    assert count_parameters(RelationBoxHead(256 * 7 * 7, relations=(2, 1))) == two_fc + 3 * 3_149_840
    # official 8-output agnostic regression: 1024*8 + 8
    assert count_parameters(ClassAgnosticBoxPredictor(1024, 81, background_column=True)) == \
        1024 * 81 + 81 + 1024 * 8 + 8


def test_head_relates_the_rois_of_each_image_separately():
    head = RelationBoxHead(8 * 4, 32, relations=(1, 1), n_relations=4, d_k=8, d_g=16)
    with torch.no_grad():
        for p in head.parameters():
            p.normal_(0, 0.2)
    x = torch.randn(7, 8, 2, 2)
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(7, 2, generator=g) * 50
    boxes = torch.cat([xy, xy + 10], 1)
    y = head(x, [boxes[:3], boxes[3:]])
    assert y.shape == (7, 32)
    torch.testing.assert_close(y[:3], head(x[:3], [boxes[:3]]))
    torch.testing.assert_close(y[3:], head(x[3:], [boxes[3:]]))
    y2, weights = head(x, [boxes[:3], boxes[3:]], nongt_dims=[3, 2], return_weights=True)
    assert [[tuple(w.shape) for w in per_image] for per_image in weights] == \
        [[(4, 3, 3), (4, 3, 3)], [(4, 4, 2), (4, 4, 2)]]
    with pytest.raises(ValueError, match="7 features, 6 boxes in 2 image"):
        head(x, [boxes[:3], boxes[3:6]])
    assert head(torch.zeros(0, 8, 2, 2), [torch.zeros(0, 4)]).shape == (0, 32)


def test_class_agnostic_predictor_repeats_deltas():
    pred = ClassAgnosticBoxPredictor(16, 5)
    scores, deltas = pred(torch.randn(3, 16))
    assert scores.shape == (3, 5) and deltas.shape == (3, 20)
    torch.testing.assert_close(deltas.view(3, 5, 4), deltas[:, None, :4].expand(3, 5, 4))


@pytest.mark.parametrize("class_agnostic", [True, False])
def test_tiny_faster_rcnn_trains_and_detects(class_agnostic):
    model = relation_faster_rcnn(tiny_faster_rcnn(), relations=(1, 1), class_agnostic=class_agnostic,
                                 representation_size=32, n_relations=4, d_k=8, d_g=16)
    assert isinstance(model.roi_heads, RelationRoIHeads)
    images, targets = images_and_targets()
    model.train()
    losses = model(images, targets)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    total = sum(losses.values())
    assert bool(torch.isfinite(total))
    total.backward()
    rm = model.roi_heads.box_head.relation6[0]
    assert rm.query.weight.grad is not None and bool(rm.query.weight.grad.abs().sum() > 0)
    model.eval()
    with torch.no_grad():
        out = model(images)
    assert len(out) == 2 and out[0]["boxes"].shape[1] == 4
    assert out[0]["boxes"].shape[0] == out[0]["scores"].shape[0] <= 10


def test_image_without_ground_truth_trains():
    model = relation_faster_rcnn(tiny_faster_rcnn(), representation_size=32, n_relations=4,
                                 d_k=8, d_g=16)
    images, targets = images_and_targets()
    targets[1] = dict(boxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.int64))
    losses = model.train()(images, targets)
    assert all(bool(torch.isfinite(v)) for v in losses.values())


def test_ground_truth_is_sampled_after_the_proposals_and_excluded_from_keys():
    model = relation_faster_rcnn(tiny_faster_rcnn(), representation_size=32, n_relations=4,
                                 d_k=8, d_g=16)
    heads = model.roi_heads
    _, targets = images_and_targets()
    g = torch.Generator().manual_seed(1)
    proposals = []
    for _ in range(2):
        xy = torch.rand(12, 2, generator=g) * 40
        proposals.append(torch.cat([xy, xy + 8 + torch.rand(12, 2, generator=g) * 15], 1))
    heads.fg_bg_sampler.batch_size_per_image = 64      # keep everything, ground truth included
    props, _, labels, _, nongt = heads.select_training_samples_with_keys(
        [p.clone() for p in proposals], targets)
    for i in range(2):
        n_gt = targets[i]["boxes"].shape[0]
        assert nongt[i] == 12 and props[i].shape[0] == 12 + n_gt
        # the last rows are the ground truth, the first the proposals (in some order)
        assert sorted(map(tuple, props[i][nongt[i]:].tolist())) == \
            sorted(map(tuple, targets[i]["boxes"].tolist()))
        assert sorted(map(tuple, props[i][:nongt[i]].tolist())) == \
            sorted(map(tuple, proposals[i].tolist()))


def test_bad_input():
    with pytest.raises(ValueError, match=r"relations must be \(r1, r2\)"):
        RelationBoxHead(16, relations=(1,))
    with pytest.raises(TypeError, match="FasterRCNN"):
        relation_faster_rcnn(nn.Linear(2, 2))


def test_box_head_geometry_option():
    from relnotes.nn.object_relation import ObjectRelationNoGeometry, ObjectRelationUnary
    from relnotes.models.relation_rcnn import RelationBoxHead
    h = RelationBoxHead(8 * 2 * 2, 32, relations=(1, 1), n_relations=4, d_k=8, d_g=16,
                        geometry="unary")
    assert all(isinstance(m, ObjectRelationUnary) for m in [*h.relation6, *h.relation7])
    h = RelationBoxHead(8 * 2 * 2, 32, relations=(1, 0), n_relations=4, d_k=8, d_g=16,
                        geometry="none")
    assert isinstance(h.relation6[0], ObjectRelationNoGeometry)
    boxes = [torch.tensor([[0.0, 0, 4, 4], [2, 2, 9, 9], [5, 1, 8, 7]])]
    assert h(torch.randn(3, 8, 2, 2), boxes).shape == (3, 32)
    with pytest.raises(ValueError, match="geometry"):
        RelationBoxHead(32, 32, geometry="binary")


def test_fc_box_head_depth_and_parameters():
    from relnotes.models.relation_rcnn import FCBoxHead
    head = FCBoxHead(8 * 49, 32, n_fc=3)
    assert count_parameters(head) == (8 * 49 + 1) * 32 + 2 * (32 + 1) * 32
    assert head(torch.randn(5, 8, 7, 7), [torch.zeros(5, 4)]).shape == (5, 32)
    y, w = head(torch.randn(5, 8, 7, 7), [torch.zeros(2, 4), torch.zeros(3, 4)], return_weights=True)
    assert y.shape == (5, 32) and w == [[], []]
    # 2 layers: same parameters as the 2fc RelationBoxHead
    assert count_parameters(FCBoxHead(8 * 49, 32, n_fc=2)) == \
        count_parameters(RelationBoxHead(8 * 49, 32, relations=(0, 0)))
    with pytest.raises(ValueError, match="n_fc must be"):
        FCBoxHead(8, 4, n_fc=0)
    with pytest.raises(ValueError, match="features per RoI"):
        head(torch.randn(5, 9, 7, 7))


def test_fc_box_head_trains_in_a_detector():
    from relnotes.models.relation_rcnn import FCBoxHead
    model = tiny_faster_rcnn()
    model.roi_heads.box_head = FCBoxHead(8 * 49, 1024, n_fc=3)
    model.roi_heads.box_predictor = ClassAgnosticBoxPredictor(1024, 4)
    model.train()
    images, targets = images_and_targets()
    losses = model(images, targets)
    assert torch.isfinite(sum(losses.values()))


def test_r50_fpn_detector_has_rns_fpn_settings():
    two_fc = relation_fasterrcnn_r50_fpn(device="meta")
    ours = relation_fasterrcnn_r50_fpn(relations=(1, 1), device="meta")
    assert count_parameters(ours) - count_parameters(two_fc) == 2 * 3_149_840
    rh = ours.roi_heads
    assert isinstance(rh, RelationRoIHeads) and isinstance(rh.box_predictor, ClassAgnosticBoxPredictor)
    assert rh.box_predictor.cls_score.out_features == 81
    assert ours.rpn._post_nms_top_n == dict(training=1000, testing=1000)
    assert ours.transform.min_size == (800,) and ours.transform.max_size == 1333
    assert (rh.score_thresh, rh.nms_thresh, rh.detections_per_img) == (1e-3, 0.6, 100)
    # every RoI enters the loss (RN: all N proposals), unless a batch is asked for
    assert rh.fg_bg_sampler.positive_fraction == 1.0
    assert rh.fg_bg_sampler.batch_size_per_image > 1000 + 1000
    sampled = relation_fasterrcnn_r50_fpn(box_batch_size_per_image=512, device="meta")
    assert sampled.roi_heads.fg_bg_sampler.batch_size_per_image == 512
    head = ours.roi_heads.box_head.relation6[0]
    assert (head.n_relations, head.d_k, head.d_g) == (16, 64, 64)


def test_all_rois_enter_the_head_loss():
    torch.manual_seed(0)
    model = relation_fasterrcnn_r50_fpn(num_classes=4, relations=(1, 1), min_size=64, max_size=64,
                                        proposals=30)
    model.train()
    images, targets = images_and_targets()
    seen = []
    hook = model.roi_heads.box_head.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[0]))
    losses = model(images, targets)
    hook.remove()
    assert torch.isfinite(sum(losses.values()))
    assert seen == [2 * 30 + 3]        # 30 proposals per image and the 3 ground-truth boxes
