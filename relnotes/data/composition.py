r"""A synthetic "composition" dataset, **designed to favour composition over template matching**
(the talk's slogan for the local relation layer: "convolution = template matching, relation =
composition").

Each image (grayscale, 28 x 28 by default) holds five small parts (4 x 4 patches):

- three **object parts** that share one appearance (the same random 4 x 4 texture), placed in
  one of four arrangements, which is the class:

  ======  ==========  ===============================================
  class   name        part offsets (row, column), spacing d
  ======  ==========  ===============================================
  0       row         (0, 0), (0, d), (0, 2d)
  1       column      (0, 0), (d, 0), (2d, 0)
  2       diagonal    (0, 0), (d, d), (2d, 2d)
  3       corner      (0, 0), (d, 0), (d, d)
  ======  ==========  ===============================================

- two **distractor parts**, each with its own random texture, at random free positions.

Everything else varies from image to image: the texture (4 x 4 values uniform in [0.25, 1]), the
spacing d (6 to 8 pixels), a +-1 pixel jitter of each object part (so object parts never
overlap), the position of the whole arrangement, the distractors. Parts do not overlap (one free pixel around each). Gaussian pixel
noise (std ``noise``) is added, then the image is clipped to [0, 1].

Why it is built this way: no single part, and no fixed template, tells the class, since the
parts' appearance is random. What tells it is *which parts belong together* (those that look
alike) and *where they are relative to each other*; the distractors can fall anywhere, so an
arrangement of "any three blobs" is ambiguous. The local relation layer's weights are computed
from exactly that: the similarity of a pixel's key to its neighbour's query (appearance) plus a
learnt prior on their offset (geometry). Whether this helps at small scale is what the
kernel-size notebook measures; a convolution can still learn the task (a 5 x 5 neighbourhood at
the right scale sees two parts and can compare them).

The generator is a pure function of its arguments (``numpy.random.default_rng(seed)``); classes
are balanced exactly (n / 4 each when 4 divides n).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["make_composition", "COMPOSITION_CLASSES", "COMPOSITION_PART"]

#: Class names, in label order.
COMPOSITION_CLASSES = ("row", "column", "diagonal", "corner")
#: Side of a part, in pixels.
COMPOSITION_PART = 4

# unit offsets of the three object parts, per class, multiplied by the spacing d
_LAYOUTS = np.array([
    [(0, 0), (0, 1), (0, 2)],     # row
    [(0, 0), (1, 0), (2, 0)],     # column
    [(0, 0), (1, 1), (2, 2)],     # diagonal
    [(0, 0), (1, 0), (1, 1)],     # corner
])


def _free(occupied: np.ndarray, r: int, c: int, p: int) -> bool:
    """Is the p x p patch at (r, c), with a 1-pixel margin, clear of every placed part?"""
    return not occupied[max(r - 1, 0):r + p + 1, max(c - 1, 0):c + p + 1].any()


def make_composition(n: int, seed: int = 0, *, size: int = 28, distractors: int = 2,
                     noise: float = 0.05) -> tuple[Tensor, Tensor]:
    """Generate ``n`` images of the composition task.

    Args:
        n (int): number of images (>= 1).
        seed (int): seed of the generator; the result is a pure function of the arguments.
            Default: 0.
        size (int): side of the square images, >= 24 (the largest arrangement, with its
            jitter, spans 2 x 8 + 2 + 4 = 22 pixels). Default: 28.
        distractors (int): parts with their own texture at random positions. Default: 2.
        noise (float): std of the Gaussian pixel noise. Default: 0.05.

    Returns:
        (Tensor[n, 1, size, size], Tensor[n]): float32 images in [0, 1] and int64 labels in
        0-3 (:data:`COMPOSITION_CLASSES`), each class ``n // 4`` or ``n // 4 + 1`` times, in a
        random order.
    """
    for name, v, lo in (("n", n, 1), ("size", size, 24), ("distractors", distractors, 0)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"{name} must be an int >= {lo}; got {v!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0; got {noise!r}")
    rng = np.random.default_rng(seed)
    p = COMPOSITION_PART
    labels = rng.permutation(np.arange(n) % len(COMPOSITION_CLASSES))
    images = np.zeros((n, size, size), dtype=np.float32)
    for i, label in enumerate(labels):
        img, occupied = images[i], np.zeros((size, size), dtype=bool)
        # the object: three parts with one texture, in the class's arrangement
        texture = rng.uniform(0.25, 1.0, size=(p, p))
        d = int(rng.integers(6, 9))
        offsets = _LAYOUTS[label] * d + rng.integers(-1, 2, size=(3, 2))
        offsets -= offsets.min(axis=0)                       # top-left part at (0, 0)
        span = offsets.max(axis=0) + p
        r0, c0 = (int(rng.integers(0, size - s + 1)) for s in span)
        for dr, dc in offsets:
            img[r0 + dr:r0 + dr + p, c0 + dc:c0 + dc + p] = texture
            occupied[r0 + dr:r0 + dr + p, c0 + dc:c0 + dc + p] = True
        # distractors: other textures, anywhere free (rejection sampling, at most 100 tries)
        for _ in range(distractors):
            for _ in range(100):
                r, c = (int(v) for v in rng.integers(0, size - p + 1, size=2))
                if _free(occupied, r, c, p):
                    img[r:r + p, c:c + p] = rng.uniform(0.25, 1.0, size=(p, p))
                    occupied[r:r + p, c:c + p] = True
                    break
    if noise > 0:
        images += rng.normal(0.0, noise, size=images.shape).astype(np.float32)
    np.clip(images, 0.0, 1.0, out=images)
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))
