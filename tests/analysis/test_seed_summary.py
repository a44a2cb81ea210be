import doctest

import pytest

from relnotes.analysis import seed_summary
from relnotes.analysis.seed_summary import detection_summary


def test_doctest():
    assert doctest.testmod(seed_summary).failed == 0


def test_one_and_two_seeds_by_hand():
    one = detection_summary([dict(mAP=0.5, mAP50=0.75, mAP75=0.25, ap_group=0.125, ap_rest=1.0)])
    assert one == dict(map=50.0, map50=75.0, map75=25.0, map_std=None, ap_context=12.5,
                       ap_other=100.0)
    two = detection_summary([dict(mAP=0.25, mAP50=0.5, mAP75=0.0, ap_group=0.0, ap_rest=0.5),
                             dict(mAP=0.75, mAP50=1.0, mAP75=0.5, ap_group=0.5, ap_rest=1.0)])
    assert two["map"] == pytest.approx(50.0) and two["map_std"] == pytest.approx(25.0)
    assert two["ap_context"] == pytest.approx(25.0) and two["ap_other"] == pytest.approx(75.0)


def test_errors():
    with pytest.raises(ValueError, match="at least one seed"):
        detection_summary([])
