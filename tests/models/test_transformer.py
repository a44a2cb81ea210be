"""Seq2SeqTransformer: shapes, causal decoding, the uniform twin has the same parameters."""

import torch

from relnotes.analysis import count_parameters
from relnotes.models.transformer import Seq2SeqTransformer


def test_shapes_and_causality():
    torch.manual_seed(0)
    model = Seq2SeqTransformer(13, 20, d_model=16, num_heads=2, layers=1, ff=32).eval()
    src = torch.tensor([[1, 5, 6, 2, 0], [1, 7, 2, 0, 0]])
    tgt = torch.randint(3, 20, (2, 6))
    logits = model(src, tgt)
    assert logits.shape == (2, 6, 20)
    changed = tgt.clone()
    changed[:, 4:] = 3
    # the first 4 outputs do not see targets 4 and 5
    assert torch.allclose(model(src, changed)[:, :4], logits[:, :4], atol=1e-6)
    # padding in the source is not read
    padded = src.clone()
    padded[1, 3:] = 0
    assert torch.allclose(model(padded, tgt), logits, atol=1e-6)


def test_no_relation_twin_has_the_same_parameters_and_uniform_cross_attention():
    a = Seq2SeqTransformer(13, 20, d_model=16, num_heads=2, layers=1, ff=32)
    b = Seq2SeqTransformer(13, 20, d_model=16, num_heads=2, layers=1, ff=32, relation=False)
    assert count_parameters(a) == count_parameters(b)
    src = torch.tensor([[1, 5, 6, 2, 0]])
    memory, keys = b.encode(src)
    _, w = b.decode(torch.tensor([[1, 4, 5]]), memory, keys)
    assert torch.allclose(w, torch.tensor([0.25, 0.25, 0.25, 0.25, 0.0]).expand_as(w))
