import pytest

from relnotes.repro import PROFILES, UnknownProfileError, get_profile
from relnotes.repro.profiles import SCALES


def test_the_four_profiles_of_the_design():
    assert list(PROFILES) == ["smoke", "cpu", "gpu", "full"]
    assert get_profile("smoke").budget_s == 60
    assert get_profile("cpu").budget_s == 600


def test_unknown_profile_names_the_choices():
    with pytest.raises(UnknownProfileError, match=r"unknown profile 'laptop'; choose one of "
                                                  r"smoke, cpu, gpu, full"):
        get_profile("laptop")


def test_full_needs_data_root():
    with pytest.raises(ValueError, match="needs data_root"):
        get_profile("full")
    assert get_profile("full", data_root="/data/coco").name == "full"


def test_every_experiment_has_knobs_for_every_profile():
    for experiment, scales in SCALES.items():
        assert set(scales) == set(PROFILES), experiment


def test_scale_returns_attributes_and_unknown_experiment_is_named():
    assert get_profile("smoke").scale("one_formula").n_tokens == 6
    with pytest.raises(KeyError, match="no scale is defined for experiment 'nope'"):
        get_profile("smoke").scale("nope")
