r"""The non-local block (Wang et al., CVPR 2018) as an instance of the relation formula.

Wang, Girshick, Gupta, He, "Non-local Neural Networks", Eqs. (1), (3) and (6), embedded Gaussian
version:

.. math::

    y_i = \frac{1}{\mathcal C(x)} \sum_j e^{\theta(x_i)^\top \phi(x_j)}\, g(x_j), \qquad
    \mathcal C(x) = \sum_j e^{\theta(x_i)^\top \phi(x_j)}, \qquad
    z_i = W_z\, y_i + x_i

:math:`\theta, \phi, g` and :math:`W_z` are 1x1 convolutions; :math:`\theta, \phi, g` reduce the
channels to C / 2. In the book's terms: the elements are pixels, the neighbourhood is the whole
image, the appearance term is an (unscaled) dot product, there is no geometry term, and the weights
are a softmax over j.

This is the block of the opening chapter. The chapter on context blocks (non-local, simplified
non-local, squeeze-excitation, global context) adds the other pairwise functions, the subsampling of
phi and g, and the zero-initialised normalisation after W_z of the official code.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..ops.relation import relation, scaled_dot_product

__all__ = ["NonLocal2d"]


class NonLocal2d(nn.Module):
    """Embedded-Gaussian non-local block with a residual connection; see the module docstring.

    Args:
        channels (int): C, channels of the input and output.
        rd_ratio (float): the embeddings theta, phi, g have C * rd_ratio channels. Default: 1/2.
    """

    def __init__(self, channels: int, *, rd_ratio: float = 1 / 2) -> None:
        super().__init__()
        inner = int(channels * rd_ratio)
        if inner < 1:
            raise ValueError(f"channels * rd_ratio must be >= 1; got {channels} * {rd_ratio}")
        self.channels, self.rd_ratio, self.inner = channels, rd_ratio, inner
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.w_z = nn.Conv2d(inner, channels, 1)

    def forward(self, x: Tensor, return_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """
        Args:
            x (Tensor[B, C, H, W])
            return_weights (bool): also return the weights, Tensor[B, HW, HW]. Default: False.

        Returns:
            Tensor[B, C, H, W]
        """
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"x must be Tensor[B, {self.channels}, H, W]; got {tuple(x.shape)}")
        B, C, H, W = x.shape
        # [B, HW, C']: pixel i (or j), embedded channel
        theta, phi, g = (conv(x).flatten(2).transpose(1, 2) for conv in (self.theta, self.phi, self.g))
        # NL Eq. (3): f = exp(θ(x_i)ᵀ φ(x_j)), normalised by C(x) = Σ_j f: a softmax over j
        y, w = relation(g, appearance=scaled_dot_product(theta, phi, scale=1.0), return_weights=True)
        y = y.transpose(1, 2).reshape(B, self.inner, H, W)
        z = self.w_z(y) + x  # NL Eq. (6)
        return (z, w) if return_weights else z

    def extra_repr(self) -> str:
        return f"channels={self.channels}, rd_ratio={self.rd_ratio:g}"
