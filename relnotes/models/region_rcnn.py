r"""The tiny Faster R-CNN with a choice of region-feature extractor (LRF's comparison, small).

:func:`region_faster_rcnn` builds :func:`relnotes.models.tiny_faster_rcnn` unchanged and swaps
its ``roi_heads.box_roi_pool`` for one of

- ``"roi_pool"``: ``torchvision.ops.RoIPool`` (max over quantised bins; Fast R-CNN);
- ``"roi_align"``: the tiny detector's own ``MultiScaleRoIAlign`` (bilinear, ``sampling_ratio=2``);
- ``"learned"``: :class:`relnotes.nn.LearnedRegionFeatures` (LRF's learned object–pixel weights).

All three give ``Tensor[R, C, 7, 7]``, so the 2fc head that follows is the same.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torchvision.models.detection import FasterRCNN
from torchvision.ops import RoIPool

from ..nn.region_features import LearnedRegionFeatures
from .tiny_rcnn import tiny_faster_rcnn

__all__ = ["EXTRACTORS", "SingleLevelPool", "region_faster_rcnn"]

EXTRACTORS = ("roi_pool", "roi_align", "learned")

#: The tiny backbone's output stride is 4 (:class:`~relnotes.models.tiny_rcnn.TinyBackbone`).
TINY_SPATIAL_SCALE = 0.25


class SingleLevelPool(nn.Module):
    """Adapt an extractor called as ``pool(input, boxes)`` (``RoIPool``, ``RoIAlign``,
    :class:`~relnotes.nn.LearnedRegionFeatures`) to the ``box_roi_pool`` interface of
    torchvision's ``RoIHeads``: ``forward(features: dict, proposals: list[Tensor[L, 4]],
    image_shapes)`` on the one feature map ``featmap``. No proposals at all give an empty
    ``Tensor[0, C, H_o, W_o]``, as ``MultiScaleRoIAlign`` does."""

    def __init__(self, pool: nn.Module, output_size: int = 7, featmap: str = "0") -> None:
        super().__init__()
        self.pool, self.output_size, self.featmap = pool, output_size, featmap

    def forward(self, features: dict[str, Tensor], proposals: list[Tensor], image_shapes) -> Tensor:
        x = features[self.featmap]
        if sum(len(p) for p in proposals) == 0:
            return x.new_zeros(0, x.shape[1], self.output_size, self.output_size)
        return self.pool(x, [p.to(x.dtype) for p in proposals])


def region_faster_rcnn(extractor: str = "roi_align", *, learned: dict[str, Any] | None = None,
                       **kwargs) -> FasterRCNN:
    """The tiny detector (``kwargs`` go to :func:`~relnotes.models.tiny_faster_rcnn`) with the
    region-feature extractor ``extractor`` (one of :data:`EXTRACTORS`).

    Args:
        extractor (str): Default: ``"roi_align"`` (the tiny detector as it is).
        learned (dict, optional): keyword arguments of
            :class:`~relnotes.nn.LearnedRegionFeatures` (``support``, ``d_k``, ...). Default: None.
    """
    if extractor not in EXTRACTORS:
        raise ValueError(f"extractor must be one of {EXTRACTORS}; got {extractor!r}")
    if learned and extractor != "learned":
        raise ValueError("learned= only applies to extractor='learned'")
    model = tiny_faster_rcnn(**kwargs)
    if extractor == "roi_pool":
        model.roi_heads.box_roi_pool = SingleLevelPool(RoIPool(7, TINY_SPATIAL_SCALE))
    elif extractor == "learned":
        pool = LearnedRegionFeatures(model.backbone.out_channels, output_size=7,
                                     spatial_scale=TINY_SPATIAL_SCALE, **(learned or {}))
        model.roi_heads.box_roi_pool = SingleLevelPool(pool)
    return model
