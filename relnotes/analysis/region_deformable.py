r"""What adaptive layers look at: a DCN's sampling points, a local relation layer's weights, and
the memory of the learned region-feature extractor.

- :func:`dcn_sampling_points`: for query pixels :math:`p_0`, the points
  :math:`p_0 + p_n + \Delta p_n` a deformable 3x3 layer reads, and their modulation
  :math:`\Delta m_n` (DCN v2): positions *regressed* from the query's feature.
- :func:`relation_window_weights`: for the same pixels, the weights :math:`\omega(p', p)` a local
  relation layer gives each candidate of its k x k window: candidates *verified* by comparing
  query and key.
- :func:`region_extractor_peak_memory`: peak bytes of the learned extractor's forward and
  backward, with the memory-lean aggregation or with the literal ``[R, K, P, C]`` sum.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..nn.deformable import DeformConv2dV1
from ..nn.local_relation import LocalRelation2d
from ..nn.region_features import LearnedRegionFeatures
from ..ops.region_features import region_features, region_features_dense
from .lr_benchmark import peak_memory

__all__ = ["dcn_sampling_points", "relation_window_weights", "region_extractor_peak_memory",
           "effective_candidates"]


@torch.no_grad()
def dcn_sampling_points(layer: DeformConv2dV1, x: Tensor, queries: list[tuple[int, int]]
                        ) -> tuple[Tensor, Tensor]:
    """The sampling points of ``layer`` (stride 1, offset_groups 1) at query pixels of image 0.

    Args:
        layer: the trained deformable layer.
        x (Tensor[1, C, H, W]): its input.
        queries (list of (row, column)): output pixels :math:`p_0`.

    Returns:
        (points Tensor[Q, k*k, 2] as (x, y) in map pixels, modulation Tensor[Q, k*k]; ones for
        DCN v1)
    """
    if layer.stride != 1 or layer.offset_groups != 1:
        raise ValueError("dcn_sampling_points reads stride-1 layers with one offset group")
    offset, mask = layer.offsets(x)
    k, d = layer.kernel_size, layer.dilation
    r = torch.arange(k, dtype=x.dtype) * d - layer.padding            # p_n along one axis
    grid_y, grid_x = torch.meshgrid(r, r, indexing="ij")
    out_points, out_mask = [], []
    for i, j in queries:
        dy, dx = offset[0, 0::2, i, j], offset[0, 1::2, i, j]          # (Δy, Δx) per point n
        out_points.append(torch.stack([j + grid_x.flatten() + dx, i + grid_y.flatten() + dy], 1))
        out_mask.append(torch.ones(k * k, dtype=x.dtype) if mask is None else mask[0, :, i, j])
    return torch.stack(out_points), torch.stack(out_mask)


@torch.no_grad()
def relation_window_weights(layer: LocalRelation2d, x: Tensor, queries: list[tuple[int, int]]
                            ) -> Tensor:
    """The aggregation weights of ``layer`` at query pixels of image 0, averaged over its groups.

    Returns:
        Tensor[Q, k, k]: the weight of each window position; rows sum to 1 inside the image.
    """
    w = layer.aggregation_weights(x[:1])                                # [1, G, k, k, H', W']
    return torch.stack([w[0, :, :, :, i, j].mean(0) for i, j in queries])


def effective_candidates(weights: Tensor) -> Tensor:
    """exp(entropy) of each weight distribution over its last two dimensions: 1 for a one-hot
    weight, k*k for a uniform one."""
    p = weights.flatten(-2).clamp_min(1e-12)
    return torch.exp(-(p * p.log()).sum(-1))


def region_extractor_peak_memory(extractor: LearnedRegionFeatures, input: Tensor,
                                 boxes: list[Tensor], *, dense: bool) -> int:
    """Peak bytes (CPU profiler) of one forward and backward pass of ``extractor`` on
    ``input`` and ``boxes``, aggregating with :func:`~relnotes.ops.region_features` (``dense``
    False) or :func:`~relnotes.ops.region_features_dense` (True)."""
    aggregate = region_features_dense if dense else region_features

    def step():
        x = input.detach().requires_grad_(True)
        weights, batch_index, sampled = extractor.region_weights(x, boxes)
        aggregate(sampled, weights, batch_index).sum().backward()

    extractor.zero_grad(set_to_none=True)
    try:
        return peak_memory(step, input.device)
    finally:
        extractor.zero_grad(set_to_none=True)
