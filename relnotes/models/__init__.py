"""Networks built from the blocks: ResNet / LR-Net, detectors with relation and context blocks."""

from .context_resnet import (
    C3_C5, MaskRCNNDummyForward, insert_after_bn3, insert_before_last_block, maskrcnn_r50_fpn,
)
from .lrnet import lrnet26, lrnet50, resnet26, resnet50
from .relation_rcnn import (
    ClassAgnosticBoxPredictor, RelationBoxHead, RelationRoIHeads, relation_faster_rcnn,
)
from .rn_backbones import (
    DeformableConv2dDCN, DeformableRoIPoolingOffsets, ResNet101C4, resnet101_fpn,
)

__all__ = [
    "C3_C5", "ClassAgnosticBoxPredictor", "DeformableConv2dDCN", "DeformableRoIPoolingOffsets",
    "MaskRCNNDummyForward", "RelationBoxHead", "RelationRoIHeads", "ResNet101C4",
    "insert_after_bn3", "insert_before_last_block", "lrnet26", "lrnet50", "maskrcnn_r50_fpn",
    "relation_faster_rcnn", "resnet26", "resnet50", "resnet101_fpn",
]
