import itertools

import numpy as np
import pytest
import torch

from relnotes.data import COMPOSITION_CLASSES, COMPOSITION_PART, make_composition


def test_shapes_range_and_balance():
    x, y = make_composition(403, seed=1)
    assert x.shape == (403, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    counts = torch.bincount(y, minlength=len(COMPOSITION_CLASSES)).tolist()
    assert sorted(counts) == [100, 101, 101, 101]


def test_deterministic_given_the_seed():
    a, ya = make_composition(50, seed=3)
    b, yb = make_composition(50, seed=3)
    c, yc = make_composition(50, seed=4)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert torch.equal(ya, yb)
    assert not torch.equal(a, c)


def _parts(img):
    """Top-left corners and textures of the 4 x 4 parts of a noise-free image."""
    p = COMPOSITION_PART
    mask = img > 0
    seen, parts = np.zeros_like(mask), []
    for r, c in zip(*np.nonzero(mask)):
        if not seen[r, c]:
            seen[r:r + p, c:c + p] = True
            parts.append(((r, c), img[r:r + p, c:c + p]))
    return parts


@pytest.mark.parametrize("seed", [0, 1])
def test_object_parts_share_a_texture_in_the_class_arrangement(seed):
    x, y = make_composition(40, seed=seed, noise=0.0)
    for img, label in zip(x[:, 0].numpy(), y.tolist()):
        parts = _parts(img)
        assert len(parts) == 5                          # 3 object parts + 2 distractors
        groups = {}
        for corner, tex in parts:
            groups.setdefault(tex.tobytes(), []).append(corner)
        obj = np.array(next(v for v in groups.values() if len(v) == 3))
        assert sorted(len(v) for v in groups.values()) == [1, 1, 3]
        # some order of the three parts and some spacing d in 6..8 give the class's layout,
        # up to the +-1 jitter of each part (+-2 between two parts); no other class fits
        fits = {name for name, unit in zip(COMPOSITION_CLASSES, LAYOUTS)
                if any(np.abs((obj[list(order)] - obj[order[0]]) - np.array(unit) * d).max() <= 2
                       for order in itertools.permutations(range(3)) for d in (6, 7, 8))}
        assert fits == {COMPOSITION_CLASSES[label]}


LAYOUTS = [[(0, 0), (0, 1), (0, 2)], [(0, 0), (1, 0), (2, 0)], [(0, 0), (1, 1), (2, 2)],
           [(0, 0), (1, 0), (1, 1)]]


def test_bad_arguments():
    with pytest.raises(ValueError, match="n must"):
        make_composition(0)
    with pytest.raises(ValueError, match="size"):
        make_composition(4, size=20)
