import math

import pytest
import torch

from relnotes.data.context_shapes import SMALL_CLASSES, make_context_shapes
from relnotes.data.context_masks import make_context_masks
from relnotes.engine.detection import (
    body_state, detector_loss, evaluate_detector, load_body, predict_coco, train_body,
    train_detector, train_head_on_body, trainable_parameters, warmup_step_lr,
)
from relnotes.models.tiny_mask_rcnn import tiny_mask_rcnn
from relnotes.models.tiny_rcnn import tiny_faster_rcnn


@pytest.fixture(scope="module")
def shapes():
    return make_context_shapes(8, seed=0)


@pytest.fixture(scope="module")
def masks():
    return make_context_masks(4, seed=0)


def adam(model, lr):
    return torch.optim.Adam(trainable_parameters(model), lr=lr)


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
    train_detector(body, data, adam(body, 1e-3), epochs=1, batch_size=4)
    state = body_state(body)
    model = load_body(small_detector(relations=(1, 1)), state)
    h = train_detector(model, data, adam(model, 3e-3), epochs=6, batch_size=8)
    assert h.step_losses[-1] < h.step_losses[0]
    for k, v in state.items():               # the body did not move
        assert torch.equal(model.state_dict()[k], v)


def test_a_constant_schedule_is_plain_fit(shapes):
    """warmup_steps=0 and no lr_steps leave every step exactly as fit without a scheduler."""
    from relnotes.data.collate import detection_collate
    from relnotes.engine import fit

    data = shapes.torch_dataset()
    a, b = small_detector(), small_detector()
    ha = train_detector(a, data, adam(a, 3e-3), epochs=2, batch_size=4, seed=1)
    hb = fit(b, data, detector_loss, adam(b, 3e-3), epochs=2, batch_size=4, seed=1,
             collate_fn=detection_collate, progress=False)
    assert ha.step_losses == hb.step_losses
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(v, w), k


def test_train_detector_bad_input(shapes):
    data = shapes.torch_dataset()
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer"):
        train_detector(small_detector(), data, 1e-3, epochs=1, batch_size=4)
    with pytest.raises(TypeError, match="FasterRCNN"):
        train_detector(torch.nn.Linear(2, 2), data, adam(small_detector(), 1e-3), epochs=1,
                       batch_size=4)
    frozen = small_detector()
    for p in frozen.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        trainable_parameters(frozen)


def test_evaluate_detector_reports_the_group(shapes):
    r = evaluate_detector(small_detector(), shapes.torch_dataset(), shapes.coco,
                          group=SMALL_CLASSES)
    assert set(r) >= {"mAP", "mAP50", "mAP75", "per_class", "ap_group", "ap_rest"}
    small = [r["per_class"][c] for c in SMALL_CLASSES if not math.isnan(r["per_class"][c])]
    assert r["ap_group"] == pytest.approx(sum(small) / len(small))
    with pytest.raises(ValueError, match="not categories"):
        evaluate_detector(small_detector(), shapes.torch_dataset(), shapes.coco, group=("dog",))


def test_warmup_step_lr_is_mmdetections_schedule():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.02)
    sched = warmup_step_lr(opt, steps_per_epoch=10, warmup_steps=4, lr_steps=(2, 3))
    lrs = []
    for _ in range(35):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.02 / 3) and lrs[2] == pytest.approx(0.02 * 2 / 3)
    assert lrs[4] == pytest.approx(0.02) and lrs[19] == pytest.approx(0.02)
    assert lrs[20] == pytest.approx(0.002) and lrs[30] == pytest.approx(0.0002)
    with pytest.raises(ValueError, match="warmup_steps must be >= 0"):
        warmup_step_lr(opt, steps_per_epoch=10, warmup_steps=-1, lr_steps=())


def test_train_detector_runs_the_schedule_and_keeps_frozen_parameters(masks):
    torch.manual_seed(0)
    model = tiny_mask_rcnn()
    model.backbone.body.conv1.weight.requires_grad_(False)
    frozen = model.backbone.body.conv1.weight.clone()
    params = [p for p in model.parameters() if p.requires_grad]
    h = train_detector(model, masks.torch_dataset(), torch.optim.SGD(params, lr=0.01, momentum=0.9),
                       epochs=1, batch_size=2, warmup_steps=1)
    assert len(h.step_losses) == 2
    assert h.step_losses[0] != h.step_losses[1]
    assert torch.equal(model.backbone.body.conv1.weight, frozen)


