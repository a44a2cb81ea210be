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

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..engine.classification import accuracy
from ..nn.non_local import NonLocal2d

__all__ = ["cosine_distance_matrix", "mean_cosine_distance", "distance_to_uniform",
           "non_local_distances", "capture_input", "non_local_metric",
           "detector_non_local_distances", "query_attention_maps"]


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


def non_local_metric(model: nn.Module, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
    """A ``metric_fn`` for :func:`relnotes.engine.evaluate` (and ``fit``'s per-epoch evaluation)
    of a classifier with one NL block, ``model.stage_block`` (e.g. a ``ContextClassifier``).

    Args:
        model (nn.Module): the classifier, with the attribute ``stage_block`` (a NonLocal2d).
        batch ((Tensor[B, C, H, W], Tensor[B])): images and labels.

    Returns:
        dict[str, Tensor]: ``"accuracy"`` of the batch and the batch means of
        :func:`non_local_distances` (``"input"``, ``"attention"``, ``"output"``, ``"uniform"``).
    """
    images, labels = batch
    logits, x = capture_input(model, model.stage_block, images)
    d = non_local_distances(model.stage_block, x, reduce=torch.mean)
    return {"accuracy": accuracy(logits, labels), **d}


@torch.no_grad()
def detector_non_local_distances(model: nn.Module, block: NonLocal2d, dataset, *,
                                 batch_size: int = 32) -> dict[str, float]:
    r""":func:`non_local_distances` of the NL block in a torchvision detector's backbone, averaged
    over the images of ``dataset``: GCNet §3.2 measured them on its trained COCO detectors.

    Every image goes through the detector's own ``transform`` (resizing and normalisation) and its
    backbone body in eval mode, and ``block`` is caught on the way (:func:`capture_input`); the
    heads do not run. The mode is restored afterwards.

    Args:
        model (nn.Module): a torchvision ``GeneralizedRCNN`` (Faster or Mask R-CNN) whose
            ``backbone.body`` contains ``block``.
        block (NonLocal2d): its non-local block.
        dataset: indexable, item i is (Tensor[3, H, W], target dict), as a detector trains on.
        batch_size (int): images per forward pass. Default: 32.

    Returns:
        dict[str, float]: ``"input"``, ``"attention"``, ``"output"`` and ``"uniform"`` as in
        :func:`non_local_distances`, each the mean over all images (not over batches).
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1; got {batch_size!r}")
    if len(dataset) < 1:
        raise ValueError(f"dataset must hold at least one image; got {len(dataset)}")
    body = model.backbone.body
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    totals: dict[str, Tensor] = {}
    try:
        for start in range(0, len(dataset), batch_size):
            images = [dataset[i][0].to(device) for i in range(start, min(start + batch_size, len(dataset)))]
            _, x = capture_input(body, block, model.transform(images)[0].tensors)
            for k, v in non_local_distances(block, x).items():         # each Tensor[B]
                totals[k] = totals.get(k, 0) + v.sum()
    finally:
        model.train(was_training)
    return {k: (v / len(dataset)).item() for k, v in totals.items()}


@torch.no_grad()
def query_attention_maps(model: nn.Module, block: NonLocal2d, image: Tensor,
                         queries: Sequence[tuple[float, float]],
                         ) -> tuple[Tensor, list[tuple[int, int]], tuple[int, int]]:
    """The attention maps of a few query positions of ``block``, drawn at the image's size.

    Args:
        model (nn.Module): the network that contains ``block``.
        block (NonLocal2d): its non-local block.
        image (Tensor[1, C_in, H_img, W_img]): one image.
        queries (Sequence[(float, float)]): query positions as (row, col) fractions of the
            block's map, e.g. (0.25, 0.75); position (int(fy * h), int(fx * w)) of the h x w map.

    Returns:
        (Tensor[Q, H_img, W_img], list[(int, int)], (int, int)): for each query, its row of the
        weights (one entry per key; with ``sub_sample`` the keys are the floor(h/2) x floor(w/2)
        pooled positions), enlarged to the image by nearest neighbours; each query's (row, col)
        on the block's map; and that map's size (h, w).

    Example::

        >>> model = ContextClassifier(2, in_channels=1, stage_block=lambda c: NonLocal2d(c))
        >>> maps, cells, hw = query_attention_maps(model, model.stage_block,
        ...                                        torch.rand(1, 1, 32, 32), [(0.25, 0.25), (0.75, 0.5)])
        >>> maps.shape, cells, hw                   # the block sees a 16 x 16 map
        (torch.Size([2, 32, 32]), [(4, 4), (12, 8)], (16, 16))
    """
    if image.dim() != 4 or image.shape[0] != 1:
        raise ValueError(f"image must be Tensor[1, C, H, W]; got {tuple(image.shape)}")
    _, x = capture_input(model, block, image)
    _, w = block.context_modeling(x)                                   # [1, hw, M]
    h, wd = x.shape[-2:]
    kh, kw = (h, wd) if w.shape[-1] == h * wd else (h // 2, wd // 2)  # sub_sample pools with floor
    cells = [(int(fy * h), int(fx * wd)) for fy, fx in queries]
    rows = w[0, [qi * wd + qj for qi, qj in cells]].reshape(len(cells), 1, kh, kw)
    maps = F.interpolate(rows.float().cpu(), size=tuple(image.shape[-2:]), mode="nearest")[:, 0]
    return maps, cells, (h, wd)
