r"""Duplicate removal by hand-made rules: greedy NMS and Soft-NMS, the baselines of RN.

Relation Networks for Object Detection (RN, arXiv:1711.11575v2) replaces these rules by a learned
network (:mod:`relnotes.nn.duplicate_removal`) and compares with both in its Table 4; Table 5
reports every detector with Soft-NMS.

**Greedy NMS** keeps the highest-scoring box, deletes every box whose IoU with it exceeds a
threshold :math:`N_t`, and repeats. torchvision implements it (:func:`torchvision.ops.nms`,
:func:`torchvision.ops.batched_nms`); :func:`greedy_nms` only adds the input checks of relnotes.

**Soft-NMS** (Bodla, Singh, Chellappa, Davis, ICCV 2017) never deletes a box outright; it lowers
the scores of the boxes that overlap the one just kept, :math:`M`. The Gaussian version,

.. math::

    s_i \leftarrow s_i\, \exp\!\big(-\mathrm{IoU}(M, b_i)^2 / \sigma\big),

and the linear version, :math:`s_i \leftarrow s_i\,(1 - \mathrm{IoU}(M, b_i))` when
:math:`\mathrm{IoU}(M, b_i) > N_t` (unchanged otherwise).

The rules for leaving follow the official Soft-NMS code (``cpu_soft_nms`` in
``bharatsingh430/soft-nms``, ``lib/nms/cpu_nms.pyx``): a box is rescored only by a pick that
intersects it, and it is dropped only then, when its score right after that rescoring is below
``score_threshold`` (that code's default: :math:`10^{-3}`). A box that no pick touches is kept
whatever its score. The official RN code (``lib/nms/nms.py::soft_nms``) drops no box after
rescoring; its tester keeps boxes scored above :math:`10^{-3}` *before* Soft-NMS
(``pred_eval(thresh=1e-3)``), then the 100 best per image, and its configs use the Gaussian
version with :math:`\sigma = 0.6`. ``score_threshold=0`` gives RN's rule. Both official codes
measure boxes with the "+1 pixel" widths :math:`x_2 - x_1 + 1` (``plus_one=True`` here).

torchvision has no Soft-NMS, so it is written here: the pairwise IoU matrix is computed once, then
each step is a few tensor operations on one of its rows.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import batched_nms, nms

__all__ = ["pairwise_iou", "greedy_nms", "soft_nms", "batched_soft_nms"]


def _check(boxes: Tensor, scores: Tensor, idxs: Tensor | None = None) -> None:
    if not isinstance(boxes, Tensor) or boxes.dim() != 2 or boxes.shape[-1] != 4:
        shape = tuple(boxes.shape) if isinstance(boxes, Tensor) else type(boxes).__name__
        raise ValueError(f"boxes must be Tensor[N, 4] of (x1, y1, x2, y2); got {shape}")
    if not isinstance(scores, Tensor) or scores.shape != boxes.shape[:1]:
        shape = tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
        raise ValueError(f"scores must be Tensor[N] with N = boxes.shape[0] = {boxes.shape[0]}; "
                         f"got {shape}")
    if idxs is not None and (not isinstance(idxs, Tensor) or idxs.shape != boxes.shape[:1]):
        shape = tuple(idxs.shape) if isinstance(idxs, Tensor) else type(idxs).__name__
        raise ValueError(f"idxs must be Tensor[N] with N = boxes.shape[0] = {boxes.shape[0]}; "
                         f"got {shape}")
    if boxes.numel() and not bool(torch.isfinite(boxes).all() and torch.isfinite(scores).all()):
        raise ValueError("boxes and scores must be finite; got NaN or inf")
    if boxes.numel() and bool(((boxes[:, 2:] - boxes[:, :2]) < 0).any()):
        raise ValueError("boxes must satisfy x1 <= x2 and y1 <= y2")


def greedy_nms(boxes: Tensor, scores: Tensor, iou_threshold: float,
               idxs: Tensor | None = None) -> Tensor:
    """Greedy NMS, per class when ``idxs`` is given (:func:`torchvision.ops.nms` /
    :func:`torchvision.ops.batched_nms`).

    Args:
        boxes (Tensor[N, 4]): (x1, y1, x2, y2), x1 <= x2, y1 <= y2.
        scores (Tensor[N])
        iou_threshold (float): :math:`N_t`; boxes with IoU > N_t with a kept box are removed.
        idxs (Tensor[N], optional): class of each box; boxes of different classes never
            suppress each other. Default: one class.

    Returns:
        Tensor[K] (int64): indices of the kept boxes, by decreasing score.

    Examples::

        >>> b = torch.tensor([[0., 0., 10., 10.], [1., 0., 11., 10.], [20., 20., 30., 30.]])
        >>> greedy_nms(b, torch.tensor([0.9, 0.8, 0.7]), 0.5)
        tensor([0, 2])
    """
    _check(boxes, scores, idxs)
    if idxs is None:
        return nms(boxes, scores, iou_threshold)
    return batched_nms(boxes, scores, idxs, iou_threshold)


def pairwise_iou(boxes: Tensor, plus_one: bool = False) -> tuple[Tensor, Tensor]:
    r"""Pairwise IoU and intersection of one set of boxes, optionally with the "+1 pixel" widths.

    Args:
        boxes (Tensor[N, 4]): (x1, y1, x2, y2), x1 <= x2, y1 <= y2.
        plus_one (bool): widths :math:`x_2 - x_1 + 1` and heights :math:`y_2 - y_1 + 1`, as the
            official Soft-NMS and RN codes measure them. Default: False (torchvision's
            :func:`~torchvision.ops.box_iou`).

    Returns:
        (Tensor[N, N], Tensor[N, N]): the IoU matrix (0 where the union is empty) and the
        intersection areas.

    Examples::

        >>> b = torch.tensor([[0., 0., 9., 9.], [5., 0., 14., 9.]])
        >>> pairwise_iou(b)[0][0, 1]              # 4 * 9 / (81 + 81 - 36) = 2/7
        tensor(0.2857)
        >>> pairwise_iou(b, plus_one=True)[0][0, 1]       # 5 * 10 / (100 + 100 - 50) = 1/3
        tensor(0.3333)
    """
    one = 1.0 if plus_one else 0.0
    wh = boxes[:, 2:] - boxes[:, :2] + one                                   # [N, 2]
    area = wh[:, 0] * wh[:, 1]                                               # [N]
    lt = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])               # [N, N, 2]
    rb = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])               # [N, N, 2]
    overlap = (rb - lt + one).clamp(min=0)                                   # [N, N, 2]
    inter = overlap[..., 0] * overlap[..., 1]                                # [N, N]
    union = area[:, None] + area[None, :] - inter
    iou = torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), 0.0)
    return iou, inter


def soft_nms(boxes: Tensor, scores: Tensor, sigma: float = 0.6, score_threshold: float = 1e-3, *,
             method: str = "gaussian", iou_threshold: float = 0.3,
             plus_one: bool = False) -> tuple[Tensor, Tensor]:
    r"""Soft-NMS (Bodla et al. 2017), one class, as the official ``cpu_soft_nms`` computes it.

    Args:
        boxes (Tensor[N, 4]): (x1, y1, x2, y2), x1 <= x2, y1 <= y2.
        scores (Tensor[N]): :math:`s_i`.
        sigma (float): :math:`\sigma` of the Gaussian decay :math:`\exp(-\mathrm{IoU}^2/\sigma)`;
            > 0. Default: 0.6 (the official RN test setting).
        score_threshold (float): a box is dropped when a pick that intersects it leaves its score
            below this value; a box no pick touches is kept whatever its score. Default: 1e-3
            (the official Soft-NMS code's default; 0 gives the official RN code, which drops none).
        method (str): ``"gaussian"`` or ``"linear"`` (:math:`s_i (1 - \mathrm{IoU})` when
            :math:`\mathrm{IoU} > N_t`). Default: gaussian.
        iou_threshold (float): :math:`N_t` of the linear version. Default: 0.3 (official code).
        plus_one (bool): "+1 pixel" box widths in the IoU (both official codes). Default: False.

    Returns:
        (Tensor[K] int64, Tensor[K]): indices of the kept boxes in the order they were picked
        (which is by decreasing new score), and their new scores. Ties are broken by the lower
        index.

    Examples::

        >>> b = torch.tensor([[0., 0., 10., 10.], [1., 0., 11., 10.], [20., 20., 30., 30.]])
        >>> keep, s = soft_nms(b, torch.tensor([0.9, 0.8, 0.7]), sigma=0.5)
        >>> keep, s       # box 1 (IoU 9/11 with box 0) drops to 0.8 exp(-(9/11)^2 / 0.5)
        (tensor([0, 2, 1]), tensor([0.9000, 0.7000, 0.2097]))
        >>> soft_nms(b[1:], torch.tensor([0.9, 5e-4]))[0]   # box 2 is below 1e-3 but untouched
        tensor([0, 1])
    """
    _check(boxes, scores)
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0; got {sigma}")
    if method not in ("gaussian", "linear"):
        raise ValueError(f"method must be 'gaussian' or 'linear'; got {method!r}")
    n = boxes.shape[0]
    iou, inter = pairwise_iou(boxes, plus_one)                 # [N, N]
    touches = inter > 0                                            # official: iw > 0 and ih > 0
    s = scores.clone()
    alive = torch.ones(n, dtype=torch.bool, device=boxes.device)   # [N]
    keep, kept_scores = [], []
    neg_inf = torch.tensor(float("-inf"), dtype=s.dtype, device=s.device)
    for _ in range(n):
        if not bool(alive.any()):
            break
        i = int(torch.where(alive, s, neg_inf).argmax())           # first index among equal maxima
        keep.append(i)
        kept_scores.append(s[i])
        alive[i] = False
        rescored = alive & touches[i]                              # the boxes that M intersects
        if method == "gaussian":
            decay = torch.exp(-iou[i] ** 2 / sigma)                # s_i exp(-IoU(M, b_i)^2 / sigma)
        else:
            decay = torch.where(iou[i] > iou_threshold, 1 - iou[i], 1.0)   # s_i (1 - IoU(M, b_i))
        s = torch.where(rescored, s * decay, s)
        alive &= ~(rescored & (s < score_threshold))               # leave only after a rescoring
    keep_t = torch.tensor(keep, dtype=torch.int64, device=boxes.device)
    scores_t = torch.stack(kept_scores) if kept_scores else scores.new_zeros(0)
    return keep_t, scores_t


def batched_soft_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, sigma: float = 0.6,
                     score_threshold: float = 1e-3, *, method: str = "gaussian",
                     iou_threshold: float = 0.3, plus_one: bool = False) -> tuple[Tensor, Tensor]:
    """:func:`soft_nms` run separately on the boxes of each class ``idxs`` (same arguments).

    Returns:
        (Tensor[K] int64, Tensor[K]): kept indices into ``boxes`` and their new scores, sorted by
        decreasing new score (ties: lower index first).
    """
    _check(boxes, scores, idxs)
    keeps, news = [], []
    for c in torch.unique(idxs):
        members = torch.nonzero(idxs == c).flatten()
        keep, new = soft_nms(boxes[members], scores[members], sigma, score_threshold, method=method,
                             iou_threshold=iou_threshold, plus_one=plus_one)
        keeps.append(members[keep])
        news.append(new)
    if not keeps:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device), scores.new_zeros(0)
    keep, new = torch.cat(keeps), torch.cat(news)
    order = torch.argsort(keep, stable=True)                        # lower index first on ties
    keep, new = keep[order], new[order]
    order = torch.argsort(new, descending=True, stable=True)
    return keep[order], new[order]
