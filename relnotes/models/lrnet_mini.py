r"""ResNet-26-mini and LR-Net-26-mini: the 26-layer networks of :mod:`relnotes.models.lrnet`,
shrunk for small grayscale images (28 x 28 MNIST digits and the synthetic composition set of
:mod:`relnotes.data`), so that they train on a CPU in seconds.

Same bottleneck (:class:`relnotes.models.resnet.Bottleneck`), same choice of spatial layer, but
3 stages instead of 4 and 4x fewer channels than ResNet-26's first three stages (sizes for a
28 x 28 input):

============  ===================================  ==============================================
stage         ResNet-26-mini (width w = 16)        LR-Net-26-mini (k x k, m = 8)
============  ===================================  ==============================================
stem (14²)    3x3 conv, w, stride 2                1x1 conv, w; k x k LR, w, stride 2
stage1 (14²)  [1x1, w; kxk, w; 1x1, 4w] x 3        [1x1, 25w/16; kxk LR; 1x1, 4w] x 3
stage2 (7²)   [1x1, 2w; kxk, 2w; 1x1, 8w] x 3      [1x1, 50w/16; kxk LR; 1x1, 8w] x 3
stage3 (4²)   [1x1, 4w; kxk, 4w; 1x1, 16w] x 2     [1x1, 100w/16; kxk LR; 1x1, 16w] x 2
(1²)          global average pool, fc              same
============  ===================================  ==============================================

- **26 layers**: 1 stem conv + 8 bottlenecks x 3 + 1 fc, as in ResNet-26 (the LR-Net's stem has
  one more 1x1, as in LR-Net-26). The 4 stages of [2, 2, 2, 2] become 3 stages of [3, 3, 2] so
  that the count stays 26.
- **Stem stride 2, no max pool** (ImageNet's stem divides 224 by 4; here 28 -> 14). The stride
  keeps the CPU cost of the LR layers affordable: the PyTorch reference of the op loops over the
  k² offsets (``stem_stride=1`` keeps full resolution, about 4x the cost). Stages 2 and 3
  downsample by 2 in their first block's spatial layer ("v1.5", as in
  :mod:`relnotes.models.lrnet`).
- **Widening** (the paper's 64 -> 100 rule, applied as is): the LR-Net's middle widths are the
  ResNet's times 25/16, rounded (16/32/64 -> 25/50/100 for w = 16). On ImageNet this makes
  LR-Net-50 (7 x 7) cost about the FLOPs of ResNet-50 (3 x 3). At this width it does so only
  roughly: with w = 16 and 28 x 28 inputs LR-Net-26-mini has 1.00x the MACs of
  ResNet-26-mini (3 x 3) at k = 3 and 1.15x at k = 7 (measured by the tests), because a 3 x 3
  conv's cost grows as width² and the aggregation's only as width, so the conv is a smaller share
  of a narrow block. Parameters: 221k for LR-Net-mini, whatever k, vs 242k for ResNet-mini (3 x 3).
- **The ResNet's kernel_size** applies to its blocks' spatial convs only; its stem stays a
  3 x 3 conv, whatever k. The LR-Net's stem follows LR-Net-26: a 1x1 conv (in_channels -> w)
  and a k x k LR layer (w channels, G = ceil(w/m) groups, stride 2).
- Everything else (init, BN + ReLU placement, shortcuts) is :mod:`relnotes.models.resnet`'s.

MACs: use :func:`relnotes.analysis.count_macs_with_local_relation`, which adds the local
relation op's closed form to ``FlopCounterMode``'s count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import torch
from torch import Tensor, nn

from ..nn.local_relation import LocalRelation2d
from .resnet import bottleneck_stages, conv_kxk, init_resnet_

__all__ = ["MiniResNet", "resnet_mini", "lrnet_mini", "lr_widths", "MINI_LAYERS"]

#: Blocks per stage of the 26-layer mini networks.
MINI_LAYERS = (3, 3, 2)


def lr_widths(width: int, stages: int = 3) -> tuple[int, ...]:
    """Middle widths of LR-Net-mini's stages: ``round(width * 2**i * 25 / 16)`` (the paper's
    64 -> 100 widening, applied to the ResNet-mini widths ``width * 2**i``)."""
    return tuple(round(width * 2**i * 25 / 16) for i in range(stages))


class MiniResNet(nn.Module):
    """Bottleneck ResNet for small images with a pluggable spatial layer; build it with
    :func:`resnet_mini` or :func:`lrnet_mini`.

    Args:
        layers (Sequence[int]): blocks per stage, e.g. (3, 3, 2).
        widths (Sequence[int]): middle width of each stage's blocks, e.g. (16, 32, 64).
        stem_channels (int): output channels of the stem (also the input of stage 1).
        spatial_layer (Callable[[int, int], nn.Module]): builds a block's spatial layer from
            (width, stride); see :class:`relnotes.models.resnet.Bottleneck`.
        stem_relation (nn.Module, optional): if given, the stem is a 1x1 conv + BN + ReLU, then
            this layer (with its own stride) + BN + ReLU (LR-Net); if None, a 3x3 conv with
            stride ``stem_stride`` + BN + ReLU (ResNet). Default: None.
        stem_stride (int): stride of the ResNet stem's 3x3 conv. Default: 1.
        in_channels (int): channels of the input images. Default: 1.
        num_classes (int): outputs of the fc layer. Default: 10.

    Stage i has ``stem_channels * 4 * 2**i`` output channels (64, 128, 256 for a stem of 16);
    stages after the first downsample by 2.
    """

    def __init__(self, layers: Sequence[int], widths: Sequence[int], *, stem_channels: int,
                 spatial_layer: Callable[[int, int], nn.Module] = conv_kxk,
                 stem_relation: nn.Module | None = None, stem_stride: int = 1,
                 in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        if len(layers) != len(widths) or not layers:
            raise ValueError(f"layers and widths must give the same number (>= 1) of stages; "
                             f"got layers={layers}, widths={widths}")
        self.layers_per_stage, self.widths = tuple(layers), tuple(widths)
        if stem_relation is None:
            self.conv1 = nn.Conv2d(in_channels, stem_channels, 3, stride=stem_stride, padding=1,
                                   bias=False)
            self.stem_relation, self.stem_bn = None, None
        else:
            self.conv1 = nn.Conv2d(in_channels, stem_channels, 1, bias=False)
            self.stem_relation, self.stem_bn = stem_relation, nn.BatchNorm2d(stem_channels)
        self.bn1 = nn.BatchNorm2d(stem_channels)
        self.relu = nn.ReLU(inplace=True)
        stages, c_in = bottleneck_stages(
            stem_channels, layers, widths,
            [stem_channels * 4 * 2**i for i in range(len(layers))], spatial_layer=spatial_layer)
        self.stages = nn.Sequential(*stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """As :meth:`relnotes.models.resnet.ResNet.reset_parameters` (:func:`init_resnet_`):
        Kaiming normal (fan-out, ReLU) for every conv but the local relation layers' query and
        key, BN weight 1 and bias 0, the fc keeps PyTorch's default."""
        init_resnet_(self)

    def features(self, x: Tensor) -> Tensor:
        """The pooled features before the fc: Tensor[B, 16 * stem_channels]."""
        x = self.relu(self.bn1(self.conv1(x)))
        if self.stem_relation is not None:
            x = self.relu(self.stem_bn(self.stem_relation(x)))
        return torch.flatten(self.avgpool(self.stages(x)), 1)

    def forward(self, x: Tensor) -> Tensor:
        """x: Tensor[B, in_channels, H, W] -> logits Tensor[B, num_classes]."""
        return self.fc(self.features(x))


