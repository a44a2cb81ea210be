"""GCN Table 3 propagation matrices: values on a path graph, and clear errors."""

import pytest
import torch

from relnotes.ops.graph import (
    PROPAGATIONS, check_adjacency, normalized_adjacency, propagation, renormalized_adjacency,
)

# path 0 - 1 - 2
A = torch.tensor([[0., 1., 0.], [1., 0., 1.], [0., 1., 0.]], dtype=torch.float64)


def test_renormalized_adjacency_by_hand():
    # Ã = A + I has degrees (2, 3, 2): Â_ij = Ã_ij / sqrt(d_i d_j)
    expected = torch.tensor([[1 / 2, 1 / 6 ** .5, 0], [1 / 6 ** .5, 1 / 3, 1 / 6 ** .5],
                             [0, 1 / 6 ** .5, 1 / 2]], dtype=torch.float64)
    assert torch.allclose(renormalized_adjacency(A), expected)


def test_normalized_adjacency_and_an_isolated_node():
    a = torch.zeros(4, 4, dtype=torch.float64)
    a[:3, :3] = A
    n = normalized_adjacency(a)
    assert n[0, 1] == pytest.approx(1 / 2 ** .5)
    assert torch.equal(n[3], torch.zeros(4, dtype=torch.float64))    # no NaN for degree 0


def test_variants():
    eye = torch.eye(3, dtype=torch.float64)
    first = propagation(A, "first_order")
    assert len(first) == 2 and torch.equal(first[0], eye)
    assert torch.allclose(first[1], normalized_adjacency(A))
    assert torch.allclose(propagation(A, "single")[0], eye + normalized_adjacency(A))
    assert torch.allclose(propagation(A, "renormalized")[0], renormalized_adjacency(A))
    assert torch.equal(propagation(A, "mlp")[0], eye)
    assert set(PROPAGATIONS) == {"first_order", "single", "renormalized", "mlp"}
    with pytest.raises(ValueError, match=r"variant must be one of"):
        propagation(A, "chebyshev")


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(3, 4), r"square Tensor\[N, N\]; got shape \(3, 4\)"),
    (torch.zeros(3), r"square Tensor\[N, N\]"),
    (-A, r"weights must be >= 0; got a minimum of -1"),
    (A * float("nan"), r"NaN or infinite"),
])
def test_malformed_adjacency_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        check_adjacency(bad)
    with pytest.raises(ValueError, match=message):
        renormalized_adjacency(bad)
