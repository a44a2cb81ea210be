r"""Multi-head self-attention as an instance of the relation formula.

Vaswani et al., "Attention Is All You Need" (2017), Sec. 3.2: for every element i of a sequence,

.. math::

    \mathrm{head}_h(i) = \sum_j \operatorname{softmax}_j\!\Big(
        \frac{\langle W^h_Q f_i,\ W^h_K f_j \rangle}{\sqrt{d_k}}\Big)\, W^h_V f_j,
    \qquad y_i = W_O\,[\mathrm{head}_1(i); \dots; \mathrm{head}_H(i)]

In the book's terms: the elements are words, the neighbourhood is every word, the appearance term
is the scaled dot product, there is no geometry term, and the weights are normalised by a softmax.
It is :class:`~relnotes.nn.MultiHeadAttention` with the memory equal to the elements themselves
and no mask; the same block, with a geometry term added, is the object relation module of RN
(Hu et al. 2018).
"""

from __future__ import annotations

from torch import Tensor

from .multi_head_attention import MultiHeadAttention

__all__ = ["MultiHeadSelfAttention"]


class MultiHeadSelfAttention(MultiHeadAttention):
    """Multi-head self-attention; see the module docstring.

    Args:
        channels (int): d, the feature size of every element (``embed_dim`` in PyTorch).
        num_heads (int): H; d must be divisible by H, each head has d_k = d / H.
        bias (bool): biases in the four projections. Default: True.
    """

    def __init__(self, channels: int, *, num_heads: int, bias: bool = True) -> None:
        super().__init__(channels, num_heads=num_heads, bias=bias)
        self.embed_dim = channels       # torch.nn.MultiheadAttention's name for d

    def forward(self, x: Tensor, return_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """
        Args:
            x (Tensor[B, N, d]): the features f_i of N elements.
            return_weights (bool): also return the weights, Tensor[B, H, N, N]. Default: False.

        Returns:
            Tensor[B, N, d]
        """
        if x.dim() != 3 or x.shape[-1] != self.channels:
            raise ValueError(f"x must be Tensor[B, N, {self.channels}]; got {tuple(x.shape)}")
        return super().forward(x, return_weights=return_weights)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, num_heads={self.num_heads}"
