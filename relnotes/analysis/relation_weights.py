r"""What a trained relation head looks at: the numbers behind RN Figure 4 and the talk's
class co-occurrence slide.

- :func:`relation_weights` runs the trained head on one image and returns its detections together
  with the relation weights :math:`\omega^{mn}` (RN Eq. (3)) between the RoIs they come from
  ("object pairs with high relation weights", RN Figure 4);
- :func:`cooccurrence_matrix` gives the training set's :math:`P(b \mid a)`, and
  :func:`class_relation_matrix` the mean relation weight from the detections of class :math:`a` to
  those of class :math:`b` (our reconstruction of the talk's slide, whose recipe is not published).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor
from torchvision.models.detection import FasterRCNN
from torchvision.ops import batched_nms, box_iou, clip_boxes_to_image

__all__ = ["relation_weights", "cooccurrence_matrix", "class_relation_matrix",
           "top_weight_on_nearest", "detections_with_weights", "assign_to_ground_truth",
           "deciding_neighbours", "neighbour_weight_mass", "roi_weights_on_ground_truth",
           "masked_key_detections", "hidden_keys", "context_share", "MASKS", "roi_class_mass", "matrix_correlation",
           "read_relations", "held_out_best", "reference_pairs", "masked_key_ap", "MASS_PARTS",
           "READING_NOTES", "figures_notes"]


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
    if not isinstance(model, FasterRCNN):
        raise TypeError(f"model must be a torchvision FasterRCNN; got {type(model).__name__}")
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


def cooccurrence_matrix(labels_per_image, num_classes: int) -> Tensor:
    r"""The training set's class co-occurrence :math:`P(b \mid a)`: of the images with an object of
    class :math:`a`, the share that contain *another* object of class :math:`b` (for
    :math:`b = a`, a second one).

    Args:
        labels_per_image (sequence of int arrays): the class ids (1 ... ``num_classes``) of the
            objects of each image.
        num_classes (int): K.

    Returns:
        Tensor[K, K] (float64): row a, column b; a row of a class never present is 0.
    """
    counts = torch.stack([torch.bincount(torch.as_tensor(labels, dtype=torch.int64) - 1,
                                         minlength=num_classes)
                          for labels in labels_per_image])                     # [I, K]
    has = counts > 0                                                           # [I, K]
    eye = torch.eye(num_classes, dtype=torch.int64)
    # another object of class b besides one of class a: counts[i, b] - [a == b] > 0
    others = (counts[:, None, :] - eye[None]) > 0                              # [I, K(a), K(b)]
    cooc = (has[:, :, None] & others).sum(0).double()                          # [K, K]
    present = has.sum(0).double()                                              # [K]
    return cooc / present.clamp(min=1)[:, None]


def class_relation_matrix(labels_per_image, weights_per_image, num_classes: int
                          ) -> tuple[Tensor, Tensor]:
    r"""The mean total relation weight from the detections of class :math:`a` to the *other*
    detections of class :math:`b` (the learnt side of the talk's co-occurrence slide).

    Args:
        labels_per_image (sequence of int arrays): the class ids (1 ... K) of each image's
            detections.
        weights_per_image (sequence of arrays [D, D]): :math:`\omega^{mn}` between them, query n
            in rows (e.g. from :func:`relation_weights`).
        num_classes (int): K.

    Returns:
        (Tensor[K, K], Tensor[K]) (float64): row a, column b, the mean over the queries of class
        a (0 for a class never detected); and the number of queries of each class.
    """
    attn = torch.zeros(num_classes, num_classes, dtype=torch.float64)
    n_query = torch.zeros(num_classes, dtype=torch.float64)
    for labels, w in zip(labels_per_image, weights_per_image):
        cls = torch.as_tensor(labels, dtype=torch.int64) - 1                  # [D]
        w = torch.as_tensor(w).double().fill_diagonal_(0)                     # m != n
        # mass[n, b] = sum over m of class b of w[n, m] (index_add_ keeps the order of m)
        mass = w.new_zeros(len(cls), num_classes).index_add_(1, cls, w)        # [D, K]
        attn.index_add_(0, cls, mass)
        n_query.index_add_(0, cls, torch.ones(len(cls), dtype=torch.float64))
    return attn / n_query.clamp(min=1)[:, None], n_query


def top_weight_on_nearest(detections, small_ids) -> tuple[float | None, float | None, int]:
    """RN Figure 4 as a number: how often a detected small object puts its largest relation
    weight, among the large detections of its image, on the *nearest* one.

    Only images with at least two large detections count (with one, the nearest is the only
    choice). Distance: from the small box's centre to the large box (0 inside it;
    :func:`relnotes.data.context_shapes.point_box_distance`).

    Args:
        detections (sequence of dict): per image ``boxes`` (array [D, 4]), ``labels`` (array [D],
            1-based) and ``w`` (array [D, D], the relation weights between the detections, query
            in rows).
        small_ids (set of int): the labels of the small classes; every other label is large.

    Returns:
        (share, chance, n): the share of the n queries whose top-weighted large detection is the
        nearest, and the mean of 1 / (number of large detections), the share a random choice
        would get; None and None when n is 0.
    """
    import numpy as np

    from ..data.context_shapes import point_box_distance

    hits, chance, n_queries = 0, 0.0, 0
    for d in detections:
        large = np.flatnonzero(~np.isin(d["labels"], list(small_ids)))
        if len(large) < 2:
            continue
        for n in np.flatnonzero(np.isin(d["labels"], list(small_ids))):
            b = d["boxes"][n]
            centre = np.array([[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]])
            nearest = large[np.argmin(point_box_distance(centre, d["boxes"][large])[0])]
            hits += int(large[np.argmax(d["w"][n, large])] == nearest)
            chance += 1 / len(large)
            n_queries += 1
    if not n_queries:
        return None, None, 0
    return hits / n_queries, chance / n_queries, n_queries


def detections_with_weights(model: FasterRCNN, dataset, *, n_images: int,
                            score_thresh: float = 0.5, module: int = 0,
                            device: str | torch.device = "cpu", progress: bool = False
                            ) -> list[dict]:
    """:func:`relation_weights` on the first ``n_images`` images of ``dataset``, kept as numpy
    arrays per image: ``boxes``, ``labels``, ``scores`` of the detections and ``w``, the weights
    between them of relation module ``module`` (0: the one after fc6) averaged over its
    :math:`N_r` relations, query in rows. ``model`` is moved to ``device``."""
    from tqdm.auto import tqdm

    per_image = []
    model.to(device)
    for i in tqdm(range(n_images), desc="relation weights", disable=not progress):
        image = dataset[i][0].to(device)
        out = relation_weights(model, image, score_thresh=score_thresh)
        w = out["weights"][module].mean(0)          # [K, K]: mean over the relations
        idx = out["roi_index"]
        per_image.append(dict(boxes=out["boxes"].cpu().numpy(), labels=out["labels"].cpu().numpy(),
                              scores=out["scores"].cpu().numpy(), w=w[idx][:, idx].cpu().numpy()))
    return per_image


# --- Reading the weights through the ground truth (issue 15) -------------------------------------
# The functions above read the weights between *detections*, after NMS, averaged over the
# relations of the first module. Most of a query's weight then falls on RoIs that are not
# detections, and the average over relations can hide a relation that does look at the context.
# The functions below read every RoI instead, through the ground-truth object it covers, per module
# and per relation, and test the reading causally: remove the keys of one object and see what the
# context-decided classes lose.

def assign_to_ground_truth(rois: Tensor, gt_boxes: Tensor, iou_threshold: float = 0.5) -> Tensor:
    """The ground-truth object each RoI covers: the one of highest IoU, if it is at least
    ``iou_threshold``.

    Args:
        rois (Tensor[K, 4]), gt_boxes (Tensor[G, 4]): (x1, y1, x2, y2), same pixels.
        iou_threshold (float): Default: 0.5 (a detection's match in COCO's AP50).

    Returns:
        Tensor[K] (int64): the index of the object in ``gt_boxes``, -1 for none.

    Example: the RoI (0, 0, 10, 10) covers the object (0, 0, 10, 8) (IoU 0.8), not the object
    (5, 0, 15, 10) (IoU 1/3): ``assign_to_ground_truth(...) == tensor([0])``.
    """
    if rois.numel() == 0 or gt_boxes.numel() == 0:
        return torch.full((rois.shape[0],), -1, dtype=torch.int64)
    iou = box_iou(rois.double(), gt_boxes.double())                          # [K, G]
    best, idx = iou.max(1)
    return torch.where(best >= iou_threshold, idx, -1)


def deciding_neighbours(gt_boxes: Tensor, gt_labels: Tensor, small_ids) -> Tensor:
    """For each small ContextShapes object, the large object that decides its class: the nearest
    one (distance from the small box's centre to the large box, 0 inside;
    :func:`~relnotes.data.context_shapes.point_box_distance`).

    Args:
        gt_boxes (Tensor[G, 4]), gt_labels (Tensor[G]): the ground truth of one image.
        small_ids (set of int): the labels of the context-decided classes.

    Returns:
        Tensor[G] (int64): the index of the deciding object for a small object; -1 for a large
        one, or when the image has no large object.
    """
    import numpy as np

    from ..data.context_shapes import point_box_distance

    labels = torch.as_tensor(gt_labels).tolist()
    small = [i for i, c in enumerate(labels) if c in small_ids]
    large = [i for i, c in enumerate(labels) if c not in small_ids]
    out = torch.full((len(labels),), -1, dtype=torch.int64)
    if not small or not large:
        return out
    b = torch.as_tensor(gt_boxes, dtype=torch.float64).numpy()
    centres = np.stack([(b[small, 0] + b[small, 2]) / 2, (b[small, 1] + b[small, 3]) / 2], 1)
    d = point_box_distance(centres, b[large])                               # [S, L]
    out[small] = torch.as_tensor(np.array(large)[d.argmin(1)], dtype=torch.int64)
    return out


def neighbour_weight_mass(weights: Tensor, roi_gt: Tensor, deciding: Tensor) -> dict[str, Tensor]:
    r"""Where the weight of each RoI on a small object goes, per relation.

    For a query RoI :math:`n` that covers a small object :math:`s`, the weights
    :math:`\omega^{mn}` of one module over its keys :math:`m` are split by the object each key
    covers: the deciding neighbour of :math:`s`, the object :math:`s` itself (its duplicates),
    the other objects, and no object (background RoIs). ``share`` is the share of the keys that
    cover the deciding neighbour, and ``chance`` the mass the deciding neighbour would get if the
    row's weight were spread uniformly over the keys: ``share`` times the row's total (1, or 0
    where the geometry term removes every key: a relation that gives a query no weight at all
    gives its deciding neighbour nothing either, and chance is then 0 too).

    Args:
        weights (Tensor[N_r, K, K]): :math:`\omega^{mn}` of one module, query n in rows, all K
            RoIs of an image as keys.
        roi_gt (Tensor[K]): :func:`assign_to_ground_truth` of the RoIs.
        deciding (Tensor[G]): :func:`deciding_neighbours` of the image's objects.

    Returns:
        dict of Tensor[N_r, Q] (float64), Q the query RoIs that cover a small object with a
        deciding neighbour: ``deciding``, ``own``, ``other``, ``background``, ``chance``,
        ``share`` (the same for every relation). The first four sum to each row's total.
    """
    w = torch.as_tensor(weights).double()
    roi_gt = torch.as_tensor(roi_gt, dtype=torch.int64)
    own_obj = roi_gt.clamp(min=0)
    deciding = torch.as_tensor(deciding, dtype=torch.int64)
    if len(deciding) == 0:                                  # an image without objects
        target = torch.full_like(roi_gt, -1)
    else:
        target = torch.where(roi_gt >= 0, deciding[own_obj], -1)             # [K]
    queries = torch.nonzero(target >= 0).flatten()                           # [Q]
    keys_obj = roi_gt[None, :]                                               # [1, K]
    dec = keys_obj == target[queries, None]                                  # [Q, K]
    own = keys_obj == roi_gt[queries, None]
    bg = (keys_obj < 0).expand_as(dec)
    other = ~(dec | own | bg)
    wq = w[:, queries]                                                       # [N_r, Q, K]
    mass = {name: (wq * m[None]).sum(-1) for name, m in
            (("deciding", dec), ("own", own), ("other", other), ("background", bg))}
    mass["share"] = (dec.double().sum(-1) / max(w.shape[-1], 1)).expand(w.shape[0], -1)
    mass["chance"] = mass["share"] * wq.sum(-1)                              # uniform over keys
    return mass


@torch.no_grad()
def roi_weights_on_ground_truth(model: FasterRCNN, image: Tensor, target: dict, small_ids, *,
                                iou_threshold: float = 0.5) -> list[dict[str, Tensor]]:
    """:func:`neighbour_weight_mass` of every relation module of ``model`` on one image: the
    RoIs from :func:`relation_weights`, assigned to ``target["boxes"]`` at ``iou_threshold``.

    Returns:
        list with one dict per module (fc6's, then fc7's), as :func:`neighbour_weight_mass`.
    """
    out = relation_weights(model, image, score_thresh=1.0 + 1e-6)    # no detection needed
    roi_gt = assign_to_ground_truth(out["rois"], target["boxes"], iou_threshold)
    deciding = deciding_neighbours(target["boxes"], target["labels"], small_ids)
    return [neighbour_weight_mass(w, roi_gt, deciding) for w in out["weights"]]


@torch.no_grad()
def hidden_keys(rois: Tensor, gt_boxes: Tensor, roi_gt: Tensor, hidden, keep, *,
                overlap: float | None = None) -> Tensor:
    """The RoIs removed from the keys when the objects ``hidden`` are masked.

    With ``overlap=None`` (design 1 of the figures' causal test), the RoIs assigned to a hidden
    object (``roi_gt``, :func:`assign_to_ground_truth`); with a number, every RoI whose IoU with a
    hidden object is above ``overlap`` (0: every RoI that touches it), since a RoI that covers
    half of the hidden object carries it as much as one assigned to it. The RoIs assigned to an
    object in ``keep`` are never removed (the query's own object, and for a control mask the
    deciding neighbour).

    Args:
        rois (Tensor[K, 4]), gt_boxes (Tensor[G, 4]): (x1, y1, x2, y2), same pixels.
        roi_gt (Tensor[K]): :func:`assign_to_ground_truth` of ``rois``.
        hidden, keep (sequence of int): indices into ``gt_boxes``.
        overlap (float or None): Default: None.

    Returns:
        Tensor[K] (bool): True for a RoI to remove from the keys.

    Example: objects (0, 0, 10, 10) and (8, 0, 18, 10), one RoI on each, the same boxes (IoU
    of RoI 1 with object 0: 20 / 180 = 1/9): hiding object 0 with ``overlap=None`` removes RoI 0
    only, with ``overlap=0.0`` both, with ``overlap=0.2`` RoI 0 only; with ``keep=[1]`` RoI 0
    only again.
    """
    hidden = torch.as_tensor(list(hidden), dtype=torch.int64)
    keep = torch.as_tensor(list(keep), dtype=torch.int64)
    roi_gt = torch.as_tensor(roi_gt, dtype=torch.int64).cpu()
    if overlap is None:
        drop = torch.isin(roi_gt, hidden)
    elif len(hidden) == 0:
        drop = torch.zeros(len(rois), dtype=torch.bool)
    else:
        iou = box_iou(rois.double().cpu(), torch.as_tensor(gt_boxes).double().cpu()[hidden])
        drop = (iou > overlap).any(1)                                        # [K]
    return drop & ~torch.isin(roi_gt, keep)


MASKS = (None, "deciding", "random", "all")


@torch.no_grad()
def masked_key_detections(model: FasterRCNN, image: Tensor, target: dict, small_ids, *,
                          mask: str | None = "deciding", iou_threshold: float = 0.5,
                          overlap: float | None = None,
                          generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """The causal test of the figures: the detections of ``model`` on one image when, for each
    small object, its RoIs are classified with the keys of other objects removed.

    For each small object :math:`s` (in ``target``), the box head runs again with the RoIs of
    :func:`hidden_keys` excluded from the keys of every relation module (they come last and
    ``nongt_dims`` stops before them, the mechanism that keeps ground truth out of the keys), and
    the class scores of the RoIs that cover :math:`s` are taken from that run. ``mask`` chooses
    the objects: ``"deciding"``, the deciding neighbour of :math:`s`; ``"random"``, one object
    drawn with ``generator`` among the others (neither :math:`s` nor its deciding neighbour, whose
    RoIs are kept; none if there is no such object); ``"all"``, every object but :math:`s` (the
    most that context can cost); ``None``, nothing (the plain detections of ``model``). The RoIs
    on :math:`s` itself always stay keys. Boxes, every other RoI and the post-processing are the
    model's own.

    Args:
        model (FasterRCNN): with a relation box head (:class:`~relnotes.models.RelationBoxHead`).
        image (Tensor[3, H, W]), target (dict): ``boxes`` Tensor[G, 4] and ``labels`` Tensor[G].
        small_ids (set of int): labels of the context-decided classes.
        mask (str or None): one of :data:`MASKS`. Default: "deciding".
        iou_threshold (float): RoI to object assignment (:func:`assign_to_ground_truth`).
            Default: 0.5.
        overlap (float or None): which RoIs cover a masked object (:func:`hidden_keys`):
            None, those assigned to it; a number, those whose IoU with it is above it.
            Default: None.
        generator (torch.Generator, optional): for ``mask="random"``.

    Returns:
        dict: ``boxes`` Tensor[D, 4], ``scores`` Tensor[D], ``labels`` Tensor[D] in the image's
        pixels, as ``model(image)`` returns them.
    """
    if mask not in MASKS:
        raise ValueError(f"mask must be None, 'deciding', 'random' or 'all'; got {mask!r}")
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
        rois = proposals[0]
        pooled = rh.box_roi_pool(features, proposals, images.image_sizes)
        logits, deltas = rh.box_predictor(head(pooled, [rois], None))
        if mask is not None:
            size = image.shape[-2:]
            rois_px = model.transform.postprocess([dict(boxes=rois)], images.image_sizes,
                                                  [size])[0]["boxes"]
            roi_gt = assign_to_ground_truth(rois_px, target["boxes"], iou_threshold)
            deciding = deciding_neighbours(target["boxes"], target["labels"], small_ids)
            for s in torch.nonzero(deciding >= 0).flatten().tolist():
                mine = roi_gt == s
                if not bool(mine.any()):
                    continue
                others = [g for g in range(len(deciding)) if g != s]
                if mask == "deciding":
                    hidden, keep = [int(deciding[s])], [s]
                elif mask == "all":
                    hidden, keep = others, [s]
                else:
                    pool = [g for g in others if g != int(deciding[s])]
                    if not pool:
                        continue
                    hidden = [pool[int(torch.randint(len(pool), (1,), generator=generator))]]
                    keep = [s, int(deciding[s])]
                drop = hidden_keys(rois_px, target["boxes"], roi_gt, hidden, keep,
                                   overlap=overlap).to(rois.device)
                order = torch.cat([torch.nonzero(~drop).flatten(), torch.nonzero(drop).flatten()])
                masked, _ = rh.box_predictor(head(pooled[order], [rois[order]],
                                                  [int((~drop).sum())]))
                back = torch.empty_like(order)
                back[order] = torch.arange(len(order), device=order.device)
                logits = torch.where(mine[:, None], masked[back], logits)
        boxes, scores, labels = rh.postprocess_detections(logits, deltas, proposals,
                                                          images.image_sizes)
        det = dict(boxes=boxes[0], scores=scores[0], labels=labels[0])
        det = model.transform.postprocess([det], images.image_sizes, [image.shape[-2:]])[0]
    finally:
        model.train(was_training)
    return det


def context_share(ap: float, ap_masked: float, ap_all: float, *, min_cost: float = 1.0) -> float:
    """What masking some objects costs, as a share of what masking every other object costs:
    ``(ap - ap_masked) / max(ap - ap_all, min_cost)``, one detector's three APs of the
    context-decided classes (:func:`masked_key_ap` with ``mask=None``, the mask read, and
    ``mask="all"``).

    1 means that the masked objects cost as much as all of them, 0 nothing. The floor
    ``min_cost`` keeps the share defined, and small, for a detector that uses no context (masking
    everything then costs nothing, or even helps by chance): its drops are divided by
    ``min_cost`` instead of by a difference of nearly equal numbers.

    Args:
        ap, ap_masked, ap_all (float): in the same unit (e.g. AP points).
        min_cost (float): the smallest divisor, in that unit. Default: 1.0.

    Returns:
        float.

    Example: ``context_share(60.0, 45.0, 30.0) == 0.5``; ``context_share(60.0, 59.5, 60.5)`` is
    0.5 too (masking everything costs nothing: the drop 0.5 over the floor 1).
    """
    return (ap - ap_masked) / max(ap - ap_all, min_cost)


def roi_class_mass(weights: Tensor, roi_gt: Tensor, gt_labels: Tensor, num_classes: int
                   ) -> tuple[Tensor, Tensor]:
    r"""The class co-occurrence a relation module has learnt, read on one image through the
    ground truth: for each query RoI on an object of class :math:`a`, the total weight it sends
    to the RoIs on *other* objects of class :math:`b`, per relation.

    Keys on no object (background RoIs) and keys on the query's own object (its duplicates) are
    left out, so the reading is about objects, not about the RPN's redundancy.

    Args:
        weights (Tensor[N_r, K, K]): :math:`\omega^{mn}` of one module, query n in rows.
        roi_gt (Tensor[K]): :func:`assign_to_ground_truth` of the RoIs (-1: none).
        gt_labels (Tensor[G]): class ids 1 ... ``num_classes`` of the image's objects.
        num_classes (int): K (the number of classes; not the RoIs' K).

    Returns:
        (Tensor[N_r, C, C], Tensor[C]) (float64), C = ``num_classes``: row a, column b, the
        *sum* over the image's query RoIs of class a (sum these over images, then divide by the
        counts); and the number of query RoIs of each class.

    Example: RoIs 0, 1 on object 0 (class 1), RoI 2 on object 1 (class 2); query 0 sends 0.5 to
    RoI 1 (its own object, left out) and 0.3 to RoI 2, so ``mass[r, 0, 1] == 0.3``.
    """
    w = torch.as_tensor(weights).double()
    roi_gt = torch.as_tensor(roi_gt, dtype=torch.int64)
    labels = torch.as_tensor(gt_labels, dtype=torch.int64)
    on = torch.nonzero(roi_gt >= 0).flatten()                                # RoIs on objects
    obj = roi_gt[on]                                                         # [Q]
    cls = labels[obj] - 1                                                    # [Q]
    other = (obj[:, None] != obj[None, :]).double()                         # [Q(n), Q(m)]
    wq = w[:, on][:, :, on] * other[None]                                    # [N_r, Q, Q]
    # to_class[r, n, b] = sum over keys m of class b of w[r, n, m]
    to_class = wq.new_zeros(w.shape[0], len(on), num_classes).index_add_(2, cls, wq)
    mass = wq.new_zeros(w.shape[0], num_classes, num_classes).index_add_(1, cls, to_class)
    count = torch.zeros(num_classes, dtype=torch.float64).index_add_(
        0, cls, torch.ones(len(on), dtype=torch.float64))
    return mass, count


def matrix_correlation(reference: Tensor, learnt: Tensor, rows: Tensor) -> float | None:
    """Pearson r between two class matrices after normalising each row to sum to one, over the
    entries of the rows in ``rows`` (the talk's slide puts the two matrices side by side; r is
    our number for "they look alike").

    Args:
        reference, learnt (Tensor[C, C]): e.g. :func:`cooccurrence_matrix` and a mean of
            :func:`roi_class_mass`.
        rows (Tensor[C] bool): the rows to compare (classes that were queried).

    Returns:
        float, or None when fewer than two rows are given or either side is constant.

    Example: ``matrix_correlation(M, 2 * M, rows)`` is 1 (row normalisation removes the scale).
    """
    def rownorm(x):
        x = torch.as_tensor(x, dtype=torch.float64)
        return x / x.sum(1, keepdim=True).clamp(min=1e-12)

    rows = torch.as_tensor(rows, dtype=torch.bool)
    x, y = rownorm(reference)[rows].flatten(), rownorm(learnt)[rows].flatten()
    if int(rows.sum()) < 2 or float(x.std()) == 0 or float(y.std()) == 0:
        return None
    return float(torch.corrcoef(torch.stack([x, y]))[0, 1])


@torch.no_grad()
def read_relations(model: FasterRCNN, dataset, small_ids, num_classes: int, *, n_images: int,
                   iou_threshold: float = 0.5, device: str | torch.device = "cpu",
                   progress: bool = False) -> dict:
    r"""Every relation module and every relation of ``model``, read on the first ``n_images``
    items of ``dataset`` through their ground truth, in one pass.

    Per image: :func:`relation_weights` (every RoI), :func:`assign_to_ground_truth` at
    ``iou_threshold``, then per module :func:`neighbour_weight_mass` (small objects) and
    :func:`roi_class_mass` (every object).

    Args:
        model (FasterRCNN): with a relation box head; moved to ``device``.
        dataset: ``(image, target)`` items, ``target["boxes"]`` in the image's pixels.
        small_ids (set of int): labels of the context-decided classes.
        num_classes (int): C, labels 1 ... C.
        n_images (int): the first items read.
        iou_threshold (float): Default: 0.5.
        device (str or torch.device): Default: ``"cpu"``.
        progress (bool): a tqdm bar. Default: False.

    Returns:
        dict with ``mass``: Tensor[M, N_r, 5] (float64), module, relation and
        ``MASS_PARTS`` (``deciding``, ``own``, ``other``, ``background``, ``chance``), each the
        mean over the query RoIs on small objects; ``n_queries`` (int) those RoIs;
        ``queries`` Tensor[M, N_r, Q, 5], the same per query RoI, and ``query_image``
        Tensor[Q] (int64) the item each comes from (to select on some images and read on
        others);
        ``class_mass`` Tensor[M, N_r, C, C], the mean over the query RoIs of each class a of
        :func:`roi_class_mass`; ``n_class_queries`` Tensor[C].
    """
    from tqdm.auto import tqdm

    model.to(device)
    parts, cls_sum, cls_n = None, None, torch.zeros(num_classes, dtype=torch.float64)
    query_image = []
    for i in tqdm(range(n_images), desc="relation weights", disable=not progress):
        image, target = dataset[i]
        out = relation_weights(model, image.to(device), score_thresh=1.0 + 1e-6)
        gt_boxes, gt_labels = target["boxes"].to(device), target["labels"]
        roi_gt = assign_to_ground_truth(out["rois"], gt_boxes, iou_threshold).cpu()
        deciding = deciding_neighbours(target["boxes"], gt_labels, small_ids)
        per_module, per_class = [], []
        for w in out["weights"]:
            w = w.cpu()
            mass = neighbour_weight_mass(w, roi_gt, deciding)
            per_module.append(torch.stack([mass[k] for k in MASS_PARTS], -1))     # [N_r, Q, 5]
            class_mass, count = roi_class_mass(w, roi_gt, gt_labels, num_classes)
            per_class.append(class_mass)
        image_parts = torch.stack(per_module)                                   # [M, N_r, Q, 5]
        query_image += [i] * image_parts.shape[2]
        parts = image_parts if parts is None else torch.cat([parts, image_parts], 2)
        image_cls = torch.stack(per_class)                                      # [M, N_r, C, C]
        cls_sum = image_cls if cls_sum is None else cls_sum + image_cls
        cls_n += count                                      # the same for every module
    n_queries = parts.shape[2]
    return dict(mass=parts.mean(2) if n_queries else parts.sum(2), n_queries=int(n_queries),
                queries=parts, query_image=torch.tensor(query_image, dtype=torch.int64),
                class_mass=cls_sum / cls_n.clamp(min=1)[:, None], n_class_queries=cls_n)


MASS_PARTS = ("deciding", "own", "other", "background", "chance")


#: What the readings of this module measure, for an artifact's notes (rn_figures).
READING_NOTES = (
    "Every RoI is assigned to the ground-truth object of highest IoU if it is >= 0.5. Weight rows: "
    "for the RoIs on small objects, the mean weight of one relation (or the mean over a module's "
    "relations, or over all) on the RoIs of the deciding neighbour (the nearest large object), on "
    "the RoIs of other objects, and chance (the share of the RoIs that cover the deciding neighbour "
    "times the query's total weight, 1 or 0). One relation per seed: the one whose weight on the "
    "deciding neighbour is furthest above chance on the even-numbered test images, read on the "
    "odd-numbered ones. Masked rows: the context classes' AP when each small object's RoIs are "
    "classified with the keys of its deciding neighbour, of a random other object (the deciding "
    "neighbour's own RoIs kept), or of every other object removed from every module (the RoIs on the "
    "small object itself are never removed); drop: the detector's context-class AP minus that; "
    "share: a mask's drop over the drop with every other object masked (over 1 AP point where that "
    "is smaller). r: Pearson r between the training set's P(b | a) and the mean weight from RoIs "
    "on objects of class a to RoIs on other objects of class b, both row-normalised (our "
    "reconstruction of the talk's slide, whose recipe is not published). Training loss: the body's "
    "(2fc head) first training stage. The paper shows no numbers for these figures."
)

def figures_notes(S, *, seeds, coco=None, n_images: int | None = None) -> str:
    """The notes of the rn_figures artifact: the detector and data of the run (``S``, the
    profile's knobs; ``coco``, the COCO setting on ``full``, else None), its seeds,
    :data:`READING_NOTES` and which RoIs the masks remove (``S.mask_overlap``, as ``overlap`` of
    :func:`hidden_keys`; absent: None)."""
    if coco is None:
        run = (f"Ours: tiny Faster R-CNN (d_f = {S.d_f}, 2fc + RM {{1, 1}}, N_r = {S.n_relations}, "
               f"d_k = {S.d_k}, d_g = {S.d_g}, geometry x{S.geometry_scale:g} as in the official "
               f"code, {S.proposals} RoIs per image) on ContextShapes (synthetic, designed so that "
               f"the nearest large object decides the three small classes); per seed, body trained "
               f"{S.body_epochs} epochs with a 2fc head on {S.n_train} images, then frozen, head "
               f"trained {S.head_epochs} epochs (Adam, lr {S.lr:g}); {S.n_test} test images. ")
    else:
        C = coco
        run = (f"Ours: torchvision Faster R-CNN R50-FPN with the 2fc + RM {{1, 1}} head (d_f = "
               f"{S.d_f}, N_r = {S.n_relations}, d_k = {S.d_k}, d_g = {S.d_g}, geometry "
               f"x{S.geometry_scale:g}, {S.proposals} RoIs per image, ImageNet backbone: "
               f"{C['pretrained_backbone']}) trained end to end on COCO {C['train_split']} "
               f"({C['epochs']} epochs, batch {C['batch_size']}, SGD lr {C['lr']}, x0.1 at epoch "
               f"{list(C['lr_steps'])}); AP on {C['val_split']}, relation weights on its first "
               f"{n_images} images. ")
    overlap = getattr(S, "mask_overlap", None)
    keys = ("the RoIs assigned to it" if overlap is None else
            f"every RoI whose IoU with it is above {overlap:g}")
    return (run + f"Seeds {list(seeds)} (one detector each; every value is the mean over them). "
            + READING_NOTES + f" The keys of a masked object: {keys}.")

def held_out_best(reading: dict) -> tuple[int, int, Tensor] | None:
    """The relation chosen on some images and read on others, so that the choice does not
    flatter the reading.

    Args:
        reading (dict): from :func:`read_relations` (``queries`` [M, N_r, Q, 5], ``query_image``).

    Returns:
        (int, int, Tensor[5]) or None: the module and relation whose mean weight on the deciding
        neighbour is furthest above chance over the queries of the even-numbered items, and its
        ``MASS_PARTS`` averaged over the queries of the odd-numbered items; None when either half
        has no query.
    """
    q, img = reading["queries"], reading["query_image"]
    even, odd = img % 2 == 0, img % 2 == 1
    if not even.any() or not odd.any():
        return None
    dec, chance = MASS_PARTS.index("deciding"), MASS_PARTS.index("chance")
    lift = (q[:, :, even, dec] - q[:, :, even, chance]).mean(-1)             # [M, N_r]
    m, r = divmod(int(lift.argmax()), q.shape[1])
    return m, r, q[m, r][odd].mean(0)


@torch.no_grad()
def reference_pairs(model: FasterRCNN, dataset, small_ids, module: int, relation: int, *,
                    n_images: int, n_show: int, device: str | torch.device = "cpu") -> list[tuple]:
    """The talk's "object pairs with high relation weights", read off one relation: for the first
    items of ``dataset`` that have one, a query RoI on an object and its weights to every RoI.

    With ``small_ids`` (ContextShapes), the query is a RoI on a context-decided object that has a
    deciding neighbour, in an image with at least two large objects; without (COCO), on the first
    object any RoI covers. The query is the RoI of highest IoU with its object.

    Returns:
        list of ``(item, rois [R, 4], weights [R, R], roi_gt [R], query, deciding, target)``
        (numpy arrays; ``deciding`` the deciding neighbour's index, -1 without ``small_ids``), at
        most ``n_show`` of them, from the first ``n_images`` items.
    """
    shown = []
    for i in range(n_images):
        image, target = dataset[i]
        out = relation_weights(model, image.to(device), score_thresh=1.0 + 1e-6)
        roi_gt = assign_to_ground_truth(out["rois"], target["boxes"].to(device)).cpu()
        if small_ids:
            deciding = deciding_neighbours(target["boxes"], target["labels"], small_ids)
            large = int((~torch.isin(target["labels"], torch.tensor(sorted(small_ids)))).sum())
            objects = [s for s in torch.nonzero(deciding >= 0).flatten().tolist()
                       if (roi_gt == s).any()]
            if large < 2:
                objects = []
        else:
            objects = sorted(set(roi_gt[roi_gt >= 0].tolist()))[:1]
        if not objects:
            continue
        s = objects[0]
        rois = out["rois"].cpu()
        iou = torch.where(roi_gt == s, box_iou(rois, target["boxes"][s][None].to(rois))[:, 0], -1.0)
        n = int(iou.argmax())
        shown.append((i, rois.numpy(), out["weights"][module][relation].cpu().numpy(),
                      roi_gt.numpy(), n, int(deciding[s]) if small_ids else -1, target))
        if len(shown) == n_show:
            break
    return shown


@torch.no_grad()
def masked_key_ap(model: FasterRCNN, dataset, coco_gt: dict, small_ids, group, *,
                  mask: str | None, n_images: int, seed: int = 0, iou_threshold: float = 0.5,
                  overlap: float | None = None, device: str | torch.device = "cpu",
                  progress: bool = False) -> dict:
    """COCO AP of the detections of :func:`masked_key_detections` on the first ``n_images``
    items of ``dataset``: the causal side of the figures.

    Args:
        model (FasterRCNN): with a relation box head; moved to ``device``.
        dataset: ``(image, target)`` items, ``target["image_id"]`` the id in ``coco_gt``.
        coco_gt (dict): COCO-format ground truth (its other images count as missed if any).
        small_ids (set of int): labels of the context-decided classes.
        group (sequence of str): category names whose mean AP is ``ap_group``.
        mask (str or None): as in :func:`masked_key_detections`.
        n_images (int): the first items used.
        seed (int): seeds the generator of ``mask="random"``. Default: 0.
        iou_threshold (float): RoI to object assignment. Default: 0.5.
        overlap (float or None): the RoIs of a masked object, as in :func:`hidden_keys`.
            Default: None.
        device (str or torch.device), progress (bool): Defaults: ``"cpu"``, False.

    Returns:
        dict: ``mAP``, ``ap_group`` and ``ap_rest`` (floats in [0, 1]).
    """
    import math

    from tqdm.auto import tqdm

    from ..data.coco_eval import coco_evaluate, detections_to_coco

    model.to(device)
    generator = torch.Generator().manual_seed(seed)
    dets = []
    for i in tqdm(range(n_images), desc=f"masked keys ({mask})", disable=not progress):
        image, target = dataset[i]
        target = dict(boxes=target["boxes"].to(device), labels=target["labels"],
                      image_id=target["image_id"])
        out = masked_key_detections(model, image.to(device), target, small_ids, mask=mask,
                                    iou_threshold=iou_threshold, overlap=overlap,
                                    generator=generator)
        dets += detections_to_coco([int(target["image_id"])], [out])
    ids = {int(dataset[i][1]["image_id"]) for i in range(n_images)}
    gt = dict(coco_gt, images=[im for im in coco_gt["images"] if im["id"] in ids],
              annotations=[a for a in coco_gt["annotations"] if a["image_id"] in ids])
    result = coco_evaluate(gt, dets)
    per_class = result["per_class"]

    def mean(names):
        vals = [per_class[n] for n in names if not math.isnan(per_class[n])]
        return sum(vals) / len(vals) if vals else math.nan

    names = list(per_class)
    return dict(mAP=result["mAP"], ap_group=mean([n for n in names if n in group]),
                ap_rest=mean([n for n in names if n not in group]))
