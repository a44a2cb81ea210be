r"""Faster R-CNN with relation modules in its box head: the 2fc + RM head of RN Sec. 4.2.

Hu et al., "Relation Networks for Object Detection", arXiv:1711.11575v2, Sec. 4.2, Eqs. (9), (10).
The usual box head of Faster R-CNN is two fully connected layers (2fc) of 1024 channels on the
pooled RoI feature. RN inserts :math:`r_1` relation modules after the first fc and :math:`r_2`
after the second, each acting on all RoIs of the image and added before the ReLU:

.. math::

    \{\text{RoI feat}_n\} \xrightarrow{\text{FC}} 1024
    \cdot \{(\text{RM})\}^{r_1} \xrightarrow{\text{ReLU}} \xrightarrow{\text{FC}} 1024
    \cdot \{(\text{RM})\}^{r_2} \xrightarrow{\text{ReLU}} \{\text{score}_n, \text{bbox}_n\}

The default is :math:`\{r_1, r_2\} = \{1, 1\}`. The box regression of the paper and the official
code is class agnostic (the code predicts 8 numbers, background and foreground, and uses the
foreground 4).

**Plugging it into torchvision.** torchvision's ``RoIHeads`` calls ``box_head(features)`` with the
pooled features only, but a relation module needs each RoI's box and which RoIs belong to the
same image. :class:`RelationRoIHeads` is a ``RoIHeads`` whose ``forward`` passes the proposals to
the head; everything else (matching, sampling, the box coder, ``fastrcnn_loss``,
``postprocess_detections``) is torchvision's. It also puts the ground-truth boxes that torchvision
appends to the proposals in training *after* the proposals of each image and tells the head how
many proposals there are (``nongt_dim``, :class:`~relnotes.nn.ObjectRelation`), so that ground
truth is a query but never a key, as in the official code. :func:`relation_faster_rcnn` swaps
the heads of a built ``FasterRCNN``; :func:`relation_fasterrcnn_r50_fpn` builds the COCO detector
of the book's ``full`` profile with it.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.roi_heads import RoIHeads, fastrcnn_loss

from ..nn.object_relation import GEOMETRY_TERMS, ObjectRelation

__all__ = ["RelationBoxHead", "FCBoxHead", "ClassAgnosticBoxPredictor", "RelationRoIHeads",
           "relation_faster_rcnn", "relation_fasterrcnn_r50_fpn"]


class RelationBoxHead(nn.Module):
    r"""2fc + RM box head, RN Eqs. (9), (10); see the module docstring.

    Args:
        in_channels (int): channels of the pooled RoI feature times its area (256 * 7 * 7).
        representation_size (int): width of both fc layers, the :math:`d_f` of the relation
            modules. Default: 1024.
        relations (tuple[int, int]): :math:`\{r_1, r_2\}`, relation modules after fc1 and fc2.
            Default: (1, 1).
        n_relations, d_k, d_g, normalize_by, plus_one, geometry_scale, geometry_floor: passed to
            every :class:`~relnotes.nn.ObjectRelation`. Defaults: its defaults.
        geometry (str): the geometric term, RN Table 1(a): ``"relative"`` (the paper's,
            :class:`~relnotes.nn.ObjectRelation`), ``"none"`` or ``"unary"``
            (:data:`relnotes.nn.object_relation.GEOMETRY_TERMS`). Default: ``"relative"``.
    """

    def __init__(self, in_channels: int, representation_size: int = 1024, *,
                 relations: tuple[int, int] = (1, 1), n_relations: int = 16, d_k: int = 64,
                 d_g: int = 64, normalize_by: str = "key", plus_one: bool = False,
                 geometry_scale: float = 1.0, geometry_floor: float | None = None,
                 geometry: str = "relative") -> None:
        super().__init__()
        if geometry not in GEOMETRY_TERMS:
            raise ValueError(f"geometry must be one of {sorted(GEOMETRY_TERMS)}; got {geometry!r}")
        self.geometry = geometry
        module_class = GEOMETRY_TERMS[geometry]
        if len(relations) != 2 or any(r < 0 for r in relations):
            raise ValueError(f"relations must be (r1, r2) with r1, r2 >= 0; got {relations}")
        self.in_channels, self.representation_size = in_channels, representation_size
        self.relations = tuple(relations)
        self.fc6 = nn.Linear(in_channels, representation_size)
        self.fc7 = nn.Linear(representation_size, representation_size)

        def rms(count: int) -> nn.ModuleList:
            return nn.ModuleList(
                module_class(representation_size, n_relations=n_relations, d_k=d_k, d_g=d_g,
                               normalize_by=normalize_by, plus_one=plus_one,
                               geometry_scale=geometry_scale, geometry_floor=geometry_floor)
                for _ in range(count))

        self.relation6, self.relation7 = rms(relations[0]), rms(relations[1])

    def _relate(self, x: Tensor, modules: nn.ModuleList, boxes: list[Tensor],
                nongt_dims: list[int] | None, weights: list[list[Tensor]]) -> Tensor:
        if not len(modules):
            return x
        out = []
        for i, (x_i, b_i) in enumerate(zip(x.split([len(b) for b in boxes]), boxes)):
            for rm in modules:   # RN Eq. (9): f <- f + RM(f), on the RoIs of one image
                x_i, w = rm(x_i, b_i, nongt_dim=None if nongt_dims is None else nongt_dims[i],
                            return_weights=True)
                weights[i].append(w)
            out.append(x_i)
        return torch.cat(out) if out else x

    def forward(self, x: Tensor, boxes: list[Tensor], nongt_dims: list[int] | None = None,
                return_weights: bool = False) -> Tensor | tuple[Tensor, list[list[Tensor]]]:
        r"""
        Args:
            x (Tensor[K, C, H, W]): pooled features of the RoIs of all images, image by image.
            boxes (list of Tensor[K_i, 4]): the RoIs of each image, :math:`\sum_i K_i = K`.
            nongt_dims (list of int, optional): per image, how many of its first RoIs are
                proposals (keys); the rest are ground truth (queries only). Default: all keys.
            return_weights (bool): also return the relation weights: per image, a list with
                one Tensor[N_r, K_i, M_i] per module, in order (fc6's, then fc7's).
                Default: False.

        Returns:
            Tensor[K, representation_size], and the weights when ``return_weights``.
        """
        if x.dim() < 2:
            raise ValueError(f"x must be Tensor[K, C, H, W] (or [K, C]); got {tuple(x.shape)}")
        total = sum(int(b.shape[0]) for b in boxes)
        if total != x.shape[0]:
            raise ValueError(f"boxes must hold one box per RoI feature: {x.shape[0]} features, "
                             f"{total} boxes in {len(boxes)} image(s)")
        if nongt_dims is not None and len(nongt_dims) != len(boxes):
            raise ValueError(f"nongt_dims must have one entry per image ({len(boxes)}); got "
                             f"{len(nongt_dims)}")
        weights: list[list[Tensor]] = [[] for _ in boxes]              # per image, per module
        x = self.fc6(x.flatten(1))                                   # [K, 1024]
        x = torch.relu(self._relate(x, self.relation6, boxes, nongt_dims, weights))  # RM, ReLU
        x = self.fc7(x)
        x = torch.relu(self._relate(x, self.relation7, boxes, nongt_dims, weights))
        return (x, weights) if return_weights else x

    def extra_repr(self) -> str:
        return f"relations={self.relations}, geometry={self.geometry!r}"


class FCBoxHead(nn.Module):
    r"""A box head of ``n_fc`` fully connected layers with ReLU and no relation module: the
    deeper baselines of RN Table 2, (a) 2fc and (c) 3fc (and 4fc), which ask whether the gain of
    2fc + RM comes from the extra depth and parameters rather than from relating the objects.

    It takes :class:`RelationBoxHead`'s call signature (the RoIs and ``nongt_dims`` are
    accepted and unused), so it plugs into :class:`RelationRoIHeads` the same way.

    Args:
        in_channels (int): channels of the pooled RoI feature times its area.
        representation_size (int): width of every fc layer. Default: 1024.
        n_fc (int): number of fc layers, >= 1. Default: 3.
    """

    def __init__(self, in_channels: int, representation_size: int = 1024, *, n_fc: int = 3) -> None:
        super().__init__()
        if isinstance(n_fc, bool) or not isinstance(n_fc, int) or n_fc < 1:
            raise ValueError(f"n_fc must be an int >= 1; got {n_fc!r}")
        self.in_channels, self.representation_size, self.n_fc = (in_channels, representation_size,
                                                                 n_fc)
        widths = [in_channels] + [representation_size] * n_fc
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))

    def forward(self, x: Tensor, boxes: list[Tensor] | None = None,
                nongt_dims: list[int] | None = None,
                return_weights: bool = False) -> Tensor | tuple[Tensor, list[list[Tensor]]]:
        """x (Tensor[K, C, H, W] or Tensor[K, C * H * W]) -> Tensor[K, representation_size]
        (and, with ``return_weights``, an empty list of weights per image)."""
        if x.dim() < 2 or x[0].numel() != self.in_channels:
            raise ValueError(f"x must be Tensor[K, ...] with {self.in_channels} features per RoI; "
                             f"got {tuple(x.shape)}")
        x = x.flatten(1)
        for fc in self.fcs:
            x = torch.relu(fc(x))
        return (x, [[] for _ in boxes or []]) if return_weights else x

    def extra_repr(self) -> str:
        return f"n_fc={self.n_fc}"


class ClassAgnosticBoxPredictor(nn.Module):
    """Class scores and one class-agnostic box regression (RN Appendix A1, official code).

    The 4 deltas are repeated for every class, so torchvision's ``fastrcnn_loss`` (which picks
    the deltas of the ground-truth class) and ``postprocess_detections`` work unchanged and
    compute exactly the class-agnostic loss and boxes.

    Args:
        in_channels (int): input features.
        num_classes (int): classes, background included.
        background_column (bool): predict 8 numbers as the official code (background and
            foreground deltas; the background ones are unused), for its parameter count.
            Default: False (4 numbers).
    """

    def __init__(self, in_channels: int, num_classes: int, *, background_column: bool = False) -> None:
        super().__init__()
        self.num_classes, self.background_column = num_classes, background_column
        self.cls_score = nn.Linear(in_channels, num_classes)
        self.bbox_pred = nn.Linear(in_channels, 8 if background_column else 4)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (Tensor[K, in_channels]) -> (Tensor[K, num_classes], Tensor[K, 4 * num_classes])."""
        x = x.flatten(1)
        deltas = self.bbox_pred(x)[:, -4:]                       # [K, 4], the foreground deltas
        return self.cls_score(x), deltas.repeat(1, self.num_classes)


