import pytest

from relnotes.nn.reduction import rd_repr, reduced_channels


def test_reduced_channels():
    assert reduced_channels(1024, 1 / 16) == 64
    assert reduced_channels(64, 1 / 16, rd_channels=3) == 3
    assert reduced_channels(100, 1 / 3) == 33
    with pytest.raises(ValueError, match="the hidden width C/r must be >= 1; got 0 from channels=8"):
        reduced_channels(8, 1 / 16, name="the hidden width C/r")


def test_rd_repr_names_what_was_given():
    assert rd_repr(64, 1 / 16, 4) == "rd_ratio=0.0625"
    assert rd_repr(64, 1 / 16, 3) == "rd_channels=3"


def test_rd_min_is_a_floor_on_the_ratio_only():
    assert reduced_channels(32, 1 / 16, rd_min=8) == 8
    assert reduced_channels(256, 1 / 16, rd_min=8) == 16
    assert reduced_channels(32, 1 / 16, rd_channels=3, rd_min=8) == 3
    assert rd_repr(32, 1 / 16, 8, rd_min=8) == "rd_ratio=0.0625, rd_min=8"
    assert rd_repr(256, 1 / 16, 16, rd_min=8) == "rd_ratio=0.0625"
    with pytest.raises(ValueError, match="rd_min must be None or an int >= 1; got True"):
        reduced_channels(32, 1 / 16, rd_min=True)
