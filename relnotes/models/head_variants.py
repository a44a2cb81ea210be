"""The box heads compared in RN Tables 1 and 2, by row key: one place that says what each row is.

RN (arXiv:1711.11575v2) Table 1 ablates the relation module of the 2fc + RM head, Table 2 sets it
beside 2fc heads of similar complexity. The row keys (those of the ``rn_ablation_head`` profile
knob ``rows``):

- ``2fc``: the baseline head; ``relative``: 2fc + RM {1, 1} with the relative geometry (ours);
- (a) geometry: ``none``, ``unary``, ``relative_x1`` (the paper's Eq. (5) scale, no x100);
- (b) N_r: ``nr1``, ``nr2``, ``nr4``, ``nr8``, ``nr32``;
- (c) {r1, r2} modules after fc6 / fc7: ``r10``, ``r01``, ``r22``, ``r44``;
- Table 2: ``wide2fc`` (a wider 2fc), ``3fc``, ``4fc`` (more fc layers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

__all__ = ["HEAD_LABELS", "head_variant", "head_variant_detector"]

#: Row key -> the label of the artifact row (``wide2fc``'s label adds the width).
HEAD_LABELS = {
    "2fc": "2fc", "none": "(a) none", "unary": "(a) unary", "relative": "2fc + RM (ours)",
    "relative_x1": "(a) ours, geometry x1",
    "nr1": "(b) N_r = 1", "nr2": "(b) N_r = 2", "nr4": "(b) N_r = 4", "nr8": "(b) N_r = 8",
    "nr32": "(b) N_r = 32",
    "r10": "(c) {1, 0}", "r01": "(c) {0, 1}", "r22": "(c) {2, 2}", "r44": "(c) {4, 4}",
    "wide2fc": "2fc", "3fc": "3fc", "4fc": "4fc",
}


def head_variant(key: str, *, wide: int | None = None) -> tuple[dict[str, Any], int]:
    """What row ``key`` changes in the detector's arguments, and its number of fc layers.

    Args:
        key (str): a row key (module docstring).
        wide (int, optional): ``representation_size`` of ``wide2fc``.

    Returns:
        (dict, int): keyword arguments of :func:`relnotes.models.relation_faster_rcnn` (and the
        detectors built on it) that replace the baseline's, and ``n_fc`` (2, or 3 / 4 for
        ``3fc`` / ``4fc``, whose head is then an :class:`relnotes.models.FCBoxHead`).

    Raises:
        KeyError: unknown key.
    """
    if key == "2fc":
        return {}, 2
    if key in ("none", "unary", "relative"):
        return dict(relations=(1, 1), geometry=key), 2
    if key == "relative_x1":                            # the paper's Eq. (5), no x100
        return dict(relations=(1, 1), geometry_scale=1.0), 2
    if key.startswith("nr") and key[2:].isdigit():      # (b) N_r
        return dict(relations=(1, 1), n_relations=int(key[2:])), 2
    if len(key) == 3 and key[0] == "r" and key[1:].isdigit():   # (c) {r1, r2}
        return dict(relations=(int(key[1]), int(key[2]))), 2
    if key == "wide2fc":
        if wide is None:
            raise ValueError("wide2fc needs the width: head_variant('wide2fc', wide=...)")
        return dict(representation_size=wide), 2
    if key in ("3fc", "4fc"):
        return {}, int(key[0])
    raise KeyError(f"unknown head variant {key!r}; known: {', '.join(HEAD_LABELS)}")


def head_variant_detector(key: str, make: Callable[..., nn.Module], *, representation_size: int,
                          wide: int | None = None, **common: Any) -> nn.Module:
    """A fresh detector with the head of row ``key``: ``make(representation_size=...,
    **common)`` with the row's changes (:func:`head_variant`) on top; for ``3fc`` / ``4fc`` its
    box head is then replaced by an :class:`relnotes.models.FCBoxHead` of ``n_fc`` layers of
    width ``representation_size`` on the 7 x 7 RoI features.

    Args:
        key (str): a row key (module docstring).
        make (callable): builds the detector from keyword arguments, e.g.
            :func:`relnotes.models.tiny_faster_rcnn` with its number of classes bound.
        representation_size (int): the fc width d_f of the baseline.
        wide (int, optional): the width of ``wide2fc``.
        **common: the arguments every row shares (relation module sizes, RPN settings).
    """
    from .relation_rcnn import FCBoxHead

    changes, n_fc = head_variant(key, wide=wide)
    model = make(**{**dict(representation_size=representation_size, **common), **changes})
    if n_fc > 2:
        model.roi_heads.box_head = FCBoxHead(model.backbone.out_channels * 49,
                                             representation_size, n_fc=n_fc)
    return model
