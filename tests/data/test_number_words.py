"""Digits -> German number words: tokens, disjoint splits, an unknown language."""

import pytest
import torch

from relnotes.data.number_words import BOS, EOS, PAD, number_words


def test_splits_tokens_and_round_trip():
    train, test = number_words(lang="de", max_number=999, train_size=700, test_size=300, seed=0)
    assert len(train.numbers) == 700 and len(test.numbers) == 300
    assert not set(train.numbers) & set(test.numbers)
    assert train.src.shape == (700, 5) and train.tgt.shape[0] == 700
    for split in (train, test):
        for n, s, t in zip(split.numbers[:50], split.src, split.tgt):
            assert s[0] == BOS and t[0] == BOS
            assert split.src_vocab.decode(s[1:]) == str(n)
        assert int(((split.tgt == EOS).sum(1) == 1).sum()) == len(split.numbers)
    words = {n: train.tgt_vocab.decode(t[1:]) for n, t in zip(train.numbers, train.tgt)}
    words.update({n: test.tgt_vocab.decode(t[1:]) for n, t in zip(test.numbers, test.tgt)})
    assert words[97] == "siebenundneunzig" and words[345] == "dreihundertfünfundvierzig"
    assert train.tgt[0, -1] in (PAD, EOS)


def test_same_seed_same_split_and_clear_errors():
    a, _ = number_words(max_number=99, train_size=50, test_size=20, seed=3)
    b, _ = number_words(max_number=99, train_size=50, test_size=20, seed=3)
    assert a.numbers == b.numbers and torch.equal(a.tgt, b.tgt)
    with pytest.raises(ValueError, match=r"num2words has no language 'xx'; known: .*de"):
        number_words(lang="xx")
    with pytest.raises(ValueError, match=r"only 100 exist"):
        number_words(max_number=99, train_size=90, test_size=20)
