r"""Graph attention (Veličković et al., ICLR 2018) as an instance of the relation formula.

GAT, Eqs. (1)-(4): with :math:`z_j = W h_j`, head by head,

.. math::

    e_{ij} = \mathrm{LeakyReLU}\big(a^\top [z_i \,\|\, z_j]\big), \qquad
    w_{ij} = \operatorname{softmax}_{j \in N(i)} e_{ij}, \qquad
    y_i = \sum_{j \in N(i)} w_{ij} z_j

In the book's terms: the elements are nodes, the neighbourhood is the graph's edges plus a
self-loop, the appearance term :math:`e_{ij}` is *learnt* from the features (where GCN's weights
are fixed by the degrees), there is no geometry term, and the normalisation is a softmax. Since
:math:`a^\top [z_i \| z_j] = a_l^\top z_i + a_r^\top z_j`, the score is a sum of two per-node
numbers. The heads are concatenated (``concat=True``) or averaged (the paper's output layer).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..ops.graph import check_adjacency
from ..ops.relation import relation

__all__ = ["GraphAttention"]


class GraphAttention(nn.Module):
    """One graph-attention layer (no activation); see the module docstring.

    Args:
        channels (int): size of the node features h_j.
        out_channels (int): size of each head's output z_j.
        num_heads (int): K heads. Default: 1.
        concat (bool): concatenate the heads (output K * out_channels) or average them
            (output out_channels). Default: True.
        negative_slope (float): of the LeakyReLU. Default: 0.2 (the paper's).
        bias (bool): add a bias to the output. Default: True.
    """

    def __init__(self, channels: int, *, out_channels: int, num_heads: int = 1,
                 concat: bool = True, negative_slope: float = 0.2, bias: bool = True) -> None:
        super().__init__()
        self.channels, self.out_channels, self.num_heads = channels, out_channels, num_heads
        self.concat, self.negative_slope = concat, negative_slope
        self.weight = nn.Parameter(torch.empty(channels, num_heads * out_channels))   # W
        self.att_src = nn.Parameter(torch.empty(num_heads, out_channels))   # a_l (node i)
        self.att_dst = nn.Parameter(torch.empty(num_heads, out_channels))   # a_r (node j)
        width = num_heads * out_channels if concat else out_channels
        self.bias = nn.Parameter(torch.empty(width)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot (Xavier) uniform W and a, zero bias (the GAT code's choice)."""
        nn.init.xavier_uniform_(self.weight)
        nn.init.xavier_uniform_(self.att_src)
        nn.init.xavier_uniform_(self.att_dst)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, h: Tensor, adjacency: Tensor, return_weights: bool = False, *,
                sparse: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """
        Args:
            h (Tensor[N, channels]): node features.
            adjacency (Tensor[N, N]): A; a positive entry is an edge (self-loops added here).
            return_weights (bool): also return w, Tensor[K, N, N]. Default: False.
            sparse (bool): compute the same sums over the edge list instead of dense N x N
                relation weights (the same numbers up to rounding; fast on a large sparse graph;
                no ``return_weights``). Default: False.

        Returns:
            Tensor[N, K * out_channels] (concat) or Tensor[N, out_channels].
        """
        check_adjacency(adjacency)
        n = h.shape[0]
        if h.dim() != 2 or adjacency.shape[0] != n:
            raise ValueError(f"h must be Tensor[N, {self.channels}] with N = "
                             f"{adjacency.shape[0]} nodes; got {tuple(h.shape)}")
        z = (h @ self.weight).view(n, self.num_heads, self.out_channels).transpose(0, 1)  # [K,N,d]
        # e_ij = LeakyReLU(a_l·z_i + a_r·z_j)
        e = F.leaky_relu((z * self.att_src[:, None]).sum(-1)[:, :, None]
                         + (z * self.att_dst[:, None]).sum(-1)[:, None, :], self.negative_slope)
        edges = (adjacency > 0) | torch.eye(n, dtype=torch.bool, device=h.device)  # N(i) ∪ {i}
        if sparse:
            if return_weights:
                raise ValueError("return_weights needs the dense path (sparse=False)")
            y = self._edge_sum(z, edges)
            y = y.transpose(0, 1).reshape(n, -1) if self.concat else y.mean(0)
            return y if self.bias is None else y + self.bias
        y, w = relation(z, appearance=e, neighbourhood=edges, return_weights=True)   # [K, N, d]
        y = y.transpose(0, 1).reshape(n, -1) if self.concat else y.mean(0)
        if self.bias is not None:
            y = y + self.bias
        return (y, w) if return_weights else y

    def _edge_sum(self, z: Tensor, edges: Tensor) -> Tensor:
        """y_i = Σ_{j ∈ N(i)} softmax_j(e_ij) z_j over the edge list (i, j) of ``edges``."""
        i, j = edges.nonzero(as_tuple=True)                                   # [E], [E]
        e = F.leaky_relu((z * self.att_src[:, None]).sum(-1)[:, i]
                         + (z * self.att_dst[:, None]).sum(-1)[:, j], self.negative_slope)  # [K,E]
        ex = torch.exp(e - e.amax(dim=1, keepdim=True))     # a shift per head: same softmax
        denom = torch.zeros(z.shape[:2], dtype=z.dtype, device=z.device).index_add(1, i, ex)
        w = ex / denom[:, i]                                                  # w_ij, [K, E]
        return torch.zeros_like(z).index_add(1, i, w[..., None] * z[:, j])    # [K, N, d]

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, out_channels={self.out_channels}, "
                f"num_heads={self.num_heads}, concat={self.concat}")
