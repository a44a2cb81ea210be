import doctest
import importlib

import pytest
import torch

from relnotes.data.key_value import key_value_lookup


def test_docstring_examples():
    module = importlib.import_module("relnotes.data.key_value")
    assert doctest.testmod(module).failed == 0


def test_the_label_is_the_value_under_the_query_key():
    tokens, labels, match = key_value_lookup(200, n_pairs=5, n_keys=9, n_values=4, seed=3)
    assert tokens.shape == (200, 6, 2) and tokens.dtype == torch.int64
    rows = torch.arange(200)
    memory_keys = tokens[:, :5, 0]
    # keys of one example are distinct, so exactly one memory element matches the query
    assert all(len(set(k.tolist())) == 5 for k in memory_keys)
    assert ((memory_keys == tokens[:, 5:, 0]).sum(1) == 1).all()
    assert torch.equal(memory_keys[rows, match], tokens[:, 5, 0])
    assert torch.equal(tokens[rows, match, 1], labels)
    assert (tokens[:, 5, 1] == 4).all()            # the query's blank value
    assert tokens[:, :5, 1].max() < 4 and labels.max() < 4


def test_seeded_and_every_position_used():
    a = key_value_lookup(500, n_pairs=4, n_keys=8, n_values=3, seed=1)
    b = key_value_lookup(500, n_pairs=4, n_keys=8, n_values=3, seed=1)
    c = key_value_lookup(500, n_pairs=4, n_keys=8, n_values=3, seed=2)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])
    assert set(a[2].tolist()) == {0, 1, 2, 3}


@pytest.mark.parametrize("kw", [dict(n_pairs=5, n_keys=4, n_values=3), dict(n_pairs=0, n_keys=4, n_values=3),
                                dict(n_pairs=2, n_keys=4, n_values=1)])
def test_bad_sizes_raise(kw):
    with pytest.raises(ValueError):
        key_value_lookup(3, seed=0, **kw)
