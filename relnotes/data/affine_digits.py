r"""Affine digits: MNIST-5k digits rotated and scaled at random, a task for geometric adaptivity.

**Designed to show an effect**, and labelled so wherever it is used. Deformable convolution was
introduced for objects whose geometry varies (DCN v1 §1: "geometric variations or model geometric
transformations in object scale, pose, viewpoint, and part deformation"). Each 28 x 28 digit of
:func:`relnotes.data.mnist5k.load_mnist5k` is rotated by an angle uniform in
``[-max_rotation, max_rotation]`` degrees and scaled by a factor uniform in ``scale_range``
(bilinear, zero outside), one draw per image from ``torch.Generator`` seeded with ``seed``, so a
set is a pure function of its arguments.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .mnist5k import load_mnist5k

__all__ = ["affine_digits", "random_affine"]


def random_affine(images: Tensor, *, max_rotation: float, scale_range: tuple[float, float],
                  seed: int) -> Tensor:
    """Rotate and scale every image of ``images`` (Tensor[N, C, H, W]) about its centre.

    Examples::

        >>> x = torch.zeros(1, 1, 5, 5); x[0, 0, 2, 2] = 1
        >>> random_affine(x, max_rotation=0, scale_range=(1, 1), seed=0).equal(x)   # identity
        True
    """
    g = torch.Generator().manual_seed(seed)
    n = images.shape[0]
    angle = (torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1) * math.radians(max_rotation)
    lo, hi = scale_range
    scale = lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)
    cos, sin = angle.cos() / scale, angle.sin() / scale     # the sampling grid maps out -> in
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros_like(cos)], 1),
                         torch.stack([sin, cos, torch.zeros_like(cos)], 1)], 1)   # [N, 2, 3]
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def affine_digits(split: str = "train", *, max_rotation: float = 60.0,
                  scale_range: tuple[float, float] = (0.6, 1.1), seed: int = 0,
                  n: int | None = None) -> tuple[Tensor, Tensor]:
    """MNIST-5k ``split`` (the first ``n`` images of it in file order of each class when given:
    ``n`` must be a multiple of 10) with :func:`random_affine` applied.

    Returns:
        (Tensor[N, 1, 28, 28] in [0, 1], Tensor[N] int64 labels)
    """
    if n is not None and (n % 10 or n < 10):   # checked before the data is read
        raise ValueError(f"n must be a positive multiple of 10 (classes balanced); got {n}")
    x, y = load_mnist5k(split)
    if n is not None:
        fewest = int(torch.bincount(y, minlength=10).min())
        if n // 10 > fewest:
            raise ValueError(f"n = {n} asks for {n // 10} images of each class, but the "
                             f"{split!r} split has only {fewest} of its rarest class; "
                             f"n must be at most {10 * fewest}")
        keep = torch.cat([(y == c).nonzero().squeeze(1)[: n // 10] for c in range(10)])
        x, y = x[keep], y[keep]
    if x.dim() == 3:
        x = x.unsqueeze(1)
    return random_affine(x.float(), max_rotation=max_rotation, scale_range=scale_range,
                         seed=seed), y
