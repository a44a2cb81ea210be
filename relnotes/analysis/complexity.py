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
registered formula silently counts 0. Give each one a formula with :func:`register_mac_formula`
(defined in :mod:`relnotes.ops.flop_formulas`, re-exported here).
"""

from collections.abc import Callable
from numbers import Real

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

# The registry of MAC formulas lives at the bottom floor (ops), beside the custom ops that use
# it; importing it here also registers the formulas of library ops (torchvision::deform_conv2d)
# before anything is counted.
from ..nn.local_relation import LocalRelation2d
from ..ops.flop_formulas import register_mac_formula
from ..ops.local_relation import local_relation_macs

__all__ = [
    "UNITS",
    "count_parameters",
    "in_units",
    "count_macs",
    "count_macs_by_op",
    "complexity_row",
    "narrowest_width",
    "register_mac_formula",
    "count_macs_with_local_relation",
    "LR_OP",
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


def narrowest_width(params_at: Callable[[int], int], target: int, *, start: int,
                    step: int = 8) -> int:
    """The smallest width ``start + k * step`` (k >= 0) whose model has at least ``target``
    parameters: how RN Table 2 (b) sizes a wider 2fc head to match 2fc + RM.

    Args:
        params_at (callable): width -> number of parameters, non-decreasing in the width.
        target (int): parameters to reach.
        start (int): the first width tried.
        step (int): Default: 8.

    Examples::

        >>> narrowest_width(lambda w: w * w, 1000, start=16)    # 32 * 32 = 1024 >= 1000
        32
    """
    if step < 1:
        raise ValueError(f"step must be >= 1; got {step}")
    width = start
    while params_at(width) < target:
        width += step
    return width


#: Key of the local relation op in :func:`count_macs_with_local_relation`'s result.
LR_OP = "relnotes.local_relation"


def count_macs_with_local_relation(module: nn.Module, *inputs) -> dict[str, int]:
    """:func:`relnotes.analysis.count_macs_by_op`, plus the local relation op's MACs.

    ``FlopCounterMode`` counts the convs (the LR layers' 1x1s and geometry MLPs included) and the
    fc, but not the local relation op itself, which the PyTorch reference computes with
    element-wise ops. A forward hook on every :class:`LocalRelation2d` adds
    :func:`relnotes.ops.local_relation_macs` for the shapes of that call, under the key
    :data:`LR_OP`. If a backend with a registered formula is counted by ``FlopCounterMode``
    itself (an op name containing ``local_relation``), the hooks' count is not added again.

    Returns:
        dict[str, int]: op name to MACs, largest first.
    """
    calls = []

    def hook(layer, args, output):
        B, C, Ho, Wo = output.shape
        calls.append(local_relation_macs(B, C, layer.groups, Ho, Wo, layer.kernel_size))

    handles = [m.register_forward_hook(hook) for m in module.modules()
               if isinstance(m, LocalRelation2d)]
    try:
        macs = count_macs_by_op(module, *inputs)
    finally:
        for h in handles:
            h.remove()
    if calls and not any("local_relation" in op for op in macs):
        macs[LR_OP] = sum(calls)
    return dict(sorted(macs.items(), key=lambda item: -item[1]))
