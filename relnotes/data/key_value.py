"""Key-value lookup: a toy task whose right attention pattern is known in advance.

Every example is a small *set* of ``n_pairs`` memory elements, each a (key, value) pair with
distinct keys, followed by one query element that carries a key of the memory and a blank value.
The target is the value stored under the query's key. A relation network solves it by putting
all of the query's weight on the one memory element whose key matches, and copying that
element's value: the soft dictionary lookup of the opening chapter, made hard. Which element is
right is known for every example (``match``), so a trained network's weights can be compared with
the answer. Chance accuracy is ``1 / n_values``.

    >>> tokens, labels, match = key_value_lookup(2, n_pairs=4, n_keys=8, n_values=5, seed=0)
    >>> tokens.shape, labels.shape, match.shape
    (torch.Size([2, 5, 2]), torch.Size([2]), torch.Size([2]))
    >>> bool((tokens[0, match[0], 1] == labels[0]) and (tokens[0, -1, 0] == tokens[0, match[0], 0]))
    True
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["key_value_lookup"]


def key_value_lookup(n: int, *, n_pairs: int, n_keys: int, n_values: int,
                     seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """``n`` lookup examples drawn with ``seed``.

    Args:
        n (int): number of examples.
        n_pairs (int): memory elements per example; the query is element ``n_pairs`` (the last).
        n_keys (int): size of the key vocabulary (>= n_pairs, keys in one example are distinct).
        n_values (int): size of the value vocabulary; the blank value of the query is the extra
            id ``n_values``.
        seed (int): seeds a private generator (the global one is not touched).

    Returns:
        tokens (Tensor[n, n_pairs + 1, 2]): int64 (key id, value id) of every element.
        labels (Tensor[n]): int64, the value stored under the query's key.
        match (Tensor[n]): int64, the index of the memory element whose key matches.
    """
    if n_pairs < 1 or n_keys < n_pairs:
        raise ValueError(f"need 1 <= n_pairs <= n_keys; got n_pairs={n_pairs}, n_keys={n_keys}")
    if n_values < 2:
        raise ValueError(f"n_values must be >= 2; got {n_values}")
    g = torch.Generator().manual_seed(seed)
    keys = torch.rand(n, n_keys, generator=g).argsort(dim=1)[:, :n_pairs]   # distinct keys
    values = torch.randint(n_values, (n, n_pairs), generator=g)
    match = torch.randint(n_pairs, (n,), generator=g)
    rows = torch.arange(n)
    query = torch.stack([keys[rows, match], torch.full((n,), n_values)], dim=1)   # [n, 2]
    tokens = torch.cat([torch.stack([keys, values], dim=2), query[:, None]], dim=1)
    return tokens, values[rows, match], match
