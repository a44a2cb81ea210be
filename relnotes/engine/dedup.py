r"""Duplicate removal after a two-stage detector: hand-made rules and the learned network.

RN (arXiv:1711.11575v2) Sec. 4.3-4.4 and Tables 3-4. Every method here starts from the same
**pre-NMS** output of the box head of a torchvision ``FasterRCNN`` (:func:`head_outputs`): for
each RoI of an image, its feature :math:`f` (the 2fc output), its class probabilities :math:`s_0`
(softmax, background removed) and its refined box (class-agnostic regression). Then

- :func:`rule_detections` keeps, per class, the boxes with :math:`s_0 \ge` ``score_thresh`` and
  applies greedy NMS (:math:`N_t`), Gaussian Soft-NMS (:math:`\sigma`) or nothing;
- :func:`learned_detections` takes, per class, the ``first_n`` best boxes
  (:func:`~relnotes.nn.select_top_n`; classes whose best score reaches
  ``class_score_threshold``) and rescores them with :class:`~relnotes.nn.DuplicateRemoval`:
  :math:`s = s_0 \cdot \frac1T\sum_\eta s_1^\eta`, no NMS afterwards (code, issue #19);
- :func:`dedup_loss` is the training loss of the network on the same candidates, with
  :func:`~relnotes.nn.duplicate_removal_targets` per class and image.

Every method keeps at most ``max_per_image`` detections per image (COCO's 100).

**Two ways to train the network** (RN Table 4):

- *alone*: the detector is frozen; :func:`head_outputs` is computed once, without gradients, and
  the network trains on the cached outputs (:class:`CachedHeadOutputs`, for
  :func:`relnotes.engine.fit`). On COCO the cache would not fit (1,000 RoI features of 1,024
  floats per image are 4 MB, 470 GB for train2017): :func:`frozen_detector_dedup_loss` computes
  the head outputs of each batch on the fly instead, and :func:`stream_detections` evaluates
  every method batch by batch;
- *end to end* (Sec. 4.4): :class:`DetectorWithDedup` adds the detector's losses and the
  duplicate-removal loss with equal weights (:func:`e2e_loss`). The gradient of
  :math:`s_0 s_1` reaches the classifier through :math:`s_0` and the head through :math:`f`, but
  not the boxes: the official code ``BlockGrad``-s the box regression, and here the decoded boxes
  are detached. The rank is an index and has no gradient either. Our detector's body (backbone and
  RPN) is frozen in both cases (:func:`~relnotes.engine.detection.freeze_detector_body`), so "end
  to end" trains the box head and the network together; the paper also trains the body.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.transform import resize_boxes
from torchvision.ops import box_iou

from ..nn.duplicate_removal import (DuplicateRemoval, duplicate_removal_loss,
                                    duplicate_removal_targets, select_top_n)
from ..ops.soft_nms import greedy_nms, soft_nms

__all__ = ["HeadOutputs", "head_outputs", "CachedHeadOutputs", "rule_detections",
           "learned_detections", "saturated_fraction", "dedup_loss", "frozen_detector_dedup_loss",
           "stream_detections", "DetectorWithDedup", "e2e_loss", "duplicates_per_object"]


@dataclass
class HeadOutputs:
    """The pre-NMS output of the box head on one image.

    Attributes:
        features (Tensor[R, F]): the 2fc feature of each of the R RoIs.
        scores (Tensor[R, C]): class probabilities :math:`s_0`, background removed (column c is
            the detector label c + 1).
        boxes (Tensor[R, 4]): refined boxes (x1, y1, x2, y2) in the input image's pixels,
            class agnostic, without gradient.
        image_id (int): the COCO id of the image.
    """

    features: Tensor
    scores: Tensor
    boxes: Tensor
    image_id: int

    def detach(self) -> "HeadOutputs":
        return HeadOutputs(self.features.detach(), self.scores.detach(), self.boxes,
                           self.image_id)


def head_outputs(model: FasterRCNN, images: list[Tensor], image_ids: list[int]) -> list[HeadOutputs]:
    """Run ``model`` up to its box head and return every RoI's feature, scores and box.

    The backbone and the RPN run in eval mode (the test-time proposals) and, when the body is
    frozen (:func:`~relnotes.engine.detection.freeze_detector_body`), without gradients; the box
    head runs in the mode and with the gradients of the caller, so the output can be trained
    (end to end) or cached (``torch.no_grad()``). The box head must be a
    :class:`~relnotes.models.RelationBoxHead` with a class-agnostic predictor
    (:func:`~relnotes.models.relation_faster_rcnn`).

    Args:
        model (FasterRCNN): e.g. :func:`~relnotes.models.tiny_faster_rcnn`.
        images (list of Tensor[3, H, W]): in [0, 1].
        image_ids (list of int): COCO id of each image.

    Returns:
        list of :class:`HeadOutputs`, one per image.
    """
    if len(images) != len(image_ids):
        raise ValueError(f"images and image_ids must have the same length; got {len(images)} "
                         f"and {len(image_ids)}")
    if not images:
        return []
    rh = model.roi_heads
    modes = (model.transform.training, model.backbone.training, model.rpn.training)
    frozen = getattr(model, "_body_frozen", False)
    model.transform.eval(), model.backbone.eval(), model.rpn.eval()
    try:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
            original_sizes = [tuple(im.shape[-2:]) for im in images]
            batch, _ = model.transform(images)
            feats = model.backbone(batch.tensors)
            if isinstance(feats, Tensor):
                feats = OrderedDict([("0", feats)])
            proposals, _ = model.rpn(batch, feats)                    # list of Tensor[R_i, 4]
    finally:
        model.transform.train(modes[0]), model.backbone.train(modes[1]), model.rpn.train(modes[2])
    x = rh.box_roi_pool(feats, proposals, batch.image_sizes)
    x = rh.box_head(x, proposals)                                       # [R, F]
    logits, deltas = rh.box_predictor(x)                                # [R, C+1], [R, 4(C+1)]
    # class agnostic: the deltas repeat for every class; take the first 4. No gradient to the
    # boxes (official code: BlockGrad on bbox_pred).
    boxes = rh.box_coder.decode(deltas[:, :4].detach(), proposals)[:, 0]   # [R, 4]
    probs = torch.softmax(logits, dim=-1)[:, 1:]                        # s_0, [R, C]
    out = []
    sizes = [len(p) for p in proposals]
    for f, s, b, size, orig, image_id in zip(x.split(sizes), probs.split(sizes),
                                             boxes.split(sizes), batch.image_sizes,
                                             original_sizes, image_ids):
        b = resize_boxes(b.clamp(min=0), size, orig)
        b = torch.minimum(b, b.new_tensor([orig[1], orig[0], orig[1], orig[0]]))
        out.append(HeadOutputs(f, s, b, int(image_id)))
    return out


class CachedHeadOutputs(Dataset):
    """Frozen-detector head outputs and ground truth, the dataset of the network trained alone.

    Item ``i``: ``(HeadOutputs, target)``; batch them with ``collate_fn=list``.

    Args:
        model (FasterRCNN): the frozen detector.
        dataset (Dataset): ``(image, target)`` pairs (target: ``boxes``, ``labels``,
            ``image_id``).
        batch_size (int): images per forward pass. Default: 32.
        device (str or torch.device, optional): where the images go (the model's device);
            the outputs are kept on the CPU. Default: the device of the model's parameters.
    """

    def __init__(self, model: FasterRCNN, dataset: Dataset, batch_size: int = 32,
                 device: str | torch.device | None = None) -> None:
        was_training = model.training
        model.eval()
        if device is None:
            device = next(model.parameters()).device
        self.items = []
        with torch.no_grad():
            for start in range(0, len(dataset), batch_size):
                pairs = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
                outs = head_outputs(model, [im.to(device) for im, _ in pairs],
                                    [int(t["image_id"]) for _, t in pairs])
                self.items += [(HeadOutputs(o.features.cpu(), o.scores.cpu(), o.boxes.cpu(),
                                            o.image_id), t) for o, (_, t) in zip(outs, pairs)]
        model.train(was_training)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.items[i]


def _candidates(out: HeadOutputs, first_n: int, class_score_threshold: float | None):
    """Per class, the ``first_n`` best RoIs: (classes [C'], scores [C', N], boxes [C', N, 4],
    features [C', N, F])."""
    classes, index, top = select_top_n(out.scores, first_n, class_score_threshold)
    scores = out.scores[index, classes[:, None]]            # [C', N], with the gradient
    # index_select, not features[index]: a RoI is a candidate of several classes, and the
    # backward of advanced indexing sums its gradients with parallel atomic adds on CPU, in an
    # order (so a float sum) that changes from run to run; index_select's backward is sequential
    features = out.features.index_select(0, index.reshape(-1)).unflatten(0, index.shape)
    return classes, scores, out.boxes[index], features


def dedup_loss(net: DuplicateRemoval, outputs: list[HeadOutputs], targets: list[dict], *,
               first_n: int = 100, class_score_threshold: float | None = None,
               pos_weight: float = 4.0) -> Tensor:
    r"""The duplicate-removal loss (:func:`~relnotes.nn.duplicate_removal_loss`, BCE on
    :math:`s_0 s_1`) on every class of every image, summed over classes, averaged over images.

    Args:
        net (DuplicateRemoval)
        outputs (list of HeadOutputs): one per image.
        targets (list of dict): ``boxes`` Tensor[G, 4], ``labels`` Tensor[G] (detector labels,
            1-based), one per image.
        first_n (int): detections per class. Default: 100.
        class_score_threshold (float, optional): skip the classes whose best :math:`s_0` is
            below (the code trains on every class; a threshold saves time, and the skipped
            classes only have near-zero scores, whose loss is near zero). Default: every class.
        pos_weight (float): Default: 4 (code).

    Returns:
        Tensor[]: 0 (with a gradient path) when there is no image or no RoI.
    """
    if len(outputs) != len(targets):
        raise ValueError(f"outputs and targets must have one entry per image; got "
                         f"{len(outputs)} and {len(targets)}")
    total = sum(p.sum() for p in net.parameters()) * 0.0
    # the classes of all images with the same N go through the network as one batch
    groups: dict[int, list[tuple[Tensor, Tensor, Tensor, Tensor]]] = {}
    for out, target in zip(outputs, targets):
        classes, scores, boxes, feats = _candidates(out, first_n, class_score_threshold)
        if scores.numel() == 0:
            continue
        t = torch.stack([
            duplicate_removal_targets(b, s.detach(), target["boxes"][target["labels"] == c + 1],
                                      net.thresholds)
            for c, s, b in zip(classes.tolist(), scores, boxes)])            # [C', N, T]
        groups.setdefault(scores.shape[1], []).append((scores, boxes, feats, t))
    for group in groups.values():
        scores, boxes, feats, t = (torch.cat(x) for x in zip(*group))
        s1 = net(feats, scores, boxes)                                       # [sum C', N, T]
        total = total + duplicate_removal_loss(scores[..., None] * s1, t, pos_weight)
    return total / max(len(outputs), 1)


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


@torch.no_grad()
def learned_detections(net: DuplicateRemoval, outputs: list[HeadOutputs], *, first_n: int = 100,
                       class_score_threshold: float | None = 0.01,
                       max_per_image: int = 100) -> list[dict]:
    r"""Detections rescored by the network: per class the ``first_n`` best boxes with
    :math:`s = s_0 \cdot \frac1T \sum_\eta s_1^\eta` (:meth:`DuplicateRemoval.final_scores`);
    no NMS afterwards. Same output as :func:`rule_detections`.

    Args:
        class_score_threshold (float, optional): classes whose best :math:`s_0` is below are
            skipped (code: 0.01). Default: 0.01.
    """
    was_training = net.training
    net.eval()
    dets = []
    for out in outputs:
        classes, scores, boxes, feats = _candidates(out, first_n, class_score_threshold)
        if scores.numel() == 0:
            dets.append(dict(boxes=out.boxes.new_zeros(0, 4), scores=out.scores.new_zeros(0),
                             labels=torch.zeros(0, dtype=torch.int64), image_id=out.image_id))
            continue
        final = net.final_scores(scores, net(feats, scores, boxes))            # [C', N]
        labels = (classes[:, None] + 1).expand_as(final)
        dets.append(dict(_top_per_image(boxes.reshape(-1, 4), final.reshape(-1),
                                        labels.reshape(-1), max_per_image),
                         image_id=out.image_id))
    net.train(was_training)
    return dets


@torch.no_grad()
def saturated_fraction(net: DuplicateRemoval, outputs: list[HeadOutputs], *, first_n: int = 100,
                       class_score_threshold: float | None = 0.01) -> Tensor:
    r"""Per threshold, the fraction of the candidates of :func:`learned_detections` whose
    :math:`s_1` is exactly 0 or 1 in floating point.

    Such a sigmoid passes no gradient (its derivative :math:`s_1 (1 - s_1)` is 0), so a network
    with :math:`s_1 = 1` everywhere has stopped learning for good and scores exactly like no
    duplicate removal. Too large a learning rate puts it there: from the logit bias -3, the
    loss pushes every logit up, and the step overshoots past the float32 limit (logit > ~17).

    Returns:
        Tensor[T] (T = ``len(net.thresholds)``), in [0, 1]; zeros when there is no candidate.
    """
    was_training = net.training
    net.eval()
    s1 = []
    for out in outputs:
        classes, scores, boxes, feats = _candidates(out, first_n, class_score_threshold)
        if scores.numel():
            s1.append(net(feats, scores, boxes).reshape(-1, len(net.thresholds)))   # [C' N, T]
    net.train(was_training)
    if not s1:
        return torch.zeros(len(net.thresholds))
    s1 = torch.cat(s1)
    return ((s1 == 0) | (s1 == 1)).float().mean(dim=0)


def frozen_detector_dedup_loss(detector: FasterRCNN, *, first_n: int = 100,
                               class_score_threshold: float | None = None) -> Callable:
    """The ``loss_fn`` of :func:`relnotes.engine.fit` that trains a network alone on a frozen
    ``detector`` without a cache: for each batch ``(images, targets)`` of a detection dataset,
    :func:`head_outputs` without gradients, then :func:`dedup_loss`. ``detector`` must be on the
    device ``fit`` trains on; it stays frozen (nothing reaches its parameters)."""
    def loss_fn(net: DuplicateRemoval, batch) -> Tensor:
        images, targets = batch
        with torch.no_grad():
            outs = head_outputs(detector, list(images), [int(t["image_id"]) for t in targets])
        return dedup_loss(net, outs, list(targets), first_n=first_n,
                          class_score_threshold=class_score_threshold)
    return loss_fn


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


class DetectorWithDedup(nn.Module):
    """A detector and a duplicate-removal network trained together (RN Sec. 4.4, e2e); the
    ``model`` of :func:`relnotes.engine.fit` with :func:`e2e_loss`.

    Args:
        detector (FasterRCNN): with a :class:`~relnotes.models.RelationBoxHead`.
        dedup (DuplicateRemoval): its ``feat_dim`` is the head's width.
        first_n (int): detections per class of the network. Default: 100.
        class_score_threshold (float, optional): of :func:`dedup_loss`. Default: every class.
    """

    def __init__(self, detector: FasterRCNN, dedup: DuplicateRemoval, first_n: int = 100,
                 class_score_threshold: float | None = None) -> None:
        super().__init__()
        width = detector.roi_heads.box_head.representation_size
        if dedup.feat_dim != width:
            raise ValueError(f"dedup.feat_dim ({dedup.feat_dim}) must be the box head's width "
                             f"({width})")
        self.detector, self.dedup, self.first_n = detector, dedup, first_n
        self.class_score_threshold = class_score_threshold


def e2e_loss(model: DetectorWithDedup, batch) -> Tensor:
    """RN Sec. 4.4: the detector's losses plus the duplicate-removal loss, equal weights.
    ``batch = (images, targets)`` as for :func:`~relnotes.engine.detection.detector_loss`."""
    from .detection import detector_loss

    images, targets = batch
    loss = detector_loss(model.detector, batch)
    outs = head_outputs(model.detector, list(images), [int(t["image_id"]) for t in targets])
    return loss + dedup_loss(model.dedup, outs, list(targets), first_n=model.first_n,
                             class_score_threshold=model.class_score_threshold)


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
