"""Blocks, one per file; each owns its parameters and calls an op from relnotes.ops."""

from .graph_conv import GraphConv
from .non_local import NonLocal2d
from .self_attention import MultiHeadSelfAttention

__all__ = ["GraphConv", "MultiHeadSelfAttention", "NonLocal2d"]
