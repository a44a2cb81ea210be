r"""A small ResNet classifier with pluggable context blocks, for GCNet's analyses at small scale.

GCNet (Cao et al., arXiv:1904.11492) studies its blocks inside ResNet-50. On a CPU we use a
CIFAR-size ResNet instead: a 3x3 stem, three stages of basic residual blocks (two 3x3 convs each;
the second and third stage halve the resolution), global average pooling and a linear layer.
The blocks go where GCNet puts them:

- ``context_block``: one block in *every* residual block of ``context_stages``, on the residual
  branch after the last conv and its BatchNorm, before the identity is added (GCNet's
  ``after_1x1`` position; for basic blocks "just before the skip connection",
  ``xvjiarui/GCNet#34``). This is where the COCO models have GC and SE.
- ``stage_block``: a single block between two stages, after stage ``stage_block_after`` (the
  non-local recipe: one NL block in the middle of the network).

Both are constructors ``make(C) -> nn.Module``, so a notebook writes exactly what it inserts::

    model = ContextClassifier(4, context_block=lambda c: GlobalContextBlock(c, rd_ratio=1 / 16))
    model = ContextClassifier(4, stage_block=lambda c: NonLocal2d(c, zero_init_last=True))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn

__all__ = ["BasicBlock", "ContextClassifier"]

BlockFn = Callable[[int], nn.Module]


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, then the optional context block, + shortcut, ReLU.

    Args:
        in_channels (int), out_channels (int)
        stride (int): of the first conv; the shortcut is a strided 1x1 conv + BN when the shape
            changes. Default: 1.
        context (nn.Module, optional): applied to the residual branch before the add.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 context: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.context = context
        self.shortcut = (nn.Identity() if stride == 1 and in_channels == out_channels else
                         nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                       nn.BatchNorm2d(out_channels)))

    def forward(self, x: Tensor) -> Tensor:
        r = self.bn2(self.conv2(self.bn1(self.conv1(x)).relu()))
        if self.context is not None:
            r = self.context(r)                                       # GCNet: after the last conv
        return (r + self.shortcut(x)).relu()


class ContextClassifier(nn.Module):
    """Small ResNet (3 stages of basic blocks) with pluggable context blocks; see the module
    docstring.

    Args:
        num_classes (int): outputs of the linear classifier.
        in_channels (int): image channels. Default: 3.
        widths (Sequence[int]): channels of the three stages. Default: (16, 32, 64).
        depths (Sequence[int]): residual blocks per stage. Default: (1, 1, 1).
        context_block (callable, optional): ``make(C)``, put in every residual block of
            ``context_stages``. Default: None.
        context_stages (Sequence[int]): stages (1, 2, 3) that get ``context_block``.
            Default: (2, 3).
        stage_block (callable, optional): ``make(C)``, one block after stage
            ``stage_block_after``. Default: None.
        stage_block_after (int): 1, 2 or 3. Default: 2.

    Shapes: images Tensor[B, in_channels, H, W] -> logits Tensor[B, num_classes]; stage s works at
    H / 2^(s-1) x W / 2^(s-1).
    """

    def __init__(
        self,
        num_classes: int,
        *,
        in_channels: int = 3,
        widths: Sequence[int] = (16, 32, 64),
        depths: Sequence[int] = (1, 1, 1),
        context_block: BlockFn | None = None,
        context_stages: Sequence[int] = (2, 3),
        stage_block: BlockFn | None = None,
        stage_block_after: int = 2,
    ) -> None:
        super().__init__()
        widths, depths, context_stages = tuple(widths), tuple(depths), tuple(context_stages)
        if len(widths) != 3 or len(depths) != 3 or min(widths) < 1 or min(depths) < 1:
            raise ValueError(f"widths and depths must be 3 positive ints each; got "
                             f"widths={widths}, depths={depths}")
        if any(s not in (1, 2, 3) for s in context_stages):
            raise ValueError(f"context_stages must be a subset of (1, 2, 3); got {context_stages}")
        if stage_block_after not in (1, 2, 3):
            raise ValueError(f"stage_block_after must be 1, 2 or 3; got {stage_block_after}")
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        self.context_blocks: list[nn.Module] = []
        stages, c_in = [], widths[0]
        for s, (c, d) in enumerate(zip(widths, depths), start=1):
            blocks = []
            for b in range(d):
                context = (context_block(c) if context_block is not None and s in context_stages
                           else None)
                if context is not None:
                    self.context_blocks.append(context)
                blocks.append(BasicBlock(c_in, c, stride=2 if (b == 0 and s > 1) else 1,
                                         context=context))
                c_in = c
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.stage_block = stage_block(widths[stage_block_after - 1]) if stage_block else None
        self.stage_block_after = stage_block_after
        self.fc = nn.Linear(widths[-1], num_classes)

    def features(self, x: Tensor) -> Tensor:
        """Tensor[B, in_channels, H, W] -> the last stage's map, Tensor[B, widths[-1], h, w]."""
        x = self.stem(x)
        for s, stage in enumerate(self.stages, start=1):
            x = stage(x)
            if self.stage_block is not None and s == self.stage_block_after:
                x = self.stage_block(x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))
