"""The constructor contract of every block exported from relnotes.nn (timm-like):

- the first argument is ``channels``, the input width, and every other argument is keyword-only;
- a block with a reduced width (``rd_ratio``) stores it as ``block.rd_channels``, computed by
  :func:`relnotes.nn.reduction.reduced_channels`;
- every block has its own ``reset_parameters()`` (re-initialises from the global generator
  alone) and ``extra_repr()``;
- ``zero_init_last`` defaults to True, or the block documents why its default is False.
"""

import inspect

import pytest
import torch
from torch import nn

import relnotes.nn
from relnotes.nn.reduction import reduced_channels

BLOCKS = [getattr(relnotes.nn, name) for name in relnotes.nn.__all__
          if isinstance(getattr(relnotes.nn, name), type)
          and issubclass(getattr(relnotes.nn, name), nn.Module)]


def small(block: type[nn.Module]) -> nn.Module:
    """An instance with small sizes: 32 channels and the block's required keywords."""
    required = {"GraphConv": dict(out_channels=8), "PropagationConv": dict(out_channels=8),
                "GraphAttention": dict(out_channels=8), "MultiHeadAttention": dict(num_heads=4), "MultiHeadSelfAttention": dict(num_heads=4),
                "ObjectRelation": dict(n_relations=4, d_k=8, d_g=16),
                "ObjectRelationNoGeometry": dict(n_relations=4, d_k=8, d_g=16),
                "ObjectRelationUnary": dict(n_relations=4, d_k=8, d_g=16),
                "DuplicateRemoval": dict(d_f=16, n_relations=4, d_k=4, d_g=16, rank_dim=16)}
    return block(32, **required.get(block.__name__, {}))


def test_every_block_is_covered():
    assert len(BLOCKS) >= 12
    assert {b.__name__ for b in BLOCKS} >= {"LocalRelation2d", "NonLocal2d", "SqueezeExcitation",
                                           "GlobalContextBlock", "SimplifiedNonLocal2d"}


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.__name__)
def test_channels_first_then_keyword_only(block):
    params = list(inspect.signature(block.__init__).parameters.values())[1:]   # drop self
    assert params[0].name == "channels"
    assert params[0].kind == inspect.Parameter.POSITIONAL_OR_KEYWORD
    for p in params[1:]:
        assert p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD), p.name


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.__name__)
def test_reset_parameters_and_extra_repr_are_the_blocks_own(block):
    assert callable(getattr(block, "reset_parameters", None))
    assert block.extra_repr is not nn.Module.extra_repr
    m = small(block)
    assert m.extra_repr() and m.extra_repr() in repr(m)
    # reset_parameters depends on the global generator only: same seed, same parameters
    torch.manual_seed(0)
    m.reset_parameters()
    first = {k: v.clone() for k, v in m.state_dict().items()}
    with torch.no_grad():
        for p in m.parameters():
            p.add_(1.0)
    torch.manual_seed(0)
    m.reset_parameters()
    for k, v in m.state_dict().items():
        assert torch.equal(v, first[k]), k


@pytest.mark.parametrize("block", [b for b in BLOCKS
                                   if "rd_ratio" in inspect.signature(b.__init__).parameters],
                         ids=lambda b: b.__name__)
def test_reduced_width_from_one_helper_under_one_name(block):
    default = inspect.signature(block.__init__).parameters["rd_ratio"].default
    m = block(64)
    assert m.rd_channels == reduced_channels(64, default)
    assert block(64, rd_channels=3).rd_channels == 3
    assert block(64, rd_ratio=1 / 4).rd_channels == 16


@pytest.mark.parametrize("block", [b for b in BLOCKS
                                   if "zero_init_last" in inspect.signature(b.__init__).parameters],
                         ids=lambda b: b.__name__)
def test_zero_init_last_default_is_true_or_documented(block):
    default = inspect.signature(block.__init__).parameters["zero_init_last"].default
    if default is not True:
        doc = inspect.getdoc(block) or ""
        assert "zero_init_last" in doc and "Default: False (" in doc.replace("\n", " "), (
            f"{block.__name__}: zero_init_last defaults to {default}; say why in the docstring")
