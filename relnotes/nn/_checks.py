"""Input checks shared by the blocks of ``relnotes.nn``: a wrong shape, dtype or device is named
at the block's entrance, not deep inside a torch op."""

from __future__ import annotations

from torch import Tensor


def check_feature_map(input: Tensor, channels: int, like: Tensor) -> None:
    """``input`` must be ``Tensor[N, channels, H, W]`` with the dtype and device of ``like`` (a
    parameter of the block).

    Raises:
        ValueError: the shape is not [N, channels, H, W].
        TypeError: the dtype or device differs from ``like``'s.
    """
    if input.dim() != 4 or input.shape[1] != channels:
        raise ValueError(f"input must be Tensor[N, {channels}, H, W]; got {tuple(input.shape)}")
    if input.dtype != like.dtype or input.device != like.device:
        raise TypeError(f"input must have the module's dtype and device ({like.dtype}, "
                        f"{like.device}); got ({input.dtype}, {input.device})")
