import math

import numpy as np
import pytest
import torch

from relnotes.data.collate import detection_collate
from relnotes.data.context_shapes import (
    CATEGORIES, CONTEXT_RULE, LARGE_KINDS, SMALL_CLASSES, make_context_shapes,
    make_crowded_shapes, point_box_distance,
)


@pytest.fixture(scope="module")
def shapes():
    return make_context_shapes(60, seed=3)


def test_deterministic_given_the_seed():
    a, b = make_context_shapes(10, seed=7), make_context_shapes(10, seed=7)
    c = make_context_shapes(10, seed=8)
    assert np.array_equal(a.images, b.images)
    assert a.coco == b.coco
    assert not np.array_equal(a.images, c.images)


def test_annotations_are_valid_coco(shapes):
    coco = shapes.coco
    assert [c["id"] for c in coco["categories"]] == [1, 2, 3, 4, 5, 6]
    ids = [im["id"] for im in coco["images"]]
    assert ids == list(range(1, 61))
    ann_ids = [a["id"] for a in coco["annotations"]]
    assert len(set(ann_ids)) == len(ann_ids)
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        assert a["image_id"] in ids and a["category_id"] in range(1, 7) and a["iscrowd"] == 0
        assert 0 <= x and 0 <= y and x + w <= 64 and y + h <= 64 and w > 0 and h > 0
        assert a["area"] == w * h
    assert shapes.images.shape == (60, 64, 64, 3) and shapes.images.dtype == np.float32
    assert 0.0 <= shapes.images.min() and shapes.images.max() <= 1.0


def test_two_or_three_large_objects_of_different_kinds(shapes):
    for labels in shapes.labels:
        large = labels[labels <= 3]
        assert 2 <= len(large) <= 3
        assert len(set(large.tolist())) == len(large)


def test_context_rule_nearest_large_object_decides_the_small_class(shapes):
    n_small = 0
    for boxes, labels in zip(shapes.boxes, shapes.labels):
        large, kinds = boxes[labels <= 3], labels[labels <= 3]
        for b, c in zip(boxes[labels > 3], labels[labels > 3]):
            n_small += 1
            assert b[2] - b[0] == 5 and b[3] - b[1] == 5
            d = point_box_distance(np.array([[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]]), large)[0]
            nearest = kinds[np.argmin(d)]
            assert SMALL_CLASSES[c - 4] == CONTEXT_RULE[LARGE_KINDS[nearest - 1]]
            assert np.sort(d)[1] - np.sort(d)[0] >= 3.0          # never ambiguous
            # beyond the 15 px receptive field: at least 9 px edge to edge from every large box
            dx = np.maximum(np.maximum(large[:, 0] - b[2], b[0] - large[:, 2]), 0)
            dy = np.maximum(np.maximum(large[:, 1] - b[3], b[1] - large[:, 3]), 0)
            assert np.hypot(dx, dy).min() >= 9.0
    assert n_small > 100


def test_small_objects_look_identical_unless_control():
    s = make_context_shapes(20, seed=1)
    c = make_context_shapes(20, seed=1, control=True)
    colours = {}
    for img, boxes, labels in zip(s.images, s.boxes, s.labels):
        for b, l in zip(boxes, labels):
            if l > 3:
                colours.setdefault(int(l), set()).add(tuple(img[int(b[1]), int(b[0])].round(3)))
    assert len(set.union(*colours.values())) == 1
    ctrl = {}
    for img, boxes, labels in zip(c.images, c.boxes, c.labels):
        for b, l in zip(boxes, labels):
            if l > 3:
                ctrl.setdefault(int(l), set()).add(tuple(img[int(b[1]), int(b[0])].round(3)))
    assert all(len(v) == 1 for v in ctrl.values()) and len(set.union(*ctrl.values())) == 3
    assert s.coco == c.coco                                     # same layouts


