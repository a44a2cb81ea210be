"""MAC formulas for ops that :class:`torch.utils.flop_counter.FlopCounterMode` does not know.

The registry sits on the bottom floor (``ops``) so that a custom op can register its own formula
where it is defined (:mod:`relnotes.ops.kernels.custom_op`) without importing the measurement
code above it. :mod:`relnotes.analysis.complexity` imports this module, so every formula here is
registered before anything is counted. FLOPs are multiply-accumulates (MACs), as in the papers;
``FlopCounterMode`` counts 2 per MAC, so a MAC formula is registered as ``2 * macs``.
"""

from collections.abc import Callable

import torch
import torchvision.ops  # noqa: F401  (loads the torchvision:: operators)
from torch.utils.flop_counter import register_flop_formula

__all__ = ["register_mac_formula"]


def register_mac_formula(op) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorator: register the MAC count of a custom op with ``FlopCounterMode``.

    The decorated function receives the op's arguments with every tensor replaced by its shape
    (``torch.Size``), other arguments as they are, and the output's shape as ``out_shape=``; it
    returns MACs. ``2 * macs`` is registered through
    :func:`torch.utils.flop_counter.register_flop_formula`, to match the built-in formulas.
    Register before counting: a ``FlopCounterMode`` copies the registry when it is created.
    An op without a formula is executed but counted as 0, with no warning.

    Args:
        op (OpOverloadPacket): the op, e.g. ``torch.ops.relnotes.local_relation`` (not its
            ``.default`` overload). torch raises ``ValueError`` for other targets and
            ``RuntimeError`` if the op already has a formula.

    Returns:
        the decorator; it returns the MAC function unchanged, so it can be called directly.

    Example: a batched matmul with a scale, ``out[b] = scale * a[b] @ c[b]``::

        @torch.library.custom_op("mylib::scaled_mm", mutates_args=())
        def scaled_mm(a: torch.Tensor, c: torch.Tensor, scale: float) -> torch.Tensor:
            return scale * torch.bmm(a, c)

        @scaled_mm.register_fake
        def _(a, c, scale):
            return a.new_empty(a.shape[0], a.shape[1], c.shape[2])

        @register_mac_formula(torch.ops.mylib.scaled_mm)
        def scaled_mm_macs(a_shape, c_shape, scale, *, out_shape=None, **kwargs):
            (b, m, k), (_, _, n) = a_shape, c_shape
            return b * m * k * n  # the scale multiply is element-wise, so free

    Now ``count_macs`` of a module calling ``scaled_mm`` on ``[2, 3, 4] @ [2, 4, 5]`` gives 120;
    without the formula it gives 0 (``tests/analysis/test_complexity.py`` checks both).
    """

    def decorator(macs_fn: Callable[..., int]) -> Callable[..., int]:
        def flop_fn(*args, **kwargs) -> int:
            return 2 * macs_fn(*args, **kwargs)

        register_flop_formula(op)(flop_fn)
        return macs_fn

    return decorator


# --- formulas for library ops that FlopCounterMode does not know ---------------------------------


@register_mac_formula(torch.ops.torchvision.deform_conv2d)
def _deform_conv2d_macs(input_shape, weight_shape, *args, out_shape=None, **kwargs) -> int:
    """A deformable convolution costs what a convolution of the same shape costs: one MAC per
    weight per output position (the bilinear sampling of the offsets is not counted)."""
    batch, c_out, h, w = out_shape
    _, c_in_per_group, kh, kw = weight_shape
    return batch * c_out * h * w * c_in_per_group * kh * kw
