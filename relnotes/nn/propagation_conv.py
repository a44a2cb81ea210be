r"""A graph convolution with any propagation model of GCN Table 3 (Kipf & Welling, ICLR 2017).

:class:`relnotes.nn.GraphConv` is the paper's chosen model, Eq. (8). This block takes the variant
as a keyword so that the Table 3 ablation trains one network family with one switch
(:func:`relnotes.ops.graph.propagation` lists them). Each propagation matrix :math:`P` enters
the relation formula as fixed, non-negative weights, :math:`y_i = \sum_j P_{ij} (W^\top h_j)`;
``first_order`` sums two such terms with their own weights (Eq. (6)), ``mlp`` has :math:`P = I`
(a per-node linear layer: no relation at all).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..ops.graph import PROPAGATIONS, propagation
from ..ops.relation import relation

__all__ = ["PropagationConv"]


class PropagationConv(nn.Module):
    """One graph-convolution layer (no activation) with a Table 3 propagation model.

    Args:
        channels (int): size of the node features h_j.
        out_channels (int): size of the output features.
        variant (str): ``"renormalized"`` (Eq. 8), ``"single"`` (Eq. 7), ``"first_order"``
            (Eq. 6) or ``"mlp"``. Default: ``"renormalized"``.
        bias (bool): add a bias after aggregation. Default: True.
    """

    def __init__(self, channels: int, *, out_channels: int, variant: str = "renormalized",
                 bias: bool = True) -> None:
        super().__init__()
        if variant not in PROPAGATIONS:
            raise ValueError(f"variant must be one of {PROPAGATIONS}; got {variant!r}")
        self.channels, self.out_channels, self.variant = channels, out_channels, variant
        n_terms = 2 if variant == "first_order" else 1
        # Θ (Θ_0, Θ_1 for Eq. (6))
        self.weight = nn.Parameter(torch.empty(n_terms, channels, out_channels))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot (Xavier) uniform weights and zero bias, as in Kipf & Welling's code."""
        for w in self.weight:
            nn.init.xavier_uniform_(w)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, h: Tensor, adjacency: Tensor, *,
                matrices: tuple[Tensor, ...] | None = None) -> Tensor:
        """
        Args:
            h (Tensor[N, channels]): node features.
            adjacency (Tensor[N, N]): A, non-negative edge weights, no self-loops needed.
            matrices (tuple[Tensor[N, N], ...], optional): ``propagation(adjacency, variant)``
                computed once by the caller, dense or sparse (a network reuses them in every
                layer and step: the same numbers, much faster on a large sparse graph).

        Returns:
            Tensor[N, out_channels]
        """
        if h.dim() != 2 or adjacency.shape != (h.shape[0], h.shape[0]):
            raise ValueError(f"h must be Tensor[N, {self.channels}] and adjacency Tensor[N, N]; "
                             f"got {tuple(h.shape)} and {tuple(adjacency.shape)}")
        y = 0
        if matrices is None:
            for p, w in zip(propagation(adjacency.to(h.dtype), self.variant), self.weight):
                # y_i += Σ_j P_ij (Θ^T h_j): the relation formula with fixed weights P
                y = y + relation(h @ w, geometry=p, normalization="none")
        else:
            if len(matrices) != self.weight.shape[0]:
                raise ValueError(f"variant {self.variant!r} needs {self.weight.shape[0]} "
                                 f"propagation matrices; got {len(matrices)}")
            for p, w in zip(matrices, self.weight):
                y = y + (h @ w if self.variant == "mlp" else p @ (h @ w))   # P = I: no product
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, out_channels={self.out_channels}, "
                f"variant={self.variant!r}, bias={self.bias is not None}")
