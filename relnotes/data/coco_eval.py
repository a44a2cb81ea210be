"""COCO box and mask evaluation in memory: a thin wrapper around pycocotools' ``COCOeval``.

The numbers of RN's and GCNet's tables are COCO's: mAP (AP averaged over IoU thresholds
0.5:0.05:0.95), mAP50 and mAP75, all from ``COCOeval`` with ``iouType="bbox"`` (box AP) or
``iouType="segm"`` (mask AP: the same matching, with the IoU of two masks instead of two boxes).
Masks travel as compressed RLE (:func:`encode_masks`), the format of COCO's result files. This
wrapper adds three things the small experiments need:

- **no files**: the ground truth is a COCO-format dict (:mod:`relnotes.data.context_shapes`,
  :mod:`relnotes.data.context_masks`, or real COCO's through :mod:`relnotes.data.coco_instances`),
  the detections a list of dicts or torchvision outputs (:func:`detections_to_coco`);
- **no detections is a result, not a crash**: pycocotools' ``loadRes([])`` raises (an early
  checkpoint or a strict score threshold can give zero detections); here every AP is then 0.0
  for the classes that have ground truth;
- **per-class AP** at IoU 0.5:0.95 (``precision[:, :, k, area=all, maxDets=100]``, averaged over
  the entries that are defined), because the effect of context lives in a few classes.

``summarize()``'s printout is swallowed (``contextlib.redirect_stdout``) so notebooks stay clean.
The synthetic images are small (64 x 64), so COCO's small/medium/large split is meaningless there;
only the ``all`` area range is reported (on real COCO too: the tables quote AP, AP50, AP75).
"""

from __future__ import annotations

import contextlib
import copy
import io
import math

import numpy as np
from torch import Tensor

__all__ = ["coco_evaluate", "detections_to_coco", "encode_masks", "IOU_TYPES"]

#: what ``coco_evaluate`` can compare: boxes or masks
IOU_TYPES = ("bbox", "segm")


def encode_masks(masks) -> list[dict]:
    """Binary masks -> COCO compressed RLE, JSON-ready (``counts`` as a str).

    Args:
        masks (ndarray or Tensor[K, H, W]): non-zero = inside.

    Returns:
        list of ``dict(size=[H, W], counts=str)``, one per mask.

    The runs alternate 0s and 1s in column-major order, starting with 0s. Example: the 2 x 3
    mask whose middle column is set reads 0, 0 | 1, 1 | 0, 0 column by column, runs 2, 2, 2,
    which pycocotools writes ``"222"``: ``encode_masks(m[None])`` is
    ``[{"size": [2, 3], "counts": "222"}]``.
    """
    from pycocotools import mask as mask_utils

    m = masks.detach().cpu().numpy() if isinstance(masks, Tensor) else np.asarray(masks)
    if m.ndim != 3:
        raise ValueError(f"masks must be [K, H, W]; got shape {tuple(m.shape)}")
    if m.shape[0] == 0:
        return []
    rles = mask_utils.encode(np.asfortranarray((m != 0).transpose(1, 2, 0).astype(np.uint8)))
    return [dict(size=[int(r["size"][0]), int(r["size"][1])], counts=r["counts"].decode("ascii"))
            for r in rles]


def _numpy(v, dtype=None) -> np.ndarray:
    v = v.detach().cpu().numpy() if isinstance(v, Tensor) else np.asarray(v)
    return v.astype(dtype) if dtype is not None else v


