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


# --- masks (segm) -------------------------------------------------------------------------------
import numpy as np  # noqa: E402

from relnotes.data.coco_eval import encode_masks  # noqa: E402
from relnotes.data.context_masks import make_context_masks  # noqa: E402


def test_encode_masks_is_column_major_rle():
    m = np.zeros((2, 3), np.uint8)
    m[:, 1] = 1                                   # runs 0,0 | 1,1 | 0,0
    assert encode_masks(m[None]) == [dict(size=[2, 3], counts="222")]
    assert encode_masks(np.zeros((0, 4, 4))) == []
    with pytest.raises(ValueError, match=r"masks must be \[K, H, W\]"):
        encode_masks(m)


def test_mask_rcnn_outputs_to_segm_results_round_trip():
    from pycocotools import mask as mask_utils

    data = make_context_masks(6, seed=2)
    outputs = []
    for boxes, labels, masks in zip(data.boxes, data.labels, data.masks):
        probs = torch.from_numpy(masks).float()[:, None] * 0.9      # [K, 1, H, W] probabilities
        outputs.append(dict(boxes=torch.from_numpy(boxes), scores=torch.ones(len(labels)),
                            labels=torch.from_numpy(labels), masks=probs))
    dets = detections_to_coco([im["id"] for im in data.coco["images"]], outputs)
    assert all("segmentation" in d for d in dets)
    assert np.array_equal(mask_utils.decode(dets[0]["segmentation"]), data.masks[0][0])
    r = coco_evaluate(data.coco, dets, iou_type="segm")
    assert (r["mAP"], r["mAP50"], r["mAP75"]) == (pytest.approx(1.0),) * 3
    # a mask eroded to its top half keeps the box AP, loses mask AP at IoU >= 0.55
    for o in outputs:
        o["masks"][:, :, 32:] = 0
        o["masks"][:, :, :, 32:] = 0
    half = coco_evaluate(data.coco, detections_to_coco(range(1, 7), outputs), iou_type="segm")
    box = coco_evaluate(data.coco, detections_to_coco(range(1, 7), outputs), iou_type="bbox")
    assert box["mAP"] == pytest.approx(1.0) and half["mAP"] < 0.9


def test_label_to_category_maps_contiguous_labels():
    out = [dict(boxes=torch.tensor([[1.0, 2.0, 6.0, 9.0]]), scores=torch.tensor([0.5]),
                labels=torch.tensor([2]))]
    assert detections_to_coco([7], out, label_to_category=[0, 1, 90])[0]["category_id"] == 90


def test_segm_errors_say_what_is_missing(shapes):
    with pytest.raises(ValueError, match="iou_type must be one of"):
        coco_evaluate(shapes.coco, perfect(shapes.coco), iou_type="keypoints")
    with pytest.raises(ValueError, match="'segmentation' in every ground-truth"):
        coco_evaluate(shapes.coco, perfect(shapes.coco), iou_type="segm")
    data = make_context_masks(2, seed=0)
    with pytest.raises(ValueError, match=r"'segmentation' \(RLE\) in every detection"):
        coco_evaluate(data.coco, perfect(data.coco), iou_type="segm")
    bad = [dict(boxes=torch.zeros(2, 4), scores=torch.ones(2), labels=torch.ones(2),
                masks=torch.zeros(3, 1, 4, 4))]
    with pytest.raises(ValueError, match="masks of image 1 must be"):
        detections_to_coco([1], bad)
