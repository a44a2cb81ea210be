r"""Context blocks inside torchvision's ResNet-50 and Mask R-CNN, where GCNet puts them.

GCNet (Cao et al., arXiv:1904.11492) and the talk's COCO table compare four Mask R-CNN R50-FPN
models that differ only in their backbone:

- **GC** (``GlobalContextBlock``, r = 1/16) and **SE**: one block in *every* bottleneck of stages
  c3, c4 and c5 (torchvision's ``layer2``, ``layer3``, ``layer4``: 4 + 6 + 3 = 13 blocks), on the
  residual branch after the last 1x1 conv and its BN, before the identity is added
  (``xvjiarui/GCNet: mmdet/models/backbones/resnet.py``; mmdetection's plugin position
  ``after_conv3``). :func:`insert_after_bn3` does this by replacing ``bn3`` with
  ``Sequential(bn3, block)``.
- **NL**: a single non-local block at c4, right before the last residual block of ``layer3``
  (the Mask R-CNN recipe of the non-local paper): :func:`insert_before_last_block`.

The blocks are passed as constructors, so a notebook says exactly what it inserts::

    body = torchvision.models.resnet50()
    insert_after_bn3(body, lambda c: GlobalContextBlock(c, rd_ratio=1 / 16))

:func:`maskrcnn_r50_fpn` is the detector of the table: torchvision's ``maskrcnn_resnet50_fpn``
with no weights (so its BatchNorms are ordinary, trainable ones) and 81 classes (COCO's 80 plus
background, the mmdetection v1 convention), whose 44,400,693 parameters are the table's 44.4M.
:class:`MaskRCNNDummyForward` runs it the way mmdetection's ``get_flops.py`` does, for counting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torchvision.models.detection import MaskRCNN, maskrcnn_resnet50_fpn

__all__ = ["insert_after_bn3", "insert_before_last_block", "maskrcnn_r50_fpn",
           "MaskRCNNDummyForward", "C3_C5"]

#: torchvision's names of the stages c3, c4, c5.
C3_C5 = ("layer2", "layer3", "layer4")


def _stage(resnet: nn.Module, name: str) -> nn.Sequential:
    stage = getattr(resnet, name, None)
    if not isinstance(stage, nn.Sequential):
        raise ValueError(f"resnet has no stage {name!r}: expected a torchvision ResNet (or a "
                         f"detector's backbone.body) with layer1 ... layer4")
    return stage


def insert_after_bn3(resnet: nn.Module, make_block: Callable[[int], nn.Module],
                     stages: Sequence[str] = C3_C5) -> list[nn.Module]:
    """Put ``make_block(C)`` after ``bn3`` of every bottleneck of ``stages``, in place.

    Args:
        resnet (nn.Module): a torchvision ResNet with bottlenecks, or the ``backbone.body`` of a
            torchvision detector.
        make_block (Callable[[int], nn.Module]): builds a block for C channels (the bottleneck's
            output width, 4 x its ``planes``); it is called on the device of the ResNet
            (``"meta"`` included).
        stages (Sequence[str]): Default: ``("layer2", "layer3", "layer4")``, i.e. c3-c5.

    Returns:
        list[nn.Module]: the inserted blocks, in forward order.
    """
    blocks = []
    for name in stages:
        for bottleneck in _stage(resnet, name):
            bn3 = getattr(bottleneck, "bn3", None)
            if bn3 is None:
                raise ValueError(f"{name} has a {type(bottleneck).__name__} without bn3: "
                                 "insert_after_bn3 needs Bottleneck blocks (ResNet-50 and deeper)")
            with torch.device(bn3.weight.device):                    # e.g. "meta"
                block = make_block(bn3.num_features)
            bottleneck.bn3 = nn.Sequential(bn3, block)  # conv3 -> bn3 -> block -> (+ identity)
            blocks.append(block)
    return blocks


def insert_before_last_block(resnet: nn.Module, make_block: Callable[[int], nn.Module],
                             stage: str = "layer3") -> nn.Module:
    """Put ``make_block(C)`` between the last two residual blocks of ``stage``, in place.

    Args:
        resnet (nn.Module): as in :func:`insert_after_bn3`.
        make_block (Callable[[int], nn.Module]): builds the block for the stage's C channels.
        stage (str): Default: ``"layer3"`` (c4, C = 1024 in ResNet-50).

    Returns:
        nn.Module: the inserted block.
    """
    blocks = list(_stage(resnet, stage))
    last_conv = blocks[-2].conv3 if hasattr(blocks[-2], "conv3") else blocks[-2].conv2
    with torch.device(last_conv.weight.device):                      # e.g. "meta"
        block = make_block(last_conv.out_channels)
    setattr(resnet, stage, nn.Sequential(*blocks[:-1], block, blocks[-1]))
    return block


def maskrcnn_r50_fpn(num_classes: int = 81, device: torch.device | str | None = None, *,
                     backbone_weights=None, frozen_stages: int = 1) -> MaskRCNN:
    """torchvision's Mask R-CNN R50-FPN without weights (trainable BatchNorm), ``num_classes``
    including the background. Default: 81. ``device="meta"`` builds it without memory, enough to
    count its parameters and MACs.

    ``backbone_weights`` (a torchvision ``WeightsEnum`` such as
    ``ResNet50_Weights.IMAGENET1K_V1``; downloaded on first use) loads ImageNet weights into the
    ResNet-50 the way GCNet's COCO models start (``pretrained='modelzoo://resnet50'``): the
    BatchNorms stay ordinary, trainable ones (the paper's SyncBN backbone, ``norm_eval=False``;
    torchvision's own ``weights_backbone`` would freeze them), and the stem plus the first
    ``frozen_stages`` stages stop training (``frozen_stages=1``: conv1, bn1 and layer1, as in
    the GCNet configs). Load the weights *before* inserting blocks: the insertion renames
    ``bn3`` and shifts the blocks of ``layer3``. The parameter count does not change.
    """
    with torch.device(device) if device is not None else _null():
        model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=num_classes)
    if backbone_weights is not None:
        if not 0 <= frozen_stages <= 4:
            raise ValueError(f"frozen_stages must be in 0..4; got {frozen_stages}")
        state = {k: v for k, v in backbone_weights.get_state_dict(progress=True).items()
                 if not k.startswith("fc.")}
        model.backbone.body.load_state_dict(state)               # strict: every key must match
        frozen = [model.backbone.body.conv1, model.backbone.body.bn1] + [
            getattr(model.backbone.body, f"layer{i}") for i in range(1, frozen_stages + 1)]
        for m in frozen:
            for p in m.parameters():
                p.requires_grad_(False)
    return model


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class MaskRCNNDummyForward(nn.Module):
    """The computation mmdetection's ``get_flops.py`` counts (``TwoStageDetector.forward_dummy``).

    One image of ``image_size`` through the backbone and the FPN, the RPN head on all five FPN
    levels, ``num_box_rois`` RoI features through the box head and predictor, and the first
    ``num_mask_rois`` through the mask head and predictor. RoIAlign, NMS and the pre-processing
    are skipped (they are not multiply-accumulates, and cannot run on ``device="meta"``): the RoI
    features are zeros of the right shape, which is all a MAC count needs. A detector without a
    mask branch (torchvision ``FasterRCNN``) stops after the box head.

    Args:
        model (MaskRCNN or FasterRCNN): the detector.
        image_size (tuple[int, int]): (H, W) of the input. Default: (800, 1280), i.e.
            mmdetection's ``--shape 1280 800``.
        num_box_rois (int): Default: 1000.
        num_mask_rois (int): Default: 100.

    ``forward()`` takes no input; run it on the model's device.
    """

    def __init__(self, model: MaskRCNN, image_size: tuple[int, int] = (800, 1280),
                 num_box_rois: int = 1000, num_mask_rois: int = 100) -> None:
        super().__init__()
        self.model, self.image_size = model, tuple(image_size)
        self.num_box_rois, self.num_mask_rois = num_box_rois, num_mask_rois

    def forward(self) -> tuple[Tensor, ...]:
        m = self.model
        device = next(m.parameters()).device
        images = torch.zeros(1, 3, *self.image_size, device=device)
        features = list(m.backbone(images).values())                 # P2-P6, 256 channels
        objectness, deltas = m.rpn.head(features)
        box_size = m.roi_heads.box_roi_pool.output_size             # [7, 7]
        rois = torch.zeros(self.num_box_rois, m.backbone.out_channels, *box_size, device=device)
        scores, boxes = m.roi_heads.box_predictor(m.roi_heads.box_head(rois))
        if not m.roi_heads.has_mask():                              # a box-only Faster R-CNN
            return scores, boxes, *objectness, *deltas
        mask_size = m.roi_heads.mask_roi_pool.output_size           # [14, 14]
        rois = torch.zeros(self.num_mask_rois, m.backbone.out_channels, *mask_size, device=device)
        masks = m.roi_heads.mask_predictor(m.roi_heads.mask_head(rois))
        return scores, boxes, masks, *objectness, *deltas

    def extra_repr(self) -> str:
        return (f"image_size={self.image_size}, num_box_rois={self.num_box_rois}, "
                f"num_mask_rois={self.num_mask_rois}")