def detections_to_coco(image_ids, outputs, *, label_to_category=None,
                       mask_threshold: float = 0.5) -> list[dict]:
    """torchvision detector outputs -> COCO result dicts.

    Args:
        image_ids (iterable of int): the COCO id of each image.
        outputs (iterable of dict): per image ``boxes`` Tensor[K, 4] (x1, y1, x2, y2),
            ``scores`` Tensor[K], ``labels`` Tensor[K], and for Mask R-CNN ``masks``
            Tensor[K, 1, H, W] (probabilities; then every result also gets a ``segmentation``).
        label_to_category (sequence of int, optional): label k is the category id
            ``label_to_category[k]`` (real COCO's ids have gaps; a detector's labels do not).
            Default: None (labels are category ids).
        mask_threshold (float): a pixel belongs to the mask where the probability is above this
            (torchvision's convention). Default: 0.5.

    Returns:
        list of ``dict(image_id, category_id, bbox=[x, y, w, h], score)`` (+ ``segmentation``).
    """
    dets = []
    for image_id, out in zip(image_ids, outputs):
        boxes = _numpy(out["boxes"], np.float64).reshape(-1, 4)
        scores = _numpy(out["scores"], np.float64).reshape(-1)
        labels = _numpy(out["labels"]).reshape(-1)
        if not len(boxes) == len(scores) == len(labels):
            raise ValueError(f"boxes, scores and labels of image {image_id} differ in length: "
                             f"{len(boxes)}, {len(scores)}, {len(labels)}")
        rles = None
        if "masks" in out:
            masks = _numpy(out["masks"])
            if masks.ndim == 4:                                  # [K, 1, H, W] -> [K, H, W]
                masks = masks[:, 0]
            if len(masks) != len(boxes):
                raise ValueError(f"masks of image {image_id} must be [K, 1, H, W] with K = "
                                 f"{len(boxes)}; got shape {tuple(_numpy(out['masks']).shape)}")
            rles = encode_masks(masks > mask_threshold)
        for k, (b, s, c) in enumerate(zip(boxes, scores, labels)):
            cat = int(c) if label_to_category is None else int(label_to_category[int(c)])
            d = dict(image_id=int(image_id), category_id=cat,
                     bbox=[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
                     score=float(s))
            if rles is not None:
                d["segmentation"] = rles[k]
            dets.append(d)
    return dets


def coco_evaluate(coco_gt: dict, detections: list[dict], *, iou_type: str = "bbox",
                  max_dets: int = 100) -> dict:
    """Evaluate boxes or masks with pycocotools.

    Args:
        coco_gt (dict): COCO-format ground truth (``images``, ``annotations``, ``categories``;
            for ``segm`` every annotation has a ``segmentation``, polygons or RLE).
        detections (list of dict): ``image_id``, ``category_id``, ``bbox`` [x, y, w, h], ``score``
            (and ``segmentation``, compressed RLE, for ``segm``); may be empty.
        iou_type (str): ``"bbox"`` (box AP) or ``"segm"`` (mask AP). Default: ``"bbox"``.
        max_dets (int): detections per image kept by COCOeval (its last ``maxDets``).
            Default: 100.

    Returns:
        dict with ``mAP``, ``mAP50``, ``mAP75`` (floats in [0, 1]) and ``per_class``
        ({category name: AP at IoU 0.5:0.95}, NaN for a class without ground truth).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    for key in ("images", "annotations", "categories"):
        if key not in coco_gt:
            raise ValueError(f"coco_gt must be a COCO-format dict with {key!r}; got keys "
                             f"{sorted(coco_gt)}")
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type must be one of {IOU_TYPES}; got {iou_type!r}")
    if iou_type == "segm":
        if any("segmentation" not in a for a in coco_gt["annotations"]):
            raise ValueError("iou_type='segm' needs a 'segmentation' in every ground-truth "
                             "annotation; some have none")
        if any("segmentation" not in d for d in detections):
            raise ValueError("iou_type='segm' needs a 'segmentation' (RLE) in every detection; "
                             "pass Mask R-CNN outputs with 'masks' to detections_to_coco")
    names = {c["id"]: c["name"] for c in coco_gt["categories"]}
    has_gt = {c: False for c in names}
    for a in coco_gt["annotations"]:
        has_gt[a["category_id"]] = True
    if len(detections) == 0:  # pycocotools' loadRes([]) raises: no detections, AP 0
        per_class = {names[c]: (0.0 if has_gt[c] else math.nan) for c in names}
        return dict(mAP=0.0, mAP50=0.0, mAP75=0.0, per_class=per_class)
    gt = COCO()
    gt.dataset = copy.deepcopy(coco_gt)
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(copy.deepcopy(list(detections)))
        E = COCOeval(gt, dt, iouType=iou_type)
        E.params.maxDets = [1, 10, max_dets]
        E.evaluate()
        E.accumulate()
        E.summarize()
    precision = E.eval["precision"]          # [T iou, R recall, K class, A area, M maxDets]
    per_class = {}
    for k, cat_id in enumerate(E.params.catIds):
        p = precision[:, :, k, 0, -1]
        p = p[p > -1]
        per_class[names[cat_id]] = float(p.mean()) if p.size else math.nan

    def clean(v: float) -> float:  # COCOeval writes -1 where nothing is defined
        return max(float(v), 0.0)

    return dict(mAP=clean(E.stats[0]), mAP50=clean(E.stats[1]), mAP75=clean(E.stats[2]),
                per_class=per_class)
