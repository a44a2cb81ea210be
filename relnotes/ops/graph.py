r"""Graph propagation matrices of Kipf & Welling (ICLR 2017), Table 3, as relation weights.

A graph convolution layer computes :math:`H' = \hat A H W`: node i aggregates its neighbours'
transformed features with fixed weights :math:`\hat A_{ij}` that the graph decides. This is the
relation formula :math:`y_i = \sum_j w_{ij} v_j` with :math:`w = \hat A` and :math:`v = HW`. The
paper compares several choices of :math:`\hat A` (Table 3; with :math:`D_{ii} = \sum_j A_{ij}`):

==================  ==========================================================  ==========
variant             propagation                                                 paper
==================  ==========================================================  ==========
``first_order``     :math:`X\Theta_0 + D^{-1/2} A D^{-1/2} X \Theta_1`           Eq. (6)
``single``          :math:`(I + D^{-1/2} A D^{-1/2}) X \Theta`                   Eq. (7)
``renormalized``    :math:`\tilde D^{-1/2} \tilde A \tilde D^{-1/2} X \Theta`,   Eq. (8)
                    :math:`\tilde A = A + I`
``mlp``             :math:`X \Theta` (no graph: :math:`\hat A = I`)              "MLP" row
==================  ==========================================================  ==========

``first_order`` has two weight matrices, so it is not one :math:`\hat A`: :func:`propagation`
returns the two matrices :math:`(I, D^{-1/2} A D^{-1/2})` it sums, and the others one matrix.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["PROPAGATIONS", "check_adjacency", "normalized_adjacency", "renormalized_adjacency",
           "propagation"]

#: The Table 3 rows we build (the Chebyshev rows are not reproduced: our choice).
PROPAGATIONS = ("first_order", "single", "renormalized", "mlp")


def check_adjacency(adjacency: Tensor) -> None:
    """Raise a clear error for a matrix that is not a graph's adjacency: Tensor[N, N], finite,
    non-negative weights."""
    if not isinstance(adjacency, Tensor):
        raise TypeError(f"adjacency must be a torch.Tensor; got {type(adjacency).__name__}")
    if adjacency.dim() != 2 or adjacency.shape[0] != adjacency.shape[1]:
        raise ValueError(f"adjacency must be a square Tensor[N, N]; got shape "
                         f"{tuple(adjacency.shape)}")
    if not bool(torch.isfinite(adjacency).all()):
        raise ValueError("adjacency has NaN or infinite entries")
    if bool((adjacency < 0).any()):
        raise ValueError(f"adjacency weights must be >= 0; got a minimum of "
                         f"{adjacency.min().item():.4g}")


def normalized_adjacency(adjacency: Tensor) -> Tensor:
    r""":math:`D^{-1/2} A D^{-1/2}`, :math:`D_{ii} = \sum_j A_{ij}`; an isolated node's row and
    column are 0 (no division by zero)."""
    check_adjacency(adjacency)
    degree = adjacency.sum(dim=1)                                                  # D_ii
    inv_sqrt = torch.where(degree > 0, degree.rsqrt(), torch.zeros_like(degree))
    return inv_sqrt[:, None] * adjacency * inv_sqrt[None, :]


def renormalized_adjacency(adjacency: Tensor) -> Tensor:
    r"""The renormalisation trick, Eq. (8): :math:`\tilde D^{-1/2} (A + I) \tilde D^{-1/2}`."""
    check_adjacency(adjacency)
    eye = torch.eye(adjacency.shape[0], dtype=adjacency.dtype, device=adjacency.device)
    return normalized_adjacency(adjacency + eye)                                  # Ã = A + I


def propagation(adjacency: Tensor, variant: str = "renormalized") -> tuple[Tensor, ...]:
    """The propagation matrices of one Table 3 variant (see the module docstring).

    Returns:
        tuple[Tensor[N, N], ...]: two matrices for ``first_order`` (each gets its own weight),
        one for the others.
    """
    if variant not in PROPAGATIONS:
        raise ValueError(f"variant must be one of {PROPAGATIONS}; got {variant!r}")
    check_adjacency(adjacency)
    eye = torch.eye(adjacency.shape[0], dtype=adjacency.dtype, device=adjacency.device)
    if variant == "first_order":
        return eye, normalized_adjacency(adjacency)                                # Eq. (6)
    if variant == "single":
        return (eye + normalized_adjacency(adjacency),)                            # Eq. (7)
    if variant == "renormalized":
        return (renormalized_adjacency(adjacency),)                                # Eq. (8)
    return (eye,)                                                                  # MLP
