r"""Learned duplicate removal: an object relation module instead of NMS (RN Sec. 4.3).

Hu, Gu, Zhang, Dai, Wei, "Relation Networks for Object Detection", arXiv:1711.11575v2, Sec. 4.3
and Figure 3(b); the official MXNet code (``*_learn_nms.py``, ``operator_py/learn_nms.py``,
``operator_py/nms_multi_target.py``) was read for the details marked *code*; nothing was copied.

Duplicate removal is a two-class problem per detection: is it the *correct* detection of its
object, or a *duplicate*? The network sees, for the N highest-scoring detections of one class,

- the **rank** of each detection's score :math:`s_0` among them, embedded with sines and cosines
  (:func:`relnotes.ops.sinusoidal_embedding`, wavelength 1000) and projected by :math:`W_{fR}` to
  :math:`d_f = 128`; the rank, not the score, because ranks compare detections across images and
  classes (RN Table 3: the score as input loses 2 mAP);
- its **appearance** feature (the 1024-d output of the box head), projected by :math:`W_f` to 128;
- its **box**, for the geometry weights of the relation module.

The two projections are summed, one :class:`~relnotes.nn.ObjectRelation` with :math:`d_f = 128`
(:math:`N_r = 16, d_k = 64, d_g = 64`) relates the detections of the class, and a linear
:math:`W_s` with a sigmoid gives :math:`s_1`. The final score is :math:`s_0 \cdot s_1`.

**Several IoU thresholds.** Whether a detection is "correct" depends on the IoU threshold
:math:`\eta` that defines a match, and COCO's mAP averages over :math:`\eta \in [0.5, 0.95]`.
So :math:`W_s` has one output per :math:`\eta \in \{0.5, 0.6, 0.7, 0.8, 0.9\}`, each trained with
its own targets, and the test score averages the five: :math:`s_0 \cdot \frac15\sum_\eta s_1^\eta`.

**Targets** (:func:`duplicate_removal_targets`, code ``nms_multi_target``): every detection is
assigned to the ground-truth box of its class it overlaps most; for every ground-truth box and
every :math:`\eta`, the highest-scoring detection assigned to it with IoU :math:`> \eta` is correct
(1), every other detection is a duplicate or a false positive (0). The paper's text says "IoU
:math:`\ge \eta`" and does not mention the assignment; ``inclusive=True`` gives the :math:`\ge`.

**Loss** (:func:`duplicate_removal_loss`): binary cross entropy on :math:`p = s_0 s_1`, averaged
over the detections and thresholds of a class and summed over classes, with the positive term
weighted by 4 (code: ``nms_pos_scale``; positives are at most one per object and threshold). The
gradient reaches :math:`s_0`, and so the classifier and the backbone when trained end to end (RN
Sec. 4.4), but not the boxes (code: ``BlockGrad`` on the box regression).

**Where the code differs from the paper** (options here):

- the code's rank embedding has 1024 channels before :math:`W_{fR}` (``rank_dim=1024``); the paper
  says 128 (the default). This is most of the difference between the code's 544,789 parameters
  and the 430,101 of the paper's layout (both with biases); the paper states "0.33 million",
  which neither layout gives;
- the code adds a residual and a ReLU after the relation module (issue #30 of the official
  repository notes that Figure 3(b) does not draw it); we do the same;
- the logit bias starts at -3 (:math:`s_1 \approx 0.05`), so at initialisation almost every
  detection is called a duplicate, as almost every detection is one.

**Input ablations** (RN Table 3): ``rank_input="score"`` embeds :math:`100\,s_0` instead of the
rank (the factor, ours, makes the scores span the range of the ranks 0..99; the paper does not say
how it embedded the score), ``rank_input="none"`` drops the term; ``appearance=False`` drops
:math:`W_f f`; ``geometry="none"`` / ``"unary"`` replace the relation module's geometric weight as
in Table 1(a) (:data:`relnotes.nn.object_relation.GEOMETRY_TERMS`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torchvision.ops import box_iou

from ..ops.box_geometry import check_boxes, sinusoidal_embedding
from .object_relation import GEOMETRY_TERMS, ObjectRelation

__all__ = ["DuplicateRemoval", "duplicate_removal_targets", "duplicate_removal_loss",
           "select_top_n", "THRESHOLDS"]

#: RN Sec. 4.3: the IoU thresholds of the multi-threshold head.
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
#: RN Table 3: what the first input of the network is.
RANK_INPUTS = ("rank", "score", "none")


def _describe(x) -> str:
    return str(tuple(x.shape)) if isinstance(x, Tensor) else type(x).__name__


class DuplicateRemoval(nn.Module):
    r"""The duplicate-removal network of RN Sec. 4.3 and Figure 3(b); see the module docstring.

    Args:
        channels (int): channels of the appearance feature f of a detection. Default: 1024.
        d_f (int): width of the network (the relation module's :math:`d_f`). Default: 128.
        rank_dim (int): channels of the sinusoidal rank embedding (paper 128, code 1024).
            Default: 128.
        n_relations (int): :math:`N_r`. Default: 16.
        d_k (int): Default: 64.
        d_g (int): Default: 64.
        thresholds (tuple of float): the IoU thresholds :math:`\eta`, one output each.
            Default: (0.5, 0.6, 0.7, 0.8, 0.9).
        logit_bias (float): initial bias of :math:`W_s`. Default: -3 (code).
        normalize_by, plus_one, geometry_scale, geometry_floor: box-geometry options of
            :class:`~relnotes.nn.ObjectRelation`. Defaults: the paper's.
        rank_input (str): the first input, RN Table 3 "rank :math:`f_R`": ``"rank"`` (paper),
            ``"score"`` (:math:`100\,s_0` embedded instead) or ``"none"``. Default: ``"rank"``.
        appearance (bool): use the appearance feature :math:`W_f f` (Table 3 "appearance f:
            none" is False). Default: True.
        geometry (str): the relation module's geometric term, Table 3 "geometric bbox":
            ``"relative"``, ``"none"`` or ``"unary"``. Default: ``"relative"``.
    """

    def __init__(self, channels: int = 1024, *, d_f: int = 128, rank_dim: int = 128,
                 n_relations: int = 16, d_k: int = 64, d_g: int = 64,
                 thresholds: tuple[float, ...] = THRESHOLDS, logit_bias: float = -3.0,
                 normalize_by: str = "key", plus_one: bool = False, geometry_scale: float = 1.0,
                 geometry_floor: float | None = None, rank_input: str = "rank",
                 appearance: bool = True, geometry: str = "relative") -> None:
        super().__init__()
        if rank_input not in RANK_INPUTS:
            raise ValueError(f"rank_input must be one of {RANK_INPUTS}; got {rank_input!r}")
        if geometry not in GEOMETRY_TERMS:
            raise ValueError(f"geometry must be one of {sorted(GEOMETRY_TERMS)}; got {geometry!r}")
        if rank_input == "none" and not appearance:
            raise ValueError("rank_input='none' with appearance=False leaves the network no input "
                             "but the boxes; keep at least one")
        if channels <= 0 or d_f <= 0:
            raise ValueError(f"channels and d_f must be positive; got {channels}, {d_f}")
        if rank_dim <= 0 or rank_dim % 2:
            raise ValueError(f"rank_dim must be a positive even number; got {rank_dim}")
        thresholds = tuple(float(t) for t in thresholds)
        if not thresholds or not all(0 <= t < 1 for t in thresholds):
            raise ValueError(f"thresholds must be a non-empty tuple of IoUs in [0, 1); got "
                             f"{thresholds}")
        self.channels, self.d_f, self.rank_dim = channels, d_f, rank_dim
        self.thresholds, self.logit_bias = thresholds, logit_bias
        self.rank_input, self.appearance, self.geometry = rank_input, appearance, geometry
        self.rank_fc = nn.Linear(rank_dim, d_f) if rank_input != "none" else None       # W_fR
        self.feature_fc = nn.Linear(channels, d_f) if appearance else None              # W_f
        self.relation = GEOMETRY_TERMS[geometry](d_f, n_relations=n_relations, d_k=d_k, d_g=d_g,
                                       normalize_by=normalize_by, plus_one=plus_one,
                                       geometry_scale=geometry_scale,
                                       geometry_floor=geometry_floor)
        self.logit = nn.Linear(d_f, len(thresholds))      # W_s, one output per η
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weights ~ N(0, 0.01), biases 0, and the logit bias at ``logit_bias`` (code: -3, so
        s_1 starts near sigmoid(-3) = 0.047)."""
        for layer in (self.rank_fc, self.feature_fc, self.logit):
            if layer is None:
                continue
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)
        nn.init.constant_(self.logit.bias, self.logit_bias)
        self.relation.reset_parameters()

    def forward(self, features: Tensor, scores: Tensor, boxes: Tensor,
                return_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        r"""
        Args:
            features (Tensor[..., N, channels]): appearance features of the N detections of one
                class (leading dimensions: classes, images).
            scores (Tensor[..., N]): their scores :math:`s_0`; only their order is used here.
            boxes (Tensor[..., N, 4]): their boxes (x1, y1, x2, y2); no gradient flows into them.
            return_weights (bool): also return the relation weights, Tensor[..., N_r, N, N].
                Default: False.

        Returns:
            Tensor[..., N, T]: :math:`s_1` for each threshold, in (0, 1). Multiply by
            :math:`s_0` for the loss (:func:`duplicate_removal_loss`) and average over T for the
            test score (:meth:`final_scores`).
        """
        if not isinstance(features, Tensor) or features.dim() < 2 \
                or features.shape[-1] != self.channels:
            raise ValueError(f"features must be Tensor[..., N, {self.channels}]; got "
                             f"{_describe(features)}")
        if not isinstance(scores, Tensor) or scores.shape != features.shape[:-1]:
            raise ValueError(f"scores must be Tensor[..., N] = {tuple(features.shape[:-1])} "
                             f"(one per feature row); got {_describe(scores)}")
        check_boxes(boxes, "boxes", self.relation.plus_one)
        if boxes.shape[:-1] != features.shape[:-1]:
            raise ValueError(f"boxes must be Tensor[..., N, 4] with the leading dimensions of "
                             f"features {tuple(features.shape[:-1])}; got {tuple(boxes.shape)}")
        if features.numel() and not bool(torch.isfinite(scores).all()):
            raise ValueError("scores must be finite; got NaN or inf")
        lead, n = features.shape[:-2], features.shape[-2]
        # rank 0 = highest score (stable: ties keep the input order)
        order = torch.argsort(scores.detach(), dim=-1, descending=True, stable=True)
        rank = torch.argsort(order, dim=-1).to(features.dtype)                   # [..., N]
        x = features.new_zeros(*features.shape[:-1], self.d_f)                   # [..., N, d_f]
        if self.rank_input == "rank":
            x = x + self.rank_fc(sinusoidal_embedding(rank, self.rank_dim))      # W_fR E(rank)
        elif self.rank_input == "score":                                         # Table 3 ablation
            x = x + self.rank_fc(sinusoidal_embedding(100 * scores.detach().to(features.dtype),
                                                      self.rank_dim))
        if self.appearance:
            x = x + self.feature_fc(features)                                    # + W_f f
        b = math.prod(lead)
        flat = x.reshape(b, n, self.d_f)                                         # [B, N, d_f]
        flat_boxes = boxes.detach().reshape(b, n, 4)
        y, w = self.relation(flat, flat_boxes, return_weights=True)              # residual inside
        y = torch.relu(y).reshape(*lead, n, self.d_f)                            # code: ReLU
        s1 = torch.sigmoid(self.logit(y))                                        # [..., N, T]
        if return_weights:
            return s1, w.reshape(*lead, *w.shape[1:])
        return s1

    @staticmethod
    def final_scores(scores: Tensor, s1: Tensor) -> Tensor:
        r"""Test-time score :math:`s_0 \cdot \frac1T \sum_\eta s_1^\eta`, Tensor[..., N]
        (code: ``TEST.MERGE_METHOD = -1``, the mean over thresholds)."""
        return scores * s1.mean(dim=-1)

    def extra_repr(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v, default in (
            ("rank_input", self.rank_input, "rank"), ("appearance", self.appearance, True),
            ("geometry", self.geometry, "relative")) if v != default)
        return (f"channels={self.channels}, d_f={self.d_f}, rank_dim={self.rank_dim}, "
                f"thresholds={self.thresholds}{extra}")


def duplicate_removal_targets(boxes: Tensor, scores: Tensor, gt_boxes: Tensor,
                              thresholds: tuple[float, ...] = THRESHOLDS,
                              inclusive: bool = False) -> Tensor:
    r"""Correct (1) / duplicate (0) labels of the detections of one class, per threshold.

    Every detection is assigned to the ground-truth box it overlaps most (lower index on ties).
    For each ground-truth box g and threshold :math:`\eta`, among the detections assigned to g
    with :math:`\mathrm{IoU} > \eta` (``>=`` with ``inclusive``), the highest-scoring one (lower
    index on ties) gets 1; all other detections get 0.

    Args:
        boxes (Tensor[N, 4]): detections of one class, (x1, y1, x2, y2).
        scores (Tensor[N]): their scores :math:`s_0`.
        gt_boxes (Tensor[G, 4]): the ground-truth boxes of that class.
        thresholds (tuple of float): :math:`\eta`. Default: (0.5, 0.6, 0.7, 0.8, 0.9).
        inclusive (bool): IoU >= :math:`\eta` (the paper's text) instead of > (the code).
            Default: False.

    Returns:
        Tensor[N, T] (float, 0 or 1). No ground truth gives all zeros.

    Examples::

        >>> gt = torch.tensor([[0., 0., 10., 10.]])
        >>> dets = torch.tensor([[0., 0., 10., 9.], [0., 0., 10., 6.]])   # IoU 0.9 and 0.6
        >>> duplicate_removal_targets(dets, torch.tensor([0.5, 0.8]), gt, (0.5, 0.7))
        tensor([[0., 1.],
                [1., 0.]])
    """
    if not isinstance(boxes, Tensor) or boxes.dim() != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must be Tensor[N, 4]; got {_describe(boxes)}")
    if not isinstance(gt_boxes, Tensor) or gt_boxes.dim() != 2 or gt_boxes.shape[-1] != 4:
        raise ValueError(f"gt_boxes must be Tensor[G, 4]; got {_describe(gt_boxes)}")
    if not isinstance(scores, Tensor) or scores.shape != boxes.shape[:1]:
        raise ValueError(f"scores must be Tensor[N] with N = boxes.shape[0] = {boxes.shape[0]}; "
                         f"got {_describe(scores)}")
    n, t = boxes.shape[0], len(thresholds)
    targets = torch.zeros(n, t, dtype=scores.dtype if scores.is_floating_point() else torch.float32,
                          device=boxes.device)
    if n == 0 or gt_boxes.shape[0] == 0:
        return targets
    iou = torch.nan_to_num(box_iou(boxes, gt_boxes), nan=0.0)                  # [N, G]
    best_iou, best_gt = iou.max(dim=1)                                          # assignment
    # candidates sorted by decreasing score, ties by index
    order = torch.argsort(scores.detach(), descending=True, stable=True).tolist()
    gt_of = best_gt.tolist()
    for j, eta in enumerate(thresholds):
        ok = (best_iou >= eta if inclusive else best_iou > eta).tolist()       # [N]
        taken = set()                                                           # gt indices
        for i in order:
            if ok[i] and gt_of[i] not in taken:
                taken.add(gt_of[i])
                targets[i, j] = 1.0
    return targets


def duplicate_removal_loss(probs: Tensor, targets: Tensor, pos_weight: float = 4.0,
                           eps: float = 1e-8) -> Tensor:
    r"""Binary cross entropy on :math:`p = s_0 s_1`, RN Sec. 4.3 with the code's weighting.

    .. math::

        L = \sum_{\text{classes}} \frac{1}{N T} \sum_{n, \eta}
            -\big[\,w_+\, t \log(p + \epsilon) + (1 - t) \log(1 - p + \epsilon)\big]

    Args:
        probs (Tensor[..., N, T]): :math:`s_0 s_1`, in [0, 1].
        targets (Tensor[..., N, T]): 0 or 1 (:func:`duplicate_removal_targets`).
        pos_weight (float): :math:`w_+`. Default: 4 (code; 1 is the paper's plain BCE).
        eps (float): :math:`\epsilon`. Default: 1e-8 (code).

    Returns:
        Tensor[]: the mean over the last two dimensions, summed over the leading ones (the
        classes); 0 when there is no detection.
    """
    if probs.shape != targets.shape or probs.dim() < 2:
        raise ValueError(f"probs and targets must be Tensor[..., N, T] of the same shape; got "
                         f"{tuple(probs.shape)} and {tuple(targets.shape)}")
    if probs.numel() == 0:
        return probs.sum()
    pos = -targets * torch.log(probs + eps) * pos_weight
    neg = -(1 - targets) * torch.log(1 - probs + eps)
    return (pos + neg).mean(dim=(-2, -1)).sum()


def select_top_n(class_scores: Tensor, first_n: int = 100,
                 class_score_threshold: float | None = None) -> tuple[Tensor, Tensor, Tensor]:
    r"""The input of the network: per class, the ``first_n`` detections with the highest score.

    Args:
        class_scores (Tensor[R, C]): the score of each of the R boxes for each class (the
            softmax of the box head, the background column removed).
        first_n (int): N, detections per class (code: ``FIRST_N`` 100, 150 for FPN).
            Default: 100. Fewer boxes than N give N = R.
        class_score_threshold (float, optional): keep only the classes whose best score reaches
            it (code, at test time: 0.01; "only 12.0% classes" survive, RN Sec. 4.3).
            Default: keep all.

    Returns:
        (Tensor[C'] int64, Tensor[C', N] int64, Tensor[C', N]): the kept classes, the indices of
        their top-N boxes (into R) by decreasing score, and those scores.
    """
    if not isinstance(class_scores, Tensor) or class_scores.dim() != 2:
        raise ValueError(f"class_scores must be Tensor[R, C]; got {_describe(class_scores)}")
    if first_n < 1:
        raise ValueError(f"first_n must be >= 1; got {first_n}")
    r, c = class_scores.shape
    n = min(first_n, r)
    classes = torch.arange(c, device=class_scores.device)
    if class_score_threshold is not None and r > 0:
        classes = classes[class_scores.max(dim=0).values >= class_score_threshold]
    elif r == 0:
        classes = classes[:0]
    per_class = class_scores[:, classes].t()                                   # [C', R]
    top, index = per_class.topk(n, dim=1, sorted=True)                         # [C', N]
    return classes, index, top
