r"""The non-local block (Wang et al., CVPR 2018) as an instance of the relation formula.

Wang, Girshick, Gupta, He, "Non-local Neural Networks", arXiv:1711.07971, Eqs. (1)-(6);
official code consulted for the details the paper leaves open:
``facebookresearch/video-nonlocal-net: lib/models/nonlocal_helper.py``.

.. math::

    y_i = \frac{1}{\mathcal C(x)} \sum_j f(x_i, x_j)\, g(x_j)      \qquad \text{(NL Eq. 1)}

    z_i = W_z\, y_i + x_i                                           \qquad \text{(NL Eq. 6)}

:math:`g, \theta, \phi` and :math:`W_z` are 1x1 convolutions; :math:`g, \theta, \phi` reduce the
channels to :math:`C' = C \cdot` ``rd_ratio`` (1/2 in the paper). The pairwise function ``mode``:

======================  ==========================================================  ====================
``mode``                :math:`f(x_i, x_j)`                                          :math:`\mathcal C(x)`
======================  ==========================================================  ====================
``gaussian``            :math:`e^{x_i^\top x_j}` (NL Eq. 2)                          :math:`\sum_j f`
``embedded_gaussian``   :math:`e^{\theta(x_i)^\top \phi(x_j)}` (NL Eq. 3)            :math:`\sum_j f`
``dot_product``         :math:`\theta(x_i)^\top \phi(x_j)` (NL Eq. 4)                :math:`N`
``concatenation``       :math:`\mathrm{ReLU}(w_f^\top[\theta(x_i), \phi(x_j)])` (Eq. 5)  :math:`N`
======================  ==========================================================  ====================

:math:`N` is the number of positions j. In the book's terms (see :mod:`relnotes.ops.relation`)
the elements are pixels, the neighbourhood is the whole image, and there is no geometry term:

- the two Gaussian versions are an appearance term :math:`\omega^A_{ij}` (a dot product) with a
  softmax;
- the concatenation version has non-negative weights :math:`f / N`, which enter the formula as a
  geometry-like weight :math:`\omega^G_{ij}` with no normalisation;
- the dot-product version has *signed* weights, which the relation formula
  (:math:`\omega = \omega^G e^{\omega^A} \ge 0`) cannot express: it is a plain matrix product.

Options of the official code: ``sub_sample`` max-pools the input (2x2, stride 2, no padding)
*before* :math:`\phi` and :math:`g` (``USE_MAXPOOL``; mmcv pools *after* the convs, which gives
the same parameters but costs more), so the keys and values come from a quarter of the positions.
On a side of odd length the pooling rounds down, as both official codes do (Caffe2's pooling
without padding; mmcv's ``nn.MaxPool2d((2, 2))``): a 5 x 7 map keeps 2 x 3 = 6 keys, and the last
row and column are never keys. ``use_scale`` divides the embedded-Gaussian scores by
:math:`\sqrt{C'}` (``USE_SCALE``; the mmdet v1 code multiplied by it instead, mmdetection#1447).
Both official codes default to ``use_scale=True`` (video-nonlocal-net's config ``USE_SCALE = True``,
mmcv's ``NonLocal2d(use_scale=True)``); the default here is False, our choice, because it is NL
Eq. (3) as the paper writes it (and the instance of the relation formula the opening chapter
compares); pass ``use_scale=True`` to build the official block. ``norm_layer`` adds a
normalisation after :math:`W_z` whose scale is zero-initialised, so that "the entire non-local block is an identity
mapping" at the start (NL §4.1). Without a normalisation, ``zero_init_last`` zeroes :math:`W_z`
instead (as the GCNet code does), with the same effect.

The three steps of the global-context framework (:class:`relnotes.nn.ContextBlock`) are methods
here too: :meth:`NonLocal2d.context_modeling` (one context per *query* i, which is what sets the
non-local block apart), :meth:`NonLocal2d.transform` (:math:`W_z`) and :meth:`NonLocal2d.fuse`
(add).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..ops.relation import relation, scaled_dot_product
from .reduction import rd_repr, reduced_channels

__all__ = ["NonLocal2d", "NL_MODES"]

NL_MODES = ("embedded_gaussian", "gaussian", "dot_product", "concatenation")


class NonLocal2d(nn.Module):
    """Non-local block with a residual connection; see the module docstring.

    Args:
        channels (int): C, channels of the input and output.
        rd_ratio (float): the embeddings theta, phi, g have C' = int(C * rd_ratio) channels.
            Default: 1/2.
        rd_channels (int, optional): C' given directly; overrides ``rd_ratio``. Default: None.
        mode (str): the pairwise function f, one of ``NL_MODES``. Default: ``"embedded_gaussian"``.
        sub_sample (bool): max-pool (2x2, stride 2, rounding down on odd sides) the input before
            phi and g, as the official code does. Default: False.
        use_scale (bool): divide the embedded-Gaussian scores by sqrt(C'). Default: False (the
            paper's Eq. (3); the official codes default to True, see the module docstring).
        norm_layer (type[nn.Module], optional): a normalisation after W_z, built as
            ``norm_layer(C)`` (e.g. ``nn.BatchNorm2d``); its weight starts at 0. Default: None.
        zero_init_last (bool): without ``norm_layer``, start W_z at 0, so that the block starts as
            the identity. Default: False (the opening chapter compares a random W_z).

    Shapes: x is Tensor[B, C, H, W]; the weights are Tensor[B, HW, M] with M = HW, or
    floor(H/2) * floor(W/2) with ``sub_sample`` (which needs H, W >= 2).
    """

    def __init__(
        self,
        channels: int,
        *,
        rd_ratio: float = 1 / 2,
        rd_channels: int | None = None,
        mode: str = "embedded_gaussian",
        sub_sample: bool = False,
        use_scale: bool = False,
        norm_layer: type[nn.Module] | None = None,
        zero_init_last: bool = False,
    ) -> None:
        super().__init__()
        if mode not in NL_MODES:
            raise ValueError(f"mode must be one of {NL_MODES}; got {mode!r}")
        inner = reduced_channels(channels, rd_ratio, rd_channels, name="the embedding width C'")
        if use_scale and mode != "embedded_gaussian":
            raise ValueError(f"use_scale applies to mode='embedded_gaussian' only; got mode={mode!r}")
        self.channels, self.rd_ratio, self.rd_channels, self.mode = channels, rd_ratio, inner, mode
        self.sub_sample, self.use_scale, self.zero_init_last = sub_sample, use_scale, zero_init_last
        self.g = nn.Conv2d(channels, inner, 1)
        # the Gaussian version compares the raw inputs: no theta, no phi
        embedded = mode != "gaussian"
        self.theta = nn.Conv2d(channels, inner, 1) if embedded else None
        self.phi = nn.Conv2d(channels, inner, 1) if embedded else None
        # NL Eq. (5): w_f projects the concatenation [θ(x_i), φ(x_j)] to a scalar
        self.w_f = nn.Linear(2 * inner, 1, bias=False) if mode == "concatenation" else None
        self.w_z = nn.Conv2d(inner, channels, 1)
        self.norm = norm_layer(channels) if norm_layer is not None else None
        # official code: 2x2 max-pooling without padding, so odd sides round down (floor)
        self.pool = nn.MaxPool2d(2, stride=2) if sub_sample else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default init for the convs, then zero the last layer of the branch
        (the normalisation's weight, NL §4.1; or W_z with ``zero_init_last``, as in the GCNet and
        mmdet code), so that the block starts as the identity."""
        for m in (self.g, self.theta, self.phi, self.w_f, self.w_z, self.norm):
            if m is not None:
                m.reset_parameters()
        if self.norm is not None:
            nn.init.zeros_(self.norm.weight)
        elif self.zero_init_last:
            nn.init.zeros_(self.w_z.weight)
            nn.init.zeros_(self.w_z.bias)

    def pairwise(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The pairwise scores and the values g(x_j).

        Returns:
            (Tensor[B, HW, M], Tensor[B, M, C']): the scores (the exponent for the Gaussian modes,
            f itself otherwise) and the values, flattened pixel-major.
        """
        x_j = self.pool(x) if self.pool is not None else x           # keys and values: [B, C, h, w]
        g = self.g(x_j).flatten(2).transpose(1, 2)                    # [B, M, C']
        if self.mode == "gaussian":
            q, k = x.flatten(2).transpose(1, 2), x_j.flatten(2).transpose(1, 2)  # [B, HW | M, C]
        else:
            q = self.theta(x).flatten(2).transpose(1, 2)              # θ(x_i): [B, HW, C']
            k = self.phi(x_j).flatten(2).transpose(1, 2)              # φ(x_j): [B, M, C']
        if self.mode == "concatenation":
            a, b = self.w_f.weight[0, : self.rd_channels], self.w_f.weight[0, self.rd_channels :]
            # NL Eq. (5): w_fᵀ[θ_i, φ_j] = a·θ_i + b·φ_j, then ReLU      [B, HW, M]
            return F.relu((q @ a).unsqueeze(2) + (k @ b).unsqueeze(1)), g
        scale = self.rd_channels ** -0.5 if self.use_scale else 1.0
        return scaled_dot_product(q, k, scale=scale), g              # NL Eqs. (2)-(4): [B, HW, M]

    def context_modeling(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """y_i (NL Eq. (1)) for every query i, and the weights f / C(x).

        Returns:
            (Tensor[B, C', H, W], Tensor[B, HW, M])
        """
        B, _, H, W = x.shape
        scores, g = self.pairwise(x)
        M = g.shape[1]
        if self.mode in ("gaussian", "embedded_gaussian"):
            # NL Eqs. (2)/(3): f = exp(score), C(x) = Σ_j f: a softmax over j
            y, w = relation(g, appearance=scores, return_weights=True)
        elif self.mode == "concatenation":
            # NL Eq. (5): f ≥ 0 and C(x) = N: a non-negative weight, not normalised
            y, w = relation(g, geometry=scores / M, normalization="none", return_weights=True)
        else:
            # NL Eq. (4): signed weights f / N, outside the relation formula: a matrix product
            w = scores / M
            y = w @ g
        return y.transpose(1, 2).reshape(B, self.rd_channels, H, W), w

    def transform(self, y: Tensor) -> Tensor:
        """W_z y (and the normalisation): Tensor[B, C', H, W] -> Tensor[B, C, H, W]."""
        out = self.w_z(y)
        return self.norm(out) if self.norm is not None else out

    def fuse(self, x: Tensor, t: Tensor) -> Tensor:
        """NL Eq. (6): z = W_z y + x, position by position."""
        return x + t

    def forward(self, x: Tensor, return_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """
        Args:
            x (Tensor[B, C, H, W])
            return_weights (bool): also return the weights f / C(x), Tensor[B, HW, M].
                Default: False.

        Returns:
            Tensor[B, C, H, W]
        """
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"x must be Tensor[B, {self.channels}, H, W]; got {tuple(x.shape)}")
        if self.sub_sample and min(x.shape[2:]) < 2:
            raise ValueError(f"sub_sample pools 2x2 and needs H, W >= 2; got H, W = "
                             f"{tuple(x.shape[2:])}")
        y, w = self.context_modeling(x)
        z = self.fuse(x, self.transform(y))                           # NL Eq. (6)
        return (z, w) if return_weights else z

    def extra_repr(self) -> str:
        s = f"channels={self.channels}, " + rd_repr(self.channels, self.rd_ratio, self.rd_channels)
        if self.mode != "embedded_gaussian":
            s += f", mode={self.mode!r}"
        for flag in ("sub_sample", "use_scale", "zero_init_last"):
            if getattr(self, flag):
                s += f", {flag}=True"
        return s
