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
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

from .launch import CTYPES, KERNELS, SOURCE, Launch, LaunchConfig

__all__ = ["HEADER", "CXX_FLAGS", "available", "driver_source", "library_path", "load", "launch",
           "DEFAULT_CONFIG"]

HEADER = Path(__file__).with_name("cuda_emulation.h")
CXX_FLAGS = ("-std=c++20", "-O1", "-shared", "-fPIC", "-pthread")
#: Small blocks and grids: every CUDA thread of a block is a live std::thread.
DEFAULT_CONFIG = LaunchConfig(threads=32, max_blocks=2, max_prior_chunks=2)


def _cxx() -> str | None:
    return os.environ.get("CXX") or shutil.which("g++")


def available() -> bool:
    """True when a C++ compiler (``$CXX`` or ``g++``) is on the PATH."""
    return _cxx() is not None


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


def _cache_dir() -> Path:
    return Path(os.environ.get("RELNOTES_KERNEL_CACHE",
                               Path(tempfile.gettempdir()) / "relnotes-kernels"))


@functools.lru_cache(maxsize=1)
def library_path() -> Path:
    """Build (once per source hash) and return the path of the emulation library."""
    cxx = _cxx()
    if cxx is None:
        raise RuntimeError("the CUDA emulation needs a C++20 compiler: install g++ (>= 11) or "
                           "set $CXX")
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    driver = driver_source()
    digest = hashlib.sha256()
    for part in (HEADER.read_bytes(), SOURCE.read_bytes(), driver.encode(),
                 " ".join((cxx, *CXX_FLAGS)).encode(), version.encode()):
        digest.update(part)
        digest.update(b"\0")
    out_dir = _cache_dir()
    lib = out_dir / f"liblr_emulation_{digest.hexdigest()[:16]}.so"
    if lib.exists():
        return lib
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        tmp = Path(tmp)
        for f in (HEADER, SOURCE):
            shutil.copy(f, tmp / f.name)  # the .cu is included under its own name
        (tmp / "driver.cpp").write_text(driver)
        target = tmp / lib.name
        cmd = [cxx, *CXX_FLAGS, str(tmp / "driver.cpp"), "-o", str(target)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"building the CUDA emulation failed ({' '.join(cmd)}):\n"
                               f"{result.stderr}")
        os.replace(target, lib)  # atomic: a concurrent builder finds a complete file or none
    return lib


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
