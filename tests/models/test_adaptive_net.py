"""AdaptiveNet: every variant runs; the adaptive layers are where the docstring says."""

import pytest
import torch

from relnotes.models.adaptive_net import VARIANTS, AdaptiveNet
from relnotes.nn import LocalRelation2d, ModulatedDeformConv2d


@pytest.mark.parametrize("variant", VARIANTS)
def test_variants(variant):
    torch.manual_seed(0)
    m = AdaptiveNet(variant, width=8)
    out = m(torch.rand(2, 1, 28, 28))
    assert out.shape == (2, 10)
    assert isinstance(m.deformable, ModulatedDeformConv2d) == ("deformable" in variant)
    assert isinstance(m.relation, LocalRelation2d) == ("relation" in variant)
    assert m.features(torch.rand(1, 1, 28, 28)).shape == (1, 16, 14, 14)


def test_unknown_variant():
    with pytest.raises(ValueError, match="variant must be one of"):
        AdaptiveNet("attention")
