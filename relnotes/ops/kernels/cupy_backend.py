"""Run ``local_relation.cu`` on a GPU through CuPy (imported lazily; optional).

- Compile: one ``cupy.RawModule`` per device and dtype, with every kernel's template instance
  requested through ``name_expressions`` (``"lr_weights<float>"``), cached in memory here and
  on disk by CuPy. Shapes are runtime ``int`` arguments, so batch size or resolution never
  trigger a recompile.
- Launch: on PyTorch's *current* stream, wrapped for CuPy by ``cupy.cuda.Stream.from_external``
  (CuPy >= 14; ``ExternalStream`` before), so the kernels are ordered with the surrounding
  PyTorch work and respect ``torch.cuda.stream(...)``.
- Arguments: tensors as raw device pointers (``numpy.uint64`` of ``data_ptr()``), ints as
  ``numpy.int32``, in the order of :class:`.launch.Launch`; the kernel reads them by value, so
  no CuPy array is created.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import torch

from .launch import CTYPES, KERNELS, NVRTC_OPTIONS, SOURCE, Launch, LaunchConfig

__all__ = ["available", "why_unavailable", "launch", "DEFAULT_CONFIG"]

DEFAULT_CONFIG = LaunchConfig()


#: (available, why not), decided on the first call of :func:`available` (:func:`_probe`).
_STATUS: tuple[bool, str | None] | None = None

#: A kernel that the probe compiles and loads with the options of the real ones.
_PROBE_SOURCE = 'extern "C" __global__ void relnotes_probe(float* x) { x[threadIdx.x] = 0.f; }'


@torch.compiler.assume_constant_result
def available() -> bool:
    """True when the CuPy kernels can run: decided once per process, by importing CuPy and
    compiling and loading a small kernel on the current CUDA device (:func:`_probe`).

    False for any failure (CuPy missing, a broken or mismatched install, no NVRTC, no device);
    :func:`why_unavailable` says which, and a CuPy that is installed but unusable warns once,
    since the op then falls back to the PyTorch reference. ``torch.compile`` treats the answer
    as a constant (no graph break in every layer).
    """
    return _status()[0]


def why_unavailable() -> str | None:
    """Why :func:`available` is False (None when it is True)."""
    return _status()[1]


def _status() -> tuple[bool, str | None]:
    global _STATUS
    if _STATUS is None:
        _STATUS = _probe()
        if not _STATUS[0] and not _STATUS[1].startswith(("CuPy is not installed",
                                                          "PyTorch sees no CUDA device")):
            warnings.warn(f"relnotes: the CUDA kernels of local_relation are unavailable, it "
                          f"runs the PyTorch reference: {_STATUS[1]}", RuntimeWarning,
                          stacklevel=3)
    return _STATUS


def _probe() -> tuple[bool, str | None]:
    """Import CuPy and compile, load and run a one-line kernel; (True, None) or (False, why)."""
    try:
        import cupy
    except ModuleNotFoundError as e:
        if e.name == "cupy":
            return False, "CuPy is not installed (pip install 'relnotes[gpu]')"
        return False, f"import cupy failed: {type(e).__name__}: {e}"
    except Exception as e:  # a broken install can raise anything (ImportError, OSError, ...)
        return False, f"import cupy failed: {type(e).__name__}: {e}"
    if not torch.cuda.is_available():
        return False, "PyTorch sees no CUDA device"
    version = getattr(cupy, "__version__", "?")
    try:
        index = torch.cuda.current_device()
        with cupy.cuda.Device(index):
            kernel = cupy.RawKernel(_PROBE_SOURCE, "relnotes_probe", options=NVRTC_OPTIONS)
            x = cupy.ones(32, dtype=np.float32)
            kernel((1,), (32,), (x,))
            if float(x.sum()) != 0.0:
                return False, f"CuPy {version}: the probe kernel ran but did not write"
    except Exception as e:
        return False, (f"CuPy {version} cannot compile or run a kernel on cuda:"
                       f"{torch.cuda.current_device()}: {type(e).__name__}: {e}")
    return True, None


@functools.lru_cache(maxsize=None)
def _module(device_index: int, dtype: torch.dtype):
    import cupy

    with cupy.cuda.Device(device_index):
        names = [f"{k}<{CTYPES[dtype]}>" for k in KERNELS]
        module = cupy.RawModule(code=SOURCE.read_text(encoding="ascii"), options=NVRTC_OPTIONS,
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
        with _cupy_stream(cupy, torch.cuda.current_stream(index), index):
            fn(spec.grid, spec.block, tuple(args))


class _StreamHandle:
    """A raw ``cudaStream_t`` under the CUDA stream protocol, for a torch without it."""

    def __init__(self, ptr: int):
        self.ptr = ptr

    def __cuda_stream__(self):
        return (0, self.ptr)


def _cupy_stream(cupy, torch_stream, index: int):
    """PyTorch's stream as a CuPy stream, without a copy or a sync.

    CuPy >= 14: ``cupy.cuda.Stream.from_external`` reads the CUDA stream protocol
    (``__cuda_stream__``, which ``torch.cuda.Stream`` has); ``cupy.cuda.ExternalStream`` is
    deprecated there (a DeprecationWarning per launch). Older CuPy: ``ExternalStream``.
    """
    from_external = getattr(cupy.cuda.Stream, "from_external", None)
    if from_external is not None:
        if not hasattr(torch_stream, "__cuda_stream__"):
            torch_stream = _StreamHandle(torch_stream.cuda_stream)
        return from_external(torch_stream)
    return cupy.cuda.ExternalStream(torch_stream.cuda_stream, index)
