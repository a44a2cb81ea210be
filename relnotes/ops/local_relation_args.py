"""The hyper-parameters of the local relation op, listed and checked once.

Every implementation of LR Eqs. (1)-(2) (the PyTorch reference in :mod:`relnotes.ops.local_relation`,
the CUDA kernels in :mod:`relnotes.ops.kernels`) and the layer :class:`relnotes.nn.LocalRelation2d`
take the same ``kernel_size`` and ``composability``; their names and checks live here.
"""

from __future__ import annotations

__all__ = ["COMPOSABILITY_MODES", "COMPOSABILITIES", "check_kernel_size", "check_composability"]

#: The appearance composability terms Φ(q, k) of LR Eq. (2), each with the ``mode`` argument of
#: the CUDA kernels (the ``LR_*`` macros in ``kernels/local_relation.cu``):
#: ``"squared_difference"`` -(q - k)² (the paper's default), ``"dot"`` q k,
#: ``"abs_difference"`` -|q - k|.
COMPOSABILITY_MODES: dict[str, int] = {"squared_difference": 0, "dot": 1, "abs_difference": 2}

#: The names of :data:`COMPOSABILITY_MODES`, in order.
COMPOSABILITIES: tuple[str, ...] = tuple(COMPOSABILITY_MODES)


def check_kernel_size(kernel_size) -> None:
    """Raise unless ``kernel_size`` is a positive odd int (the window is centred on the pixel).

    TypeError for a non-int (``bool`` included), ValueError for an even or non-positive int.
    """
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int):
        raise TypeError(f"kernel_size must be an int; got {type(kernel_size).__name__}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd int (the window is centred on the "
                         f"pixel); got {kernel_size}")


def check_composability(composability) -> None:
    """Raise ValueError unless ``composability`` is one of :data:`COMPOSABILITIES`."""
    if composability not in COMPOSABILITY_MODES:
        raise ValueError(f"composability must be one of {COMPOSABILITIES}; got {composability!r}")
