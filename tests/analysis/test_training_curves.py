import doctest

import pytest

from relnotes.analysis import training_curves
from relnotes.analysis.training_curves import loss_ends


def test_doctest():
    assert doctest.testmod(training_curves).failed == 0


def test_ends_by_hand():
    c = [float(i) for i in range(20, 0, -1)]          # 20 steps: 2 at each end for 10%
    assert loss_ends(c) == (19.5, 1.5)
    assert loss_ends([2.0, 1.0, 3.0]) == (2.0, 3.0)    # fewer than 10 steps: one at each end
    assert loss_ends([1.0, 3.0], fraction=1.0) == (2.0, 2.0)


def test_errors():
    with pytest.raises(ValueError, match="at least one step"):
        loss_ends([])
    with pytest.raises(ValueError, match="fraction"):
        loss_ends([1.0], fraction=0.0)
