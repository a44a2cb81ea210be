r"""Duplicate removal by hand-made rules: greedy NMS and Gaussian Soft-NMS, the baselines of RN.

Relation Networks for Object Detection (RN, arXiv:1711.11575v2) replaces these rules by a learned
network (:mod:`relnotes.nn.duplicate_removal`) and compares with both in its Table 4; Table 5
reports every detector with Soft-NMS.

**Greedy NMS** keeps the highest-scoring box, deletes every box whose IoU with it exceeds a
threshold :math:`N_t`, and repeats. torchvision implements it (:func:`torchvision.ops.nms`,
:func:`torchvision.ops.batched_nms`); :func:`greedy_nms` only adds the input checks of relnotes.

**Soft-NMS** (Bodla, Singh, Chellappa, Davis, ICCV 2017) never deletes a box; it lowers the
scores of the boxes that overlap the one just kept. The Gaussian version, with :math:`M` the box
just kept,

.. math::

    s_i \leftarrow s_i\, \exp\!\big(-\mathrm{IoU}(M, b_i)^2 / \sigma\big),

and a box leaves when its score falls below a small threshold (:math:`10^{-3}` in the official RN
code, whose test configs use :math:`\sigma = 0.6`). torchvision has no Soft-NMS, so it is written
here: the pairwise IoU matrix is computed once (:func:`torchvision.ops.box_iou`), then each step is
a few tensor operations on it.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import batched_nms, box_iou, nms

__all__ = ["greedy_nms", "soft_nms", "batched_soft_nms"]


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


def soft_nms(boxes: Tensor, scores: Tensor, sigma: float = 0.6,
             score_threshold: float = 1e-3) -> tuple[Tensor, Tensor]:
    r"""Gaussian Soft-NMS (Bodla et al. 2017), one class.

    Args:
        boxes (Tensor[N, 4]): (x1, y1, x2, y2), x1 <= x2, y1 <= y2.
        scores (Tensor[N]): :math:`s_i`.
        sigma (float): :math:`\sigma` of :math:`\exp(-\mathrm{IoU}^2/\sigma)`; > 0.
            Default: 0.6 (the official RN test setting).
        score_threshold (float): a box whose (decayed) score falls below it is dropped.
            Default: 1e-3.

    Returns:
        (Tensor[K] int64, Tensor[K]): indices of the kept boxes in the order they were picked
        (which is by decreasing new score), and their new scores. Ties are broken by the lower
        index.

    Examples::

        >>> b = torch.tensor([[0., 0., 10., 10.], [1., 0., 11., 10.], [20., 20., 30., 30.]])
        >>> keep, s = soft_nms(b, torch.tensor([0.9, 0.8, 0.7]), sigma=0.5)
        >>> keep, s       # box 1 (IoU 9/11 with box 0) drops to 0.8 exp(-(9/11)^2 / 0.5)
        (tensor([0, 2, 1]), tensor([0.9000, 0.7000, 0.2097]))
    """
    _check(boxes, scores)
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0; got {sigma}")
    n = boxes.shape[0]
    iou = box_iou(boxes, boxes)                                   # [N, N]
    iou = torch.nan_to_num(iou, nan=0.0)                          # two zero-area boxes: 0/0
    s = scores.clone()
    alive = s >= score_threshold                                   # [N]
    keep, kept_scores = [], []
    neg_inf = torch.tensor(float("-inf"), dtype=s.dtype, device=s.device)
    for _ in range(n):
        if not bool(alive.any()):
            break
        i = int(torch.where(alive, s, neg_inf).argmax())           # first index among equal maxima
        keep.append(i)
        kept_scores.append(s[i])
        alive[i] = False
        # Soft-NMS, Gaussian: s_j <- s_j exp(-IoU(M, b_j)^2 / sigma)
        s = torch.where(alive, s * torch.exp(-iou[i] ** 2 / sigma), s)
        alive &= s >= score_threshold
    keep_t = torch.tensor(keep, dtype=torch.int64, device=boxes.device)
    scores_t = torch.stack(kept_scores) if kept_scores else scores.new_zeros(0)
    return keep_t, scores_t


def batched_soft_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, sigma: float = 0.6,
                     score_threshold: float = 1e-3) -> tuple[Tensor, Tensor]:
    """:func:`soft_nms` run separately on the boxes of each class ``idxs``.

    Returns:
        (Tensor[K] int64, Tensor[K]): kept indices into ``boxes`` and their new scores, sorted by
        decreasing new score (ties: lower index first).
    """
    _check(boxes, scores, idxs)
    keeps, news = [], []
    for c in torch.unique(idxs):
        members = torch.nonzero(idxs == c).flatten()
        keep, new = soft_nms(boxes[members], scores[members], sigma, score_threshold)
        keeps.append(members[keep])
        news.append(new)
    if not keeps:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device), scores.new_zeros(0)
    keep, new = torch.cat(keeps), torch.cat(news)
    order = torch.argsort(keep, stable=True)                        # lower index first on ties
    keep, new = keep[order], new[order]
    order = torch.argsort(new, descending=True, stable=True)
    return keep[order], new[order]
