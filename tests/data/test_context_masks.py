import numpy as np
import pytest
import torch

from relnotes.data.coco_eval import coco_evaluate
from relnotes.data.context_masks import MASK_CATEGORIES, SHAPES, make_context_masks, shape_mask
from relnotes.data.collate import detection_collate


@pytest.fixture(scope="module")
def data():
    return make_context_masks(40, seed=3)


def _gap(a, b):
    return max(b[0] - a[2], a[0] - b[2], b[1] - a[3], a[1] - b[3], 0)


def _red_squares(image):
    """Top-left corners of the pure-red flag pixels' bounding box, or None."""
    red = (image[..., 0] == 1.0) & (image[..., 1] == 0.0) & (image[..., 2] == 0.0)
    if not red.any():
        return None
    ys, xs = np.nonzero(red)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


def test_deterministic_given_the_seed():
    a, b, c = make_context_masks(6, seed=1), make_context_masks(6, seed=1), make_context_masks(6, seed=2)
    assert np.array_equal(a.images, b.images) and a.coco == b.coco
    assert not np.array_equal(a.images, c.images)


def test_categories_are_shape_times_scene():
    assert [c["id"] for c in MASK_CATEGORIES] == [1, 2, 3, 4, 5, 6]
    assert [c["name"] for c in MASK_CATEGORIES] == [
        "disc/plain", "square/plain", "triangle/plain",
        "disc/flagged", "square/flagged", "triangle/flagged"]


def test_the_flag_decides_the_scene_of_every_object_and_sits_far_away(data):
    assert data.flags.sum() == 20                          # balanced
    for img, flag, labels, boxes in zip(data.images, data.flags, data.labels, data.boxes):
        assert 1 <= len(labels) <= 3
        assert all((c - 1) // 3 == flag for c in labels)   # scene of every object = flag
        spot = _red_squares(img)
        assert (spot is not None) == bool(flag)
        if flag:
            assert spot[2] - spot[0] == 4 and spot[3] - spot[1] == 4
            assert min(_gap(spot, b) for b in boxes) >= 16


def test_masks_boxes_and_rle_agree(data):
    from pycocotools import mask as mask_utils

    anns = data.coco["annotations"]
    k = 0
    for i, (masks, boxes, labels) in enumerate(zip(data.masks, data.boxes, data.labels)):
        assert masks.dtype == np.uint8 and masks.shape == (len(labels), 64, 64)
        for m, b, c in zip(masks, boxes, labels):
            a = anns[k]
            k += 1
            assert a["image_id"] == i + 1 and a["category_id"] == c and a["iscrowd"] == 0
            assert np.array_equal(mask_utils.decode(a["segmentation"]), m)
            ys, xs = np.nonzero(m)
            assert list(b) == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
            assert a["bbox"] == [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]
            assert a["area"] == m.sum()
            # the object is painted exactly on its mask: bright pixels inside, none of its own outside
            assert data.images[i][m == 1].min() > 0.85
    assert k == len(anns)
    # objects do not touch: masks are disjoint
    for masks in data.masks:
        assert masks.sum(0).max() <= 1


def test_shape_masks():
    assert shape_mask(1, 5).all()
    for s in range(3):
        m = shape_mask(s, 12)
        assert m[0].any() and m[-1].any() and m[:, 0].any() and m[:, -1].any()   # tight box
    disc, tri = shape_mask(0, 12), shape_mask(2, 12)
    assert 0.7 < disc.mean() < 0.85 and 0.45 < tri.mean() < 0.65
    assert tri[0].sum() < tri[-1].sum()                   # apex up
    with pytest.raises(ValueError, match="shape must be 0"):
        shape_mask(3, 5)


def test_ground_truth_as_detections_gives_segm_and_bbox_ap_one(data):
    dets = [dict(image_id=a["image_id"], category_id=a["category_id"], bbox=a["bbox"], score=1.0,
                 segmentation=a["segmentation"]) for a in data.coco["annotations"]]
    for iou_type in ("bbox", "segm"):
        r = coco_evaluate(data.coco, dets, iou_type=iou_type)
        assert (r["mAP"], r["mAP50"], r["mAP75"]) == (pytest.approx(1.0),) * 3


def test_a_detector_blind_to_the_flag_loses_about_half_the_ap(data):
    """Perfect masks, but both scenes at the same score: the wrong scene is a false positive of
    the same score, so each class's precision is about 1/2."""
    dets = []
    for a in data.coco["annotations"]:
        shape = (a["category_id"] - 1) % 3
        for scene in (0, 1):
            dets.append(dict(image_id=a["image_id"], category_id=1 + shape + 3 * scene,
                             bbox=a["bbox"], score=0.5, segmentation=a["segmentation"]))
    r = coco_evaluate(data.coco, dets, iou_type="segm")
    assert 0.35 < r["mAP"] < 0.65


def test_control_colours_the_flagged_objects():
    plain, control = make_context_masks(8, seed=4), make_context_masks(8, seed=4, control=True)
    assert plain.coco == control.coco
    for i, flag in enumerate(control.flags):
        m = control.masks[i].max(0) == 1
        if flag:
            assert control.images[i][m][:, 0].max() < 0.7          # light cyan: little red
        else:
            assert np.array_equal(control.images[i], plain.images[i])


def test_torch_dataset_gives_mask_rcnn_targets(data):
    ds = data.torch_dataset()
    images, targets = detection_collate([ds[0], ds[1]])
    assert images[0].shape == (3, 64, 64) and images[0].dtype == torch.float32
    t = targets[1]
    assert t["boxes"].dtype == torch.float32 and t["labels"].dtype == torch.int64
    assert t["masks"].shape == (len(t["labels"]), 64, 64) and t["masks"].dtype == torch.uint8
    assert int(t["image_id"]) == 2


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_images=0), "n_images must be a positive int"),
    (dict(image_size=16), "image_size must be an int >= 32"),
    (dict(object_size=(12, 40)), "object_size must be"),
    (dict(n_objects=(0, 2)), "n_objects must be"),
    (dict(flag_distance=60), "flag_distance must be in"),
    (dict(n_distractors=9), "n_distractors must be"),
    (dict(noise=-1.0), "noise must be >= 0"),
])
def test_bad_arguments(kwargs, match):
    args = dict(n_images=2) | kwargs
    with pytest.raises(ValueError, match=match):
        make_context_masks(args.pop("n_images"), **args)