def test_point_box_distance_worked_example():
    d = point_box_distance(np.array([[10.0, 0.0], [2.0, 2.0], [7.0, 8.0]]),
                           np.array([[0.0, 0.0, 4.0, 4.0]]))
    assert d[:, 0] == pytest.approx([6.0, 0.0, 5.0])


def test_torch_dataset_and_collate(shapes):
    ds = shapes.torch_dataset()
    image, target = ds[4]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32
    assert target["boxes"].dtype == torch.float32 and target["labels"].dtype == torch.int64
    assert target["boxes"].numpy() == pytest.approx(shapes.boxes[4])
    assert int(target["image_id"]) == 5
    images, targets = detection_collate([ds[0], ds[1]])
    assert len(images) == 2 and len(targets) == 2


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="n_images"):
        make_context_shapes(0)
    with pytest.raises(ValueError, match="n_large"):
        make_context_shapes(2, n_large=(2, 4))


def _pair_iou(a, b):
    iw = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    ih = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    return iw * ih / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - iw * ih)


def test_crowded_groups_overlap_within_the_iou_range():
    crowded = make_crowded_shapes(40, seed=5)
    assert np.array_equal(crowded.images, make_crowded_shapes(40, seed=5).images)
    assert crowded.images.shape == (40, 64, 64, 3)
    in_range = 0
    for boxes, labels in zip(crowded.boxes, crowded.labels):
        assert set(labels.tolist()) <= {1, 2, 3}                 # large kinds only
        assert 2 <= len(set(labels.tolist())) <= 3               # 2-3 groups, one kind each
        assert bool(((boxes[:, 2:] - boxes[:, :2]) >= 14).all())
        assert bool(((boxes[:, 2:] - boxes[:, :2]) <= 22).all())
        for i in range(len(boxes)):
            same = [_pair_iou(boxes[i], boxes[j]) for j in range(len(boxes))
                    if j != i and labels[j] == labels[i]]
            other = [_pair_iou(boxes[i], boxes[j]) for j in range(len(boxes))
                     if labels[j] != labels[i]]
            assert all(v <= 0.7 + 1e-12 for v in same)          # no pair above the range
            assert all(v == 0 for v in other)                    # groups stay apart
            in_range += any(0.3 <= v <= 0.7 for v in same)
    # every object but the few groups of one (no room) overlaps a groupmate at 0.3-0.7
    assert in_range >= 0.9 * sum(len(b) for b in crowded.boxes)
    assert crowded.coco["annotations"][0]["bbox"] == pytest.approx(
        [float(crowded.boxes[0][0][0]), float(crowded.boxes[0][0][1]),
         float(crowded.boxes[0][0][2] - crowded.boxes[0][0][0]),
         float(crowded.boxes[0][0][3] - crowded.boxes[0][0][1])])


def test_crowded_outline_separates_objects_of_one_colour():
    crowded = make_crowded_shapes(1, seed=0, n_groups=(1, 1), group_size=(1, 1), noise=0.0)
    x0, y0, x1, y1 = (int(v) for v in crowded.boxes[0][0])
    img = crowded.images[0]
    # the middle of the bottom row lies on the outline for every kind (rectangle, ellipse,
    # triangle base): 0.3 x the fill colour seen at the centre
    kind = int(crowded.labels[0][0]) - 1
    centre = img[(y0 + y1) // 2 + (2 if kind == 2 else 0), (x0 + x1) // 2]
    edge = img[y1 - 1, (x0 + x1) // 2]                            # bottom row: outline for all kinds
    assert edge.sum() == pytest.approx(0.3 * centre.sum(), rel=1e-5)


def test_crowded_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"pair_iou must be \(lo, hi\) with 0 < lo <= hi < 1"):
        make_crowded_shapes(2, pair_iou=(0.5, 1.0))
    with pytest.raises(ValueError, match=r"n_groups must be"):
        make_crowded_shapes(2, n_groups=(0, 2))
    with pytest.raises(ValueError, match=r"size must be"):
        make_crowded_shapes(2, size=(10, 70))
