r"""Graph convolution (Kipf & Welling, ICLR 2017) as an instance of the relation formula.

Kipf & Welling, "Semi-Supervised Classification with Graph Convolutional Networks", Eq. (2):

.. math::

    H' = \tilde D^{-1/2} \tilde A \tilde D^{-1/2} H W, \qquad \tilde A = A + I,\quad
    \tilde D_{ii} = \textstyle\sum_j \tilde A_{ij}

Row i of the product is :math:`y_i = \sum_j w_{ij} (W^\top h_j)` with
:math:`w_{ij} = \tilde A_{ij} / \sqrt{\tilde D_{ii} \tilde D_{jj}}`. In the book's terms: the
elements are nodes, the neighbourhood is the graph's edges plus a self-loop, there is no appearance
term, the geometry term is the edge weight :math:`\tilde A_{ij}`, and the normalisation is the
symmetric one. The weights are fixed by the graph, not learned from the features: this is the
relation formula with the simplest possible relation.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..ops.relation import relation

__all__ = ["GraphConv"]


class GraphConv(nn.Module):
    """One graph-convolution layer (no activation); see the module docstring.

    Args:
        channels (int): size of the node features h_j.
        out_channels (int): size of the output features.
        bias (bool): add a bias after aggregation. Default: True.
    """

    def __init__(self, channels: int, *, out_channels: int, bias: bool = True) -> None:
        super().__init__()
        self.channels, self.out_channels = channels, out_channels
        self.weight = nn.Parameter(torch.empty(channels, out_channels))       # W
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot (Xavier) uniform weights and zero bias, as in Kipf & Welling's code."""
        nn.init.xavier_uniform_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, h: Tensor, adjacency: Tensor) -> Tensor:
        """
        Args:
            h (Tensor[..., N, channels]): node features.
            adjacency (Tensor[N, N]): A, non-negative edge weights (symmetric for an undirected
                graph); self-loops are added here.

        Returns:
            Tensor[..., N, out_channels]
        """
        n = h.shape[-2]
        if adjacency.shape != (n, n):
            raise ValueError(f"adjacency must be Tensor[N, N] with N = {n} nodes; got "
                             f"{tuple(adjacency.shape)}")
        a_tilde = adjacency + torch.eye(n, dtype=adjacency.dtype, device=adjacency.device)  # A + I
        y = relation(h @ self.weight, geometry=a_tilde.to(h.dtype), normalization="symmetric")
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"channels={self.channels}, out_channels={self.out_channels}, " \
               f"bias={self.bias is not None}"