def test_shapes_are_balanced_enough():
    d = make_context_masks(60, seed=0)
    counts = np.bincount(np.concatenate(d.labels), minlength=7)[1:]
    assert counts.min() > 10 and len(SHAPES) == 3


def test_box_ap50_equals_mask_ap50_when_every_match_is_the_same_and_differs_otherwise(data):
    """Why gcnet_coco_ap shows box AP50 == mask AP50: the two evaluations rank the same detections
    by the same scores, so AP at one threshold is the same whenever a detection reaches IoU 0.5 by
    box exactly when it does by mask. A detector blind to the flag (perfect localisation, both
    scenes at the same score) loses half its AP to the scene, in both. A mask that misses most of
    its object while its box is right separates them, so the segm path does read the masks."""
    from pycocotools import mask as mask_utils

    from relnotes.data.coco_eval import encode_masks

    blind = []
    for a in data.coco["annotations"]:
        shape = (a["category_id"] - 1) % 3
        for scene in (0, 1):
            blind.append(dict(image_id=a["image_id"], category_id=1 + shape + 3 * scene,
                              bbox=a["bbox"], score=0.5, segmentation=a["segmentation"]))
    box, segm = (coco_evaluate(data.coco, blind, iou_type=t) for t in ("bbox", "segm"))
    assert box["mAP50"] == segm["mAP50"] and 0.35 < box["mAP50"] < 0.65
    # the same boxes, but every other mask keeps only its top quarter of rows: mask IoU < 0.5
    thin = []
    for k, a in enumerate(data.coco["annotations"]):
        m = mask_utils.decode(a["segmentation"]).astype(bool)
        if k % 2:
            rows = np.nonzero(m.any(axis=1))[0]
            m[rows[0] + max(1, len(rows) // 4):] = False
        thin.append(dict(image_id=a["image_id"], category_id=a["category_id"], bbox=a["bbox"],
                         score=1.0, segmentation=encode_masks(torch.from_numpy(m)[None])[0]))
    box, segm = (coco_evaluate(data.coco, thin, iou_type=t) for t in ("bbox", "segm"))
    assert box["mAP50"] == pytest.approx(1.0)
    assert segm["mAP50"] < 0.75
