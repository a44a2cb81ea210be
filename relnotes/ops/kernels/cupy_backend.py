"""Run ``local_relation.cu`` on a GPU through CuPy (imported lazily; optional).

- Compile: one ``cupy.RawModule`` per device and dtype, with every kernel's template instance
  requested through ``name_expressions`` (``"lr_weights<float>"``), cached in memory here and
  on disk by CuPy. Shapes are runtime ``int`` arguments, so batch size or resolution never
  trigger a recompile.
- Launch: on PyTorch's *current* stream, wrapped as ``cupy.cuda.ExternalStream``, so the kernels
  are ordered with the surrounding PyTorch work and respect ``torch.cuda.stream(...)``.
- Arguments: tensors as raw device pointers (``numpy.uint64`` of ``data_ptr()``), ints as
  ``numpy.int32``, in the order of :class:`.launch.Launch`; the kernel reads them by value, so
  no CuPy array is created.
"""

from __future__ import annotations

import functools
import importlib.util

import numpy as np
import torch

from .launch import CTYPES, KERNELS, NVRTC_OPTIONS, SOURCE, Launch, LaunchConfig

__all__ = ["available", "launch", "DEFAULT_CONFIG"]

DEFAULT_CONFIG = LaunchConfig()


def available() -> bool:
    """True when CuPy is importable and PyTorch sees a CUDA device."""
    return importlib.util.find_spec("cupy") is not None and torch.cuda.is_available()


@functools.lru_cache(maxsize=None)
def _module(device_index: int, dtype: torch.dtype):
    import cupy

    with cupy.cuda.Device(device_index):
        names = [f"{k}<{CTYPES[dtype]}>" for k in KERNELS]
        module = cupy.RawModule(code=SOURCE.read_text(), options=NVRTC_OPTIONS,
                                name_expressions=names)
        return {name: module.get_function(name) for name in names}


def launch(spec: Launch) -> None:
    """Run one :class:`.launch.Launch` on the device of its tensors, on the current stream."""
    import cupy

    device = None
    args = []
    for a in spec.args:
        if isinstance(a, torch.Tensor):
            if a.device.type != "cuda" or a.dtype != spec.dtype or not a.is_contiguous():
                raise ValueError(f"{spec.name}: tensor arguments must be contiguous CUDA "
                                 f"{spec.dtype}; got {a.dtype} on {a.device}, contiguous="
                                 f"{a.is_contiguous()}")
            if device is not None and a.device != device:
                raise ValueError(f"{spec.name}: tensors on {device} and {a.device}")
            device = a.device
            args.append(np.uint64(a.data_ptr()))
        else:
            args.append(np.int32(a))
    index = device.index if device.index is not None else torch.cuda.current_device()
    fn = _module(index, spec.dtype)[spec.name]
    with cupy.cuda.Device(index):
        stream = cupy.cuda.ExternalStream(torch.cuda.current_stream(index).cuda_stream, index)
        with stream:
            fn(spec.grid, spec.block, tuple(args))
