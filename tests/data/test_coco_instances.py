"""CocoInstances on a tiny COCO-format folder (tests/conftest.py; real COCO is not available in CI)."""


import pytest
import torch

from relnotes.data.coco_eval import coco_evaluate, detections_to_coco
from relnotes.data.coco_instances import CocoInstances


def test_targets_are_mask_rcnn_targets_with_contiguous_labels(tiny_coco_root):
    ds = CocoInstances(tiny_coco_root, "val2017")
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


def test_skip_empty_and_max_images(tiny_coco_root):
    assert CocoInstances(tiny_coco_root, skip_empty=True).ids == [1, 2, 3]
    ds = CocoInstances(tiny_coco_root, max_images=2)
    assert ds.ids == [1, 2] and {im["id"] for im in ds.coco_gt["images"]} == {1, 2}
    assert {a["image_id"] for a in ds.coco_gt["annotations"]} == {1, 2}


def test_ground_truth_through_the_pipeline_gives_ap_one(tiny_coco_root):
    """Targets -> torchvision-style outputs -> COCO results with real category ids -> AP 1."""
    ds = CocoInstances(tiny_coco_root)
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


def test_a_tiny_mask_rcnn_trains_one_step_on_the_folder(tiny_coco_root):
    from relnotes.data.collate import detection_collate
    from relnotes.models.tiny_mask_rcnn import tiny_mask_rcnn
    from relnotes.engine.detection import detector_loss

    ds = CocoInstances(tiny_coco_root, skip_empty=True)
    torch.manual_seed(0)
    model = tiny_mask_rcnn(num_classes=len(ds.label_to_category))
    loss = detector_loss(model.train(), detection_collate([ds[0], ds[1]]))
    loss.backward()
    assert torch.isfinite(loss)


def test_missing_files_say_what_layout_is_expected(tmp_path, tiny_coco_root):
    with pytest.raises(FileNotFoundError, match="annotations/instances_val2017.json and val2017/"):
        CocoInstances(tmp_path)
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_val2017.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="no image folder"):
        CocoInstances(tmp_path)
    with pytest.raises(ValueError, match="max_images must be a positive int"):
        CocoInstances(tiny_coco_root, max_images=0)


def test_boxes_only_and_a_flip_transform(tiny_coco_root):
    from torchvision.transforms import v2

    plain = CocoInstances(tiny_coco_root, masks=False)
    image, t = plain[0]
    assert "masks" not in t and t["boxes"][0].tolist() == [10.0, 12.0, 18.0, 20.0]
    flipped = CocoInstances(tiny_coco_root, transforms=v2.RandomHorizontalFlip(p=1.0))
    fimage, ft = flipped[0]
    assert type(fimage) is torch.Tensor and type(ft["boxes"]) is torch.Tensor
    assert torch.equal(fimage, image.flip(-1))
    assert ft["boxes"][0].tolist() == [64 - 18.0, 12.0, 64 - 10.0, 20.0]
    assert torch.equal(ft["masks"], CocoInstances(tiny_coco_root)[0][1]["masks"].flip(-1))
    assert torch.equal(ft["labels"], t["labels"]) and int(ft["image_id"]) == 1
    with pytest.raises(TypeError, match="transforms must be a callable"):
        CocoInstances(tiny_coco_root, transforms="flip")


def test_labels_of_reads_the_annotations_only(tiny_coco_root):
    ds = CocoInstances(tiny_coco_root)
    assert [ds.labels_of(i).tolist() for i in range(len(ds))] == \
        [ds[i][1]["labels"].tolist() for i in range(len(ds))] == [[2, 3], [1], [1], []]
