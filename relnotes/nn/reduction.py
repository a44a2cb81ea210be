"""The reduced width of a bottleneck, one rule for every block that has one.

SE (the hidden layer C/r), GC (the transform's bottleneck), NL (the embeddings θ, φ, g) all shrink
the C input channels to ``int(C * rd_ratio)``, or to ``rd_channels`` when it is given, and store
the result as ``block.rd_channels`` (the timm convention of names).

``rd_min`` is a floor on the width computed from the ratio (timm's ``make_divisible(...,
min_value=...)`` habit): at the widths of a small network, C / 16 leaves one or two channels (a
LayerNorm over one channel is constant), and ``rd_min=8`` keeps every bottleneck at 8 or more.
Our choice for the small-scale notebooks; the paper's ResNet-50 widths (C >= 256) never reach it.
"""

from __future__ import annotations

__all__ = ["reduced_channels", "rd_repr"]


def reduced_channels(channels: int, rd_ratio: float, rd_channels: int | None = None, *,
                     rd_min: int | None = None, name: str = "the reduced width") -> int:
    """``rd_channels`` if given, else ``int(channels * rd_ratio)``, raised to ``rd_min`` when that
    is given; ValueError below 1, whose message calls the width ``name`` (the block's own word for
    it, e.g. "the hidden width C/r").

    Examples::

        >>> reduced_channels(1024, 1 / 16), reduced_channels(64, 1 / 16, rd_channels=3)
        (64, 3)
        >>> reduced_channels(32, 1 / 16), reduced_channels(32, 1 / 16, rd_min=8)
        (2, 8)
    """
    if rd_min is not None and (isinstance(rd_min, bool) or not isinstance(rd_min, int)
                               or rd_min < 1):
        raise ValueError(f"rd_min must be None or an int >= 1; got {rd_min!r}")
    width = rd_channels if rd_channels is not None else int(channels * rd_ratio)
    if rd_channels is None and rd_min is not None:
        width = max(width, rd_min)
    if width < 1:
        raise ValueError(f"{name} must be >= 1; got {width} from channels={channels}, "
                         f"rd_ratio={rd_ratio}, rd_channels={rd_channels}")
    return width


def rd_repr(channels: int, rd_ratio: float, rd_channels: int, rd_min: int | None = None) -> str:
    """The ``extra_repr`` part of a reduced width: ``rd_ratio=...`` when the width follows from it,
    ``rd_ratio=..., rd_min=...`` when the floor set it, ``rd_channels=...`` when it was given
    otherwise."""
    if rd_channels == int(channels * rd_ratio):
        return f"rd_ratio={rd_ratio:g}"
    if rd_min is not None and rd_channels == max(int(channels * rd_ratio), rd_min):
        return f"rd_ratio={rd_ratio:g}, rd_min={rd_min}"
    return f"rd_channels={rd_channels}"
