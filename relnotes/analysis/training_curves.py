"""Reading a training curve: did the loss fall?

A network that stops learning (a saturated sigmoid, a rate too high) shows it in its loss before
it shows it in a metric: the mean loss of the last steps stays where the first steps were.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["loss_ends"]


def loss_ends(losses: Sequence[float], fraction: float = 0.1) -> tuple[float, float]:
    """The mean loss of the first and of the last ``fraction`` of the steps.

    Args:
        losses (sequence of float): the loss of every step, in order.
        fraction (float): in (0, 1]; at least one step is taken at each end. Default: 0.1.

    Returns:
        (float, float): (first, last).

    Examples:
        >>> loss_ends([4.0, 2.0, 1.0, 1.0, 0.5], fraction=0.4)   # two steps at each end
        (3.0, 0.75)
    """
    if not losses:
        raise ValueError("losses must hold at least one step; got an empty sequence")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1]; got {fraction}")
    k = max(1, int(len(losses) * fraction))
    return float(sum(losses[:k]) / k), float(sum(losses[-k:]) / k)
