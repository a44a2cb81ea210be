"""Seeds and random-number-generator state.

A run of the book is reproducible when three things are fixed: the seeds of every random number
generator the code touches (Python's ``random``, NumPy's global generator and PyTorch's), the
number of CPU threads (a parallel reduction adds its partial sums in an order that depends on how
the work is split), and the library versions. :func:`seed_everything` fixes the first two.

To resume an interrupted run *exactly*, a checkpoint must also carry the generators' current
state, not only the seed they started from: after 1,000 steps of dropout the torch generator is
somewhere in the middle of its stream. :func:`rng_state` captures that state and
:func:`set_rng_state` puts it back. The state holds only tensors, ints, floats, strings, tuples,
lists and dicts, so it can be saved with ``torch.save`` and read back with
``torch.load(..., weights_only=True)``, which refuses to unpickle anything else.

On a GPU, bit-exact runs also need ``torch.use_deterministic_algorithms(True)`` (see PyTorch's
"Reproducibility" notes). We do not switch it on here: it slows some kernels and makes others
raise, and the book's CPU profiles do not need it.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = ["seed_everything", "rng_state", "set_rng_state"]


def check_seed(seed: int, name: str = "seed") -> None:
    """Raise ``ValueError`` unless ``seed`` is an int in [0, 2**32), the range NumPy accepts."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"{name} must be an int in [0, 2**32); got {seed!r}")


def seed_everything(seed: int, threads: int | None = None) -> torch.Generator:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and every GPU), and optionally fix threads.

    Two runs on the same machine with the same ``seed`` and ``threads`` give identical numbers on
    CPU.

    Args:
        seed (int): the seed, in [0, 2**32).
        threads (int, optional): if given, ``torch.set_num_threads(threads)``. Default: None
            (leave PyTorch's thread count as it is).

    Returns:
        torch.Generator: a fresh CPU generator seeded with ``seed``, for code that wants its own
        stream (a synthetic data generator, say) without moving the global one.

    Examples:
        >>> g = seed_everything(0, threads=1)
        >>> a = torch.rand(2); _ = seed_everything(0); torch.equal(a, torch.rand(2))
        True
    """
    check_seed(seed)
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive int or None; got {threads!r}")
        torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """The current state of every global generator, in a form ``weights_only`` loading accepts.

    Returns:
        dict: ``"python"`` (Python's state tuple of ints), ``"numpy"`` (NumPy's state dict with
        its 624-word key as a ``Tensor[624]`` of int64 instead of an ndarray), ``"torch"``
        (``Tensor[5056]`` of uint8) and ``"cuda"`` (one such tensor per GPU; empty without CUDA).
    """
    numpy_state = np.random.get_state(legacy=False)
    numpy_state["state"]["key"] = torch.from_numpy(numpy_state["state"]["key"].astype(np.int64))
    return {
        "python": random.getstate(),
        "numpy": numpy_state,
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators from a :func:`rng_state` dict (possibly after save and load)."""
    version, words, gauss_next = state["python"]
    random.setstate((version, tuple(words), gauss_next))
    numpy_state = {**state["numpy"]}
    numpy_state["state"] = {**numpy_state["state"]}
    numpy_state["state"]["key"] = numpy_state["state"]["key"].numpy().astype(np.uint32)
    np.random.set_state(numpy_state)
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
