"""Blocks, one per file; each owns its parameters and calls an op from relnotes.ops."""

from .context_block import ContextBlock
from .deformable import DeformConv2dV1, ModulatedDeformConv2d
from .duplicate_removal import DuplicateRemoval
from .global_context import GlobalContextBlock
from .graph_attention import GraphAttention
from .graph_conv import GraphConv
from .local_relation import LocalRelation2d
from .non_local import NonLocal2d
from .multi_head_attention import MultiHeadAttention
from .object_relation import (
    OFFICIAL_CODE_OPTIONS, ObjectRelation, ObjectRelationNoGeometry, ObjectRelationUnary,
)
from .propagation_conv import PropagationConv
from .region_features import LearnedRegionFeatures
from .self_attention import MultiHeadSelfAttention
from .simplified_non_local import SimplifiedNonLocal2d
from .squeeze_excitation import SqueezeExcitation

__all__ = [
    "ContextBlock", "DeformConv2dV1", "DuplicateRemoval", "GlobalContextBlock", "GraphAttention", "GraphConv", "LearnedRegionFeatures", "LocalRelation2d",
    "ModulatedDeformConv2d", "MultiHeadAttention", "MultiHeadSelfAttention", "NonLocal2d", "OFFICIAL_CODE_OPTIONS", "ObjectRelation", "ObjectRelationNoGeometry", "ObjectRelationUnary",
    "PropagationConv", "SimplifiedNonLocal2d", "SqueezeExcitation",
]
