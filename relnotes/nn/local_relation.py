r"""The local relation layer (Hu, Zhang, Xie, Lin, *Local Relation Networks for Image
Recognition*, ICCV 2019, arXiv:1904.11491, §3 and Fig. 2).

A replacement for the k x k convolution: each output pixel :math:`p'` aggregates its k x k
neighbourhood with weights it computes itself (LR Eq. (2)),

.. math::

    \omega(p', p) = \operatorname{softmax}_{p \in \Omega_{p'}}
        \Big(\Phi\big(f_{\theta_q}(x_{p'}), f_{\theta_k}(x_p)\big) + f_{\theta_g}(p - p')\Big)

- :math:`f_{\theta_q}, f_{\theta_k}`: 1x1 convs from C to :math:`G = \lceil C/m \rceil` channels,
  one *scalar* query and key per group of m channels (Fig. 2: "Query Map C/m x H x W");
- :math:`\Phi`: the composability, :math:`-(q-k)^2` by default;
- :math:`f_{\theta_g}`: the geometry prior, "two 1x1" layers (Fig. 2) on the 2 x k x k map of
  relative positions, 2 -> ``geometry_channels`` -> G with a ReLU between (biases on both);
- the value is the input itself ("Identity" in Fig. 2), aggregated by
  :func:`relnotes.ops.local_relation` (m channels share one weight map);
- a final 1x1 conv C -> C ("Output Feature" in Fig. 2).

**Assumptions** (the paper's full text was not available to check them):

- the geometry MLP's hidden width: ``geometry_channels``, Default: G (the reference note's
  recommendation). It adds :math:`3h + hG + G` parameters (221 for C = 100, m = 8); in
  LR-Net-50 the 17 MLPs hold about 0.05 M of the 23.3 M (counted in the architecture notebook);
- the relative positions fed to the MLP are :math:`(p - p') / \max(\lfloor k/2 \rfloor, 1)`,
  (row, column), in [-1, 1] (``position_units="window"``, the default), or :math:`p - p'` in
  pixels (``position_units="pixel"``), so that one pixel means the same at every k;
- an optional **locality term** (our choice, off by default): with ``locality_sigma`` =
  :math:`\sigma` (pixels) the prior is :math:`f_{\theta_g}(p - p') - \|p - p'\|^2 / 2\sigma^2`,
  centred at initialisation whatever the MLP's random weights; the MLP learns on top of it.
  Without it, the Kaiming-initialised MLP starts flat at the centre and grows in random
  directions towards the border: nothing favours the near pixels;
- no bias on the query, key and output 1x1s (a BatchNorm follows the layer in LR-Net, as after a
  ResNet conv); this matches the parameter recount of the reference note (§3.2);
- ``stride`` s > 1 is done inside the layer: the query is computed on the strided grid (input
  pixels (i s, j s)), the keys and values on the full grid, as in the official kernel.

Parameters, closed form: :math:`2CG + C^2 + 3h + hG + G` (q, k, output, geometry MLP).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..ops.local_relation import local_relation, local_relation_weights
from ..ops.local_relation_args import check_composability, check_kernel_size

__all__ = ["LocalRelation2d"]


class _Subsample(torch.autograd.Function):
    """``x[:, :, ::s, ::s]``, contiguous; its gradient: the output's gradient at the strided
    pixels, zeros elsewhere. The same numbers as slicing (and the copy the query's convolution
    makes of a strided view, forward and backward), in one copy each way: slicing's backward
    fills a zero tensor per sliced dimension (two for a plane) and the convolution's backward
    copies its strided input once more."""

    @staticmethod
    def forward(ctx, x: Tensor, s: int) -> Tensor:
        ctx.shape, ctx.s = x.shape, s
        return x[:, :, ::s, ::s].contiguous()

    @staticmethod
    def backward(ctx, grad: Tensor):
        out = grad.new_zeros(ctx.shape)
        out[:, :, ::ctx.s, ::ctx.s] = grad
        return out, None


class LocalRelation2d(nn.Module):
    r"""Local relation layer; the op and its arguments are documented in
    :func:`relnotes.ops.local_relation`, the layer in the module docstring.

    Args:
        channels (int): C, channels of the input and output.
        kernel_size (int): k, the odd window size. Default: 7.
        channels_per_group (int): the paper's m, channels per group sharing one
            aggregation-weight map; there are G = ceil(C / m) groups (13 for C = 100, m = 8), and
            the op then puts ceil(C / G) <= m channels in each group but the last. Default: 8.
        stride (int): output pixel (i, j) is centred on input (i*s, j*s). Default: 1.
        composability (str): Φ, one of ``"squared_difference"``, ``"dot"``,
            ``"abs_difference"``. Default: ``"squared_difference"``.
        geometry_channels (int, optional): hidden width of the geometry MLP. Default: G.
        position_units (str): ``"window"`` (offsets divided by k // 2) or ``"pixel"``.
            Default: ``"window"``.
        locality_sigma (float, optional): :math:`\sigma` of the centred locality term
            :math:`-\|p - p'\|^2 / 2\sigma^2` added to the prior, in pixels. Default: None (no
            term).

    Shapes: x is Tensor[B, C, H, W]; the output is Tensor[B, C, ceil(H/s), ceil(W/s)].
    """

    def __init__(
        self,
        channels: int,
        *,
        kernel_size: int = 7,
        channels_per_group: int = 8,
        stride: int = 1,
        composability: str = "squared_difference",
        geometry_channels: int | None = None,
        position_units: str = "window",
        locality_sigma: float | None = None,
    ) -> None:
        super().__init__()
        m = channels_per_group                                      # the paper's m
        for name, v in (("channels", channels), ("channels_per_group", m), ("stride", stride)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int; got {v!r}")
        check_kernel_size(kernel_size)
        check_composability(composability)
        groups = -(-channels // m)
        hidden = groups if geometry_channels is None else geometry_channels
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"geometry_channels must be a positive int; got {geometry_channels!r}")
        if position_units not in ("window", "pixel"):
            raise ValueError(f"position_units must be 'window' or 'pixel'; got {position_units!r}")
        if locality_sigma is not None and not (isinstance(locality_sigma, (int, float))
                                               and not isinstance(locality_sigma, bool)
                                               and locality_sigma > 0):
            raise ValueError(f"locality_sigma must be a positive number or None; got "
                             f"{locality_sigma!r}")
        self.position_units, self.locality_sigma = position_units, locality_sigma
        self.channels, self.kernel_size, self.stride = channels, kernel_size, stride
        self.channels_per_group = m
        self.composability, self.groups = composability, groups
        self.geometry_channels = geometry_channels
        # f_θq, f_θk: one scalar per group and pixel
        self.query = nn.Conv2d(channels, groups, 1, bias=False)
        self.key = nn.Conv2d(channels, groups, 1, bias=False)
        # f_θg: "two 1x1" layers on the relative positions
        self.geometry = nn.Sequential(nn.Conv2d(2, hidden, 1), nn.ReLU(inplace=True),
                                      nn.Conv2d(hidden, groups, 1))
        self.out = nn.Conv2d(channels, channels, 1, bias=False)
        r = kernel_size // 2
        pixels = torch.arange(-r, r + 1, dtype=torch.float32)
        # [1, 2, k, k]: (row, column) offset of window position (a, b) from the centre, in pixels
        offsets = torch.stack(torch.meshgrid(pixels, pixels, indexing="ij")).unsqueeze(0)
        scale = 1.0 if position_units == "pixel" else 1.0 / max(r, 1)
        self.register_buffer("positions", offsets * scale, persistent=False)
        # [G, k, k] (broadcast): -|p - p'|^2 / 2 sigma^2, or None
        locality = None
        if locality_sigma is not None:
            locality = -(offsets[0] ** 2).sum(dim=0) / (2 * locality_sigma**2)
        self.register_buffer("locality", locality, persistent=False)
        self.reset_parameters()

    #: Standard deviation of the query and key weights at initialisation (see
    #: :meth:`reset_appearance_parameters`).
    APPEARANCE_INIT_STD = 0.01

    def reset_parameters(self) -> None:
        """PyTorch's default init for the geometry MLP and the output conv (in LR-Net the ResNet
        init, Kaiming fan-out, replaces it, as for any conv), and a small init for the query and
        key (:meth:`reset_appearance_parameters`). The LR paper's init was not available."""
        for conv in (self.geometry[0], self.geometry[2], self.out):
            conv.reset_parameters()
        self.reset_appearance_parameters()

    def reset_appearance_parameters(self) -> None:
        """Query and key weights from N(0, 0.01²): the appearance term Φ starts near 0, so a new
        layer aggregates with its geometry prior alone and learns the appearance on top.

        An assumption of ours, measured by an earlier version of the book's kernel-size
        notebook (``lrnet_kernel_size``, its "Kaiming q/k" row): with a ResNet's Kaiming init (std
        sqrt(2 / G) for a C -> G 1x1, about 1 for G = 2) the logits Φ(q, k) of a narrow layer
        start large, the softmax is nearly one-hot on arbitrary neighbours, and LR-Net-26-mini
        hardly learns in a short schedule.
        """
        for conv in (self.query, self.key):
            nn.init.normal_(conv.weight, std=self.APPEARANCE_INIT_STD)

    def geometry_prior(self) -> Tensor:
        """:math:`f_{\\theta_g}(p - p')` (plus the locality term, if any) for every offset:
        Tensor[G, k, k]."""
        prior = self.geometry(self.positions)[0]
        return prior if self.locality is None else prior + self.locality

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"x must be Tensor[B, {self.channels}, H, W]; got {tuple(x.shape)}")
        s = self.stride
        q = self.query(x if s == 1 else _Subsample.apply(x, s))   # [B, G, H', W'], output grid
        k = self.key(x)                              # [B, G, H, W]
        prior = self.geometry_prior().to(x.dtype)    # [G, k, k]
        # LR Eqs. (1)-(2): the value is x itself
        y = local_relation(q, k, x, prior, self.kernel_size, s, self.composability)
        return self.out(y)                           # [B, C, H', W']

    @torch.no_grad()
    def aggregation_weights(self, x: Tensor) -> Tensor:
        r""":math:`\omega(p', p)` of LR Eq. (2) for every output pixel, for inspection (the
        forward pass never materialises them in this layout).

        Args:
            x (Tensor[B, C, H, W]): the layer's input.

        Returns:
            Tensor[B, G, k, k, H', W']: ``w[b, g, a, c, i, j]`` is the weight that output pixel
            (i, j) gives to input pixel (i*s + a - k//2, j*s + c - k//2); it sums to 1 over (a, c)
            and is 0 outside the image.
        """
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"x must be Tensor[B, {self.channels}, H, W]; got {tuple(x.shape)}")
        s, k = self.stride, self.kernel_size
        q = self.query(x[:, :, ::s, ::s])                                   # [B, G, H', W']
        w = local_relation_weights(q, self.key(x), self.geometry_prior().to(x.dtype), k, s,
                                   self.composability)                     # [B, G, k*k, H', W']
        return w.view(*w.shape[:2], k, k, *w.shape[-2:])

    def extra_repr(self) -> str:
        parts = [f"{self.channels}"]
        if self.kernel_size != 7:
            parts.append(f"kernel_size={self.kernel_size}")
        if self.channels_per_group != 8:
            parts.append(f"channels_per_group={self.channels_per_group}")
        parts.append(f"groups={self.groups}")                       # derived, shown always
        if self.stride != 1:
            parts.append(f"stride={self.stride}")
        if self.composability != "squared_difference":
            parts.append(f"composability={self.composability!r}")
        if self.geometry_channels is not None:
            parts.append(f"geometry_channels={self.geometry_channels}")
        if self.position_units != "window":
            parts.append(f"position_units={self.position_units!r}")
        if self.locality_sigma is not None:
            parts.append(f"locality_sigma={self.locality_sigma}")
        return ", ".join(parts)
