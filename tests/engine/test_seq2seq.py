"""Seq2seq training and greedy decoding on a tiny copy task."""

import pytest
import torch

from relnotes.data.number_words import BOS, EOS
from relnotes.engine.seq2seq import greedy_decode, seq2seq_metrics, train_seq2seq
from relnotes.models.transformer import Seq2SeqTransformer


def copy_task(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    body = torch.randint(3, 8, (n, 3), generator=g)
    seq = torch.cat([torch.full((n, 1), BOS), body, torch.full((n, 1), EOS)], 1)
    return seq, seq.clone()


def test_training_lowers_the_loss_and_decoding_copies():
    src, tgt = copy_task()
    torch.manual_seed(0)
    model = Seq2SeqTransformer(8, 8, d_model=32, num_heads=2, layers=1, ff=64)
    r = train_seq2seq(model, src, tgt, steps=150, batch_size=64, lr=3e-3, seed=0)
    assert r["final_loss"] < 0.5 * r["initial_loss"]
    m = seq2seq_metrics(model, src[:64], tgt[:64])
    assert m["token_accuracy"] > 0.9 and 0 <= m["exact_match"] <= 1
    pred, w = greedy_decode(model, src[:2], 5)
    assert pred.shape == (2, 5) and bool((pred[:, 0] == BOS).all())
    assert w.shape == (2, 2, 4, 5)
    with pytest.raises(ValueError, match=r"steps must be a positive int"):
        train_seq2seq(model, src, tgt, steps=0)