def test_predict_coco_gives_boxes_and_rle_masks_and_restores_the_mode(masks):
    torch.manual_seed(0)
    model = tiny_mask_rcnn(score_thresh=0.0).train()
    dets = predict_coco(model, masks.torch_dataset(), batch_size=3)
    assert model.training
    assert dets and {d["image_id"] for d in dets} <= {1, 2, 3, 4}
    d = dets[0]
    assert set(d) == {"image_id", "category_id", "bbox", "score", "segmentation"}
    assert d["segmentation"]["size"] == [64, 64] and 1 <= d["category_id"] <= 6


def test_frozen_body_trains_only_the_head(shapes):
    from relnotes.data.collate import detection_collate
    from relnotes.engine.detection import freeze_detector_body

    data = shapes.torch_dataset()
    m = small_detector(relations=(1, 1))
    freeze_detector_body(m)
    m.train()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=1e-2)
    loss = detector_loss(m, detection_collate([data[0], data[1]]))
    assert torch.isfinite(loss)
    loss.backward()
    opt.step()
    after = m.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(("backbone", "rpn")))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("roi_heads"))
    assert not m.rpn.training                    # test-time proposals, no RPN loss


def test_train_body_then_head_equals_the_steps_written_out(shapes):
    """train_body / train_head_on_body are exactly train_detector + body_state / load_body."""
    data = shapes.torch_dataset()
    state = train_body(small_detector(), data, lr=3e-3, epochs=1, batch_size=4, seed=1)
    head = train_head_on_body(small_detector(relations=(1, 1)), state, data, lr=3e-3, epochs=1,
                              batch_size=4, seed=1)
    body = small_detector()
    train_detector(body, data, adam(body, 3e-3), epochs=1, batch_size=4, seed=1)
    ref_state = body_state(body)
    assert all(torch.equal(state[k], ref_state[k]) for k in ref_state)
    ref = load_body(small_detector(relations=(1, 1)), ref_state)
    train_detector(ref, data, adam(ref, 3e-3), epochs=1, batch_size=4, seed=1)
    for (k, v), w in zip(head.state_dict().items(), ref.state_dict().values()):
        assert torch.equal(v, w), k


def test_train_body_returns_the_history_of_its_training_on_request(shapes):
    data = shapes.torch_dataset()
    state, history = train_body(small_detector(), data, lr=3e-3, epochs=2, batch_size=4, seed=1,
                                return_history=True)
    body = small_detector()
    ref = train_detector(body, data, adam(body, 3e-3), epochs=2, batch_size=4, seed=1)
    assert history.step_losses == ref.step_losses and len(history.epoch_losses) == 2
    ref_state = body_state(body)
    assert all(torch.equal(state[k], ref_state[k]) for k in ref_state)


def test_step_seconds_is_a_positive_time_and_trains_the_copy(masks):
    from relnotes.engine.detection import step_seconds

    model = tiny_mask_rcnn(masks=False)
    before = [p.detach().clone() for p in model.parameters()]
    t = step_seconds(model, masks.torch_dataset(), batch_size=2, steps=2)
    assert 0 < t < 60
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))


def test_one_call_body_then_head_equals_the_two_stages_with_their_seeding(shapes):
    """train_body_then_head seeds, builds and trains exactly as rn_figures wrote it out."""
    from relnotes.engine import seed_everything
    from relnotes.engine.detection import train_body_then_head

    build = lambda **kw: tiny_faster_rcnn(channels=(8, 8, 8), representation_size=32, proposals=16,
                                          box_batch_size_per_image=16, d_k=8, **kw)
    data = shapes.torch_dataset()
    model, history = train_body_then_head(build, lambda: build(relations=(1, 1)), data, lr=3e-3,
                                          body_epochs=1, head_epochs=1, batch_size=4, seed=3)
    seed_everything(3)
    body = build()
    ref_history = train_detector(body, data, adam(body, 3e-3), epochs=1, batch_size=4, seed=3)
    seed_everything(3)
    ref = train_head_on_body(build(relations=(1, 1)), body_state(body), data, lr=3e-3, epochs=1,
                             batch_size=4, seed=3)
    assert history.step_losses == ref_history.step_losses and len(history.step_losses) == 2
    assert not model.training
    for (k, v), w in zip(model.state_dict().items(), ref.state_dict().values()):
        assert torch.equal(v, w), k
