import math

import pytest
import torch

from relnotes.data.coco_eval import coco_evaluate, detections_to_coco
from relnotes.data.context_shapes import make_context_shapes


@pytest.fixture(scope="module")
def shapes():
    return make_context_shapes(20, seed=5)


def perfect(coco):
    return [dict(image_id=a["image_id"], category_id=a["category_id"], bbox=list(a["bbox"]),
                 score=1.0) for a in coco["annotations"]]


def test_perfect_detections_give_ap_one(shapes):
    r = coco_evaluate(shapes.coco, perfect(shapes.coco))
    assert (r["mAP"], r["mAP50"], r["mAP75"]) == (pytest.approx(1.0),) * 3
    assert list(r["per_class"].values()) == pytest.approx([1.0] * 6)


def test_empty_detections_give_zero_without_crashing(shapes):
    r = coco_evaluate(shapes.coco, [])
    assert (r["mAP"], r["mAP50"], r["mAP75"]) == (0.0, 0.0, 0.0)
    assert list(r["per_class"].values()) == [0.0] * 6


def test_wrong_class_for_the_small_objects_halves_their_ap(shapes):
    dets = perfect(shapes.coco)
    for d in dets:                      # every glove called a cup
        if d["category_id"] == 4:
            d["category_id"] = 5
    r = coco_evaluate(shapes.coco, dets)
    assert r["per_class"]["glove"] == pytest.approx(0.0)
    assert r["per_class"]["player"] == pytest.approx(1.0)
    assert r["per_class"]["cup"] < 1.0


def test_shifted_boxes_lose_ap75_before_ap50(shapes):
    dets = perfect(shapes.coco)
    for d in dets:                      # 1 px shift: IoU of a 5 x 5 box drops to 20/30 = 0.67
        d["bbox"][0] += 1.0
    r = coco_evaluate(shapes.coco, dets)
    assert r["mAP50"] == pytest.approx(1.0)
    assert r["per_class"]["glove"] < 0.5 and r["mAP75"] < 1.0


def test_class_without_ground_truth_is_nan():
    coco = make_context_shapes(3, seed=0).coco
    coco = dict(coco, annotations=[a for a in coco["annotations"] if a["category_id"] != 6])
    r = coco_evaluate(coco, perfect(coco))
    assert math.isnan(r["per_class"]["apple"]) and r["mAP"] == pytest.approx(1.0)
    assert math.isnan(coco_evaluate(coco, [])["per_class"]["apple"])


def test_detections_to_coco_converts_xyxy_to_xywh():
    out = [dict(boxes=torch.tensor([[1.0, 2.0, 6.0, 9.0]]), scores=torch.tensor([0.5]),
                labels=torch.tensor([3]))]
    assert detections_to_coco([7], out) == [dict(image_id=7, category_id=3,
                                                 bbox=[1.0, 2.0, 5.0, 7.0], score=0.5)]


def test_bad_ground_truth_raises():
    with pytest.raises(ValueError, match="annotations"):
        coco_evaluate(dict(images=[], categories=[]), [])
