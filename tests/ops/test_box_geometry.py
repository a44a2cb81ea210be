import doctest
import math
import sys

import pytest
import torch

from relnotes.ops.box_geometry import box_geometry, box_geometry_embedding, sinusoidal_embedding


def test_docstring_examples():
    module = sys.modules["relnotes.ops.box_geometry"]
    assert doctest.testmod(module, raise_on_error=False).failed == 0


BOXES = [(0.0, 0.0, 2.0, 2.0), (2.0, 0.0, 6.0, 4.0), (10.0, 5.0, 13.0, 25.0)]


def direct_geometry(n, m, normalize_by="key", eps=1e-3, plus_one=False):
    """RN Eq. (5) for one pair, written with Python floats."""
    one = 1.0 if plus_one else 0.0
    xn, yn = (n[0] + n[2]) / 2, (n[1] + n[3]) / 2
    xm, ym = (m[0] + m[2]) / 2, (m[1] + m[3]) / 2
    wn, hn = n[2] - n[0] + one, n[3] - n[1] + one
    wm, hm = m[2] - m[0] + one, m[3] - m[1] + one
    wr, hr = (wm, hm) if normalize_by == "key" else (wn, hn)
    return [math.log(max(abs(xm - xn) / wr, eps)), math.log(max(abs(ym - yn) / hr, eps)),
            math.log(wn / wm), math.log(hn / hm)]


def direct_embedding(g, d_g=64, wavelength=1000.0, scale=1.0):
    """The sinusoidal embedding, one channel at a time: [entry][sin d_g/8, cos d_g/8]."""
    out = []
    per = d_g // 4
    for value in g:
        args = [scale * value / wavelength ** (2 * k / per) for k in range(per // 2)]
        out += [math.sin(a) for a in args] + [math.cos(a) for a in args]
    return out


@pytest.mark.parametrize("normalize_by", ["key", "query"])
@pytest.mark.parametrize("plus_one", [False, True])
@pytest.mark.parametrize("scale", [1.0, 100.0])
def test_geometry_and_embedding_match_direct_formulas(normalize_by, plus_one, scale):
    boxes = torch.tensor(BOXES, dtype=torch.float64)
    g = box_geometry(boxes, normalize_by=normalize_by, plus_one=plus_one)
    e = box_geometry_embedding(g, 64, scale=scale)
    assert g.shape == (3, 3, 4) and e.shape == (3, 3, 64)
    for i, n in enumerate(BOXES):
        for j, m in enumerate(BOXES):
            ref = direct_geometry(n, m, normalize_by, plus_one=plus_one)
            assert g[i, j].tolist() == pytest.approx(ref, abs=1e-12)
            assert e[i, j].tolist() == pytest.approx(direct_embedding(ref, scale=scale), abs=1e-12)


def test_official_frequencies_are_1000_to_the_k_over_8():
    # the official code divides 100 * entry by 1000^(k/8), k = 0..7, for d_g = 64
    e = box_geometry_embedding(torch.tensor([0.3, 0.0, 0.0, 0.0], dtype=torch.float64), 64, scale=100)
    expected = [math.sin(30.0 / 1000 ** (k / 8)) for k in range(8)]
    assert e[:8].tolist() == pytest.approx(expected, abs=1e-12)
    assert e[8:16].tolist() == pytest.approx([math.cos(30.0 / 1000 ** (k / 8)) for k in range(8)],
                                             abs=1e-12)


def test_key_boxes_and_normalisation_choice():
    boxes = torch.tensor(BOXES, dtype=torch.float64)
    g = box_geometry(boxes[:1], boxes)
    assert g.shape == (1, 3, 4)
    assert torch.equal(g, box_geometry(boxes)[:1])
    # the offsets differ between conventions when the boxes differ in size, the ratios do not
    q = box_geometry(boxes, normalize_by="query")
    k = box_geometry(boxes)
    assert not torch.allclose(q[..., :2], k[..., :2])
    assert torch.equal(q[..., 2:], k[..., 2:])


def test_translation_and_scale_invariance():
    boxes = torch.tensor(BOXES, dtype=torch.float64)
    moved = boxes * 3.5 + torch.tensor([7.0, -2.0, 7.0, -2.0], dtype=torch.float64)
    torch.testing.assert_close(box_geometry(moved), box_geometry(boxes), rtol=0, atol=1e-12)


def test_batched_and_self_pair_finite():
    boxes = torch.tensor([BOXES, BOXES], dtype=torch.float64)
    g = box_geometry(boxes)
    assert g.shape == (2, 3, 3, 4)
    assert g[0, 1, 1].tolist() == pytest.approx([math.log(1e-3), math.log(1e-3), 0.0, 0.0])
    assert bool(torch.isfinite(box_geometry_embedding(g)).all())


def test_bad_input():
    good = torch.tensor(BOXES)
    with pytest.raises(ValueError, match=r"boxes must have a positive width and height"):
        box_geometry(torch.tensor([[0.0, 0.0, 0.0, 2.0]]))         # zero width
    with pytest.raises(ValueError, match=r"positive width and height"):
        box_geometry(torch.tensor([[5.0, 0.0, 2.0, 2.0]]))         # negative width
    # a zero-width box is valid under the +1 convention of the official code
    assert bool(torch.isfinite(box_geometry(torch.tensor([[0.0, 0.0, 0.0, 2.0]]), plus_one=True)).all())
    with pytest.raises(ValueError, match=r"boxes must be Tensor\[..., N, 4\]"):
        box_geometry(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"must be finite"):
        box_geometry(torch.tensor([[0.0, 0.0, float("nan"), 2.0]]))
    with pytest.raises(ValueError, match=r"eps must be > 0"):
        box_geometry(good, eps=0.0)
    with pytest.raises(ValueError, match=r"normalize_by must be one of"):
        box_geometry(good, normalize_by="mean")
    with pytest.raises(TypeError, match=r"floating-point"):
        box_geometry(good.long())
    with pytest.raises(ValueError, match=r"d_g must be a positive multiple of 8"):
        box_geometry_embedding(box_geometry(good), 60)
    with pytest.raises(ValueError, match=r"dim must be a positive even number"):
        sinusoidal_embedding(torch.zeros(3), 5)
    # empty sets of boxes give empty geometry
    assert box_geometry(torch.zeros(0, 4)).shape == (0, 0, 4)
    assert box_geometry(torch.zeros(0, 4), good).shape == (0, 3, 4)
