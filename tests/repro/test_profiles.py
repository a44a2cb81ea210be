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


def test_full_needs_an_existing_data_root(tmp_path):
    full = get_profile("full")
    with pytest.raises(ValueError, match="needs data_root"):
        full.data_path(None)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        full.data_path(tmp_path / "missing")
    assert full.data_path(tmp_path) == tmp_path
    assert get_profile("cpu").data_path(None) is None


def test_every_experiment_has_knobs_for_every_profile():
    for experiment, scales in SCALES.items():
        assert set(scales) == set(PROFILES), experiment


def test_scale_returns_attributes_and_unknown_experiment_is_named():
    assert get_profile("smoke").scale("one_formula").n_tokens == 6
    with pytest.raises(KeyError, match="no scale is defined for experiment 'nope'"):
        get_profile("smoke").scale("nope")


def test_overrides_replace_knobs_and_update_dict_knobs_key_by_key():
    full = get_profile("full")
    s = full.scale("rn_ablation_head", {"seeds": (1,), "coco": {"epochs": 1}})
    assert s.seeds == (1,) and s.coco["epochs"] == 1
    assert s.coco["lr"] == full.scale("rn_ablation_head").coco["lr"]     # the rest is kept
    assert full.scale("rn_ablation_head").coco["epochs"] == 6             # SCALES is untouched
    with pytest.raises(KeyError, match="has no knob 'epochz'"):
        full.scale("rn_ablation_head", {"epochz": 1})
    with pytest.raises(KeyError, match=r"coco has no knob\(s\) \['epochz'\]"):
        full.scale("rn_ablation_head", {"coco": {"epochz": 1}})


def test_seeds_per_profile():
    assert get_profile("smoke").seeds == (0,)
    assert get_profile("cpu").seeds == (0, 1, 2)
    assert get_profile("gpu").seeds == (0, 1, 2)
    assert get_profile("full").seeds == (0,)


@pytest.mark.parametrize("seeds, message", [((), r"at least 1 seed"),
                                            ((0, 1, 0), r"distinct; \[0\] repeated"),
                                            ((0, 1.5), r"integers")])
def test_bad_seed_lists_are_refused_with_a_clear_message(seeds, message):
    from relnotes.repro import Profile

    with pytest.raises(ValueError, match=rf"profile 'x': seeds must .*{message}"):
        Profile("x", where="here", budget_s=1, threads=1, device="cpu", seeds=seeds)
