r"""The global context (GC) block of GCNet.

Cao et al., "GCNet: Non-local Networks Meet Squeeze-Excitation Networks and Beyond",
arXiv:1904.11492, §4.2; official code ``xvjiarui/GCNet: mmdet/ops/gcb/context_block.py``.
The simplified non-local block's context modeling, SE's bottleneck transform with a LayerNorm
added, and the non-local block's add fusion:

.. math::

    z_i = x_i + W_{v2}\, \mathrm{ReLU}\Big(\mathrm{LN}\Big(W_{v1} \sum_j
          \frac{e^{W_k x_j}}{\sum_m e^{W_k x_m}}\, x_j\Big)\Big)     \qquad \text{(GCNet Eq. 3)}

:math:`W_k`: C -> 1, :math:`W_{v1}`: C -> C r, :math:`W_{v2}`: C r -> C (r = 1/16 in the
COCO models). The LayerNorm eases the optimisation of the two-layer bottleneck (GCNet §4.2).
:math:`W_{v2}` starts at zero, so a block inserted into a pretrained network leaves it
unchanged. The GCNet ablations switch the pooling (att / avg), the fusion (add / mul) and the
ratio; they are constructor arguments here, and the block is the framework
:class:`relnotes.nn.ContextBlock` with a bottleneck transform.
"""

from __future__ import annotations

from .context_block import ContextBlock

__all__ = ["GlobalContextBlock"]


class GlobalContextBlock(ContextBlock):
    """Global context block: :class:`ContextBlock` with the bottleneck transform.

    Args:
        channels (int): C, channels of the input and output.
        rd_ratio (float): r; the bottleneck has int(C * r) channels. Default: 1/16.
        rd_channels (int, optional): the bottleneck width given directly. Default: None.
        rd_min (int, optional): a floor on the width from ``rd_ratio``. Default: None (no floor).
        pooling (str): ``"att"`` or ``"avg"``. Default: ``"att"``.
        layer_norm (bool): LayerNorm in the bottleneck. Default: True.
        fusion (tuple[str, ...]): a non-empty subset of ``("add", "mul")``. Default: ``("add",)``.
        zero_init_last (bool): start the last conv of the add transform at 0. Default: True.
    """

    def __init__(
        self,
        channels: int,
        *,
        rd_ratio: float = 1 / 16,
        rd_channels: int | None = None,
        rd_min: int | None = None,
        pooling: str = "att",
        layer_norm: bool = True,
        fusion: tuple[str, ...] = ("add",),
        zero_init_last: bool = True,
    ) -> None:
        super().__init__(channels, rd_ratio=rd_ratio, rd_channels=rd_channels, rd_min=rd_min,
                         pooling=pooling,
                         transform="bottleneck", layer_norm=layer_norm, fusion=fusion,
                         zero_init_last=zero_init_last)