class RelationRoIHeads(RoIHeads):
    """torchvision ``RoIHeads`` whose box head also receives the RoIs (boxes only: no masks or
    keypoints); see the module docstring. Takes ``RoIHeads``'s arguments, plus

    Args:
        gt_as_keys (bool): let the ground-truth boxes appended in training be keys too (not the
            official behaviour; for the ablation). Default: False.
    """

    def __init__(self, *args, gt_as_keys: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.has_mask() or self.has_keypoint():
            raise ValueError("RelationRoIHeads supports the box branch only (no masks/keypoints)")
        self.gt_as_keys = gt_as_keys

    def select_training_samples_with_keys(self, proposals: list[Tensor], targets: list[dict]):
        """torchvision's ``select_training_samples``, with each image's sampled ground-truth
        boxes moved after its proposals. Returns the same four lists plus ``nongt_dims``, the
        number of sampled proposals (not ground truth) per image."""
        self.check_targets(targets)
        dtype = proposals[0].dtype
        gt_boxes = [t["boxes"].to(dtype) for t in targets]
        gt_labels = [t["labels"] for t in targets]
        n_proposals = [p.shape[0] for p in proposals]
        proposals = self.add_gt_proposals(proposals, gt_boxes)   # appended after the proposals
        matched_idxs, labels = self.assign_targets_to_proposals(proposals, gt_boxes, gt_labels)
        sampled = self.subsample(labels)
        matched_gt_boxes, nongt_dims = [], []
        for i, inds in enumerate(sampled):
            is_gt = inds >= n_proposals[i]
            inds = inds[torch.argsort(is_gt.to(torch.int8), stable=True)]   # proposals first
            nongt_dims.append(int((~is_gt).sum()))
            proposals[i], labels[i] = proposals[i][inds], labels[i][inds]
            matched_idxs[i] = matched_idxs[i][inds]
            g = gt_boxes[i] if gt_boxes[i].numel() else gt_boxes[i].new_zeros(1, 4)
            matched_gt_boxes.append(g[matched_idxs[i]])
        regression_targets = self.box_coder.encode(matched_gt_boxes, proposals)
        return proposals, matched_idxs, labels, regression_targets, nongt_dims

    def forward(self, features, proposals, image_shapes, targets=None):
        nongt_dims = None
        if self.training:
            if targets is None:
                raise ValueError("targets are needed in training mode")
            proposals, _, labels, regression_targets, nongt_dims = \
                self.select_training_samples_with_keys(proposals, targets)
            if self.gt_as_keys:
                nongt_dims = None
        box_features = self.box_roi_pool(features, proposals, image_shapes)
        box_features = self.box_head(box_features, proposals, nongt_dims)
        class_logits, box_regression = self.box_predictor(box_features)
        if self.training:
            loss_classifier, loss_box_reg = fastrcnn_loss(class_logits, box_regression, labels,
                                                          regression_targets)
            return [], {"loss_classifier": loss_classifier, "loss_box_reg": loss_box_reg}
        boxes, scores, labels = self.postprocess_detections(class_logits, box_regression,
                                                            proposals, image_shapes)
        return [dict(boxes=b, labels=l, scores=s) for b, s, l in zip(boxes, scores, labels)], {}


def relation_faster_rcnn(model: FasterRCNN, *, relations: tuple[int, int] = (1, 1),
                         class_agnostic: bool = True, representation_size: int = 1024,
                         gt_as_keys: bool = False, n_relations: int = 16, d_k: int = 64,
                         d_g: int = 64, normalize_by: str = "key", plus_one: bool = False,
                         geometry_scale: float = 1.0,
                         geometry_floor: float | None = None,
                         geometry: str = "relative") -> FasterRCNN:
    """Replace the box head and predictor of a torchvision ``FasterRCNN`` by the 2fc + RM head
    (in place; the model is returned). The matcher, sampler, box coder and test settings of the
    old ``roi_heads`` are kept.

    Args:
        model (FasterRCNN): e.g. ``fasterrcnn_resnet50_fpn(weights=None, num_classes=81)``.
        relations (tuple[int, int]): :math:`\\{r_1, r_2\\}`; (0, 0) is the 2fc baseline.
            Default: (1, 1).
        class_agnostic (bool): :class:`ClassAgnosticBoxPredictor` (RN) instead of torchvision's
            per-class ``FastRCNNPredictor``. Default: True.
        representation_size (int): fc width. Default: 1024.
        gt_as_keys (bool): see :class:`RelationRoIHeads`. Default: False.
        n_relations, d_k, d_g, normalize_by, plus_one, geometry_scale, geometry_floor: passed
            to every :class:`~relnotes.nn.ObjectRelation`. Defaults: its defaults.
        geometry (str): ``"relative"``, ``"none"`` or ``"unary"`` (:class:`RelationBoxHead`).
            Default: ``"relative"``.
    """
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

    if not isinstance(model, FasterRCNN):
        raise TypeError(f"model must be a torchvision FasterRCNN; got {type(model).__name__}")
    old = model.roi_heads
    pool = old.box_roi_pool
    size = pool.output_size if isinstance(pool.output_size, (tuple, list)) else (pool.output_size,) * 2
    in_channels = model.backbone.out_channels * size[0] * size[1]
    num_classes = old.box_predictor.cls_score.out_features
    head = RelationBoxHead(in_channels, representation_size, relations=relations,
                           n_relations=n_relations, d_k=d_k, d_g=d_g, normalize_by=normalize_by,
                           plus_one=plus_one, geometry_scale=geometry_scale,
                           geometry_floor=geometry_floor, geometry=geometry)
    predictor = (ClassAgnosticBoxPredictor(representation_size, num_classes) if class_agnostic
                 else FastRCNNPredictor(representation_size, num_classes))
    model.roi_heads = RelationRoIHeads(
        pool, head, predictor,
        fg_iou_thresh=old.proposal_matcher.high_threshold,
        bg_iou_thresh=old.proposal_matcher.low_threshold,
        batch_size_per_image=old.fg_bg_sampler.batch_size_per_image,
        positive_fraction=old.fg_bg_sampler.positive_fraction,
        bbox_reg_weights=old.box_coder.weights,
        score_thresh=old.score_thresh, nms_thresh=old.nms_thresh,
        detections_per_img=old.detections_per_img, gt_as_keys=gt_as_keys)
    return model


def relation_fasterrcnn_r50_fpn(num_classes: int = 81, *, relations: tuple[int, int] = (0, 0),
                                geometry: str = "relative", representation_size: int = 1024,
                                n_relations: int = 16, d_k: int = 64, d_g: int = 64,
                                geometry_scale: float = 1.0, backbone_weights=None,
                                min_size: int = 800, max_size: int = 1333,
                                proposals: int = 1000,
                                box_batch_size_per_image: int | None = None,
                                score_thresh: float = 1e-3, nms_thresh: float = 0.6,
                                detections_per_img: int = 100,
                                device: torch.device | str | None = None) -> FasterRCNN:
    """The COCO detector of the ``full`` profile: torchvision's Faster R-CNN R50-FPN with the
    2fc (+ RM) head and RN's FPN settings (Appendix A1; the official FPN configs).

    - shorter side ``min_size`` = 800 (longer at most ``max_size``), N = ``proposals`` = 1000 RPN
      proposals per image in training and test;
    - **all** N RoIs (and the ground truth) enter the head loss, as in RN ("all N proposals
      contribute to the loss"; ``BATCH_ROIS: -1``): ``box_batch_size_per_image=None`` keeps every
      RoI (torchvision's default samples 512 with 25 % positives); an int samples that many;
    - at test time scores below ``score_thresh`` = 1e-3 are dropped (the official
      ``TEST.THRESH``), then per-class NMS ``nms_thresh`` = 0.6 (RN Table 1) and at most
      ``detections_per_img`` = 100;
    - class-agnostic box regression (:class:`ClassAgnosticBoxPredictor`), and the head of
      :func:`relation_faster_rcnn` with ``relations``, ``geometry``, ``representation_size``,
      ``n_relations``, ``d_k``, ``d_g``, ``geometry_scale`` (as :func:`~relnotes.models.
      tiny_faster_rcnn`, whose keyword arguments these mirror);
    - ``backbone_weights`` (e.g. ``torchvision.models.ResNet50_Weights.IMAGENET1K_V1``,
      downloaded on first use): ImageNet initialisation with frozen BatchNorm and the stem plus
      ``layer1`` frozen, torchvision's defaults, which are RN's (``use_global_stats``,
      ``FIXED_PARAMS`` conv1 and res2). None: random initialisation, ordinary BatchNorm (tests).

    RN's own FPN detector differs where torchvision has no switch: RoIPool instead of RoIAlign,
    and an RPN trained first, separately (the official code trains the head on precomputed
    proposals); here the RPN trains jointly. ``device="meta"`` builds it without memory, for
    counting.

    Returns:
        FasterRCNN: with :class:`RelationRoIHeads`.
    """
    from torchvision.models.detection import fasterrcnn_resnet50_fpn

    if box_batch_size_per_image is None:
        batch, positive_fraction = 1 << 20, 1.0       # more than any image's RoIs: keep them all
    else:
        batch, positive_fraction = box_batch_size_per_image, 0.25
    with torch.device(device) if device is not None else contextlib.nullcontext():
        model = fasterrcnn_resnet50_fpn(
            weights=None, weights_backbone=backbone_weights, num_classes=num_classes,
            min_size=min_size, max_size=max_size, rpn_post_nms_top_n_train=proposals,
            rpn_post_nms_top_n_test=proposals, box_batch_size_per_image=batch,
            box_positive_fraction=positive_fraction, box_score_thresh=score_thresh,
            box_nms_thresh=nms_thresh, box_detections_per_img=detections_per_img)
        return relation_faster_rcnn(model, relations=relations, geometry=geometry,
                                    representation_size=representation_size,
                                    n_relations=n_relations, d_k=d_k, d_g=d_g,
                                    geometry_scale=geometry_scale)
