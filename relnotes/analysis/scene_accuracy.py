"""Does a detector tell the scene of an object? (GCNet chapter, :class:`ContextMasks`).

:class:`relnotes.data.context_masks.ContextMasks` draws each shape in two scenes (with and without
a flag elsewhere in the image); the category says shape and scene. A detector that finds an
object but ignores the global context gets the scene right half of the time.
"""

from __future__ import annotations

import torch
from torchvision.ops import box_convert, box_iou

from ..data.context_masks import ContextMasks

__all__ = ["scene_accuracy"]


def scene_accuracy(data: ContextMasks, detections: list[dict], *, iou: float = 0.5) -> float:
    """How often a detector tells the scene (flag or not) of an object it found.

    For every ground-truth object, take the highest-scoring detection of the same *shape* (either
    scene) whose box overlaps it with IoU >= ``iou``; count it right when its scene is the
    object's. A detector blind to the flag scores about 0.5; one that uses it, about 1.

    Args:
        data (ContextMasks): the ground truth.
        detections (list of dict): COCO results (``image_id``, ``category_id``, ``bbox``, ``score``).
        iou (float): Default: 0.5.

    Returns:
        float: the fraction over the objects that have such a detection (0.0 if none has).
    """
    by_image: dict[int, list[dict]] = {}
    for d in detections:
        by_image.setdefault(d["image_id"], []).append(d)
    by_image_gt: dict[int, list[dict]] = {}
    for a in data.coco["annotations"]:
        by_image_gt.setdefault(a["image_id"], []).append(a)
    # Tensor[A, D] per image: IoU of its ground-truth objects with its detections (float64)
    ious = {i: _iou_matrix(gts, by_image.get(i, [])) for i, gts in by_image_gt.items()}
    row = {id(a): r for gts in by_image_gt.values() for r, a in enumerate(gts)}
    right = found = 0
    for a in data.coco["annotations"]:
        shape, scene = (a["category_id"] - 1) % 3, (a["category_id"] - 1) // 3
        best = None
        overlaps = ious[a["image_id"]][row[id(a)]]
        for d, o in zip(by_image.get(a["image_id"], []), overlaps.tolist()):
            if (d["category_id"] - 1) % 3 == shape and o >= iou:
                if best is None or d["score"] > best["score"]:
                    best = d
        if best is not None:
            found += 1
            right += (best["category_id"] - 1) // 3 == scene
    return right / found if found else 0.0


def _iou_matrix(gts: list[dict], dets: list[dict]) -> torch.Tensor:
    """:func:`torchvision.ops.box_iou` of COCO [x, y, w, h] boxes, in float64: Tensor[A, D]."""
    def boxes(items):
        b = torch.tensor([x["bbox"] for x in items], dtype=torch.float64).view(-1, 4)
        return box_convert(b, "xywh", "xyxy")
    return box_iou(boxes(gts), boxes(dets))
