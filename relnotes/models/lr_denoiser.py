r"""A one-layer local relation denoiser: the smallest network in which an LR layer learns from
natural images, used for the figures of the local relation chapter (learnt geometry priors and
aggregation weights on a real photograph).

.. math::

    \hat y = \text{head}\Big(\text{LR}\big(\text{embed}(x)\big)\Big)

- ``embed``: a 1x1 conv, 1 -> C channels (with bias): every channel is an affine function of the
  pixel's grey level;
- ``relation``: one :class:`relnotes.nn.LocalRelation2d` (k x k, m channels per group);
- ``head``: a 1x1 conv, C -> 1 (with bias).

Because the embedding is affine in the grey level and the aggregation weights sum to 1, the
output is an affine function of :math:`\sum_p \omega(p', p)\, x_p` per group: the layer is a
*learnt bilateral filter*. Its geometry prior plays the spatial kernel, and the composability
:math:`-(q(x_{p'}) - k(x_p))^2` of two affine functions of the grey levels plays the range
kernel. (This holds for this one-layer network on grey pixels; in a deep LR-Net the keys and
queries are functions of learnt features.)

:class:`ConvDenoiser` is the matching template-matching baseline: one k x k linear filter.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..nn.local_relation import LocalRelation2d

__all__ = ["LRDenoiser", "ConvDenoiser"]


class LRDenoiser(nn.Module):
    """embed (1x1, 1 -> C) -> :class:`LocalRelation2d` (k x k) -> head (1x1, C -> 1).

    Args:
        channels (int): C. Default: 16.
        kernel_size (int): k. Default: 7.
        m (int): channels per group (G = ceil(C / m) groups). Default: 8.
        geometry_channels (int, optional): hidden width of the geometry MLP. With the layer's
            default (G, 2 for C = 16), the 2 -> G -> G ReLU MLP can only draw priors made of
            G planes, ramps rather than bumps; the figures use 16. Default: None (G).

    Shapes: Tensor[B, 1, H, W] -> Tensor[B, 1, H, W].
    """

    def __init__(self, channels: int = 16, kernel_size: int = 7, m: int = 8, *,
                 geometry_channels: int | None = None) -> None:
        super().__init__()
        self.embed = nn.Conv2d(1, channels, 1)
        self.relation = LocalRelation2d(channels, kernel_size=kernel_size, channels_per_group=m,
                                        geometry_channels=geometry_channels)
        self.head = nn.Conv2d(channels, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.relation(self.embed(x)))

    def aggregation_weights(self, x: Tensor) -> Tensor:
        """The LR layer's weights on ``x``: Tensor[B, G, k, k, H, W]; see
        :meth:`LocalRelation2d.aggregation_weights`."""
        return self.relation.aggregation_weights(self.embed(x))


class ConvDenoiser(nn.Module):
    """One k x k conv, 1 -> 1, with bias and replicate padding (a learnt linear filter).

    Args:
        kernel_size (int): k. Default: 7.
    """

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, kernel_size, padding=kernel_size // 2,
                              padding_mode="replicate")

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)
