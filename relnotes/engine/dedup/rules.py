r"""The hand-made duplicate-removal rules of RN Table 4: greedy NMS (:math:`N_t`), Gaussian
Soft-NMS (:math:`\sigma`), or nothing, per class, on the box head's pre-NMS output."""

from __future__ import annotations

import torch
from torch import Tensor

from ...ops.soft_nms import greedy_nms, soft_nms
from .outputs import HeadOutputs

__all__ = ["rule_detections"]


def _top_per_image(boxes: Tensor, scores: Tensor, labels: Tensor, max_per_image: int) -> dict:
    order = torch.argsort(scores, descending=True, stable=True)[:max_per_image]
    return dict(boxes=boxes[order], scores=scores[order], labels=labels[order])


@torch.no_grad()
def rule_detections(outputs: list[HeadOutputs], method: str = "nms", param: float = 0.5, *,
                    score_thresh: float = 0.01, max_per_image: int = 100) -> list[dict]:
    r"""Detections after a hand-made rule, per class.

    Args:
        outputs (list of HeadOutputs)
        method (str): ``"nms"`` (greedy, IoU threshold ``param`` = :math:`N_t`), ``"soft_nms"``
            (Gaussian, ``param`` = :math:`\sigma`) or ``"none"`` (keep every box). Default: nms.
        param (float): :math:`N_t` or :math:`\sigma`. Default: 0.5.
        score_thresh (float): boxes of a class below this :math:`s_0` are dropped first.
            Default: 0.01 (torchvision's and the tiny detector's).
        max_per_image (int): Default: 100.

    Returns:
        list of dict per image: ``boxes`` Tensor[K, 4], ``scores`` Tensor[K], ``labels``
        Tensor[K] (detector labels, 1-based), ``image_id``.
    """
    if method not in ("nms", "soft_nms", "none"):
        raise ValueError(f"method must be 'nms', 'soft_nms' or 'none'; got {method!r}")
    dets = []
    for out in outputs:
        r, c = out.scores.shape
        boxes = out.boxes[:, None].expand(r, c, 4).reshape(-1, 4)
        scores = out.scores.reshape(-1)
        labels = torch.arange(1, c + 1).repeat(r)
        keep = scores >= score_thresh
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        if method == "nms":
            k = greedy_nms(boxes, scores, param, labels)
            boxes, scores, labels = boxes[k], scores[k], labels[k]
        elif method == "soft_nms":
            kept = [(m := torch.nonzero(labels == lab).flatten(),
                     *soft_nms(boxes[m], scores[m], sigma=param)) for lab in labels.unique()]
            idx = torch.cat([m[k] for m, k, _ in kept]) if kept else labels[:0]
            new = torch.cat([s for _, _, s in kept]) if kept else scores[:0]
            boxes, scores, labels = boxes[idx], new, labels[idx]
        dets.append(dict(_top_per_image(boxes, scores, labels, max_per_image),
                         image_id=out.image_id))
    return dets