def resnet_mini(kernel_size: int = 3, num_classes: int = 10, in_channels: int = 1,
                width: int = 16, *, layers: Sequence[int] = MINI_LAYERS,
                stem_stride: int = 2) -> MiniResNet:
    """ResNet-26-mini: stem 3x3 conv (``width`` channels, stride 2), then [3, 3, 2] bottlenecks
    with middle widths ``width``, 2 ``width``, 4 ``width`` and k x k spatial convs.

    Args:
        kernel_size (int): k of the blocks' spatial convs (odd). Default: 3.
        num_classes (int): Default: 10.
        in_channels (int): Default: 1 (grayscale).
        width (int): the stem's channels and stage 1's middle width. Default: 16.
        layers (Sequence[int]): blocks per stage. Default: (3, 3, 2).
        stem_stride (int): stride of the stem. Default: 2.
    """
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd; got {kernel_size}")
    return MiniResNet(layers, tuple(width * 2**i for i in range(len(layers))),
                      stem_channels=width, in_channels=in_channels, num_classes=num_classes,
                      spatial_layer=partial(conv_kxk, kernel_size=kernel_size),
                      stem_stride=stem_stride)


def lrnet_mini(kernel_size: int = 7, m: int = 8, num_classes: int = 10, in_channels: int = 1,
               width: int = 16, *, layers: Sequence[int] = MINI_LAYERS, stem_stride: int = 2,
               composability: str = "squared_difference",
               geometry_channels: int | None = None, position_units: str = "window",
               locality_sigma: float | None = None) -> MiniResNet:
    """LR-Net-26-mini: stem 1x1 conv + k x k LR layer (``width`` channels, stride 2), then
    [3, 3, 2] bottlenecks with k x k LR layers and middle widths :func:`lr_widths` (``width``),
    i.e. 25/50/100 for ``width`` = 16: widened 25/16 x, the paper's rule (see the module
    docstring for how well it matches ResNet-26-mini's FLOPs here).

    Args:
        kernel_size (int): k of every LR layer (odd). Default: 7.
        m (int): channels per group sharing an aggregation map; see
            :class:`relnotes.nn.LocalRelation2d`. Default: 8.
        num_classes (int): Default: 10.
        in_channels (int): Default: 1 (grayscale).
        width (int): the stem's channels; the output channels of the stages are the
            ResNet-mini's (4, 8, 16 x ``width``). Default: 16.
        layers (Sequence[int]): blocks per stage. Default: (3, 3, 2).
        stem_stride (int): stride of the stem's LR layer. Default: 2.
        composability (str): Φ. Default: ``"squared_difference"``.
        geometry_channels (int, optional): hidden width of the geometry MLPs. Default: G.
        position_units (str): the geometry MLPs' offsets, ``"window"`` or ``"pixel"``; see
            :class:`relnotes.nn.LocalRelation2d`. Default: ``"window"``.
        locality_sigma (float, optional): the centred locality term of every LR layer's prior,
            in pixels. Default: None.
    """
    lr = partial(LocalRelation2d, kernel_size=kernel_size, channels_per_group=m,
                 composability=composability, geometry_channels=geometry_channels,
                 position_units=position_units, locality_sigma=locality_sigma)
    return MiniResNet(layers, lr_widths(width, len(layers)), stem_channels=width,
                      in_channels=in_channels, num_classes=num_classes,
                      spatial_layer=lambda c, s: lr(c, stride=s),
                      stem_relation=lr(width, stride=stem_stride))
