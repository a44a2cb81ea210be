"""Tests for relnotes.engine.seed: seeding and RNG state that survives torch.save/load."""

import random

import numpy as np
import pytest
import torch

from relnotes.engine.seed import rng_state, seed_everything, set_rng_state


@pytest.fixture(autouse=True)
def keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def draw() -> tuple[float, float, torch.Tensor]:
    return random.random(), float(np.random.rand()), torch.rand(3)


def test_seed_everything_repeats_all_generators():
    seed_everything(7)
    first = draw()
    seed_everything(7)
    second = draw()
    assert first[:2] == second[:2]
    assert torch.equal(first[2], second[2])
    seed_everything(8)
    third = draw()
    assert third[0] != first[0] and third[1] != first[1]
    assert not torch.equal(third[2], first[2])


def test_seed_everything_returns_seeded_generator_and_sets_threads():
    generator = seed_everything(3, threads=1)
    assert torch.get_num_threads() == 1
    expected = torch.rand(4, generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.rand(4, generator=generator), expected)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True])
def test_seed_everything_rejects_bad_seed(seed):
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, 2\*\*32\); got"):
        seed_everything(seed)


def test_seed_everything_rejects_bad_threads():
    with pytest.raises(ValueError, match="threads must be a positive int or None; got 0"):
        seed_everything(0, threads=0)


def test_rng_state_round_trips_through_weights_only_load(tmp_path):
    seed_everything(11)
    random.gauss(0, 1)  # leaves a cached gaussian in Python's state
    np.random.normal()  # and in NumPy's
    path = tmp_path / "rng.pt"
    torch.save(rng_state(), path)
    expected = draw() + (random.gauss(0, 1), float(np.random.normal()))

    seed_everything(99)  # move every generator somewhere else
    set_rng_state(torch.load(path, weights_only=True))
    got = draw() + (random.gauss(0, 1), float(np.random.normal()))
    assert got[:2] == expected[:2]
    assert torch.equal(got[2], expected[2])
    assert got[3:] == expected[3:]


def test_rng_state_holds_only_weights_only_types():
    state = rng_state()
    assert isinstance(state["numpy"]["state"]["key"], torch.Tensor)
    assert state["numpy"]["state"]["key"].shape == (624,)
    assert state["torch"].dtype == torch.uint8
