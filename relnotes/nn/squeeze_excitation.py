r"""The squeeze-and-excitation block (Hu, Shen, Sun, CVPR 2018).

Hu et al., "Squeeze-and-Excitation Networks", arXiv:1709.01507, Eqs. (2)-(4); official models:
``hujie-frank/SENet`` ("We set r=16 in all our models").

.. math::

    s = \frac{1}{HW} \sum_j x_j                               \qquad \text{(SE Eq. 2, squeeze)}

    e = \sigma\big(W_2\, \mathrm{ReLU}(W_1 s)\big)           \qquad \text{(SE Eq. 3, excitation)}

    z_i = e \odot x_i                                         \qquad \text{(SE Eq. 4, scale)}

:math:`W_1`: C -> C/r, :math:`W_2`: C/r -> C, fully connected (written as 1x1 convs with bias).
In the framework of :class:`relnotes.nn.ContextBlock`: average pooling, a bottleneck transform
without LayerNorm, multiply fusion. SE has no identity init: a new block scales every channel
by :math:`\sigma(\cdot) \in (0, 1)` from the start.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .reduction import rd_repr, reduced_channels

__all__ = ["SqueezeExcitation"]


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation block; see the module docstring.

    Args:
        channels (int): C, channels of the input and output.
        rd_ratio (float): 1 / r; the hidden layer has int(C * rd_ratio) channels. Default: 1/16.
        rd_channels (int, optional): the hidden width given directly; overrides ``rd_ratio``.
            Default: None.
        rd_min (int, optional): a floor on the width from ``rd_ratio`` (see
            :mod:`relnotes.nn.reduction`). Default: None (no floor).
    """

    def __init__(self, channels: int, *, rd_ratio: float = 1 / 16,
                 rd_channels: int | None = None, rd_min: int | None = None) -> None:
        super().__init__()
        rd = reduced_channels(channels, rd_ratio, rd_channels, rd_min=rd_min,
                              name="the hidden width C/r")
        self.channels, self.rd_ratio, self.rd_channels = channels, rd_ratio, rd
        self.rd_min = rd_min
        self.fc1 = nn.Conv2d(channels, rd, 1)                        # W_1
        self.fc2 = nn.Conv2d(rd, channels, 1)                        # W_2
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default init for both layers (the SE paper prescribes none)."""
        self.fc1.reset_parameters()
        self.fc2.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        """
        Args:
            x (Tensor[B, C, H, W])

        Returns:
            Tensor[B, C, H, W]
        """
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"x must be Tensor[B, {self.channels}, H, W]; got {tuple(x.shape)}")
        s = x.mean(dim=(2, 3), keepdim=True)                         # SE Eq. (2): [B, C, 1, 1]
        e = torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))          # SE Eq. (3)
        return x * e                                                 # SE Eq. (4)

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, "
                f"{rd_repr(self.channels, self.rd_ratio, self.rd_channels, self.rd_min)}")
