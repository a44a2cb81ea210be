"""Functional ops: they hold no parameters (the modules in relnotes.nn do)."""

from .box_geometry import box_geometry, box_geometry_embedding, sinusoidal_embedding
from .graph import (
    PROPAGATIONS, check_adjacency, normalized_adjacency, propagation, renormalized_adjacency,
)
from .local_relation import (
    local_relation, local_relation_macs, local_relation_reference, local_relation_unfold,
    local_relation_weights,
)
from .point_sets import points_to_box
from .region_features import (
    learned_region_weights, region_features, region_features_dense, roi_align_weights,
    roi_pool_weights,
)
from .relation import relation, scaled_dot_product
from .soft_nms import batched_soft_nms, greedy_nms, soft_nms

__all__ = [
    "PROPAGATIONS", "check_adjacency", "normalized_adjacency", "propagation",
    "renormalized_adjacency",
    "batched_soft_nms", "box_geometry", "box_geometry_embedding", "greedy_nms", "local_relation",
    "local_relation_macs", "local_relation_reference", "local_relation_unfold",
    "local_relation_weights", "learned_region_weights", "points_to_box", "region_features",
    "region_features_dense", "relation", "roi_align_weights", "roi_pool_weights", "scaled_dot_product",
    "sinusoidal_embedding", "soft_nms",
]
