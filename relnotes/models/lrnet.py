r"""LR-Net-26/50 beside ResNet-26/50 (Hu, Zhang, Xie, Lin, *Local Relation Networks for Image
Recognition*, ICCV 2019, arXiv:1904.11491; the architecture table of Han Hu's talk).

One bottleneck ResNet (:class:`relnotes.models.resnet.ResNet`), two choices of the spatial layer
of each block:

============  ===================================  ==============================================
stage         ResNet-50                            LR-Net-50 (7x7, m = 8)
============  ===================================  ==============================================
res1 (112²)   7x7 conv, 64, stride 2               1x1 conv, 64; 7x7 LR, 64, stride 2
(56²)         3x3 max pool, stride 2               3x3 max pool, stride 2
res2 (56²)    [1x1, 64; 3x3, 64; 1x1, 256] x 3     [1x1, 100; 7x7 LR, 100; 1x1, 256] x 3
res3 (28²)    [1x1, 128; 3x3, 128; 1x1, 512] x 4   [1x1, 200; 7x7 LR, 200; 1x1, 512] x 4
res4 (14²)    [1x1, 256; 3x3, 256; 1x1, 1024] x 6  [1x1, 400; 7x7 LR, 400; 1x1, 1024] x 6
res5 (7²)     [1x1, 512; 3x3, 512; 1x1, 2048] x 3  [1x1, 800; 7x7 LR, 800; 1x1, 2048] x 3
(1²)          global average pool, 1000-d fc       same
============  ===================================  ==============================================

The 26-layer versions have [2, 2, 2, 2] blocks (the reference note's reconstruction; not checked
against the paper). Reconstruction choices, from the reference note (§3):

- the stride of a downsampling block sits in its spatial layer (the 3x3 conv, "ResNet v1.5", as in
  torchvision; the LR layer for LR-Net): only with the stride in the LR layer do the two 50-layer
  networks have about equal FLOPs, as the paper says;
- the shortcut of a block that changes shape is a strided 1x1 conv + BN, as in torchvision;
- BN + ReLU follow every conv and LR layer (BN without ReLU on the last 1x1 of a block, then the
  residual sum and a ReLU);
- module names follow torchvision (``conv1``, ``bn1``, ``layer1``...; the spatial layer of a
  block is ``conv2`` even when it is a local relation layer), so
  :func:`relnotes.models.resnet.resnet50` loads torchvision's ``resnet50`` state dict.

MACs: the local relation op is made of element-wise PyTorch ops, which ``FlopCounterMode`` does
not count; :func:`relnotes.analysis.count_macs_with_local_relation` adds its closed form
(:func:`relnotes.ops.local_relation_macs`) for every call, recorded by forward hooks.
"""

from __future__ import annotations

from functools import partial

from ..nn.local_relation import LocalRelation2d
from .resnet import ResNet

__all__ = ["lrnet26", "lrnet50"]


def _lrnet(layers, *, kernel_size, m, composability, geometry_channels, num_classes) -> ResNet:
    lr = partial(LocalRelation2d, kernel_size=kernel_size, channels_per_group=m,
                 composability=composability, geometry_channels=geometry_channels)
    return ResNet(layers, (100, 200, 400, 800), spatial_layer=lambda c, s: lr(c, stride=s),
                  stem_relation=lr(64, stride=2), num_classes=num_classes)


def lrnet26(*, kernel_size: int = 7, m: int = 8, composability: str = "squared_difference",
            geometry_channels: int | None = None, num_classes: int = 1000) -> ResNet:
    """LR-Net-26: [2, 2, 2, 2] bottlenecks, widths 100/200/400/800, k x k LR layers, LR stem.
    Defaults: k = 7, m = 8, Φ = squared difference; see :class:`LocalRelation2d`."""
    return _lrnet((2, 2, 2, 2), kernel_size=kernel_size, m=m, composability=composability,
                  geometry_channels=geometry_channels, num_classes=num_classes)


def lrnet50(*, kernel_size: int = 7, m: int = 8, composability: str = "squared_difference",
            geometry_channels: int | None = None, num_classes: int = 1000) -> ResNet:
    """LR-Net-50: [3, 4, 6, 3] bottlenecks, widths 100/200/400/800, k x k LR layers, LR stem.
    Defaults: k = 7, m = 8, Φ = squared difference; see :class:`LocalRelation2d`."""
    return _lrnet((3, 4, 6, 3), kernel_size=kernel_size, m=m, composability=composability,
                  geometry_channels=geometry_channels, num_classes=num_classes)
