r"""Training and inspecting box heads on one frozen detector body (RN Tables 1, 2; Figure 4).

RN's head ablations (Hu et al., "Relation Networks for Object Detection", arXiv:1711.11575v2,
Tables 1 and 2) change only the box head. At small scale we make that literal: the body (backbone
and RPN) of :func:`relnotes.models.tiny_faster_rcnn` is trained **once** with the 2fc head, and
every head variant is then trained on that same frozen body, so all heads see the same proposals
and differ only in the head:

1. ``fit`` the whole detector (2fc head) with :func:`train_detector`;
2. :func:`body_state` copies its backbone and RPN weights;
3. for each head: build a fresh detector with that head, :func:`load_body` (loads the body
   weights and freezes them, :func:`~relnotes.models.tiny_rcnn.freeze_detector_body`), and
   :func:`train_detector` again (only the head trains);
4. :func:`evaluate_detector`: COCO mAP / mAP50 / mAP75 (pycocotools), per-class AP, and the mean
   AP of a group of classes (the context-decided classes of ContextShapes) and of the others.

:func:`relation_weights` runs the trained head on one image and returns its detections together
with the relation weights :math:`\omega^{mn}` (RN Eq. (3)) between the RoIs they come from, for the
"object pairs with high relation weights" figure (RN Figure 4) and the talk's class co-occurrence
slide.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import Tensor
from torchvision.models.detection import FasterRCNN
from torchvision.ops import batched_nms, clip_boxes_to_image

from ..data.coco_eval import coco_evaluate, detections_to_coco
from ..data.context_shapes import detection_collate
from ..models.tiny_rcnn import detector_loss, freeze_detector_body, predict
from .loop import History, fit

__all__ = ["body_state", "load_body", "train_detector", "evaluate_detector", "relation_weights"]

_BODY = ("backbone.", "rpn.")


def _check_detector(model) -> None:
    if not isinstance(model, FasterRCNN):
        raise TypeError(f"model must be a torchvision FasterRCNN; got {type(model).__name__}")


def body_state(model: FasterRCNN) -> dict[str, Tensor]:
    """A copy of the backbone and RPN weights of ``model`` (its ``state_dict`` entries that start
    with ``backbone.`` or ``rpn.``)."""
    _check_detector(model)
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k.startswith(_BODY)}


def load_body(model: FasterRCNN, state: dict[str, Tensor]) -> FasterRCNN:
    """Load a :func:`body_state` into ``model`` and freeze it (in place; returned).

    Raises:
        ValueError: ``state`` does not hold exactly the backbone and RPN entries of ``model``
            (another architecture), or a shape differs.
    """
    _check_detector(model)
    own = {k: v for k, v in model.state_dict().items() if k.startswith(_BODY)}
    if set(state) != set(own):
        missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        raise ValueError(f"state must hold the backbone and RPN entries of model; missing "
                         f"{missing[:3]}, unexpected {extra[:3]}")
    for k, v in state.items():
        if v.shape != own[k].shape:
            raise ValueError(f"state[{k!r}] has shape {tuple(v.shape)}; model expects "
                             f"{tuple(own[k].shape)}")
    model.load_state_dict(state, strict=False)
    return freeze_detector_body(model)


def train_detector(model: FasterRCNN, dataset, *, epochs: int, batch_size: int, lr: float,
                   seed: int = 0, device: str = "cpu", progress: bool = False) -> History:
    """Train the trainable parameters of ``model`` (all of them, or the head only after
    :func:`load_body`) with Adam and :func:`~relnotes.models.tiny_rcnn.detector_loss`, through
    :func:`relnotes.engine.fit`.

    Args:
        model (FasterRCNN): e.g. :func:`relnotes.models.tiny_faster_rcnn`.
        dataset (Dataset): ``(image, target)`` pairs (``ContextShapes.torch_dataset()``).
        epochs, batch_size (int): as in :func:`~relnotes.engine.fit`.
        lr (float): Adam learning rate, > 0.
        seed (int): fixes the example order. Default: 0.
        device (str): Default: ``"cpu"``.
        progress (bool): tqdm bar. Default: False.

    Returns:
        History: the losses per step and epoch.
    """
    _check_detector(model)
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0; got {lr!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters (everything is frozen)")
    return fit(model, dataset, detector_loss, torch.optim.Adam(params, lr=lr), epochs=epochs,
               batch_size=batch_size, seed=seed, device=device, collate_fn=detection_collate,
               progress=progress)


def evaluate_detector(model: FasterRCNN, dataset, coco_gt: dict, *,
                      group: tuple[str, ...] = (), batch_size: int = 32) -> dict:
    """COCO box AP of ``model`` on ``dataset`` against ``coco_gt``
    (:func:`relnotes.data.coco_eval.coco_evaluate`).

    Args:
        model (FasterRCNN): evaluated in eval mode (the mode is restored).
        dataset (Dataset): ``(image, target)`` pairs whose ``image_id`` are those of ``coco_gt``.
        coco_gt (dict): COCO-format ground truth.
        group (tuple of str): category names whose mean AP is reported as ``ap_group``, the mean
            over the other categories as ``ap_rest`` (e.g. the context-decided classes).
            Default: () (both NaN).
        batch_size (int): images per forward pass. Default: 32.

    Returns:
        dict: ``mAP``, ``mAP50``, ``mAP75``, ``per_class`` (as ``coco_evaluate``), ``ap_group``,
        ``ap_rest`` (floats in [0, 1]).
    """
    _check_detector(model)
    names = [c["name"] for c in coco_gt.get("categories", [])]
    unknown = [g for g in group if g not in names]
    if unknown:
        raise ValueError(f"group names {unknown} are not categories of coco_gt ({names})")
    dets = predict(model, dataset, batch_size=batch_size)
    result = coco_evaluate(coco_gt, detections_to_coco([d["image_id"] for d in dets], dets))
    per_class = result["per_class"]

    def mean(keys):
        vals = [per_class[k] for k in keys if not math.isnan(per_class[k])]
        return sum(vals) / len(vals) if vals else math.nan

    result["ap_group"] = mean(group)
    result["ap_rest"] = mean([n for n in names if n not in group]) if group else math.nan
    return result


@torch.no_grad()
def relation_weights(model: FasterRCNN, image: Tensor, *, score_thresh: float = 0.5,
                     nms_thresh: float = 0.5) -> dict:
    r"""Detections of ``model`` on one image with the relation weights of its box head.

    The head sees the RPN's RoIs (proposals); each RoI gets its best foreground class, score and
    decoded box; RoIs scoring at least ``score_thresh`` are kept and deduplicated by per-class NMS
    (``nms_thresh``), which gives the detections. Unlike torchvision's post-processing, every
    detection keeps the index of the RoI it comes from, so its relation weights can be read off.

    Args:
        model (FasterRCNN): a detector whose box head accepts ``return_weights``
            (:class:`~relnotes.models.RelationBoxHead`).
        image (Tensor[3, H, W]): in [0, 1].
        score_thresh (float): Default: 0.5.
        nms_thresh (float): Default: 0.5.

    Returns:
        dict with ``rois`` Tensor[K, 4] (the RoIs, image pixels), ``boxes`` Tensor[D, 4],
        ``labels`` Tensor[D], ``scores`` Tensor[D] (the detections), ``roi_index`` Tensor[D] (the
        RoI of each detection), and ``weights``: one Tensor[N_r, K, K] per relation module (fc6's,
        then fc7's), :math:`\omega^{mn}` with the query n in rows and the key m in columns,
        each row summing to 1 (or 0 if the geometry term removes every key).
    """
    _check_detector(model)
    if not isinstance(image, Tensor) or image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"image must be Tensor[3, H, W]; got "
                         f"{tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__}")
    head = model.roi_heads.box_head
    if not hasattr(head, "relations"):
        raise ValueError(f"the box head ({type(head).__name__}) has no relation modules")
    was_training = model.training
    model.eval()
    try:
        images, _ = model.transform([image])
        features = model.backbone(images.tensors)
        if isinstance(features, Tensor):
            features = OrderedDict([("0", features)])
        proposals, _ = model.rpn(images, features)
        rh = model.roi_heads
        pooled = rh.box_roi_pool(features, proposals, images.image_sizes)
        x, weights = head(pooled, proposals, None, return_weights=True)
        logits, deltas = rh.box_predictor(x)
        rois = proposals[0]
        boxes = rh.box_coder.decode(deltas, proposals)                     # [K, C, 4]
        boxes = clip_boxes_to_image(boxes, images.image_sizes[0])
        probs = torch.softmax(logits, -1)
        scores, labels = probs[:, 1:].max(1)
        labels = labels + 1                                                # 0 is background
        boxes = boxes[torch.arange(len(rois)), labels]                     # [K, 4]
        idx = torch.nonzero(scores >= score_thresh).flatten()
        idx = idx[batched_nms(boxes[idx], scores[idx], labels[idx], nms_thresh)]
        # back to the input image's pixels (the transform may have resized it)
        size = image.shape[-2:]
        scaled = model.transform.postprocess([dict(boxes=torch.cat([boxes[idx], rois]))],
                                             images.image_sizes, [size])[0]["boxes"]
    finally:
        model.train(was_training)
    return dict(rois=scaled[len(idx):], boxes=scaled[:len(idx)], labels=labels[idx],
                scores=scores[idx], roi_index=idx, weights=weights[0])
