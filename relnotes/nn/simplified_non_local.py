r"""The simplified non-local block (SNL) of GCNet.

Cao et al., "GCNet: Non-local Networks Meet Squeeze-Excitation Networks and Beyond",
arXiv:1904.11492, §3.3. The non-local block's attention maps turn out to be almost the same for
every query (GCNet §3.2), so SNL computes *one* map for the whole image and moves the value
projection :math:`W_v` out of the sum:

.. math::

    z_i = x_i + W_v \sum_j \frac{e^{W_k x_j}}{\sum_m e^{W_k x_m}}\, x_j

:math:`W_k` is a 1x1 conv C -> 1, :math:`W_v` a 1x1 conv C -> C. In the framework of
:class:`relnotes.nn.ContextBlock`: attention pooling, a linear transform, add fusion.
"""

from __future__ import annotations

from torch import Tensor, nn

from .context_block import attention_pooling

__all__ = ["SimplifiedNonLocal2d"]


class SimplifiedNonLocal2d(nn.Module):
    """Simplified non-local block; see the module docstring.

    Args:
        channels (int): C, channels of the input and output.
        zero_init_last (bool): start W_v at 0, so that a new block is the identity (as the GC
            block). Default: True.
    """

    def __init__(self, channels: int, *, zero_init_last: bool = True) -> None:
        super().__init__()
        self.channels, self.zero_init_last = channels, zero_init_last
        self.conv_mask = nn.Conv2d(channels, 1, 1)                   # W_k
        self.w_v = nn.Conv2d(channels, channels, 1)                  # W_v
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming fan-in for W_k (GCNet code); W_v default, or zero with ``zero_init_last``."""
        nn.init.kaiming_normal_(self.conv_mask.weight, mode="fan_in", nonlinearity="relu")
        nn.init.zeros_(self.conv_mask.bias)
        self.w_v.reset_parameters()
        if self.zero_init_last:
            nn.init.zeros_(self.w_v.weight)
            nn.init.zeros_(self.w_v.bias)

    def forward(self, x: Tensor, return_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """
        Args:
            x (Tensor[B, C, H, W])
            return_weights (bool): also return the attention map, Tensor[B, HW]: the same for
                every query. Default: False.

        Returns:
            Tensor[B, C, H, W]
        """
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"x must be Tensor[B, {self.channels}, H, W]; got {tuple(x.shape)}")
        context, w = attention_pooling(x, self.conv_mask)            # Σ_j softmax_j(W_k x_j) x_j
        z = x + self.w_v(context)                                    # GCNet Eq. (2), broadcast
        return (z, w) if return_weights else z

    def extra_repr(self) -> str:
        return f"channels={self.channels}" + ("" if self.zero_init_last else ", zero_init_last=False")
