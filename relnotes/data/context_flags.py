r"""ContextFlags: a synthetic classification set where a small, far-away flag decides the label.

**Designed to show an effect**, and labelled so wherever it is used: GCNet argues that a block
which pools one *global* context vector and adds it to every position (GC) is enough for what
the non-local block does in practice, and that *attention* pooling beats *average* pooling
(GCNet Table 2(f)). Here, by construction, the class depends on information that sits in a
3 x 3 patch somewhere else in the image:

- **Object**: one white 7 x 7 glyph, ``shape`` in {0: horizontal bar, 1: vertical bar,
  2: plus, 3: square outline}, anywhere in the image.
- **Flag**: with probability 1/2 a pure-red 3 x 3 square, whose centre is at least
  ``min_distance`` px (Chebyshev) from the glyph's centre.
- **Distractors**: ``n_distractors`` 3 x 3 squares in other colours (green, blue, yellow,
  magenta, cyan; one more when the flag is absent, so that counting coloured squares does not
  give the flag away), not overlapping the glyph or the flag.
- **Label** = ``(shape + flag) mod 4``. Knowing the glyph alone leaves two labels possible, so a
  network that cannot relate the glyph to the flag is capped at 50 % accuracy (chance: 25 %).
  A small CNN whose receptive field at the glyph does not reach the flag has to carry the flag's
  presence across the image: a global context block can (attention pooling can single out the
  3 x 3 flag; average pooling dilutes it by 9 / (size * size) among the distractors), global
  average pooling before a linear classifier cannot compute the XOR-like rule on its own.
- **Control** (``control=True``): the same images, label = ``shape``; no context is needed and
  every variant should do equally well.

Pixels: background Gaussian noise with std ``noise``; the image is float32 in CHW layout.
Everything is drawn from one ``numpy.random.Generator`` seeded with ``seed``, so a set is a pure
function of its arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

__all__ = ["GLYPHS", "FLAG_COLOUR", "DISTRACTOR_COLOURS", "ContextFlagsSample",
           "context_flags", "context_flags_dataset"]


def _glyphs() -> np.ndarray:
    g = np.zeros((4, 7, 7), dtype=np.float32)
    g[0, 3, :] = 1                                  # horizontal bar
    g[1, :, 3] = 1                                  # vertical bar
    g[2, 3, :] = g[2, :, 3] = 1                     # plus
    g[3, [0, -1], :] = g[3, :, [0, -1]] = 1         # square outline
    return g


#: the four 7 x 7 glyphs, Tensor-like array [4, 7, 7] of 0 / 1.
GLYPHS = _glyphs()
FLAG_COLOUR = (1.0, 0.0, 0.0)
DISTRACTOR_COLOURS = ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 1.0, 0.0), (1.0, 0.0, 1.0),
                      (0.0, 1.0, 1.0))
GLYPH, PATCH = 7, 3


@dataclass
class ContextFlagsSample:
    """A generated set with everything the labels were computed from.

    Attributes:
        images (Tensor[n, 3, size, size]): float32.
        labels (Tensor[n]): int64, ``(shape + flag) % 4`` (``shape`` with ``control``).
        shapes (Tensor[n]): the glyph index, 0-3.
        flags (Tensor[n]): 1 where the red flag is drawn.
        glyph_xy (Tensor[n, 2]): top-left (row, col) of the glyph.
        flag_xy (Tensor[n, 2]): top-left (row, col) of the flag; (-1, -1) without a flag.
    """

    images: Tensor
    labels: Tensor
    shapes: Tensor
    flags: Tensor
    glyph_xy: Tensor
    flag_xy: Tensor


def _free(occupied: list[tuple[int, int, int]], r: int, c: int, k: int, margin: int = 1) -> bool:
    """No overlap (with ``margin`` px between) of the k x k square at (r, c) with any occupied."""
    return all(r + k + margin <= r2 or r2 + k2 + margin <= r or c + k + margin <= c2
               or c2 + k2 + margin <= c for r2, c2, k2 in occupied)


def context_flags(n: int, *, size: int = 32, seed: int = 0, noise: float = 0.1,
                  n_distractors: int = 3, min_distance: int | None = None,
                  control: bool = False) -> ContextFlagsSample:
    """Generate ``n`` ContextFlags images; see the module docstring.

    Args:
        n (int): number of images; shapes and flags are balanced (``i % 4`` and ``(i // 4) % 2``,
            then shuffled).
        size (int): image side in px, >= 16. Default: 32.
        seed (int): of the generator. Default: 0.
        noise (float): std of the background noise. Default: 0.1.
        n_distractors (int): coloured squares besides the flag (one more without it). Default: 3.
        min_distance (int, optional): minimum Chebyshev distance, in px, between the centres of
            glyph and flag. Default: ``size // 2 - 2``.
        control (bool): label = shape (the flag is drawn but irrelevant). Default: False.

    Returns:
        ContextFlagsSample
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int; got {n!r}")
    if not isinstance(size, int) or size < 16:
        raise ValueError(f"size must be an int >= 16; got {size!r}")
    if not isinstance(n_distractors, int) or not 0 <= n_distractors <= 8:
        raise ValueError(f"n_distractors must be an int in [0, 8]; got {n_distractors!r}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0; got {noise}")
    min_distance = size // 2 - 2 if min_distance is None else min_distance
    if not 0 <= min_distance <= size // 2 - 2:
        raise ValueError(f"min_distance must be in [0, size // 2 - 2 = {size // 2 - 2}] (farther "
                         f"is not always possible); got {min_distance}")
    rng = np.random.default_rng(seed)
    idx = np.arange(n)
    shapes, flags = idx % 4, (idx // 4) % 2
    perm = rng.permutation(n)
    shapes, flags = shapes[perm], flags[perm]
    images = rng.normal(0.0, noise, size=(n, 3, size, size)).astype(np.float32)
    glyph_xy = np.zeros((n, 2), dtype=np.int64)
    flag_xy = np.full((n, 2), -1, dtype=np.int64)
    for i in range(n):
        gr, gc = rng.integers(0, size - GLYPH + 1, size=2)
        images[i, :, gr:gr + GLYPH, gc:gc + GLYPH] += GLYPHS[shapes[i]]
        occupied = [(int(gr), int(gc), GLYPH)]
        glyph_xy[i] = gr, gc
        centre = np.array([gr + GLYPH // 2, gc + GLYPH // 2])
        if flags[i]:
            while True:
                fr, fc = rng.integers(0, size - PATCH + 1, size=2)
                if np.abs(np.array([fr + 1, fc + 1]) - centre).max() >= min_distance:
                    break
            images[i, :, fr:fr + PATCH, fc:fc + PATCH] = np.array(FLAG_COLOUR)[:, None, None]
            occupied.append((int(fr), int(fc), PATCH))
            flag_xy[i] = fr, fc
        for _ in range(n_distractors + (1 - flags[i])):
            colour = DISTRACTOR_COLOURS[rng.integers(len(DISTRACTOR_COLOURS))]
            for _try in range(100):
                r, c = rng.integers(0, size - PATCH + 1, size=2)
                if _free(occupied, int(r), int(c), PATCH):
                    images[i, :, r:r + PATCH, c:c + PATCH] = np.array(colour)[:, None, None]
                    occupied.append((int(r), int(c), PATCH))
                    break
    labels = shapes if control else (shapes + flags) % 4
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    return ContextFlagsSample(t(images), t(labels.astype(np.int64)), t(shapes.astype(np.int64)),
                              t(flags.astype(np.int64)), t(glyph_xy), t(flag_xy))


def context_flags_dataset(n: int, **kwargs) -> TensorDataset:
    """``TensorDataset(images, labels)`` of :func:`context_flags` (same arguments)."""
    s = context_flags(n, **kwargs)
    return TensorDataset(s.images, s.labels)
