r"""A small digit classifier with one adaptive block: convolution, deformable convolution, local
relation, or deformable followed by relation (the talk's "versus Deformable ConvNets" slide).

Layout (28 x 28 input): 3x3 conv (``width``) -> 3x3 conv stride 2 (2 ``width``, 14 x 14) ->
**the adaptive block** -> 3x3 conv stride 2 (4 ``width``, 7 x 7) -> global average pool -> linear.
Every conv is followed by BatchNorm and ReLU. The adaptive block is residual,
``x + BN(layers(x))`` then ReLU, with ``layers`` by ``variant``:

- ``"conv"``: a 3x3 convolution;
- ``"conv+conv"``: two 3x3 convolutions with BN + ReLU between (the depth of the combination);
- ``"deformable"``: a 3x3 DCN v2 layer (:class:`~relnotes.nn.ModulatedDeformConv2d`);
- ``"relation"``: a k x k local relation layer (:class:`~relnotes.nn.LocalRelation2d`);
- ``"deformable+relation"``: the DCN v2 layer, BN + ReLU, then the local relation layer.

The layers are reachable as ``model.deformable`` and ``model.relation`` (None when absent), so
their sampling points and aggregation weights can be drawn.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..nn.deformable import ModulatedDeformConv2d
from ..nn.local_relation import LocalRelation2d

__all__ = ["VARIANTS", "AdaptiveNet"]

VARIANTS = ("conv", "conv+conv", "deformable", "relation", "deformable+relation")


def _conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class AdaptiveNet(nn.Module):
    """See the module docstring.

    Args:
        variant (str): one of :data:`VARIANTS`.
        width (int): channels of the first conv. Default: 16.
        kernel_size (int): k of the local relation layer. Default: 7.
        channels_per_group (int): m of the local relation layer. Default: 8.
        num_classes (int): Default: 10.
    """

    def __init__(self, variant: str, *, width: int = 16, kernel_size: int = 7,
                 channels_per_group: int = 8, num_classes: int = 10) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}; got {variant!r}")
        self.variant = variant
        c = 2 * width
        self.stem = nn.Sequential(_conv_bn_relu(1, width), _conv_bn_relu(width, c, 2))
        self.deformable = ModulatedDeformConv2d(c, bias=False) if "deformable" in variant else None
        self.relation = (LocalRelation2d(c, kernel_size=kernel_size,
                                         channels_per_group=channels_per_group)
                         if "relation" in variant else None)
        if variant == "conv":
            layers = [nn.Conv2d(c, c, 3, 1, 1, bias=False)]
        elif variant == "conv+conv":
            layers = [*_conv_bn_relu(c, c), nn.Conv2d(c, c, 3, 1, 1, bias=False)]
        elif variant == "deformable+relation":
            layers = [self.deformable, nn.BatchNorm2d(c), nn.ReLU(inplace=True), self.relation]
        else:
            layers = [self.deformable if variant == "deformable" else self.relation]
        self.block = nn.Sequential(*layers, nn.BatchNorm2d(c))
        self.head = nn.Sequential(_conv_bn_relu(c, 2 * c, 2), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten(), nn.Linear(2 * c, num_classes))

    def features(self, x: Tensor) -> Tensor:
        """The adaptive block's input: Tensor[B, 2 width, 14, 14] for 28 x 28 images."""
        return self.stem(x)

    def forward(self, x: Tensor) -> Tensor:
        h = self.stem(x)
        h = (h + self.block(h)).relu()
        return self.head(h)
