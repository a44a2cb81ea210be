"""Run ``local_relation.cu`` on the CPU: g++ plus ``cuda_emulation.h``, called through ctypes.

The library is built on first use from three pieces: the emulation header, the unchanged
``.cu`` file, and a generated list of exported template instances (one per kernel of
:data:`.launch.KERNELS` and dtype of :data:`.launch.CTYPES`). It is cached under
``$RELNOTES_KERNEL_CACHE`` (default: ``<tempdir>/relnotes-kernels``) in a file named by a hash of
the sources, the compiler command and its version, so an edit of the ``.cu`` rebuilds it and
parallel test workers do not clash (each writes a temporary file, then renames it).

This backend exists to test the CUDA source without a GPU; it is slow (one ``std::thread`` per
CUDA thread). Use a small :class:`.launch.LaunchConfig`, e.g. 32 threads and 2 blocks.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import torch

from .build import build_library, cxx
from .launch import CTYPES, KERNELS, SOURCE, Launch, LaunchConfig

__all__ = ["HEADER", "CXX_FLAGS", "available", "driver_source", "library_path", "load", "launch",
           "DEFAULT_CONFIG"]

HEADER = Path(__file__).with_name("cuda_emulation.h")
CXX_FLAGS = ("-std=c++20", "-O1", "-shared", "-fPIC", "-pthread")
#: Small blocks and grids: every CUDA thread of a block is a live std::thread.
DEFAULT_CONFIG = LaunchConfig(threads=32, max_blocks=2, max_prior_chunks=2)


def available() -> bool:
    """True when a C++ compiler (``$CXX`` or ``g++``) is on the PATH."""
    return cxx() is not None


def symbol(name_expression: str) -> str:
    """Exported C symbol of a template instance: ``lr_weights<double>`` ->
    ``emu_lr_weights_double``."""
    return "emu_" + name_expression.replace("<", "_").replace(">", "")


def driver_source() -> str:
    """The translation unit g++ compiles: header, the .cu verbatim, then one export per kernel."""
    lines = [f'#include "{HEADER.name}"', f'#include "{SOURCE.name}"', ""]
    for kernel in KERNELS:
        for ctype in CTYPES.values():
            expr = f"{kernel}<{ctype}>"
            lines.append(f"EMU_EXPORT({symbol(expr)}, {expr})")
    return "\n".join(lines) + "\n"


@functools.lru_cache(maxsize=1)
def library_path() -> Path:
    """Build (once per source hash) and return the path of the emulation library (C++20: the
    header and the .cu, included under their own names by the driver)."""
    sources = {HEADER.name: HEADER.read_bytes(), SOURCE.name: SOURCE.read_bytes(),
               "driver.cpp": driver_source().encode()}
    return build_library("lr_emulation", sources, "driver.cpp", CXX_FLAGS,
                         what="the CUDA emulation (C++20, g++ >= 11)")


@functools.lru_cache(maxsize=1)
def load() -> ctypes.CDLL:
    """The emulation library, with the argument types of every exported launcher set."""
    lib = ctypes.CDLL(str(library_path()))
    for kernel in KERNELS:
        for ctype in CTYPES.values():
            fn = getattr(lib, symbol(f"{kernel}<{ctype}>"))
            fn.argtypes = [ctypes.c_uint] * 6 + [ctypes.POINTER(ctypes.c_void_p)]
            fn.restype = None
    return lib


def launch(spec: Launch) -> None:
    """Run one :class:`.launch.Launch` on the CPU (blocks one after another)."""
    values = []  # keep the ctypes objects alive during the call
    for a in spec.args:
        if isinstance(a, torch.Tensor):
            if a.device.type != "cpu" or a.dtype != spec.dtype or not a.is_contiguous():
                raise ValueError(f"{spec.name}: tensor arguments must be contiguous CPU "
                                 f"{spec.dtype}; got {a.dtype} on {a.device}, contiguous="
                                 f"{a.is_contiguous()}")
            values.append(ctypes.c_void_p(a.data_ptr()))
        elif isinstance(a, int):
            values.append(ctypes.c_int32(a))
        else:
            raise TypeError(f"{spec.name}: unsupported argument {a!r}")
    argv = (ctypes.c_void_p * len(values))(*(ctypes.addressof(v) for v in values))
    fn = getattr(load(), symbol(spec.name))
    fn(*spec.grid, *spec.block, argv)
