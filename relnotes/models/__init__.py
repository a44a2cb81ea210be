"""Networks built from the blocks: ResNet / LR-Net, detectors with relation and context blocks."""

from .context_resnet import (
    C3_C5, MaskRCNNDummyForward, insert_after_bn3, insert_before_last_block, maskrcnn_r50_fpn,
)
from .context_classifier import ContextClassifier
from .lrnet import lrnet26, lrnet50
from .resnet import resnet26, resnet50
from .lrnet_mini import lrnet_mini, resnet_mini
from .relation_rcnn import (
    ClassAgnosticBoxPredictor, FCBoxHead, RelationBoxHead, RelationRoIHeads, relation_faster_rcnn,
    relation_fasterrcnn_r50_fpn,
)
from .tiny_mask_rcnn import TinyResNet, tiny_mask_rcnn
from .tiny_rcnn import tiny_faster_rcnn
from .rn_backbones import (
    DeformableConv2dDCN, DeformableRoIPoolingOffsets, ResNet101C4, resnet101_fpn,
)

__all__ = [
    "C3_C5", "ClassAgnosticBoxPredictor", "ContextClassifier", "DeformableConv2dDCN",
    "DeformableRoIPoolingOffsets", "FCBoxHead",
    "MaskRCNNDummyForward", "RelationBoxHead", "RelationRoIHeads", "ResNet101C4",
    "insert_after_bn3", "insert_before_last_block", "lrnet26", "lrnet50", "lrnet_mini",
    "maskrcnn_r50_fpn", "relation_faster_rcnn", "relation_fasterrcnn_r50_fpn", "tiny_faster_rcnn", "resnet26", "resnet50", "resnet101_fpn",
    "resnet_mini", "TinyResNet", "tiny_mask_rcnn",
]
