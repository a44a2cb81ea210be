import pytest

from relnotes.models.head_variants import HEAD_LABELS, head_variant


def test_every_labelled_row_has_a_variant():
    for key in HEAD_LABELS:
        kw, n_fc = head_variant(key, wide=300)
        assert n_fc in (2, 3, 4)
    assert head_variant("nr8") == (dict(relations=(1, 1), n_relations=8), 2)
    assert head_variant("r01") == (dict(relations=(0, 1)), 2)
    assert head_variant("relative_x1") == (dict(relations=(1, 1), geometry_scale=1.0), 2)
    assert head_variant("4fc") == ({}, 4)
    assert head_variant("wide2fc", wide=296) == (dict(representation_size=296), 2)


def test_unknown_rows_fail():
    with pytest.raises(KeyError, match="unknown head variant 'r5'"):
        head_variant("r5")
    with pytest.raises(ValueError, match="wide2fc needs the width"):
        head_variant("wide2fc")
