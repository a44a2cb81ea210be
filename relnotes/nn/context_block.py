r"""The global context modeling framework of GCNet: context modeling -> transform -> fusion.

Cao, Xu, Lin, Wei, Hu, "GCNet: Non-local Networks Meet Squeeze-Excitation Networks and Beyond",
arXiv:1904.11492, §4 (the talk's "Abstraction" slide). Official code consulted:
``xvjiarui/GCNet: mmdet/ops/gcb/context_block.py`` (the same block as mmcv's ``ContextBlock``).

Every block of the framework computes

.. math::

    z_i = F\Big(x_i,\; \delta\big(\textstyle\sum_j \alpha_j x_j\big)\Big)

(a) **context modeling** pools all positions into one vector, :math:`\sum_j \alpha_j x_j`, with
    ``pooling="att"``, :math:`\alpha_j = e^{W_k x_j} / \sum_m e^{W_k x_m}` (:math:`W_k`: a 1x1 conv
    C -> 1), or ``pooling="avg"``, :math:`\alpha_j = 1 / N`;
(b) the **transform** :math:`\delta` is ``"linear"``, one 1x1 conv :math:`W_v` (C -> C), or
    ``"bottleneck"``, :math:`W_{v2}\,\mathrm{ReLU}(\mathrm{LN}(W_{v1}\,\cdot))` with C -> C r -> C
    (LayerNorm optional);
(c) **fusion** ``"add"``, :math:`z_i = x_i + \delta(\cdot)`, or ``"mul"``,
    :math:`z_i = x_i \cdot \sigma(\delta(\cdot))`, broadcast over the positions; both may be
    given, each with its own transform (mul is applied first, as in the official code).

The context is the same for every position i: the attention pooling is the relation formula
(:mod:`relnotes.ops.relation`) with *one* query, appearance term :math:`\omega^A_j = W_k x_j`
and a softmax. The instances of the paper:

==================================  ==========  ================  ======
block                               pooling     transform         fusion
==================================  ==========  ================  ======
simplified NL (GCNet Eq. 2)         att         linear            add
SE (Hu et al.)                      avg         bottleneck, no LN mul
GC (GCNet Eq. 3)                    att         bottleneck + LN   add
==================================  ==========  ================  ======

:class:`relnotes.nn.SimplifiedNonLocal2d`, :class:`relnotes.nn.SqueezeExcitation` and
:class:`relnotes.nn.GlobalContextBlock` are the dedicated classes; the tests check that this
framework, given their weights, reproduces them exactly. The non-local block
(:class:`relnotes.nn.NonLocal2d`) is the query-*specific* case and keeps its own class.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..ops.relation import relation
from .reduction import rd_repr, reduced_channels

__all__ = ["ContextBlock", "POOLINGS", "TRANSFORMS", "FUSIONS"]

POOLINGS = ("att", "avg")
TRANSFORMS = ("bottleneck", "linear")
FUSIONS = ("add", "mul")


def attention_pooling(x: Tensor, conv_mask: nn.Conv2d) -> tuple[Tensor, Tensor]:
    r"""GCNet context modeling: :math:`\sum_j \mathrm{softmax}_j(W_k x_j)\, x_j`.

    Args:
        x (Tensor[B, C, H, W])
        conv_mask (nn.Conv2d): :math:`W_k`, C -> 1.

    Returns:
        (Tensor[B, C, 1, 1], Tensor[B, HW]): the context and the weights :math:`\alpha_j`.
    """
    B, C = x.shape[:2]
    logits = conv_mask(x).flatten(1).unsqueeze(1)                        # ω^A_j = W_k x_j: [B, 1, HW]
    # one query for the whole image: y = Σ_j softmax_j(ω^A_j) x_j       [B, 1, C]
    context, w = relation(x.flatten(2).transpose(1, 2), appearance=logits, return_weights=True)
    return context.reshape(B, C, 1, 1), w.squeeze(1)


class ContextBlock(nn.Module):
    """The framework: one block per choice of pooling, transform and fusion; see the module
    docstring.

    Args:
        channels (int): C, channels of the input and output.
        rd_ratio (float): the bottleneck has P = int(C * rd_ratio) channels. Default: 1/16.
        rd_channels (int, optional): P given directly; overrides ``rd_ratio``. Default: None.
        rd_min (int, optional): a floor on P from ``rd_ratio`` (see :mod:`relnotes.nn.reduction`).
            Default: None (no floor).
        pooling (str): ``"att"`` or ``"avg"``. Default: ``"att"``.
        transform (str): ``"bottleneck"`` (C -> P -> C) or ``"linear"`` (C -> C).
            Default: ``"bottleneck"``.
        layer_norm (bool): LayerNorm over the P bottleneck channels, before the ReLU (the
            linear transform has no hidden layer, so no LayerNorm). Default: True.
        fusion (tuple[str, ...]): a non-empty subset of ``("add", "mul")``. Default: ``("add",)``.
        zero_init_last (bool): start the last conv of the add transform at 0, so that a new block
            is the identity (GCNet code). Default: True.
    """

    def __init__(
        self,
        channels: int,
        *,
        rd_ratio: float = 1 / 16,
        rd_channels: int | None = None,
        rd_min: int | None = None,
        pooling: str = "att",
        transform: str = "bottleneck",
        layer_norm: bool = True,
        fusion: tuple[str, ...] = ("add",),
        zero_init_last: bool = True,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}; got {pooling!r}")
        if transform not in TRANSFORMS:
            raise ValueError(f"transform must be one of {TRANSFORMS}; got {transform!r}")
        fusion = tuple(fusion) if not isinstance(fusion, str) else (fusion,)
        if not fusion or any(f not in FUSIONS for f in fusion) or len(set(fusion)) != len(fusion):
            raise ValueError(f"fusion must be a non-empty subset of {FUSIONS}; got {fusion!r}")
        if transform == "linear" and (rd_channels is not None or rd_min is not None):
            raise ValueError("transform='linear' is one C -> C conv and has no bottleneck width; "
                             f"got rd_channels={rd_channels}, rd_min={rd_min}")
        # P: the bottleneck width (the linear transform has none: C -> C)
        rd = (reduced_channels(channels, rd_ratio, rd_channels, rd_min=rd_min,
                               name="the bottleneck width P")
              if transform == "bottleneck" else channels)
        self.channels, self.rd_ratio, self.rd_channels = channels, rd_ratio, rd
        self.rd_min = rd_min
        self.pooling, self.transform_type, self.layer_norm = pooling, transform, layer_norm
        self.fusion, self.zero_init_last = fusion, zero_init_last
        # (a) W_k for attention pooling
        self.conv_mask = nn.Conv2d(channels, 1, 1) if pooling == "att" else None
        # (b) one transform per fusion
        self.transform_add = self._make_transform() if "add" in fusion else None
        self.transform_mul = self._make_transform() if "mul" in fusion else None
        self.reset_parameters()

    def _make_transform(self) -> nn.Sequential:
        C, P = self.channels, self.rd_channels
        if self.transform_type == "linear":
            return nn.Sequential(nn.Conv2d(C, C, 1))                        # W_v
        layers = [nn.Conv2d(C, P, 1)]                                         # W_v1
        if self.layer_norm:
            layers.append(nn.LayerNorm([P, 1, 1]))
        layers += [nn.ReLU(inplace=True), nn.Conv2d(P, C, 1)]                # W_v2
        return nn.Sequential(*layers)

    def reset_parameters(self) -> None:
        """GCNet code: Kaiming fan-in for W_k, PyTorch's default for the transforms, and the
        last conv of the add transform zeroed with ``zero_init_last``. (The official code also
        zeroes the mul transform, which starts that block at x / 2; we keep the default init there,
        as SE does.)"""
        if self.conv_mask is not None:
            nn.init.kaiming_normal_(self.conv_mask.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(self.conv_mask.bias)
        for t in (self.transform_add, self.transform_mul):
            if t is not None:
                for m in t:
                    if hasattr(m, "reset_parameters"):
                        m.reset_parameters()
        if self.transform_add is not None and self.zero_init_last:
            nn.init.zeros_(self.transform_add[-1].weight)
            nn.init.zeros_(self.transform_add[-1].bias)

    def context_modeling(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(a): the global context Tensor[B, C, 1, 1] and the pooling weights Tensor[B, HW]
        (uniform, 1 / HW, for ``pooling="avg"``)."""
        if self.pooling == "att":
            return attention_pooling(x, self.conv_mask)
        B, C, H, W = x.shape
        context = x.mean(dim=(2, 3), keepdim=True)                           # Σ_j x_j / N
        return context, torch.full((B, H * W), 1.0 / (H * W), dtype=x.dtype, device=x.device)

    def fuse(self, x: Tensor, context: Tensor) -> Tensor:
        """(b) and (c): transform the context and merge it into every position."""
        out = x
        if self.transform_mul is not None:
            out = out * torch.sigmoid(self.transform_mul(context))          # z_i = x_i · σ(δ(c))
        if self.transform_add is not None:
            out = out + self.transform_add(context)                          # z_i = x_i + δ(c)
        return out

    def forward(self, x: Tensor, return_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """
        Args:
            x (Tensor[B, C, H, W])
            return_weights (bool): also return the pooling weights, Tensor[B, HW]. Default: False.

        Returns:
            Tensor[B, C, H, W]
        """
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"x must be Tensor[B, {self.channels}, H, W]; got {tuple(x.shape)}")
        context, w = self.context_modeling(x)
        z = self.fuse(x, context)
        return (z, w) if return_weights else z

    def extra_repr(self) -> str:
        s = f"channels={self.channels}"
        if self.transform_type == "bottleneck":
            s += ", " + rd_repr(self.channels, self.rd_ratio, self.rd_channels, self.rd_min)
        if self.pooling != "att":
            s += f", pooling={self.pooling!r}"
        if self.transform_type != "bottleneck":
            s += f", transform={self.transform_type!r}"
        if not self.layer_norm and self.transform_type == "bottleneck":
            s += ", layer_norm=False"
        if self.fusion != ("add",):
            s += f", fusion={self.fusion!r}"
        if not self.zero_init_last:
            s += ", zero_init_last=False"
        return s
