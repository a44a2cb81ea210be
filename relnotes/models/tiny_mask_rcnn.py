r"""A tiny Mask R-CNN whose backbone has the layout of ResNet-50, for the GCNet table on a CPU.

The talk's COCO table is torchvision's ``maskrcnn_resnet50_fpn`` with NL, SE or GC blocks in the
ResNet-50 (:mod:`relnotes.models.context_resnet`). This is the same detector with every part
shrunk, so that four variants train on :mod:`relnotes.data.context_masks` (64 x 64 images) in a
few CPU minutes, while the blocks sit at the *same relative positions*:

- **backbone** :class:`TinyResNet`: a 3x3 stem (stride 2, no max-pool: the images are small)
  and four stages ``layer1`` ... ``layer4`` of torchvision ``Bottleneck`` blocks (1x1, 3x3, 1x1,
  each with BatchNorm; output 4 x ``planes``), strides 1, 2, 2, 2. The stage names are
  torchvision's, so :func:`~relnotes.models.context_resnet.insert_after_bn3` puts GC / SE after
  ``bn3`` of every block of ``layer2``-``layer4`` (c3-c5) and
  :func:`~relnotes.models.context_resnet.insert_before_last_block` puts the NL block before the
  last block of ``layer3`` (c4), exactly as in the big model;
- **FPN** on the four stages (torchvision's ``BackboneWithFPN``, ``fpn_channels`` wide, plus the
  max-pooled extra level), at strides 2, 4, 8, 16, 32;
- **RPN**: one anchor size per level, aspect ratios 0.5, 1, 2;
- **heads**: RoIAlign 7 x 7 into a 2fc box head of width ``representation_size``; RoIAlign
  14 x 14 into a mask head of ``len(mask_layers)`` 3x3 convs, a 2x2 transposed conv and per-class
  28 x 28 mask logits (torchvision's ``MaskRCNNHeads`` / ``MaskRCNNPredictor``, narrower).

It is trained and evaluated by :func:`relnotes.engine.detection.train_detector` (with the GCNet
configs' schedule, :func:`~relnotes.engine.detection.warmup_step_lr`) and
:func:`~relnotes.engine.detection.predict_coco`, like every detector of the book.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN, MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.resnet import Bottleneck
from torchvision.ops import MultiScaleRoIAlign

from .resnet import init_resnet_

__all__ = ["TinyResNet", "RoIAlignWithContext", "tiny_mask_rcnn"]


class TinyResNet(nn.Module):
    """A ResNet of torchvision ``Bottleneck`` blocks with torchvision's stage names.

    Args:
        planes (tuple[int, int, int, int]): bottleneck width of each stage; the stage outputs
            4 x planes channels. Default: (8, 16, 32, 64), i.e. outputs 32, 64, 128, 256.
        layers (tuple[int, int, int, int]): blocks per stage. Default: (1, 1, 2, 1).
        stem_channels (int): output of the 3x3 stride-2 stem. Default: 16.

    ``forward`` takes Tensor[B, 3, H, W] and returns the ``layer4`` output,
    Tensor[B, 4 * planes[3], H / 16, W / 16]; the detector reads the four stages through FPN.
    """

    def __init__(self, planes: Sequence[int] = (8, 16, 32, 64), layers: Sequence[int] = (1, 1, 2, 1),
                 stem_channels: int = 16) -> None:
        super().__init__()
        if len(planes) != 4 or len(layers) != 4 or min(planes) < 1 or min(layers) < 1:
            raise ValueError(f"planes and layers must be 4 positive ints each (stages c2-c5); got "
                             f"planes={tuple(planes)}, layers={tuple(layers)}")
        self.planes, self.layers = tuple(planes), tuple(layers)
        self.conv1 = nn.Conv2d(3, stem_channels, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_channels)
        self.relu = nn.ReLU(inplace=True)
        inplanes = stem_channels
        for i, (p, n, stride) in enumerate(zip(planes, layers, (1, 2, 2, 2)), start=1):
            blocks = []
            for j in range(n):
                s = stride if j == 0 else 1
                down = None
                if s != 1 or inplanes != 4 * p:
                    down = nn.Sequential(nn.Conv2d(inplanes, 4 * p, 1, stride=s, bias=False),
                                         nn.BatchNorm2d(4 * p))
                blocks.append(Bottleneck(inplanes, p, stride=s, downsample=down))
                inplanes = 4 * p
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
        self.out_channels = [4 * p for p in planes]
        init_resnet_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class RoIAlignWithContext(nn.Module):
    r"""RoIAlign whose every RoI feature also receives its image's global context.

    GCNet fuses the global context into every position of a feature map by a broadcast add; a
    RoI cropped from that map should carry it, but in the tiny detector it arrives diluted (the
    flag probes of ``gcnet_coco_ap``). This module makes the path direct, for every detector
    alike, whatever blocks its backbone holds: the image's average over the FPN level
    ``level`` (its coarsest, by default), through a 1 x 1 transform, added to every bin of every
    RoI of that image,

    .. math:: z_{k} = \mathrm{RoIAlign}(P, b_k) + W_c\, \frac{1}{HW} \sum_{j} P^{(\ell)}_{j}
              \quad \text{for every box } b_k \text{ of the image}

    with :math:`W_c` zero-initialised (like GC's last conv, the detector starts as the plain
    one). Our choice, not GCNet's: the paper's detectors read context only through the backbone.

    Args:
        roi_align (MultiScaleRoIAlign): the RoI pooling it extends.
        channels (int): the FPN width.
        level (str): the FPN level averaged into the context. Default: ``"3"``.

    ``forward(features, boxes, image_shapes)`` as ``MultiScaleRoIAlign``: returns
    Tensor[K, channels, *output_size], K the number of boxes of all images.
    """

    def __init__(self, roi_align: MultiScaleRoIAlign, channels: int, level: str = "3") -> None:
        super().__init__()
        self.roi_align, self.level = roi_align, level
        self.output_size = roi_align.output_size
        self.transform = nn.Conv2d(channels, channels, 1)                   # W_c
        nn.init.zeros_(self.transform.weight)
        nn.init.zeros_(self.transform.bias)

    def forward(self, features: dict[str, torch.Tensor], boxes: list[torch.Tensor],
                image_shapes: list[tuple[int, int]]) -> torch.Tensor:
        x = self.roi_align(features, boxes, image_shapes)                   # [K, C, 7, 7]
        context = features[self.level].mean((2, 3), keepdim=True)           # [B, C, 1, 1]
        per_box = torch.tensor([len(b) for b in boxes], device=x.device)
        return x + torch.repeat_interleave(self.transform(context), per_box, dim=0)


def tiny_mask_rcnn(num_classes: int = 7, *, body: TinyResNet | None = None, image_size: int = 64,
                   fpn_channels: int = 64, representation_size: int = 256,
                   mask_layers: Sequence[int] = (64, 64),
                   anchor_sizes: Sequence[int] = (8, 16, 32, 64, 128),
                   proposals: int = 64, box_batch_size_per_image: int = 64,
                   score_thresh: float = 0.01, nms_thresh: float = 0.5,
                   detections_per_img: int = 100, masks: bool = True,
                   roi_context: bool = False) -> MaskRCNN | FasterRCNN:
    """Build the tiny Mask R-CNN (see the module docstring), or with ``masks=False`` the same
    detector without its mask branch (a torchvision ``FasterRCNN``: boxes only, about a third of
    the training cost).

    Args:
        num_classes (int): classes with the background (ContextMasks: 7). Default: 7.
        body (TinyResNet, optional): the backbone, with its blocks already inserted.
            Default: ``TinyResNet()``.
        image_size (int): images are used at this size (no resizing). Default: 64.
        fpn_channels (int): FPN width. Default: 64.
        representation_size (int): width of the two fc layers of the box head. Default: 256.
        mask_layers (Sequence[int]): widths of the mask head's 3x3 convs; the last one is also
            the width of the transposed conv. Default: (64, 64).
        anchor_sizes (Sequence[int]): one anchor side per FPN level (5 levels), px.
            Default: (8, 16, 32, 64, 128).
        proposals (int): RPN proposals per image after NMS, training and test. Default: 64.
        box_batch_size_per_image (int): RoIs sampled per image for the head losses. Default: 64.
        score_thresh, nms_thresh (float): test-time score threshold and per-class NMS IoU.
            Defaults: 0.01, 0.5.
        detections_per_img (int): at most this many detections per image. Default: 100.
        masks (bool): with the mask branch (Mask R-CNN) or without it (Faster R-CNN).
            Default: True.
        roi_context (bool): the box head's RoIAlign adds its image's global context to every
            RoI (:class:`RoIAlignWithContext`, the coarsest FPN level averaged). Default: False.
    """
    body = TinyResNet() if body is None else body
    if len(anchor_sizes) != 5:
        raise ValueError(f"anchor_sizes must give one size per FPN level (5: four stages and the "
                         f"pooled level); got {tuple(anchor_sizes)}")
    backbone = BackboneWithFPN(body, {f"layer{i}": str(i - 1) for i in range(1, 5)},
                               list(body.out_channels), fpn_channels)
    anchors = AnchorGenerator(tuple((s,) for s in anchor_sizes), ((0.5, 1.0, 2.0),) * 5)
    levels = ["0", "1", "2", "3"]
    common = dict(
        num_classes=None, min_size=image_size, max_size=image_size,
        image_mean=[0.45] * 3, image_std=[0.25] * 3, rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=4 * proposals, rpn_pre_nms_top_n_test=4 * proposals,
        rpn_post_nms_top_n_train=proposals, rpn_post_nms_top_n_test=proposals,
        rpn_batch_size_per_image=128,
        box_roi_pool=MultiScaleRoIAlign(levels, output_size=7, sampling_ratio=2),
        box_head=TwoMLPHead(fpn_channels * 49, representation_size),
        box_predictor=FastRCNNPredictor(representation_size, num_classes),
        box_batch_size_per_image=box_batch_size_per_image, box_score_thresh=score_thresh,
        box_nms_thresh=nms_thresh, box_detections_per_img=detections_per_img)
    if not masks:
        model = FasterRCNN(backbone, **common)
    else:
        model = MaskRCNN(
            backbone, **common,
            mask_roi_pool=MultiScaleRoIAlign(levels, output_size=14, sampling_ratio=2),
            mask_head=MaskRCNNHeads(fpn_channels, list(mask_layers), dilation=1),
            mask_predictor=MaskRCNNPredictor(mask_layers[-1], mask_layers[-1], num_classes))
    if roi_context:  # set after construction: torchvision's constructors accept MultiScaleRoIAlign only
        model.roi_heads.box_roi_pool = RoIAlignWithContext(model.roi_heads.box_roi_pool,
                                                           fpn_channels, level=levels[-1])
    return model
