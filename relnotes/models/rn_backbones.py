r"""The ResNet-101 bodies of RN Table 5: Faster R-CNN with a dilated conv5 (C4) and FPN.

Hu et al., "Relation Networks for Object Detection", arXiv:1711.11575v2, Sec. 4.1 and Appendix A1;
layer shapes from the official code's ``resnet_v1_101_rcnn*.py`` symbols (read, not copied). These
are built from torchvision's ResNet-101 so that parameters and multiply-accumulates can be counted
on ``device="meta"`` (:mod:`relnotes.analysis`); the box head is
:class:`~relnotes.models.relation_rcnn.RelationBoxHead`.

**C4** (:class:`ResNet101C4`): conv1 to res4 (stride 16); the RPN on res4 (3x3 conv to 512, then
1x1 convs to :math:`2A` scores and :math:`4A` deltas, :math:`A = 12` anchors); res5 with stride 1
and dilation 2, so conv5 also has stride 16; ``conv_new_1``, a 1x1 conv 2048 -> 256 with ReLU, whose
output is RoI-pooled (7x7) for the 2fc head.

**DCN** (``ResNet101C4(dcn=True)``, Dai et al., "Deformable Convolutional Networks", ICCV 2017,
as in RN Table 5): the 3x3 convs of res5a-c (branch2b) become deformable convolutions with 4
offset groups (:class:`DeformableConv2dDCN`: a 3x3 offset conv to 2 x 4 x 9 = 72 channels, then
:func:`torchvision.ops.deform_conv2d`). Deformable RoI pooling, the other half of the DCN detector,
adds an fc layer on the pooled feature that predicts the 7 x 7 bin offsets (12544 -> 98);
torchvision has no deformable RoI pooling, so only that fc is provided here
(:class:`DeformableRoIPoolingOffsets`), for counting. The multiply-accumulates of a deformable
convolution are those of the convolution it deforms (its bilinear sampling is not counted, as
interpolation in RoI pooling is not); a formula for ``torchvision::deform_conv2d`` is registered
in :mod:`relnotes.ops.flop_formulas`.

**FPN** (:func:`resnet101_fpn`): the standard ResNet-101 with laterals (1x1 to 256) on res2-res5
and 3x3 output convs, P2-P5. The paper's FPN detector is trained on precomputed proposals, so
there is no RPN; the official code's P6 conv feeds only the RPN and is left out too.

**Caffe-style strides** (``caffe_stride=True``): the official ResNet-v1 puts the stride of res3a
and res4a on the first 1x1 conv, torchvision on the 3x3 conv. The parameters are the same; the
1x1 then runs at the lower resolution, which changes the MACs slightly.

BatchNorm is frozen (``FrozenBatchNorm2d``, buffers), so it does not count as parameters, as in
the paper's training (``use_global_stats``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.models import resnet101
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops import FrozenBatchNorm2d, deform_conv2d

from .relation_rcnn import ClassAgnosticBoxPredictor, RelationBoxHead

__all__ = ["ResNet101C4", "resnet101_fpn", "DeformableConv2dDCN", "DeformableRoIPoolingOffsets",
           "PooledBoxHead"]

class DeformableConv2dDCN(nn.Module):
    """A deformable 3x3 convolution replacing ``conv`` (same weight shape, stride, padding,
    dilation, no bias), with its offset conv (3x3, 2 x offset_groups x 9 channels, with bias)
    initialised to zero, so that it starts as ``conv``.

    Args:
        conv (nn.Conv2d): the convolution to deform.
        offset_groups (int): deformable groups. Default: 4 (the DCN res5 of RN).
    """

    def __init__(self, conv: nn.Conv2d, offset_groups: int = 4) -> None:
        super().__init__()
        kh, kw = conv.kernel_size
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        self.offset = nn.Conv2d(conv.in_channels, 2 * offset_groups * kh * kw, (kh, kw),
                                stride=conv.stride, padding=conv.padding, dilation=conv.dilation)
        self.weight = conv.weight
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.offset.weight)
        nn.init.zeros_(self.offset.bias)

    def forward(self, x: Tensor) -> Tensor:
        return deform_conv2d(x, self.offset(x), self.weight, stride=self.stride,
                             padding=self.padding, dilation=self.dilation)


class DeformableRoIPoolingOffsets(nn.Module):
    """The offset branch of deformable RoI pooling: an fc layer from the pooled RoI feature to
    one (dx, dy) per output bin, ``in_features -> 2 * output_size**2`` (12544 -> 98 in RN's DCN).
    The deformable pooling that uses the offsets is not implemented.
    """

    def __init__(self, in_features: int = 256 * 7 * 7, output_size: int = 7) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, 2 * output_size * output_size)

    def forward(self, pooled: Tensor) -> Tensor:
        """pooled (Tensor[K, C, h, w]) -> Tensor[K, 2 * output_size**2] (normalised offsets)."""
        return self.fc(pooled.flatten(1))


class PooledBoxHead(nn.Module):
    """The box head of RN Table 5 on pooled RoI features, for counting: the 2fc (+ relation
    modules ``relations``) head of width 1024 and a class-agnostic predictor for 81 classes (the
    official code's 8 box numbers); with ``dcn``, also the offset fc of deformable RoI pooling
    (:class:`DeformableRoIPoolingOffsets`: its offsets are computed, but no deformable pooling
    uses them).

    ``forward(x, boxes)``: x Tensor[K, 256, 7, 7], boxes a list of one Tensor[K, 4] -> the
    predictor's (class logits, box deltas).
    """

    def __init__(self, relations: tuple[int, int], dcn: bool = False) -> None:
        super().__init__()
        self.roi_offsets = DeformableRoIPoolingOffsets() if dcn else None
        self.head = RelationBoxHead(256 * 7 * 7, 1024, relations=relations)
        self.predictor = ClassAgnosticBoxPredictor(1024, 81, background_column=True)

    def forward(self, x: Tensor, boxes: list[Tensor]):
        if self.roi_offsets is not None:
            self.roi_offsets(x)
        return self.predictor(self.head(x, boxes))


def _resnet101(dilated_conv5: bool, caffe_stride: bool) -> nn.Module:
    net = resnet101(weights=None, norm_layer=FrozenBatchNorm2d,
                    replace_stride_with_dilation=[False, False, dilated_conv5])
    if dilated_conv5:  # the official res5: every 3x3 has dilation 2 (torchvision: not the first)
        for block in net.layer4:
            block.conv2.dilation, block.conv2.padding = (2, 2), (2, 2)
    if caffe_stride:
        for layer in (net.layer2, net.layer3, net.layer4):
            block = layer[0]
            if block.conv2.stride != (1, 1):           # move the stride to the first 1x1
                block.conv1.stride, block.conv2.stride = block.conv2.stride, (1, 1)
    return net


class ResNet101C4(nn.Module):
    """ResNet-101 C4 body of RN's Faster R-CNN: res4 (+ RPN), dilated res5 and ``conv_new_1``.

    Args:
        rpn (bool): include the RPN convs. Default: True.
        num_anchors (int): A. Default: 12 (4 scales x 3 ratios).
        caffe_stride (bool): stride on the first 1x1 of res3a / res4a. Default: True.
        dcn (bool): deformable res5 3x3 convs (:class:`DeformableConv2dDCN`). Default: False.
    """

    def __init__(self, *, rpn: bool = True, num_anchors: int = 12, caffe_stride: bool = True,
                 dcn: bool = False) -> None:
        super().__init__()
        net = _resnet101(dilated_conv5=True, caffe_stride=caffe_stride)
        if dcn:
            for block in net.layer4:
                block.conv2 = DeformableConv2dDCN(block.conv2, offset_groups=4)
        self.conv4 = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1,
                                   net.layer2, net.layer3)                 # stride 16, 1024 ch
        self.rpn = nn.ModuleDict(dict(
            conv=nn.Conv2d(1024, 512, 3, padding=1),
            cls_score=nn.Conv2d(512, 2 * num_anchors, 1),   # the code: softmax over 2 per anchor
            bbox_pred=nn.Conv2d(512, 4 * num_anchors, 1))) if rpn else None
        self.conv5 = net.layer4                                            # stride 1, dilation 2
        self.conv_new_1 = nn.Conv2d(2048, 256, 1)

    def forward(self, images: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor] | None]:
        """images (Tensor[B, 3, H, W]) -> (Tensor[B, 256, H/16, W/16] for RoI pooling,
        the RPN's (scores, deltas) or None)."""
        c4 = self.conv4(images)
        rpn_out = None
        if self.rpn is not None:
            h = self.rpn["conv"](c4).relu()
            rpn_out = (self.rpn["cls_score"](h), self.rpn["bbox_pred"](h))
        return self.conv_new_1(self.conv5(c4)).relu(), rpn_out


def resnet101_fpn(*, caffe_stride: bool = True) -> BackboneWithFPN:
    """ResNet-101 + FPN (P2-P5, 256 channels), torchvision's ``BackboneWithFPN``.

    torchvision adds a parameter-free max-pooled "pool" level (P6 for its RPN); it has no
    parameters and no multiply-accumulates, so the counts are those of P2-P5.
    """
    net = _resnet101(dilated_conv5=False, caffe_stride=caffe_stride)
    return BackboneWithFPN(net, return_layers={"layer1": "0", "layer2": "1", "layer3": "2",
                                               "layer4": "3"},
                           in_channels_list=[256, 512, 1024, 2048], out_channels=256)
