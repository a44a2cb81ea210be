"""The reduced width of a bottleneck, one rule for every block that has one.

SE (the hidden layer C/r), GC (the transform's bottleneck), NL (the embeddings θ, φ, g) all shrink
the C input channels to ``int(C * rd_ratio)``, or to ``rd_channels`` when it is given, and store
the result as ``block.rd_channels`` (the timm convention of names).
"""

from __future__ import annotations

__all__ = ["reduced_channels", "rd_repr"]


def reduced_channels(channels: int, rd_ratio: float, rd_channels: int | None = None, *,
                     name: str = "the reduced width") -> int:
    """``rd_channels`` if given, else ``int(channels * rd_ratio)``; ValueError below 1, whose
    message calls the width ``name`` (the block's own word for it, e.g. "the hidden width C/r").

    Examples::

        >>> reduced_channels(1024, 1 / 16), reduced_channels(64, 1 / 16, rd_channels=3)
        (64, 3)
    """
    width = rd_channels if rd_channels is not None else int(channels * rd_ratio)
    if width < 1:
        raise ValueError(f"{name} must be >= 1; got {width} from channels={channels}, "
                         f"rd_ratio={rd_ratio}, rd_channels={rd_channels}")
    return width


def rd_repr(channels: int, rd_ratio: float, rd_channels: int) -> str:
    """The ``extra_repr`` part of a reduced width: ``rd_ratio=...`` when the width follows from it,
    ``rd_channels=...`` when it was given otherwise."""
    if rd_channels == int(channels * rd_ratio):
        return f"rd_ratio={rd_ratio:g}"
    return f"rd_channels={rd_channels}"
