r"""The tiny Faster R-CNN with a choice of region-feature extractor (LRF's comparison, small).

:func:`region_faster_rcnn` builds :func:`relnotes.models.tiny_faster_rcnn` unchanged and swaps
its ``roi_heads.box_roi_pool`` for one of

- ``"roi_pool"``: ``torchvision.ops.RoIPool`` (max over quantised bins; Fast R-CNN);
- ``"roi_align"``: the tiny detector's own ``MultiScaleRoIAlign`` (bilinear, ``sampling_ratio=2``);
- ``"learned"``: :class:`relnotes.nn.LearnedRegionFeatures` (LRF's learned object–pixel weights).

All three give ``Tensor[R, C, 7, 7]``, so the 2fc head that follows is the same.
:class:`BoxHeadOnBoxes` runs that head alone (extractor, 2fc, predictor) on a given feature map
and fixed boxes, the unit whose parameters and multiply-accumulates the chapter compares.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torchvision.models.detection import FasterRCNN
from torchvision.ops import RoIPool

from ..nn.region_features import LearnedRegionFeatures
from .tiny_rcnn import tiny_faster_rcnn

__all__ = ["EXTRACTORS", "BoxHeadOnBoxes", "SingleLevelPool", "region_faster_rcnn"]

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


class BoxHeadOnBoxes(nn.Module):
    """The box head of a detector (``roi_heads``: extractor, 2fc, predictor) on one feature map
    and fixed boxes, with no RPN, sampling or post-processing: what :func:`count_macs` counts
    for "the head".

    Args:
        roi_heads (RelationRoIHeads): a detector's ``roi_heads`` (shared, not copied), as
            :func:`region_faster_rcnn` builds them (its box head takes the boxes too).
        boxes (list[Tensor[L, 4]]): per image, (x1, y1, x2, y2) in input-image pixels.
        image_size (tuple[int, int]): (height, width) of the input images. Default: (64, 64).

    ``forward(feature Tensor[N, C, H, W])`` returns ``(class_logits Tensor[R, num_classes],
    box_regression Tensor[R, 4 * num_classes])`` with R the number of boxes.
    """

    def __init__(self, roi_heads: nn.Module, boxes: list[Tensor],
                 image_size: tuple[int, int] = (64, 64)) -> None:
        super().__init__()
        if not isinstance(boxes, (list, tuple)):
            raise TypeError(f"boxes must be a list of Tensor[L, 4]; got {type(boxes).__name__}")
        for i, b in enumerate(boxes):
            if not isinstance(b, Tensor) or b.dim() != 2 or b.shape[1] != 4:
                got = tuple(b.shape) if isinstance(b, Tensor) else type(b).__name__
                raise ValueError(f"boxes[{i}] must be Tensor[L, 4]; got {got}")
        self.roi_heads, self.boxes, self.image_size = roi_heads, list(boxes), tuple(image_size)

    def forward(self, feature: Tensor) -> tuple[Tensor, Tensor]:
        if feature.shape[0] != len(self.boxes):
            raise ValueError(f"feature has {feature.shape[0]} images but boxes has "
                             f"{len(self.boxes)} entries")
        h = self.roi_heads
        x = h.box_roi_pool({"0": feature}, self.boxes, [self.image_size] * len(self.boxes))
        return h.box_predictor(h.box_head(x, self.boxes))


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
