r"""RepPoints' point sets and their pseudo boxes (Yang, Liu, Hu, Wang, Lin; ICCV 2019;
arXiv:1904.11490).

RepPoints represents an object by :math:`n` points :math:`\{(x_k, y_k)\}_{k=1}^n` (:math:`n = 9`,
sampled by a 3 x 3 deformable convolution) and, to train them with box annotations, converts the
set into a pseudo box with one of three functions (transcribed from the official code,
``microsoft/RepPoints`` ``RepPointsHead.points2bbox``; the paper's T1–T3):

- ``"minmax"`` (T1): :math:`[\min_k x_k, \min_k y_k, \max_k x_k, \max_k y_k]`;
- ``"partial_minmax"`` (T2): the same over the first 4 points only;
- ``"moment"`` (T3): centre :math:`(\bar x, \bar y)`, the means; half sizes
  :math:`s_x e^{\lambda_x}` and :math:`s_y e^{\lambda_y}`, with :math:`s` the (unbiased) standard
  deviation and :math:`\lambda` = ``moment_transfer``, two learnable numbers shared by all objects
  (zero-initialised in the official code, with their gradient scaled by 0.01).

Points here are ``Tensor[..., n, 2]`` in (x, y) order; :func:`from_flat` reads the official
flat layout ``[..., 2n]`` with (y, x) pairs.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["CONVERSIONS", "from_flat", "points_to_box"]

CONVERSIONS = ("minmax", "partial_minmax", "moment")


def from_flat(points: Tensor, *, y_first: bool = True) -> Tensor:
    """``Tensor[..., 2n]`` with (y, x) pairs (``y_first``) or (x, y) pairs -> ``Tensor[..., n, 2]``
    in (x, y) order."""
    if points.shape[-1] % 2:
        raise ValueError(f"flat points must have an even last dimension 2n; got {tuple(points.shape)}")
    pairs = points.unflatten(-1, (-1, 2))
    return pairs.flip(-1) if y_first else pairs


def points_to_box(points: Tensor, method: str = "moment", *, moment_transfer: Tensor | None = None,
                  partial: int = 4) -> Tensor:
    r"""The pseudo box (x1, y1, x2, y2) of each point set.

    Args:
        points (Tensor[..., n, 2]): (x, y) of the n points of each set.
        method (str): ``"minmax"``, ``"partial_minmax"`` or ``"moment"``. Default: ``"moment"``.
        moment_transfer (Tensor[2], optional): :math:`(\lambda_x, \lambda_y)` of ``"moment"``.
            Default: zeros (the official initial value).
        partial (int): points used by ``"partial_minmax"``. Default: 4.

    Returns:
        Tensor[..., 4]

    Examples::

        >>> pts = torch.tensor([[[0., 0.], [2., 0.], [0., 4.], [2., 4.], [10., 1.]]])
        >>> points_to_box(pts, "minmax")
        tensor([[ 0.,  0., 10.,  4.]])
        >>> points_to_box(pts, "partial_minmax")          # the first 4 points
        tensor([[0., 0., 2., 4.]])
    """
    if method not in CONVERSIONS:
        raise ValueError(f"method must be one of {CONVERSIONS}; got {method!r}")
    if points.dim() < 2 or points.shape[-1] != 2:
        raise ValueError(f"points must be Tensor[..., n, 2] (x, y); got {tuple(points.shape)}")
    if method == "partial_minmax":
        if points.shape[-2] < partial:
            raise ValueError(f"partial_minmax needs at least partial = {partial} points; got "
                             f"{points.shape[-2]}")
        points = points[..., :partial, :]
    if method in ("minmax", "partial_minmax"):
        # T1 / T2: the tightest box around the (first) points
        return torch.cat([points.amin(-2), points.amax(-2)], dim=-1)
    if points.shape[-2] < 2:
        raise ValueError("moment needs at least 2 points (a standard deviation)")
    if moment_transfer is None:
        moment_transfer = points.new_zeros(2)
    # T3: centre = mean; half size = std · exp(λ)
    centre = points.mean(-2)                                              # [..., 2]
    half = points.std(-2, unbiased=True) * moment_transfer.exp()          # [..., 2]
    return torch.cat([centre - half, centre + half], dim=-1)
