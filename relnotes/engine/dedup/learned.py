r"""The learned duplicate-removal network at test time (RN Sec. 4.3): rescoring the candidates of
each class, and a check that its sigmoids have not saturated."""

from __future__ import annotations

import torch
from torch import Tensor

from ...nn.duplicate_removal import DuplicateRemoval
from .outputs import HeadOutputs, _candidates
from .rules import _top_per_image

__all__ = ["learned_detections", "saturated_fraction"]


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
