"""CocoInstances on a tiny COCO-format folder written here (real COCO is not available in CI)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from relnotes.data.coco_eval import coco_evaluate, detections_to_coco
from relnotes.data.coco_instances import CocoInstances
from relnotes.data.context_masks import make_context_masks


def polygon_square(x, y, s):
    return [[x, y, x + s, y, x + s, y + s, x, y + s]]


@pytest.fixture(scope="module")
def coco_root(tmp_path_factory):
    """val2017 with 4 images (PNG, different sizes), category ids with gaps (1, 18, 90), a polygon,
    an RLE mask, a crowd region and a degenerate box; image 4 has no usable object."""
    root = tmp_path_factory.mktemp("coco")
    (root / "annotations").mkdir()
    (root / "val2017").mkdir()
    data = make_context_masks(3, seed=0)
    images, anns = [], []
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate([(64, 64), (80, 48), (64, 64), (40, 40)], start=1):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            root / "val2017" / f"{i:012d}.png")
        images.append(dict(id=i, width=w, height=h, file_name=f"{i:012d}.png"))
    anns.append(dict(id=1, image_id=1, category_id=18, iscrowd=0, bbox=[10, 12, 8, 8], area=64.0,
                     segmentation=polygon_square(10, 12, 8)))
    a = data.coco["annotations"][0]
    anns.append(dict(id=2, image_id=1, category_id=90, iscrowd=0, bbox=a["bbox"], area=a["area"],
                     segmentation=a["segmentation"]))
    anns.append(dict(id=3, image_id=2, category_id=1, iscrowd=0, bbox=[5, 5, 20, 10], area=200.0,
                     segmentation=polygon_square(5, 5, 10)))
    anns.append(dict(id=4, image_id=2, category_id=1, iscrowd=1, bbox=[40, 20, 10, 10], area=100.0,
                     segmentation=dict(size=[48, 80], counts=[48 * 40 + 20, 10] + [38, 10] * 9
                                       + [48 * 80 - (48 * 40 + 20) - 10 - 480 + 10])))
    anns.append(dict(id=5, image_id=3, category_id=18, iscrowd=0, bbox=[30, 30, 0.5, 9], area=4.0,
                     segmentation=polygon_square(30, 30, 1)))
    anns.append(dict(id=6, image_id=3, category_id=1, iscrowd=0, bbox=[2, 40, 16, 16], area=256.0,
                     segmentation=polygon_square(2, 40, 16)))
    cats = [dict(id=c, name=n, supercategory="x") for c, n in [(1, "person"), (18, "dog"),
                                                                (90, "toothbrush")]]
    (root / "annotations" / "instances_val2017.json").write_text(
        json.dumps(dict(images=images, annotations=anns, categories=cats)))
    return root


def test_targets_are_mask_rcnn_targets_with_contiguous_labels(coco_root):
    ds = CocoInstances(coco_root, "val2017")
    assert len(ds) == 4 and ds.label_to_category == [0, 1, 18, 90]
    image, t = ds[0]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    assert t["labels"].tolist() == [2, 3] and int(t["image_id"]) == 1
    assert t["boxes"][0].tolist() == [10.0, 12.0, 18.0, 20.0]
    assert t["masks"].shape == (2, 64, 64) and t["masks"].dtype == torch.uint8
    assert t["masks"][0, 12:20, 10:18].all()          # the polygon, rasterised by pycocotools
    image, t = ds[1]                                   # the crowd region is not a target
    assert image.shape == (3, 48, 80) and t["labels"].tolist() == [1]
    _, t = ds[2]                                       # the 0.5 px wide box is dropped
    assert t["labels"].tolist() == [1]
    _, t = ds[3]
    assert t["boxes"].shape == (0, 4) and t["masks"].shape == (0, 40, 40)


def test_skip_empty_and_max_images(coco_root):
    assert CocoInstances(coco_root, skip_empty=True).ids == [1, 2, 3]
    ds = CocoInstances(coco_root, max_images=2)
    assert ds.ids == [1, 2] and {im["id"] for im in ds.coco_gt["images"]} == {1, 2}
    assert {a["image_id"] for a in ds.coco_gt["annotations"]} == {1, 2}


def test_ground_truth_through_the_pipeline_gives_ap_one(coco_root):
    """Targets -> torchvision-style outputs -> COCO results with real category ids -> AP 1."""
    ds = CocoInstances(coco_root)
    outputs = []
    for i in range(len(ds)):
        _, t = ds[i]
        outputs.append(dict(boxes=t["boxes"], scores=torch.ones(len(t["labels"])),
                            labels=t["labels"], masks=t["masks"][:, None].float()))
    dets = detections_to_coco(ds.ids, outputs, label_to_category=ds.label_to_category)
    # the crowd region is an "ignore" area for pycocotools; the 0.5 px box is a real (missed)
    # object, so it costs recall until it is left out of the ground truth
    gt = dict(ds.coco_gt, annotations=[a for a in ds.coco_gt["annotations"] if a["id"] != 5])
    for iou_type in ("bbox", "segm"):
        assert coco_evaluate(gt, dets, iou_type=iou_type)["mAP"] == pytest.approx(1.0), iou_type
        assert coco_evaluate(ds.coco_gt, dets, iou_type=iou_type)["mAP"] < 1.0


def test_a_tiny_mask_rcnn_trains_one_step_on_the_folder(coco_root):
    from relnotes.data.context_shapes import detection_collate
    from relnotes.models.tiny_mask_rcnn import tiny_mask_rcnn
    from relnotes.models.tiny_rcnn import detector_loss

    ds = CocoInstances(coco_root, skip_empty=True)
    torch.manual_seed(0)
    model = tiny_mask_rcnn(num_classes=len(ds.label_to_category))
    loss = detector_loss(model.train(), detection_collate([ds[0], ds[1]]))
    loss.backward()
    assert torch.isfinite(loss)


def test_missing_files_say_what_layout_is_expected(tmp_path, coco_root):
    with pytest.raises(FileNotFoundError, match="annotations/instances_val2017.json and val2017/"):
        CocoInstances(tmp_path)
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_val2017.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="no image folder"):
        CocoInstances(tmp_path)
    with pytest.raises(ValueError, match="max_images must be a positive int"):
        CocoInstances(coco_root, max_images=0)
