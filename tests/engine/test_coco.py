import math

import pytest
import torch

from relnotes.engine.coco import coco_detector, coco_sgd, coco_splits, train_on_coco
from relnotes.engine.detection import evaluate_detector
from relnotes.repro import get_profile


def small_setting(**kw):
    """RN's COCO setting of the full profile, shrunk to seconds on the tiny folder."""
    setting = get_profile("full").scale("rn_ablation_head", {"coco": dict(
        train_split="val2017", pretrained_backbone=False, min_size=64, max_size=96, epochs=2,
        batch_size=2, lr=1e-3, warmup_steps=1, lr_steps=(1,), num_workers=0)}).coco
    return {**setting, **kw}


def test_the_full_profile_pipeline_on_a_tiny_coco_folder(tiny_coco_root):
    """What the full profile runs on COCO, end to end on four images: the splits (boxes only,
    flipped), the R50-FPN 2fc + RM detector, RN's SGD schedule, COCO AP with COCO's ids."""
    setting = small_setting()
    train, test = coco_splits(tiny_coco_root, setting)
    assert len(train) == 3 and len(test) == 4 and "masks" not in test[0][1]
    torch.manual_seed(0)
    model = coco_detector(len(train.label_to_category), setting, relations=(1, 1), proposals=20)
    assert model.transform.min_size == (64,) and model.roi_heads.nms_thresh == setting["nms_thresh"]
    h = train_on_coco(model, train, setting)
    assert len(h.step_losses) == 4 and all(math.isfinite(x) for x in h.step_losses)
    r = evaluate_detector(model, test, test.coco_gt, label_to_category=test.label_to_category,
                          batch_size=2)
    assert 0.0 <= r["mAP"] <= 1.0 and set(r["per_class"]) == {"person", "dog", "toothbrush"}


def test_coco_sgd_uses_the_setting_and_an_explicit_rate():
    net = torch.nn.Linear(2, 2)
    setting = small_setting(momentum=0.9, weight_decay=1e-4)
    g = coco_sgd(net, setting).param_groups[0]
    assert (g["lr"], g["momentum"], g["weight_decay"]) == (1e-3, 0.9, 1e-4)
    assert coco_sgd(net, setting, lr=2e-3).param_groups[0]["lr"] == pytest.approx(2e-3)


def test_train_head_row_on_both_kinds_of_data(tiny_coco_root):
    """Synthetic: the head on the frozen body, as train_head_on_body; COCO: the whole detector
    with RN's schedule, as train_on_coco."""
    import copy

    from relnotes.data.context_shapes import make_context_shapes
    from relnotes.engine.coco import train_head_row
    from relnotes.engine.detection import body_state, train_head_on_body
    from relnotes.models import tiny_faster_rcnn

    data = make_context_shapes(4, seed=0).torch_dataset()
    torch.manual_seed(0)
    body = body_state(tiny_faster_rcnn(proposals=8))
    fresh = tiny_faster_rcnn(proposals=8, relations=(1, 1), n_relations=2, d_k=8, d_g=16)
    a, b = copy.deepcopy(fresh), copy.deepcopy(fresh)
    kw = dict(lr=1e-3, epochs=1, batch_size=2, seed=1)
    train_head_row(a, data, body=body, **kw)
    train_head_on_body(b, body, data, **kw)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    with pytest.raises(ValueError, match="trained body"):
        train_head_row(fresh, data, **kw)
    setting = small_setting(epochs=1)
    train, _ = coco_splits(tiny_coco_root, setting)
    torch.manual_seed(0)
    model = coco_detector(len(train.label_to_category), setting, proposals=20)
    twin = copy.deepcopy(model)
    assert train_head_row(model, train, setting=setting, seed=0) is model
    train_on_coco(twin, train, setting, seed=0)
    for k, v in model.state_dict().items():
        assert torch.equal(v, twin.state_dict()[k]), k
