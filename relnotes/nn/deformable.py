r"""Deformable convolution, v1 and v2 (modulated), on ``torchvision.ops.deform_conv2d``.

DCN v1 (Dai, Qi, Xiong, Li, Zhang, Hu, Wei; ICCV 2017; arXiv:1703.06211) adds a learned offset
:math:`\Delta p_n` to every point :math:`p_n` of the regular kernel grid :math:`\mathcal{R}`
(:math:`\{-1, 0, 1\}^2` for 3 x 3):

.. math::

    y(p_0) = \sum_{p_n \in \mathcal{R}} w(p_n)\, x(p_0 + p_n + \Delta p_n),

with :math:`x` at a fractional position read by bilinear interpolation,
:math:`x(p) = \sum_q g(q_x, p_x)\, g(q_y, p_y)\, x(q)`, :math:`g(a, b) = \max(0, 1 - |a - b|)`.
The offsets come from a parallel convolution over the same input with :math:`2|\mathcal{R}|`
outputs (per offset group).

DCN v2 (Zhu, Hu, Lin, Dai; CVPR 2019; arXiv:1811.11168) also learns a modulation
:math:`\Delta m_k \in [0, 1]` per sampling point (a sigmoid of the same conv's extra
:math:`|\mathcal{R}|` outputs):

.. math::

    y(p) = \sum_{k=1}^{K} w_k\, x(p + p_k + \Delta p_k)\, \Delta m_k.

Both layers zero-initialise the offset (and mask) convolution, as the papers' code does: an
untrained DCN v1 layer *is* the ordinary convolution (:math:`\Delta p = 0`); an untrained DCN v2
layer is that convolution with every sample weighted by :math:`\Delta m = \sigma(0) = 1/2`.

Where the two sit beside relation: a deformable layer **regresses** where to look (offsets
predicted from the query pixel's own feature, a perturbed fixed grid of K points); a relation
layer **verifies** candidates (it compares the query with each key of an arbitrary set and weighs
them). The chapter ``book/region-deformable.md`` draws both for the same pixels.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.ops import deform_conv2d

__all__ = ["DeformConv2dV1", "ModulatedDeformConv2d"]


class DeformConv2dV1(nn.Module):
    r"""DCN v1: a convolution whose sampling grid is shifted by learned offsets per output pixel.

    Args:
        channels (int): input channels.
        out_channels (int, optional): output channels. Default: ``channels``.
        kernel_size (int): side of the square kernel. Default: 3.
        stride (int): Default: 1.
        padding (int, optional): Default: ``dilation * (kernel_size // 2)`` (same size at stride 1).
        dilation (int): Default: 1.
        groups (int): convolution groups. Default: 1.
        offset_groups (int): channel groups sharing one set of offsets (DCN's "deformable
            groups"). Default: 1.
        bias (bool): Default: True.

    Shape:
        ``forward(input, offset=None)``: ``input`` Tensor[B, C, H, W]; ``offset``
        Tensor[B, 2 * offset_groups * k * k, H_out, W_out] in torchvision's layout ((dy, dx) per
        kernel point, row-major), or None to predict it with :attr:`offset_conv`. Returns
        Tensor[B, out_channels, H_out, W_out] (and the offsets with ``return_offsets``).
    """

    modulated = False

    def __init__(self, channels: int, *, out_channels: int | None = None, kernel_size: int = 3, stride: int = 1,
                 padding: int | None = None, dilation: int = 1, groups: int = 1,
                 offset_groups: int = 1, bias: bool = True) -> None:
        super().__init__()
        out_channels = channels if out_channels is None else out_channels
        if channels % groups or out_channels % groups:
            raise ValueError(f"channels ({channels}) and out_channels ({out_channels}) must be "
                             f"divisible by groups ({groups})")
        if channels % offset_groups:
            raise ValueError(f"channels ({channels}) must be divisible by offset_groups "
                             f"({offset_groups})")
        self.channels, self.out_channels, self.kernel_size = channels, out_channels, kernel_size
        self.stride, self.dilation, self.groups = stride, dilation, groups
        self.padding = dilation * (kernel_size // 2) if padding is None else padding
        self.offset_groups = offset_groups
        self.weight = nn.Parameter(torch.empty(out_channels, channels // groups, kernel_size,
                                               kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        points = offset_groups * kernel_size * kernel_size
        # the parallel conv: 2 offsets per point (v1), plus 1 mask logit per point (v2)
        self.offset_conv = nn.Conv2d(channels, (3 if self.modulated else 2) * points, kernel_size,
                                     stride, self.padding, dilation)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The deformed convolution as ``nn.Conv2d`` initialises its weights; the offset (and
        mask) conv at zero (DCN v1 and v2 code), so that the untrained layer samples the regular
        grid."""
        conv = nn.Conv2d(self.channels, self.out_channels, self.kernel_size, groups=self.groups,
                         bias=self.bias is not None)
        with torch.no_grad():
            self.weight.copy_(conv.weight)
            if self.bias is not None:
                self.bias.copy_(conv.bias)
        nn.init.zeros_(self.offset_conv.weight)
        nn.init.zeros_(self.offset_conv.bias)

    def offsets(self, input: Tensor) -> tuple[Tensor, Tensor | None]:
        """(offset Tensor[B, 2 G k k, H_out, W_out], mask Tensor[B, G k k, H_out, W_out] or None)."""
        return self.offset_conv(input), None

    def forward(self, input: Tensor, offset: Tensor | None = None, mask: Tensor | None = None, *,
                return_offsets: bool = False):
        if input.dim() != 4 or input.shape[1] != self.channels:
            raise ValueError(f"input must be Tensor[B, {self.channels}, H, W]; got "
                             f"{tuple(input.shape)}")
        if offset is None:
            offset, predicted_mask = self.offsets(input)
            mask = predicted_mask if mask is None else mask
        # y(p0) = Σ_n w(p_n) x(p0 + p_n + Δp_n) [· Δm_n]
        out = deform_conv2d(input, offset, self.weight, self.bias, stride=self.stride,
                            padding=self.padding, dilation=self.dilation, mask=mask)
        return (out, offset, mask) if return_offsets else out

    def extra_repr(self) -> str:
        s = f"{self.channels}, out_channels={self.out_channels}, kernel_size={self.kernel_size}"
        for name, default in (("stride", 1), ("padding", self.dilation * (self.kernel_size // 2)),
                              ("dilation", 1), ("groups", 1), ("offset_groups", 1)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s + (", bias=False" if self.bias is None else "")


class ModulatedDeformConv2d(DeformConv2dV1):
    r"""DCN v2: :class:`DeformConv2dV1` plus a modulation :math:`\Delta m_k = \sigma(\cdot)` per
    sampling point, predicted by the same (zero-initialised) conv; the untrained layer weighs
    every sample by 1/2. Same arguments; ``forward(input, offset=None, mask=None)`` takes or
    predicts both (``mask`` Tensor[B, offset_groups * k * k, H_out, W_out])."""

    modulated = True

    def offsets(self, input: Tensor) -> tuple[Tensor, Tensor]:
        out = self.offset_conv(input)
        n = 2 * self.offset_groups * self.kernel_size ** 2
        # DCN v2: Δm_k = sigmoid(mask logits), in [0, 1]
        return out[:, :n], out[:, n:].sigmoid()
