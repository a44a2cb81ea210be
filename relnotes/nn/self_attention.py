r"""Multi-head self-attention as an instance of the relation formula.

Vaswani et al., "Attention Is All You Need" (2017), Sec. 3.2: for every element i of a sequence,

.. math::

    \mathrm{head}_h(i) = \sum_j \operatorname{softmax}_j\!\Big(
        \frac{\langle W^h_Q f_i,\ W^h_K f_j \rangle}{\sqrt{d_k}}\Big)\, W^h_V f_j,
    \qquad y_i = W_O\,[\mathrm{head}_1(i); \dots; \mathrm{head}_H(i)]

In the book's terms: the elements are words, the neighbourhood is every word, the appearance term
is the scaled dot product, there is no geometry term, and the weights are normalised by a softmax.
The same block, with a geometry term added, is the object relation module of RN (Hu et al. 2018).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..ops.relation import relation, scaled_dot_product

__all__ = ["MultiHeadSelfAttention"]


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention; see the module docstring.

    Args:
        channels (int): d, the feature size of every element (``embed_dim`` in PyTorch).
        num_heads (int): H; d must be divisible by H, each head has d_k = d / H.
        bias (bool): biases in the four projections. Default: True.
    """

    def __init__(self, channels: int, *, num_heads: int, bias: bool = True) -> None:
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"channels ({channels}) must be divisible by num_heads ({num_heads})")
        embed_dim = channels
        self.channels = self.embed_dim = channels       # embed_dim: torch.nn.MultiheadAttention's
        self.num_heads = num_heads
        self.d_k = embed_dim // num_heads
        self.query = nn.Linear(embed_dim, embed_dim, bias=bias)   # W_Q, all heads stacked
        self.key = nn.Linear(embed_dim, embed_dim, bias=bias)     # W_K
        self.value = nn.Linear(embed_dim, embed_dim, bias=bias)   # W_V
        self.out = nn.Linear(embed_dim, embed_dim, bias=bias)     # W_O

    def reset_parameters(self) -> None:
        """PyTorch's default init of the four projections (what they get when built; the
        constructor does not call this, so building the block draws each weight once)."""
        for proj in (self.query, self.key, self.value, self.out):
            proj.reset_parameters()

    def forward(self, x: Tensor, return_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """
        Args:
            x (Tensor[B, N, d]): the features f_i of N elements.
            return_weights (bool): also return the weights, Tensor[B, H, N, N]. Default: False.

        Returns:
            Tensor[B, N, d]
        """
        if x.dim() != 3 or x.shape[-1] != self.embed_dim:
            raise ValueError(f"x must be Tensor[B, N, {self.embed_dim}]; got {tuple(x.shape)}")
        B, N, _ = x.shape
        # [B, H, N, d_k]: head h, element i
        q, k, v = (proj(x).view(B, N, self.num_heads, self.d_k).transpose(1, 2)
                   for proj in (self.query, self.key, self.value))
        y, w = relation(v, appearance=scaled_dot_product(q, k), return_weights=True)
        y = self.out(y.transpose(1, 2).reshape(B, N, self.embed_dim))  # concat heads, then W_O
        return (y, w) if return_weights else y

    @torch.no_grad()
    def copy_from(self, mha: nn.MultiheadAttention) -> "MultiHeadSelfAttention":
        """Load the weights of a ``torch.nn.MultiheadAttention`` of the same size.

        PyTorch stores W_Q, W_K, W_V stacked in ``in_proj_weight`` ([3d, d]), in that order.
        """
        if (mha.embed_dim, mha.num_heads) != (self.embed_dim, self.num_heads):
            raise ValueError(f"size mismatch: this module has (embed_dim, num_heads) = "
                             f"{(self.embed_dim, self.num_heads)}, the source "
                             f"{(mha.embed_dim, mha.num_heads)}")
        if mha.in_proj_weight is None:
            raise ValueError("the source uses separate kdim/vdim projections; not supported")
        for i, proj in enumerate((self.query, self.key, self.value)):
            proj.weight.copy_(mha.in_proj_weight[i * self.embed_dim:(i + 1) * self.embed_dim])
            if proj.bias is not None:
                proj.bias.copy_(mha.in_proj_bias[i * self.embed_dim:(i + 1) * self.embed_dim])
        self.out.weight.copy_(mha.out_proj.weight)
        if self.out.bias is not None:
            self.out.bias.copy_(mha.out_proj.bias)
        return self

    def extra_repr(self) -> str:
        return f"channels={self.channels}, num_heads={self.num_heads}"
