r"""How query-specific is an attention map? GCNet's cosine-distance statistics.

Cao et al., "GCNet: Non-local Networks Meet Squeeze-Excitation Networks and Beyond",
arXiv:1904.11492, §3.2. For a trained non-local (NL) block and one image, take a vector
:math:`v_i` at every query position :math:`i`, and average the cosine distance over all
:math:`N^2` ordered pairs :math:`(i, j)` (the self-pairs included, as in the explanation of
issue ``xvjiarui/GCNet#24``); then average over images:

.. math::

    \bar d(v) = \frac{1}{N^2} \sum_{i=1}^N \sum_{j=1}^N \Big(1 - \frac{v_i^\top v_j}
                {\lVert v_i \rVert\, \lVert v_j \rVert}\Big)

Three vectors are compared, and :func:`non_local_distances` computes all three:

- **input**: the NL block's input feature :math:`x_i` (C channels);
- **attention**: the attention map of query :math:`i`, i.e. row :math:`i` of the pairwise
  weights :math:`f(x_i, x_j) / \mathcal C(x)` (one entry per key position :math:`j`);
- **output**: the block's output before fusion, :math:`W_z y_i` (C channels).

A distance near 0 means "the same vector at every position". An *untrained* block gives that for
a trivial reason: its scores are small, so every attention map is close to the uniform map
:math:`1/M`. :func:`non_local_distances` therefore also reports how far the maps are from
uniform (**uniform**: the mean over queries of :math:`1 - \cos(w_i, \mathbf 1)`, 0 for uniform
maps, :math:`1 - 1/\sqrt M` for maps on one key), so that "query-independent" can be told apart
from "uniform". GCNet's finding on COCO is that the
inputs differ between positions while the attention maps and outputs hardly do, so the NL block
computes nearly the same global context for every query; the simplified blocks compute it once.

The double sum needs no :math:`N \times N` matrix: with :math:`u_i = v_i / \lVert v_i \rVert`,
:math:`\sum_{ij} u_i^\top u_j = \lVert \sum_i u_i \rVert^2`, so
:math:`\bar d = 1 - \lVert \sum_i u_i \rVert^2 / N^2` (:func:`mean_cosine_distance`), in
:math:`O(ND)`. :func:`cosine_distance_matrix` is the plain pairwise version, for plots and tests.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..nn.non_local import NonLocal2d

__all__ = ["cosine_distance_matrix", "mean_cosine_distance", "distance_to_uniform",
           "non_local_distances", "capture_input"]


def _unit(v: Tensor, eps: float) -> Tensor:
    """Rows scaled to unit length; a row shorter than ``eps`` becomes 0 (cosine 0 with anything)."""
    norm = v.norm(dim=-1, keepdim=True)
    return torch.where(norm > eps, v / norm.clamp_min(eps), torch.zeros_like(v))


def _check_vectors(v: Tensor, name: str) -> None:
    if not isinstance(v, Tensor):
        raise TypeError(f"{name} must be a Tensor[..., N, D]; got {type(v).__name__}")
    if v.dim() < 2 or v.shape[-2] < 1 or v.shape[-1] < 1:
        raise ValueError(f"{name} must be a Tensor[..., N, D] with N, D >= 1; got shape "
                         f"{tuple(v.shape)}")


def cosine_distance_matrix(v: Tensor, *, eps: float = 1e-12) -> Tensor:
    r"""Pairwise cosine distances :math:`1 - \cos(v_i, v_j)` between the N vectors.

    Args:
        v (Tensor[..., N, D]): one D-dimensional vector per position.
        eps (float): a vector with norm <= eps counts as 0: its cosine with anything (itself
            included) is 0, its distance 1. Default: 1e-12.

    Returns:
        Tensor[..., N, N], values in [0, 2].

    Examples:
        >>> cosine_distance_matrix(torch.tensor([[1., 0.], [0., 2.], [-3., 0.]]))
        tensor([[0., 1., 2.],
                [1., 0., 1.],
                [2., 1., 0.]])
    """
    _check_vectors(v, "v")
    u = _unit(v, eps)
    return 1 - u @ u.transpose(-1, -2)


def mean_cosine_distance(v: Tensor, *, eps: float = 1e-12) -> Tensor:
    r"""GCNet's statistic: the cosine distance averaged over all :math:`N^2` pairs (i, j).

    Computed as :math:`1 - \lVert \sum_i u_i \rVert^2 / N^2` with :math:`u_i = v_i / \lVert v_i
    \rVert` (see the module docstring), which equals ``cosine_distance_matrix(v).mean((-2, -1))``.

    Args:
        v (Tensor[..., N, D]): one D-dimensional vector per position (one image per leading index).
        eps (float): as in :func:`cosine_distance_matrix`. Default: 1e-12.

    Returns:
        Tensor[...]: one value per image, in [0, 1 + 1/N] (0 when all vectors point the same
        way; 1 - 1/N for mutually orthogonal ones).

    Examples:
        >>> mean_cosine_distance(torch.tensor([[1., 0.], [2., 0.]]))      # same direction
        tensor(0.)
        >>> mean_cosine_distance(torch.tensor([[1., 0.], [0., 1.]]))      # 2 of the 4 pairs: 1
        tensor(0.5000)
    """
    _check_vectors(v, "v")
    N = v.shape[-2]
    s = _unit(v, eps).sum(dim=-2)                                      # Σ_i u_i: [..., D]
    return 1 - (s * s).sum(dim=-1) / N**2


def distance_to_uniform(w: Tensor, *, eps: float = 1e-12) -> Tensor:
    r"""Mean over the rows :math:`w_i` of :math:`1 - \cos(w_i, \mathbf 1)`: how far attention maps
    are from the uniform map.

    Args:
        w (Tensor[..., N, M]): N maps over M keys.

    Returns:
        Tensor[...]: 0 when every map is uniform; :math:`1 - 1/\sqrt M` when every map is one-hot.

    Examples::

        >>> distance_to_uniform(torch.full((3, 4), 0.25)).item()
        0.0
        >>> round(distance_to_uniform(torch.eye(4)).item(), 6)
        0.5
    """
    _check_vectors(w, "w")
    M = w.shape[-1]
    cos = _unit(w, eps).sum(dim=-1) / M ** 0.5                          # u_i · 1/√M
    return 1 - cos.mean(dim=-1)


def capture_input(model: nn.Module, module: nn.Module, *inputs: Tensor) -> tuple[Tensor, Tensor]:
    """Run ``model(*inputs)`` and catch the first positional input of ``module`` on the way.

    Args:
        model (nn.Module): the network.
        module (nn.Module): a submodule of ``model`` (e.g. its non-local block).
        *inputs: the network's inputs.

    Returns:
        (output of the model, Tensor): the model's output and what ``module`` received (from its
        last call, if it runs more than once).
    """
    if not any(m is module for m in model.modules()):
        raise ValueError(f"module {type(module).__name__} is not a submodule of model "
                         f"{type(model).__name__}")
    seen: list[Tensor] = []
    handle = module.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    try:
        out = model(*inputs)
    finally:
        handle.remove()
    if not seen:
        raise RuntimeError(f"{type(module).__name__} was not called by model(*inputs)")
    return out, seen[-1]


@torch.no_grad()
def non_local_distances(block: NonLocal2d, x: Tensor,
                        reduce: Callable[[Tensor], Tensor] | None = None) -> dict[str, Tensor]:
    r"""GCNet §3.2's three statistics for one NL block: input, attention map, output.

    Args:
        block (NonLocal2d): the (trained) block.
        x (Tensor[B, C, H, W]): its input, e.g. from :func:`capture_input`.
        reduce (callable, optional): applied to each Tensor[B] of per-image values; e.g.
            ``torch.mean``. Default: None (per image).

    Returns:
        dict[str, Tensor[B]]: ``"input"`` (the vectors :math:`x_i`), ``"attention"`` (the rows of
        the weights :math:`f(x_i, x_j) / \mathcal C(x)`, Tensor[B, HW, M] with M keys) and
        ``"output"`` (:math:`W_z y_i`, the block's output before it is added to :math:`x_i`):
        the mean cosine distance per image, each in float64; and ``"uniform"``, the attention
        maps' :func:`distance_to_uniform` per image.
    """
    if not isinstance(block, NonLocal2d):
        raise TypeError(f"block must be a relnotes.nn.NonLocal2d; got {type(block).__name__}")
    if x.dim() != 4 or x.shape[1] != block.channels:
        raise ValueError(f"x must be Tensor[B, {block.channels}, H, W]; got {tuple(x.shape)}")
    y, w = block.context_modeling(x)                                   # y_i, f / C(x): [B, HW, M]
    out = block.transform(y)                                           # W_z y_i: [B, C, H, W]
    per_position = {
        "input": x.flatten(2).transpose(1, 2),                         # [B, HW, C]
        "attention": w,                                                # [B, HW, M]
        "output": out.flatten(2).transpose(1, 2),                      # [B, HW, C]
    }
    stats = {k: mean_cosine_distance(v.double()) for k, v in per_position.items()}
    stats["uniform"] = distance_to_uniform(w.double())
    return stats if reduce is None else {k: reduce(v) for k, v in stats.items()}
