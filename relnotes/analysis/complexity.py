"""Parameters and FLOPs, counted the way the papers count them.

The complexity columns of the relation-network tables (RN Tables 1-4, GCNet Tables 1-5, LR-Net
Tables 1-3) are checked exactly in CI, so the conventions behind them are fixed here, once.

**Parameters** are the entries of ``nn.Parameter`` tensors: conv and fc weights and biases, plus
the BatchNorm affine ``weight``/``bias`` when BN is an ordinary (trainable) ``BatchNorm2d``.
Buffers are not parameters: BN running statistics are not counted, and neither is the affine
transform of torchvision's ``FrozenBatchNorm2d``, which stores it as buffers. So the same
Mask R-CNN has 44,400,693 parameters built with ``weights_backbone=None`` (trainable BN) and
53,120 fewer with an ImageNet backbone (frozen BN). Counting only reads shapes, so it works on a
model built on ``device="meta"`` before any forward pass.

**Units.** "M" is ambiguous: the relation-networks paper (Hu et al., CVPR 2018) divides by
2^20 ("Mi"), GCNet (Cao et al., 2019) and torchvision's model cards by 10^6 ("M"). ResNet-50's
25,557,032 parameters are 25.56 M but 24.37 Mi. :func:`in_units` does both; tables say which.

**FLOPs are multiply-accumulates (MACs)**, as in the papers: a ``[m, k] @ [k, n]`` product costs
m*n*k, and biases, activations, normalisation and softmax are free. We count with
:class:`torch.utils.flop_counter.FlopCounterMode`, which sees every op that reaches the PyTorch
dispatcher, functional ``torch.matmul``/``bmm`` included (module-hook counters such as thop miss
those, i.e. the whole relation module). It counts 2 FLOPs per MAC, so we divide by 2. ResNet-50 at
224 x 224 gives 4,089,184,256 MACs, torchvision's published 4.089 "GFLOPS".

**Custom kernels** (the CuPy local-relation ops) are invisible to the counter: an op without a
registered formula silently counts 0. Give each one a formula with :func:`register_mac_formula`.
"""

from collections.abc import Callable
from numbers import Real

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, register_flop_formula

__all__ = [
    "UNITS",
    "count_parameters",
    "in_units",
    "count_macs",
    "count_macs_by_op",
    "complexity_row",
    "register_mac_formula",
]

#: Divisors of :func:`in_units`: decimal (10^6, 10^9) and binary (2^20, 2^30) prefixes.
UNITS: dict[str, int] = {"M": 10**6, "Mi": 2**20, "G": 10**9, "Gi": 2**30}


def count_parameters(module: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameter entries of ``module`` (shared parameters counted once).

    Args:
        module (nn.Module): the model; it may live on ``device="meta"``.
        trainable_only (bool): count only parameters with ``requires_grad``, e.g. to leave out
            a backbone stage frozen for fine-tuning. Default: False

    Returns:
        int: the sum of ``p.numel()`` over ``module.parameters()``; buffers are not counted.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module; got {type(module).__name__}")
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def in_units(n: Real, unit: str = "M") -> float:
    """``n`` divided by the unit's size: "M" (10^6), "Mi" (2^20), "G" (10^9) or "Gi" (2^30).

    Examples::

        >>> in_units(25_557_032, "M"), round(in_units(25_557_032, "Mi"), 2)
        (25.557032, 24.37)
        >>> in_units(2**30, "Gi")
        1.0
    """
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {sorted(UNITS)}; got {unit!r}")
    if isinstance(n, bool) or not isinstance(n, Real):
        raise TypeError(f"n must be a real number; got {type(n).__name__}")
    return n / UNITS[unit]


def count_macs_by_op(module: nn.Module, *inputs, **kwargs) -> dict[str, int]:
    """Multiply-accumulates of ``module(*inputs, **kwargs)``, per dispatcher op.

    The forward runs once under ``torch.no_grad()`` and in eval mode (dropout off, BN on its
    running statistics, detectors in inference mode); every submodule's train/eval flag is
    restored afterwards. The output may be anything (detectors return lists of dicts).
    A meta-device module with meta inputs works too, unless the model has data-dependent ops
    (NMS, ``nonzero``), which meta tensors cannot run.

    Args:
        module (nn.Module): the model.
        *inputs, **kwargs: passed to ``module``, e.g. ``torch.zeros(1, 3, 224, 224)``.

    Returns:
        dict[str, int]: op name (``"aten.convolution"``, ``"aten.bmm"``, ...) to MACs, largest
        first. Ops without a formula (element-wise, softmax, unregistered custom ops) are absent.

    Examples::

        >>> count_macs_by_op(nn.Linear(64, 32), torch.zeros(5, 64))
        {'aten.addmm': 10240}
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module; got {type(module).__name__}")
    modes = {m: m.training for m in module.modules()}
    counter = FlopCounterMode(display=False)
    try:
        module.eval()
        with torch.no_grad(), counter:
            module(*inputs, **kwargs)
    finally:
        for m, training in modes.items():
            m.training = training
    # get_flop_counts() has no "Global" key when nothing was counted.
    flops = counter.get_flop_counts().get("Global", {})
    macs = {}
    for op, n in sorted(flops.items(), key=lambda item: -item[1]):
        if n % 2:  # every formula, built-in or registered here, returns 2 x MACs
            raise RuntimeError(
                f"{op} counted an odd number of FLOPs ({n}); its formula is not 2 x MACs"
            )
        macs[str(op)] = n // 2
    return macs


def count_macs(module: nn.Module, *inputs, **kwargs) -> int:
    """Total multiply-accumulates of ``module(*inputs, **kwargs)``; see :func:`count_macs_by_op`.

    Examples::

        >>> count_macs(nn.Conv2d(3, 8, kernel_size=3, padding=1), torch.zeros(1, 3, 10, 10))
        21600
    """
    return sum(count_macs_by_op(module, *inputs, **kwargs).values())


def complexity_row(module: nn.Module, *inputs, trainable_only: bool = False) -> dict[str, int]:
    """``{"params": count_parameters(module), "macs": count_macs(module, *inputs)}``, exact
    integers for an artifact row; format them with :func:`in_units` when rendering."""
    return {
        "params": count_parameters(module, trainable_only=trainable_only),
        "macs": count_macs(module, *inputs),
    }


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
import torchvision.ops  # noqa: E402,F401  (loads the torchvision:: operators)


@register_mac_formula(torch.ops.torchvision.deform_conv2d)
def _deform_conv2d_macs(input_shape, weight_shape, *args, out_shape=None, **kwargs) -> int:
    """A deformable convolution costs what a convolution of the same shape costs: one MAC per
    weight per output position (the bilinear sampling of the offsets is not counted)."""
    batch, c_out, h, w = out_shape
    _, c_in_per_group, kh, kw = weight_shape
    return batch * c_out * h * w * c_in_per_group * kh * kw
