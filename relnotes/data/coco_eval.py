"""COCO box evaluation in memory: a thin wrapper around pycocotools' ``COCOeval``.

The numbers of RN's tables are COCO's: mAP (AP averaged over IoU thresholds 0.5:0.05:0.95), mAP50
and mAP75, all from ``COCOeval`` with ``iouType="bbox"``. This wrapper adds three things the
small experiments need:

- **no files**: the ground truth is a COCO-format dict (:mod:`relnotes.data.context_shapes`),
  the detections a list of dicts or torchvision outputs (:func:`detections_to_coco`);
- **no detections is a result, not a crash**: pycocotools' ``loadRes([])`` raises (an early
  checkpoint or a strict score threshold can give zero detections); here every AP is then 0.0
  for the classes that have ground truth;
- **per-class AP** at IoU 0.5:0.95 (``precision[:, :, k, area=all, maxDets=100]``, averaged over
  the entries that are defined), because the effect of context lives in a few classes.

``summarize()``'s printout is swallowed (``contextlib.redirect_stdout``) so notebooks stay clean.
All images are small (64 x 64), so COCO's small/medium/large split is meaningless here and only
the ``all`` area range is reported.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math

import numpy as np
from torch import Tensor

__all__ = ["coco_evaluate", "detections_to_coco"]


def detections_to_coco(image_ids, outputs) -> list[dict]:
    """torchvision detector outputs -> COCO result dicts.

    Args:
        image_ids (iterable of int): the COCO id of each image.
        outputs (iterable of dict): per image ``boxes`` Tensor[K, 4] (x1, y1, x2, y2),
            ``scores`` Tensor[K], ``labels`` Tensor[K] (category ids).

    Returns:
        list of ``dict(image_id, category_id, bbox=[x, y, w, h], score)``.
    """
    dets = []
    for image_id, out in zip(image_ids, outputs):
        boxes = out["boxes"].detach().cpu().double() if isinstance(out["boxes"], Tensor) \
            else np.asarray(out["boxes"], np.float64)
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        scores = np.asarray(out["scores"].detach().cpu() if isinstance(out["scores"], Tensor)
                            else out["scores"], np.float64).reshape(-1)
        labels = np.asarray(out["labels"].detach().cpu() if isinstance(out["labels"], Tensor)
                            else out["labels"]).reshape(-1)
        if not len(boxes) == len(scores) == len(labels):
            raise ValueError(f"boxes, scores and labels of image {image_id} differ in length: "
                             f"{len(boxes)}, {len(scores)}, {len(labels)}")
        for b, s, c in zip(boxes, scores, labels):
            dets.append(dict(image_id=int(image_id), category_id=int(c),
                             bbox=[float(b[0]), float(b[1]), float(b[2] - b[0]),
                                   float(b[3] - b[1])], score=float(s)))
    return dets


def coco_evaluate(coco_gt: dict, detections: list[dict], *, max_dets: int = 100) -> dict:
    """Evaluate boxes with pycocotools.

    Args:
        coco_gt (dict): COCO-format ground truth (``images``, ``annotations``, ``categories``).
        detections (list of dict): ``image_id``, ``category_id``, ``bbox`` [x, y, w, h], ``score``;
            may be empty.
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
        E = COCOeval(gt, dt, iouType="bbox")
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
