r"""The bottleneck ResNet with a pluggable spatial layer, and ResNet-26/50.

He, Zhang, Ren, Sun, *Deep Residual Learning for Image Recognition*, CVPR 2016, in torchvision's
layout ("ResNet v1.5": the stride of a downsampling block sits in its 3x3 conv; the shortcut of a
block that changes shape is a strided 1x1 conv + BN; module names ``conv1``, ``bn1``,
``layer1``..., so :func:`resnet50` loads torchvision's ``resnet50`` state dict).

The spatial layer of every block is an argument (``spatial_layer(width, stride)``), so the same
:class:`ResNet` is LR-Net when that layer is a local relation layer
(:mod:`relnotes.models.lrnet`), and :func:`bottleneck_stages` builds the stages of the small
networks too (:mod:`relnotes.models.lrnet_mini`). The 26-layer version has [2, 2, 2, 2] blocks
(the LR reference note's reconstruction; not checked against the paper).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import torch
from torch import Tensor, nn

from ..nn.local_relation import LocalRelation2d

__all__ = ["Bottleneck", "ResNet", "bottleneck_stages", "conv_kxk", "init_resnet_", "resnet26",
           "resnet50"]


def conv_kxk(channels: int, stride: int = 1, *, kernel_size: int = 3) -> nn.Conv2d:
    """The ResNet spatial layer: a k x k conv, C -> C, "same" padding, no bias."""
    return nn.Conv2d(channels, channels, kernel_size, stride=stride, padding=kernel_size // 2,
                     bias=False)


class Bottleneck(nn.Module):
    """[1x1, width; spatial layer, width, stride; 1x1, out_channels] + shortcut.

    Args:
        in_channels (int): channels of the input.
        width (int): channels of the middle (64 in ResNet-50's res2, 100 in LR-Net-50's).
        out_channels (int): channels of the output (256 in res2).
        stride (int): stride of the spatial layer and of the shortcut. Default: 1.
        spatial_layer (Callable[[int, int], nn.Module]): builds the spatial layer from
            (width, stride). Default: :func:`conv_kxk` (3x3).
    """

    def __init__(self, in_channels: int, width: int, out_channels: int, *, stride: int = 1,
                 spatial_layer: Callable[[int, int], nn.Module] = conv_kxk) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = spatial_layer(width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(y + shortcut)


def bottleneck_stages(in_channels: int, layers: Sequence[int], widths: Sequence[int],
                      out_channels: Sequence[int], *,
                      spatial_layer: Callable[[int, int], nn.Module] = conv_kxk
                      ) -> tuple[list[nn.Sequential], int]:
    """The stages of a bottleneck ResNet, built in order (stage by stage, block by block).

    Stage i has ``layers[i]`` :class:`Bottleneck` blocks of middle width ``widths[i]`` and output
    ``out_channels[i]``; the first block of every stage after the first has stride 2.

    Returns:
        (list[nn.Sequential], int): the stages, and the channels of the last one's output.
    """
    stages = []
    for i, (n, width, c_out) in enumerate(zip(layers, widths, out_channels)):
        blocks = []
        for j in range(n):
            stride = 2 if (i > 0 and j == 0) else 1
            blocks.append(Bottleneck(in_channels, width, c_out, stride=stride,
                                     spatial_layer=spatial_layer))
            in_channels = c_out
        stages.append(nn.Sequential(*blocks))
    return stages, in_channels


class ResNet(nn.Module):
    """Bottleneck ResNet with a pluggable spatial layer; build it with :func:`resnet50`,
    :func:`relnotes.models.lrnet.lrnet50`, ...

    Args:
        layers (Sequence[int]): blocks per stage, e.g. (3, 4, 6, 3).
        widths (Sequence[int]): middle width of the blocks of each stage, e.g. (64, 128, 256, 512).
        spatial_layer (Callable[[int, int], nn.Module]): see :class:`Bottleneck`.
            Default: :func:`conv_kxk` (3x3).
        stem_relation (nn.Module, optional): the LR-Net stem: if given, the stem is a 1x1 conv
            3 -> 64 + BN + ReLU, then this layer (e.g. a 7x7 LR layer, 64 channels, stride 2) + BN
            + ReLU; if None, the ResNet stem, a 7x7 conv, stride 2. Then a 3x3 max pool, stride 2.
            Default: None.
        num_classes (int): outputs of the fc layer. Default: 1000.

    The output channels of the stages are 256, 512, 1024, 2048 whatever the widths.
    """

    def __init__(self, layers: Sequence[int], widths: Sequence[int], *,
                 spatial_layer: Callable[[int, int], nn.Module] = conv_kxk,
                 stem_relation: nn.Module | None = None, num_classes: int = 1000) -> None:
        super().__init__()
        if len(layers) != 4 or len(widths) != 4:
            raise ValueError(f"layers and widths must give the 4 stages; got layers={layers}, "
                             f"widths={widths}")
        self.layers_per_stage, self.widths = tuple(layers), tuple(widths)
        if stem_relation is None:
            self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
            self.stem_relation, self.stem_bn = None, None
        else:
            self.conv1 = nn.Conv2d(3, 64, 1, bias=False)
            self.stem_relation, self.stem_bn = stem_relation, nn.BatchNorm2d(64)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        stages, in_channels = bottleneck_stages(64, layers, widths, [256 * 2**i for i in range(4)],
                                                spatial_layer=spatial_layer)
        for i, stage in enumerate(stages):
            setattr(self, f"layer{i + 1}", stage)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """:func:`init_resnet_`: torchvision's ResNet init (Kaiming normal, fan-out, for every
        conv but the local relation layers' query and key; BN weight 1 and bias 0); the fc keeps
        PyTorch's default."""
        init_resnet_(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        if self.stem_relation is not None:
            x = self.relu(self.stem_bn(self.stem_relation(x)))
        x = self.maxpool(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def init_resnet_(model: nn.Module) -> None:
    """torchvision's ResNet init, in place: Kaiming normal (fan-out, ReLU) for every conv, the
    local relation layers' geometry MLP and output 1x1 included; BN weight 1 and bias 0; linear
    layers untouched. The query and key 1x1s of the local relation layers keep their own small
    init (:meth:`relnotes.nn.LocalRelation2d.reset_appearance_parameters`)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    for m in model.modules():
        if isinstance(m, LocalRelation2d):
            m.reset_appearance_parameters()


def resnet26(*, kernel_size: int = 3, num_classes: int = 1000) -> ResNet:
    """ResNet-26: [2, 2, 2, 2] bottlenecks, widths 64/128/256/512, k x k spatial convs.
    Default: ``kernel_size=3``."""
    return ResNet((2, 2, 2, 2), (64, 128, 256, 512), num_classes=num_classes,
                  spatial_layer=partial(conv_kxk, kernel_size=kernel_size))


def resnet50(*, num_classes: int = 1000) -> ResNet:
    """ResNet-50 (v1.5, torchvision's layout): [3, 4, 6, 3] bottlenecks, widths 64/128/256/512."""
    return ResNet((3, 4, 6, 3), (64, 128, 256, 512), num_classes=num_classes)
