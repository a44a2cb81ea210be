r"""PhotoCrops: which photograph does a crop come from? A tiny real-image task, offline.

The attention-map analysis of GCNet (§3.2) needs a network trained on *real* images. With no
download allowed, the photographs that ship inside scikit-image (``skimage.data``; CC0 or public
domain, see :data:`PHOTOS`) make a small classification task: the class of a crop is the
photograph it was cut from. Each photograph is converted to grey levels in [0, 1] and resized so
that its shorter side is ``short_side`` px. Crops for training come from the top three quarters
of every photograph, crops for testing from the bottom quarter (``split``), so the two never
overlap and the test measures recognition of unseen parts of each scene (texture, contrast,
content).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import TensorDataset

__all__ = ["PHOTOS", "load_photos", "photo_crops"]

#: scikit-image sample photographs that load offline (licences in their docstrings: public domain
#: for astronaut, rocket, hubble; CC0 for camera, chelsea, coffee, brick, grass, gravel; "no
#: known copyright restrictions" for coins).
PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "coins", "rocket", "brick", "grass",
          "gravel", "hubble_deep_field")


def load_photos(names: tuple[str, ...] = PHOTOS, *, short_side: int = 128) -> list[Tensor]:
    """The photographs as grey-level Tensor[H, W] in [0, 1], shorter side ``short_side`` px.

    Args:
        names (tuple[str, ...]): ``skimage.data`` loaders. Default: :data:`PHOTOS`.
        short_side (int): Default: 128.

    Returns:
        list[Tensor[H, W]], float32, in the order of ``names``.
    """
    import skimage.data

    if short_side < 8:
        raise ValueError(f"short_side must be >= 8; got {short_side}")
    photos = []
    for name in names:
        loader = getattr(skimage.data, name, None)
        if loader is None:
            raise ValueError(f"skimage.data has no loader {name!r}")
        a = torch.from_numpy(np.asarray(loader(), dtype=np.float32) / 255.0)
        if a.dim() == 3:                                                 # RGB(A) -> luma
            a = a[..., :3] @ torch.tensor([0.299, 0.587, 0.114])
        h, w = a.shape
        s = short_side / min(h, w)
        size = (max(short_side, round(h * s)), max(short_side, round(w * s)))
        a = F.interpolate(a[None, None], size=size, mode="bilinear", antialias=True,
                          align_corners=False)[0, 0]
        photos.append(a.clamp(0, 1).contiguous())
    return photos


def photo_crops(photos: list[Tensor], n: int, *, crop: int = 32, split: str = "train",
                seed: int = 0, return_offsets: bool = False):
    """``n`` random ``crop`` x ``crop`` crops, balanced over the photographs (label = index).

    Args:
        photos (list[Tensor[H, W]]): from :func:`load_photos`.
        n (int): number of crops; crop i comes from photograph ``i % len(photos)``.
        crop (int): side of a crop in px. Default: 32.
        split (str): ``"train"``: the crop lies entirely in the top three quarters of the
            photograph; ``"test"``: the crop lies
            entirely in the bottom quarter, which must be at least ``crop`` px high.
            Default: ``"train"``.
        seed (int): Default: 0.
        return_offsets (bool): also return the (row, col) of every crop. Default: False.

    Returns:
        TensorDataset(images Tensor[n, 1, crop, crop], labels Tensor[n]) (and Tensor[n, 2]).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    if not photos:
        raise ValueError("photos is empty")
    rng = np.random.default_rng(seed)
    images = torch.empty(n, 1, crop, crop)
    labels = torch.arange(n) % len(photos)
    offsets = torch.empty(n, 2, dtype=torch.int64)
    for i in range(n):
        p = photos[int(labels[i])]
        h, w = p.shape
        cut = h - h // 4                                           # first row of the test part
        lo, hi = (0, cut - crop) if split == "train" else (cut, h - crop)
        if hi < lo or w < crop:
            raise ValueError(f"photograph {int(labels[i])} ({h} x {w}) is too small for {split} "
                             f"crops of {crop} px; raise short_side")
        r, c = int(rng.integers(lo, hi + 1)), int(rng.integers(0, w - crop + 1))
        images[i, 0] = p[r:r + crop, c:c + crop]
        offsets[i] = torch.tensor([r, c])
    ds = TensorDataset(images, labels)
    return (ds, offsets) if return_offsets else ds
