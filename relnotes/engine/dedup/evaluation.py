r"""Measurements of duplicate removal: every method's detections on a dataset streamed batch by
batch (COCO), and how many boxes cover one object before any removal."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.models.detection import FasterRCNN
from torchvision.ops import box_iou

from ...data.coco_eval import coco_evaluate, detections_to_coco
from .outputs import HeadOutputs, head_outputs

__all__ = ["stream_detections", "duplicates_per_object", "coco_ap"]


@torch.no_grad()
def stream_detections(detector: FasterRCNN, dataset: Dataset,
                      methods: Mapping[str, Callable[[list[HeadOutputs]], list[dict]]], *,
                      batch_size: int = 8, device: str | torch.device = "cpu",
                      progress: bool = False) -> dict[str, list[dict]]:
    """Every method's detections on every image of ``dataset``, batch by batch: the head outputs
    of a batch are computed once, given to each method, and dropped.

    Args:
        detector (FasterRCNN): moved to ``device``, run in eval mode (the mode is restored).
        dataset (Dataset): ``(image, target)`` items, ``target["image_id"]`` the COCO id.
        methods (dict): name -> function of a list of :class:`HeadOutputs` returning detections
            as :func:`rule_detections` does, e.g. ``lambda o: rule_detections(o, "nms", 0.5)``.
        batch_size (int): images per forward pass. Default: 8.
        device (str or torch.device): Default: ``"cpu"``.
        progress (bool): a tqdm bar. Default: False.

    Returns:
        dict: name -> list of detection dicts (tensors on the CPU), image by image.
    """
    from tqdm.auto import tqdm

    was_training = detector.training
    detector.to(device).eval()
    dets: dict[str, list[dict]] = {name: [] for name in methods}
    try:
        for start in tqdm(range(0, len(dataset), batch_size), desc="detections",
                          disable=not progress):
            items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
            outs = head_outputs(detector, [im.to(device) for im, _ in items],
                                [int(t["image_id"]) for _, t in items])
            for name, method in methods.items():
                dets[name] += [{k: v.cpu() if isinstance(v, Tensor) else v for k, v in d.items()}
                               for d in method(outs)]
    finally:
        detector.train(was_training)
    return dets


@torch.no_grad()
def duplicates_per_object(outputs: list[HeadOutputs], targets: list[dict], *,
                          score_thresh: float = 0.05, iou: float = 0.5) -> float:
    r"""How many detections before duplicate removal cover one object: the mean, over
    ground-truth boxes, of the number of boxes of its class with :math:`s_0 \ge` ``score_thresh``
    and IoU :math:`\ge` ``iou`` with it. 1 means no duplicates."""
    counts = []
    for out, t in zip(outputs, targets):
        if len(t["boxes"]) == 0:
            continue
        ious = box_iou(t["boxes"].to(out.boxes.dtype), out.boxes)               # [G, R]
        confident = out.scores[:, t["labels"] - 1].T >= score_thresh            # [G, R]
        counts += ((ious >= iou) & confident).sum(1).tolist()
    return sum(counts) / len(counts) if counts else 0.0


def coco_ap(coco_gt: dict, detections: list[dict], *, label_to_category=None) -> dict[str, float]:
    """COCO box AP of per-image detections (as :func:`~relnotes.engine.dedup.rule_detections`
    returns them) against ``coco_gt``, in % rounded to 0.1: ``mAP``, ``mAP50``, ``mAP75``
    (:func:`relnotes.data.coco_eval.coco_evaluate`)."""
    r = coco_evaluate(coco_gt, detections_to_coco([d["image_id"] for d in detections], detections,
                                                  label_to_category=label_to_category))
    return {k: round(100 * r[k], 1) for k in ("mAP", "mAP50", "mAP75")}
