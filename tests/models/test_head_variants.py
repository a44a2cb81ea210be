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


def test_head_variant_detector_applies_the_row_and_the_fc_head():
    import torch

    from relnotes.models import FCBoxHead, tiny_faster_rcnn
    from relnotes.models.head_variants import head_variant_detector

    common = dict(n_relations=2, d_k=8, d_g=16, proposals=8)
    with torch.device("meta"):
        base = head_variant_detector("2fc", tiny_faster_rcnn, representation_size=32, **common)
        rel = head_variant_detector("relative", tiny_faster_rcnn, representation_size=32, **common)
        wide = head_variant_detector("wide2fc", tiny_faster_rcnn, representation_size=32, wide=40,
                                     **common)
        three = head_variant_detector("3fc", tiny_faster_rcnn, representation_size=32, **common)
    n = lambda m: sum(p.numel() for p in m.roi_heads.parameters())
    assert n(rel) > n(base) and n(wide) > n(base)
    assert wide.roi_heads.box_head.representation_size == 40
    assert isinstance(three.roi_heads.box_head, FCBoxHead)
    assert sum(isinstance(m, torch.nn.Linear) for m in three.roi_heads.box_head.modules()) == 3
