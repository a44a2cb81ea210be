"""Affine digits: deterministic, balanced, the identity when nothing is drawn."""

import doctest
import importlib

import pytest
import torch

from relnotes.data.affine_digits import affine_digits, random_affine


def test_doctests():
    module = importlib.import_module("relnotes.data.affine_digits")
    assert doctest.testmod(module, extraglobs={"torch": torch}).failed == 0


def test_pure_function_of_its_arguments_and_balanced():
    x1, y1 = affine_digits("train", n=50, seed=3)
    x2, y2 = affine_digits("train", n=50, seed=3)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert x1.shape == (50, 1, 28, 28)
    assert torch.bincount(y1).tolist() == [5] * 10
    assert not torch.equal(x1, affine_digits("train", n=50, seed=4)[0])


def test_n_must_keep_classes_balanced():
    with pytest.raises(ValueError, match="multiple of 10"):
        affine_digits("train", n=15)
    with pytest.raises(ValueError, match="multiple of 10"):
        affine_digits("no such split", n=0)       # refused before any data is read
    with pytest.raises(ValueError, match=r"n must be at most \d+0$"):
        affine_digits("test", n=100_000)          # not silently fewer than asked
