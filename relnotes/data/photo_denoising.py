"""Noisy crops of real photographs: the cheap natural-image task on which the figures of the local
relation chapter train a single local relation layer (``notebooks/lrnet/lrnet_figures.ipynb``).

The photographs ship inside scikit-image (``skimage.data``, offline; licences in their
docstrings: public domain for astronaut and rocket, CC0 for camera, chelsea, coffee, brick, grass
and gravel, "no known copyright restrictions" for coins). Each is converted to grey levels in
[0, 1] (ITU-R 601 luma) and resized with antialiasing so that its shorter side is
``short_side`` pixels. The task is denoising: input = crop + Gaussian noise of std ``sigma``,
target = the clean crop. No labels are needed, and what a layer learns from it is how to
aggregate the pixels of a natural image.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["TRAIN_PHOTOS", "TEST_PHOTO", "grey_photo", "noisy_crops"]

#: Photographs the crops are cut from.
TRAIN_PHOTOS = ("astronaut", "chelsea", "coffee", "coins", "rocket", "brick", "grass", "gravel")
#: The held-out photograph (the cameraman) on which the figures are drawn.
TEST_PHOTO = "camera"


def grey_photo(name: str, short_side: int = 256) -> Tensor:
    """``skimage.data.<name>()`` as a grey-level Tensor[H, W] in [0, 1], shorter side
    ``short_side`` pixels (float32)."""
    import skimage.data

    loader = getattr(skimage.data, name, None)
    if loader is None:
        raise ValueError(f"skimage.data has no loader {name!r}")
    if isinstance(short_side, bool) or not isinstance(short_side, int) or short_side < 8:
        raise ValueError(f"short_side must be an int >= 8; got {short_side!r}")
    a = torch.from_numpy(np.asarray(loader(), dtype=np.float32) / 255.0)
    if a.dim() == 3:
        a = a[..., :3] @ torch.tensor([0.299, 0.587, 0.114])            # luma
    h, w = a.shape
    size = (max(short_side, round(h * short_side / min(h, w))),
            max(short_side, round(w * short_side / min(h, w))))
    a = F.interpolate(a[None, None], size=size, mode="bilinear", antialias=True,
                      align_corners=False)[0, 0]
    return a.clamp(0, 1).contiguous()


def noisy_crops(n: int, seed: int = 0, *, size: int = 32, sigma: float = 0.1,
                photos: tuple[str, ...] = TRAIN_PHOTOS,
                short_side: int = 256) -> tuple[Tensor, Tensor]:
    """``n`` random ``size`` x ``size`` crops of the photographs (the photograph drawn uniformly,
    then the position), with and without noise.

    Args:
        n (int): number of crops.
        seed (int): the result is a pure function of the arguments. Default: 0.
        size (int): side of a crop. Default: 32.
        sigma (float): std of the added Gaussian noise (grey levels in [0, 1]); the noisy crop is
            not clipped. Default: 0.1.
        photos (tuple[str, ...]): ``skimage.data`` loaders. Default: :data:`TRAIN_PHOTOS`.
        short_side (int): see :func:`grey_photo`. Default: 256.

    Returns:
        (Tensor[n, 1, size, size], Tensor[n, 1, size, size]): noisy and clean crops, float32.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int; got {n!r}")
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0; got {sigma!r}")
    images = [grey_photo(p, short_side) for p in photos]
    if size > min(min(im.shape) for im in images):
        raise ValueError(f"size {size} is larger than a photograph ({short_side} px)")
    rng = np.random.default_rng(seed)
    clean = torch.empty(n, 1, size, size)
    for i in range(n):
        im = images[int(rng.integers(len(images)))]
        r = int(rng.integers(im.shape[0] - size + 1))
        c = int(rng.integers(im.shape[1] - size + 1))
        clean[i, 0] = im[r:r + size, c:c + size]
    noise = torch.from_numpy(rng.normal(0.0, sigma, size=clean.shape).astype(np.float32))
    return clean + noise, clean
