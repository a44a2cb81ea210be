"""RepPoints' three point-set -> pseudo-box conversions, on hand-worked points."""

import doctest
import importlib

import pytest
import torch

from relnotes.ops.point_sets import from_flat, points_to_box

# five points; worked by hand below
PTS = torch.tensor([[1.0, 2.0], [3.0, 2.0], [1.0, 6.0], [3.0, 6.0], [7.0, 4.0]])


def test_doctests():
    module = importlib.import_module("relnotes.ops.point_sets")
    assert doctest.testmod(module, extraglobs={"torch": torch}).failed == 0


def test_minmax():
    assert points_to_box(PTS, "minmax").tolist() == [1.0, 2.0, 7.0, 6.0]


def test_partial_minmax_uses_the_first_four_points():
    assert points_to_box(PTS, "partial_minmax").tolist() == [1.0, 2.0, 3.0, 6.0]
    assert points_to_box(PTS, "partial_minmax", partial=5).tolist() == [1.0, 2.0, 7.0, 6.0]


def test_moment():
    # x: 1, 3, 1, 3, 7 -> mean 3, squared deviations 4+0+4+0+16 = 24, unbiased var 6
    # y: 2, 2, 6, 6, 4 -> mean 4, squared deviations 4+4+4+4+0 = 16, unbiased var 4, std 2
    s6 = 6 ** 0.5
    expected = [3 - s6, 4 - 2.0, 3 + s6, 4 + 2.0]
    assert points_to_box(PTS, "moment").tolist() == pytest.approx(expected)
    lam = torch.tensor([0.0, torch.log(torch.tensor(1.5)).item()])   # y half size * 1.5
    assert points_to_box(PTS, "moment", moment_transfer=lam).tolist() == pytest.approx(
        [3 - s6, 1.0, 3 + s6, 7.0])


def test_batched_and_flat_layout():
    flat = PTS.flip(-1).flatten()                       # official layout: (y, x) pairs
    torch.testing.assert_close(from_flat(flat), PTS)
    batch = torch.stack([PTS, PTS + 10])
    torch.testing.assert_close(points_to_box(batch, "minmax")[1],
                               points_to_box(PTS, "minmax") + 10)


def test_moment_is_differentiable_in_the_transfer():
    lam = torch.zeros(2, requires_grad=True)
    points_to_box(PTS, "moment", moment_transfer=lam).sum().backward()
    assert lam.grad.abs().sum() == 0      # symmetric: d(x1 + x2)/dλ = 0
    (points_to_box(PTS, "moment", moment_transfer=lam)[2:] - points_to_box(PTS, "moment", moment_transfer=lam)[:2]).sum().backward()
    assert lam.grad.tolist() == pytest.approx([2 * 6 ** 0.5, 4.0])


def test_errors():
    with pytest.raises(ValueError, match="method must be one of"):
        points_to_box(PTS, "centre")
    with pytest.raises(ValueError, match=r"Tensor\[..., n, 2\]"):
        points_to_box(PTS.flatten(), "minmax")
    with pytest.raises(ValueError, match="at least partial = 4"):
        points_to_box(PTS[:3], "partial_minmax")
