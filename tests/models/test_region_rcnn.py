"""The tiny detector with a choice of region-feature extractor."""

import pytest
import torch
from torchvision.ops import MultiScaleRoIAlign

from relnotes.analysis import count_macs, count_parameters
from relnotes.models.region_rcnn import BoxHeadOnBoxes, SingleLevelPool, region_faster_rcnn
from relnotes.nn import LearnedRegionFeatures


@pytest.mark.parametrize("extractor", ["roi_pool", "roi_align", "learned"])
def test_each_extractor_trains_and_predicts(extractor):
    torch.manual_seed(0)
    model = region_faster_rcnn(extractor, proposals=8, box_batch_size_per_image=8)
    images = [torch.rand(3, 64, 64), torch.rand(3, 64, 64)]
    targets = [dict(boxes=torch.tensor([[4.0, 4.0, 30.0, 30.0]]), labels=torch.tensor([1])),
               dict(boxes=torch.tensor([[10.0, 20.0, 60.0, 50.0]]), labels=torch.tensor([2]))]
    model.train()
    losses = model(images, targets)
    sum(losses.values()).backward()
    if extractor == "learned":
        pool = model.roi_heads.box_roi_pool.pool
        assert isinstance(pool, LearnedRegionFeatures)
        assert pool.box_proj.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        out = model(images)
    assert len(out) == 2


def test_roi_align_is_the_tiny_detector_unchanged():
    assert isinstance(region_faster_rcnn("roi_align").roi_heads.box_roi_pool, MultiScaleRoIAlign)


def test_no_proposals_give_an_empty_feature():
    pool = SingleLevelPool(LearnedRegionFeatures(4, spatial_scale=0.25))
    out = pool({"0": torch.zeros(1, 4, 16, 16)}, [torch.zeros(0, 4)], [(64, 64)])
    assert out.shape == (0, 4, 7, 7)


def test_errors():
    with pytest.raises(ValueError, match="extractor must be one of"):
        region_faster_rcnn("roi_warp")
    with pytest.raises(ValueError, match="only applies"):
        region_faster_rcnn("roi_pool", learned=dict(support="roi"))


@pytest.mark.parametrize("extractor", ["roi_pool", "roi_align", "learned"])
def test_box_head_on_boxes_is_the_detectors_head(extractor):
    torch.manual_seed(0)
    model = region_faster_rcnn(extractor, proposals=8, box_batch_size_per_image=8).eval()
    boxes = [torch.tensor([[4.0, 4.0, 30.0, 30.0], [10.0, 20.0, 60.0, 50.0],
                           [0.0, 0.0, 64.0, 64.0]])]
    feature = torch.randn(1, 64, 16, 16)
    head = BoxHeadOnBoxes(model.roi_heads, boxes)
    with torch.no_grad():
        logits, deltas = head(feature)
        h = model.roi_heads
        pooled = h.box_roi_pool({"0": feature}, boxes, [(64, 64)])
        ref_logits, ref_deltas = h.box_predictor(h.box_head(pooled, boxes))
    assert logits.shape == (3, h.box_predictor.cls_score.out_features)
    assert torch.equal(logits, ref_logits) and torch.equal(deltas, ref_deltas)
    assert count_parameters(head) == count_parameters(model.roi_heads)
    rep = h.box_head.fc6.out_features
    outputs = h.box_predictor.cls_score.out_features + h.box_predictor.bbox_pred.out_features
    fc_macs = 3 * (64 * 49 * rep + rep * rep + rep * outputs)  # 3 boxes through fc6, fc7, predictor
    macs = count_macs(head, feature)
    assert macs == fc_macs if extractor != "learned" else macs > fc_macs


def test_box_head_on_boxes_errors():
    heads = region_faster_rcnn("roi_align").roi_heads
    with pytest.raises(TypeError, match="list of Tensor"):
        BoxHeadOnBoxes(heads, torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"boxes\[0\] must be Tensor\[L, 4\]; got \(3, 5\)"):
        BoxHeadOnBoxes(heads, [torch.zeros(3, 5)])
    with pytest.raises(ValueError, match="2 images but boxes has 1"):
        BoxHeadOnBoxes(heads, [torch.zeros(3, 4)])(torch.zeros(2, 64, 16, 16))


def _full_setting(**coco):
    """region_extractors' full profile, shrunk to seconds on the tiny COCO folder of conftest."""
    from relnotes.repro import get_profile

    return get_profile("full").scale("region_extractors", {"coco": {
        "train_split": "val2017", "image_size": 96, "anchor_sizes": (8, 16, 32), **coco}})


def test_the_full_profile_reads_coco_and_every_extractor_trains_on_it(tiny_coco_root):
    """What region_extractors runs on full, on four images: coco_splits of its setting (boxes
    only), the body trained with RoIAlign, each extractor + head trained one epoch on the frozen
    body, COCO AP with COCO's category ids."""
    import math

    from relnotes.engine.coco import coco_splits
    from relnotes.engine.detection import (
        evaluate_detector, load_body, train_body, train_detector, trainable_parameters)

    S = _full_setting()
    train, test = coco_splits(tiny_coco_root, S.coco)
    assert len(train) == 3 and len(test) == 4 and "masks" not in test[0][1]
    kw = dict(num_classes=len(test.label_to_category), image_size=S.coco["image_size"],
              anchor_sizes=S.coco["anchor_sizes"], proposals=8, box_batch_size_per_image=8,
              representation_size=16)
    torch.manual_seed(0)
    state = train_body(region_faster_rcnn("roi_align", **kw), train, lr=1e-3, epochs=1, batch_size=2)
    for kind in ("roi_pool", "roi_align", "learned"):
        model = load_body(region_faster_rcnn(kind, learned=dict(d_e=8, d_k=8) if kind == "learned"
                                             else None, **kw), state)
        assert model.transform.min_size == (96,) and model.roi_heads.box_predictor.cls_score.out_features == 4
        hist = train_detector(model, train, torch.optim.Adam(trainable_parameters(model), lr=1e-3),
                              epochs=1, batch_size=2)
        assert len(hist.step_losses) == 2 and all(math.isfinite(x) for x in hist.step_losses), kind
        r = evaluate_detector(model, test, test.coco_gt, label_to_category=test.label_to_category,
                              batch_size=2)
        assert 0.0 <= r["mAP"] <= 1.0 and set(r["per_class"]) == {"person", "dog", "toothbrush"}


def test_the_full_profile_says_what_is_missing(tmp_path):
    from relnotes.engine.coco import coco_splits
    from relnotes.repro import get_profile

    with pytest.raises(ValueError, match="needs data_root"):
        get_profile("full").data_path(None)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        get_profile("full").data_path(tmp_path / "nowhere")
    S = _full_setting(train_split="train2017")
    with pytest.raises(FileNotFoundError, match="instances_train2017.json"):
        coco_splits(tmp_path, S.coco)
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_train2017.json").write_text(
        '{"images": [], "annotations": [], "categories": []}')
    with pytest.raises(FileNotFoundError, match="no image folder .*train2017"):
        coco_splits(tmp_path, S.coco)
