import math

import pytest
import torch

from relnotes.data.context_shapes import SMALL_CLASSES, make_context_shapes
from relnotes.engine.detection import (
    body_state, evaluate_detector, load_body, relation_weights, train_detector,
)
from relnotes.models.relation_rcnn import FCBoxHead
from relnotes.models.tiny_rcnn import tiny_faster_rcnn


@pytest.fixture(scope="module")
def shapes():
    return make_context_shapes(8, seed=0)


def small_detector(**kw):
    torch.manual_seed(0)
    return tiny_faster_rcnn(channels=(8, 8, 8), representation_size=32, proposals=16,
                            box_batch_size_per_image=16, d_k=8, **kw)


def test_body_state_holds_backbone_and_rpn_only():
    state = body_state(small_detector())
    assert state and all(k.startswith(("backbone.", "rpn.")) for k in state)


def test_load_body_copies_and_freezes():
    body = small_detector()
    with torch.no_grad():
        for p in body.backbone.parameters():
            p.add_(1.0)
    head = load_body(small_detector(relations=(1, 1)), body_state(body))
    for k, v in body_state(body).items():
        assert torch.equal(head.state_dict()[k], v)
    assert not any(p.requires_grad for p in head.backbone.parameters())
    assert not any(p.requires_grad for p in head.rpn.parameters())
    assert all(p.requires_grad for p in head.roi_heads.parameters())


def test_load_body_rejects_another_architecture():
    other = tiny_faster_rcnn(channels=(8, 8, 16))
    with pytest.raises(ValueError, match="has shape"):
        load_body(small_detector(), body_state(other))
    with pytest.raises(ValueError, match="missing"):
        load_body(small_detector(), {})
    with pytest.raises(TypeError, match="FasterRCNN"):
        body_state(torch.nn.Linear(2, 2))


def test_training_the_head_on_a_frozen_body_lowers_the_loss(shapes):
    data = shapes.torch_dataset()
    body = small_detector()
    train_detector(body, data, epochs=1, batch_size=4, lr=1e-3)
    state = body_state(body)
    model = load_body(small_detector(relations=(1, 1)), state)
    h = train_detector(model, data, epochs=6, batch_size=8, lr=3e-3)
    assert h.step_losses[-1] < h.step_losses[0]
    for k, v in state.items():               # the body did not move
        assert torch.equal(model.state_dict()[k], v)


def test_train_detector_bad_input(shapes):
    data = shapes.torch_dataset()
    with pytest.raises(ValueError, match="lr must be"):
        train_detector(small_detector(), data, epochs=1, batch_size=4, lr=0.0)
    frozen = small_detector()
    for p in frozen.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        train_detector(frozen, data, epochs=1, batch_size=4, lr=1e-3)


def test_evaluate_detector_reports_the_group(shapes):
    r = evaluate_detector(small_detector(), shapes.torch_dataset(), shapes.coco,
                          group=SMALL_CLASSES)
    assert set(r) >= {"mAP", "mAP50", "mAP75", "per_class", "ap_group", "ap_rest"}
    small = [r["per_class"][c] for c in SMALL_CLASSES if not math.isnan(r["per_class"][c])]
    assert r["ap_group"] == pytest.approx(sum(small) / len(small))
    with pytest.raises(ValueError, match="not categories"):
        evaluate_detector(small_detector(), shapes.torch_dataset(), shapes.coco, group=("dog",))


def test_relation_weights_shapes_and_rows(shapes):
    model = small_detector(relations=(1, 1))
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.bias[1] += 10.0   # every RoI scores high as class 1
    image = shapes.torch_dataset()[0][0]
    out = relation_weights(model, image, score_thresh=0.3)
    k = out["rois"].shape[0]
    d = out["boxes"].shape[0]
    assert 0 < d <= k
    assert out["labels"].shape == out["scores"].shape == out["roi_index"].shape == (d,)
    assert len(out["weights"]) == 2
    for w in out["weights"]:
        assert w.shape == (4, k, k)
        rows = w.sum(-1)
        one = (rows - 1).abs() < 1e-5
        assert torch.all(one | (rows == 0)) and one.any()   # 0: geometry removed every key
    assert torch.all(out["scores"] >= 0.3)
    assert model.training                    # the mode is restored


def test_relation_weights_bad_input(shapes):
    with pytest.raises(ValueError, match="Tensor\\[3, H, W\\]"):
        relation_weights(small_detector(relations=(1, 1)), torch.zeros(1, 3, 64, 64))
    model = small_detector()
    model.roi_heads.box_head = FCBoxHead(8 * 49, 32, n_fc=3)
    with pytest.raises(ValueError, match="no relation modules"):
        relation_weights(model, torch.zeros(3, 64, 64))
