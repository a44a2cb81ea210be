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
from torchvision.ops import batched_nms, clip_boxes_to_image

__all__ = ["relation_weights", "cooccurrence_matrix", "class_relation_matrix",
           "top_weight_on_nearest", "detections_with_weights"]


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
