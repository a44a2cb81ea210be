r"""Multi-head attention between two sequences (and self-attention with a mask), as the relation
formula; the attention of the Transformer's encoder and decoder.

Vaswani et al. (2017), Sec. 3.2: queries from one sequence (the decoder's words), keys and values
from another (the encoder's, cross-attention) or the same one (self-attention),

.. math::

    \mathrm{head}_h(i) = \sum_{j \in N(i)} \operatorname{softmax}_j\!\Big(
        \frac{\langle W^h_Q x_i,\ W^h_K m_j \rangle}{\sqrt{d_k}}\Big)\, W^h_V m_j

with :math:`N(i)` all j, the j <= i of a causal mask, or the j that are not padding.
:class:`MultiHeadSelfAttention` is the special case :math:`m = x` without a mask. With
``uniform=True`` the appearance term is dropped (every :math:`\omega_{ij} = 1`): each element
gets the plain mean of its neighbourhood's values, the *no-relation* baseline of the language
chapter (a bag of the elements, with whatever position the features carry).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..ops.relation import relation, scaled_dot_product

__all__ = ["MultiHeadAttention"]


class MultiHeadAttention(nn.Module):
    """Multi-head attention of queries ``x`` over a memory ``m``; see the module docstring.

    Args:
        channels (int): d, the feature size of both sequences.
        num_heads (int): H; d must be divisible by H.
        uniform (bool): no appearance term (the no-relation baseline). Default: False.
        bias (bool): biases in the four projections. Default: True.
    """

    def __init__(self, channels: int, *, num_heads: int, uniform: bool = False,
                 bias: bool = True) -> None:
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"channels ({channels}) must be divisible by num_heads ({num_heads})")
        self.channels, self.num_heads, self.uniform = channels, num_heads, uniform
        self.d_k = channels // num_heads
        self.query = nn.Linear(channels, channels, bias=bias)   # W_Q, all heads stacked
        self.key = nn.Linear(channels, channels, bias=bias)     # W_K
        self.value = nn.Linear(channels, channels, bias=bias)   # W_V
        self.out = nn.Linear(channels, channels, bias=bias)     # W_O

    def reset_parameters(self) -> None:
        """PyTorch's default init of the four projections (what they get when built)."""
        for proj in (self.query, self.key, self.value, self.out):
            proj.reset_parameters()

    def _heads(self, t: Tensor) -> Tensor:
        B, N, _ = t.shape
        return t.view(B, N, self.num_heads, self.d_k).transpose(1, 2)      # [B, H, N, d_k]

    def forward(self, x: Tensor, memory: Tensor | None = None, *, mask: Tensor | None = None,
                return_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """
        Args:
            x (Tensor[B, N, d]): the queries' elements.
            memory (Tensor[B, M, d], optional): keys' and values' elements. Default: ``x``.
            mask (BoolTensor[N, M] or [B, 1, N, M], optional): True where j is in N(i).
            return_weights (bool): also return the weights, Tensor[B, H, N, M].

        Returns:
            Tensor[B, N, d]
        """
        m = x if memory is None else memory
        if x.dim() != 3 or m.dim() != 3 or x.shape[-1] != self.channels \
                or m.shape[-1] != self.channels or m.shape[0] != x.shape[0]:
            raise ValueError(f"x and memory must be Tensor[B, N, {self.channels}] and "
                             f"Tensor[B, M, {self.channels}]; got {tuple(x.shape)} and "
                             f"{tuple(m.shape)}")
        B, N, _ = x.shape
        v = self._heads(self.value(m))
        if self.uniform:        # ω_ij = 1: the mean over the neighbourhood
            scores = torch.zeros(B, self.num_heads, N, m.shape[1], dtype=v.dtype,
                                 device=v.device)
        else:
            scores = scaled_dot_product(self._heads(self.query(x)), self._heads(self.key(m)))
        y, w = relation(v, appearance=scores, neighbourhood=mask, return_weights=True)
        y = self.out(y.transpose(1, 2).reshape(B, N, self.channels))   # concat heads, then W_O
        return (y, w) if return_weights else y

    @torch.no_grad()
    def copy_from(self, mha: nn.MultiheadAttention) -> "MultiHeadAttention":
        """Load the weights of a ``torch.nn.MultiheadAttention`` (``batch_first`` or not) of the
        same size; its ``in_proj_weight`` stacks W_Q, W_K, W_V."""
        if (mha.embed_dim, mha.num_heads) != (self.channels, self.num_heads):
            raise ValueError(f"size mismatch: this module has (embed_dim, num_heads) = "
                             f"{(self.channels, self.num_heads)}, the source "
                             f"{(mha.embed_dim, mha.num_heads)}")
        if mha.in_proj_weight is None:
            raise ValueError("the source uses separate kdim/vdim projections; not supported")
        d = self.channels
        for i, proj in enumerate((self.query, self.key, self.value)):
            proj.weight.copy_(mha.in_proj_weight[i * d:(i + 1) * d])
            if proj.bias is not None:
                proj.bias.copy_(mha.in_proj_bias[i * d:(i + 1) * d])
        self.out.weight.copy_(mha.out_proj.weight)
        if self.out.bias is not None:
            self.out.bias.copy_(mha.out_proj.bias)
        return self

    def extra_repr(self) -> str:
        return f"channels={self.channels}, num_heads={self.num_heads}, uniform={self.uniform}"
