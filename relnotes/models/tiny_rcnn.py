r"""A tiny two-stage Faster R-CNN for ContextShapes: a real RPN, the 2fc (+ RM) head of RN.

This is torchvision's ``FasterRCNN`` with small parts, so that the relation-network ablations of
RN Tables 1 and 4 can be trained on a CPU (:mod:`relnotes.data.context_shapes`, 64 x 64 images):

- **backbone**: three 3x3 convs with ReLU, 32-64-64 channels, strides 2, 2, 1 (output stride 4).
  Its receptive field is 15 x 15 px (1 + 2 * (1 + 2 + 4)), smaller than the 9 px gap between a
  small ContextShapes object and any large one, so a small object's RoI feature cannot see its
  context;
- **RPN**: torchvision's, on the single stride-4 map, anchors of 6, 12 and 20 px with aspect
  ratios 0.5, 1, 2 (9 per location), the top 64 proposals after NMS 0.7, in training and test;
- **box head**: RoIAlign 7 x 7 (``sampling_ratio=2``), then the 2fc head of width 256 with
  :math:`\{r_1, r_2\}` relation modules (:func:`~relnotes.models.relation_faster_rcnn`;
  :math:`N_r = 4, d_k = 32, d_g = 64` by default), class scores and a class-agnostic box.

:func:`relnotes.engine.detection.freeze_detector_body` fixes the backbone and the RPN, so that
several box heads can be trained on the same proposals (the head ablations of the book train the
body once).
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign

from .relation_rcnn import relation_faster_rcnn

__all__ = ["TinyBackbone", "tiny_faster_rcnn"]


class TinyBackbone(nn.Sequential):
    """Three 3x3 convs with ReLU, strides (2, 2, 1): Tensor[B, 3, H, W] -> Tensor[B, C, H/4, W/4].

    With ``norm_layer`` (e.g. ``nn.BatchNorm2d``, or ``lambda c: nn.GroupNorm(8, c)``) every conv
    is followed by it (and has no bias), which lets a network trained from scratch learn faster.

    Args:
        channels (tuple[int, int, int]): output channels of the three convs. Default: (32, 64, 64).
        norm_layer (callable, optional): ``norm_layer(channels)`` builds the normalisation after
            each conv. Default: None (none).
    """

    def __init__(self, channels: tuple[int, int, int] = (32, 64, 64), norm_layer=None) -> None:
        c1, c2, c3 = channels
        layers = []
        for c_in, c_out, stride in ((3, c1, 2), (c1, c2, 2), (c2, c3, 1)):
            layers.append(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=norm_layer is None))
            if norm_layer is not None:
                layers.append(norm_layer(c_out))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)
        self.out_channels = c3


def tiny_faster_rcnn(num_classes: int = 7, *, image_size: int = 64,
                     relations: tuple[int, int] = (0, 0), geometry: str = "relative",
                     representation_size: int = 256, n_relations: int = 4, d_k: int = 32,
                     d_g: int = 64, geometry_scale: float = 1.0,
                     channels: tuple[int, int, int] = (32, 64, 64),
                     norm_layer=None, anchor_sizes: tuple[int, ...] = (6, 12, 20),
                     aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0), proposals: int = 64,
                     box_batch_size_per_image: int = 64, score_thresh: float = 0.01,
                     nms_thresh: float = 0.5, detections_per_img: int = 100) -> FasterRCNN:
    """Build the tiny detector (see the module docstring).

    Args:
        num_classes (int): classes with the background (ContextShapes: 7). Default: 7.
        image_size (int): images are used at this size (no resizing for ContextShapes).
            Default: 64.
        relations (tuple[int, int]): relation modules after fc1 and fc2; (0, 0) is 2fc.
            Default: (0, 0).
        geometry (str): ``"relative"``, ``"none"`` or ``"unary"`` (RN Table 1(a)).
            Default: ``"relative"``.
        representation_size (int): fc width, the :math:`d_f` of the modules. Default: 256.
        n_relations, d_k, d_g (int): of every relation module. Defaults: 4, 32, 64.
        geometry_scale (float): factor on the relative geometry before the sinusoids
            (:class:`~relnotes.nn.ObjectRelation`; the official code's 100). Default: 1.
        channels (tuple[int, int, int]): backbone widths. Default: (32, 64, 64).
        norm_layer (callable, optional): normalisation after every backbone conv
            (:class:`TinyBackbone`). Default: None.
        anchor_sizes (tuple[int, ...]): anchor sides in px. Default: (6, 12, 20).
        aspect_ratios (tuple[float, ...]): anchor height / width ratios. Default: (0.5, 1, 2).
        proposals (int): RPN proposals per image after NMS, training and test. Default: 64.
        box_batch_size_per_image (int): RoIs sampled per image for the head loss. Default: 64.
        score_thresh (float): detections below are dropped at test time. Default: 0.01.
        nms_thresh (float): per-class NMS IoU threshold at test time. Default: 0.5.
        detections_per_img (int): at most this many detections per image. Default: 100.
    """
    backbone = TinyBackbone(channels, norm_layer)
    anchors = AnchorGenerator((tuple(anchor_sizes),), (tuple(aspect_ratios),))
    pool = MultiScaleRoIAlign(["0"], output_size=7, sampling_ratio=2)
    model = FasterRCNN(
        backbone, num_classes=None, min_size=image_size, max_size=image_size,
        image_mean=[0.45] * 3, image_std=[0.25] * 3, rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=4 * proposals, rpn_pre_nms_top_n_test=4 * proposals,
        rpn_post_nms_top_n_train=proposals, rpn_post_nms_top_n_test=proposals,
        rpn_batch_size_per_image=128, box_roi_pool=pool,
        box_head=TwoMLPHead(backbone.out_channels * 49, representation_size),
        box_predictor=FastRCNNPredictor(representation_size, num_classes),
        box_batch_size_per_image=box_batch_size_per_image, box_score_thresh=score_thresh,
        box_nms_thresh=nms_thresh, box_detections_per_img=detections_per_img)
    return relation_faster_rcnn(model, relations=relations, representation_size=representation_size,
                                n_relations=n_relations, d_k=d_k, d_g=d_g, geometry=geometry,
                                geometry_scale=geometry_scale)
