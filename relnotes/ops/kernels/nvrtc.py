"""Compile ``local_relation.cu`` with NVRTC through ctypes: no GPU, no driver, no CuPy.

It compiles with the options CuPy uses (:data:`.launch.NVRTC_OPTIONS` and what CuPy appends,
:data:`.launch.CUPY_ADDED_OPTIONS`, e.g. ``-ftz=true``), to PTX for a virtual architecture
(``compute_80``) or to a cubin for a real one (``sm_80``), as CuPy does for the device it runs on.

NVRTC is a plain library (``libnvrtc.so``); the CUDA build of torch installs it with the
``nvidia-cuda-nvrtc`` wheel (``site-packages/nvidia/cu13/lib`` for CUDA 13). CI uses this to
check that the exact source a GPU would run compiles for compute_75, compute_80 and compute_90
(CUDA 13's NVRTC no longer accepts compute_70). The template instances are requested with
``nvrtcAddNameExpression``, as CuPy's ``RawModule(name_expressions=...)`` does, so every
kernel is really instantiated.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
import site
import sys
from dataclasses import dataclass
from pathlib import Path

from .launch import CTYPES, CUPY_ADDED_OPTIONS, KERNELS, NVRTC_OPTIONS, SOURCE

__all__ = ["find_library", "PTXResult", "compile_ptx"]


def find_library() -> Path | None:
    """``$RELNOTES_NVRTC`` or the newest ``libnvrtc.so.*`` of an ``nvidia-*`` wheel, else None."""
    if os.environ.get("RELNOTES_NVRTC"):
        return Path(os.environ["RELNOTES_NVRTC"])
    roots = [*site.getsitepackages(), site.getusersitepackages(), *sys.path]
    found = []
    for root in dict.fromkeys(roots):
        found += glob.glob(os.path.join(root, "nvidia", "*", "lib", "libnvrtc.so.*"))
        found += glob.glob(os.path.join(root, "nvidia", "cuda_nvrtc", "lib", "libnvrtc.so.*"))
    found = [f for f in found if ".alt." not in f and "builtins" not in f]
    return Path(sorted(found)[-1]) if found else None


@functools.lru_cache(maxsize=1)
def _lib() -> ctypes.CDLL:
    path = find_library()
    if path is None:
        raise RuntimeError("libnvrtc not found: install the nvidia-cuda-nvrtc wheel (torch's CUDA "
                           "build brings it) or set RELNOTES_NVRTC to the library's path")
    lib = ctypes.CDLL(str(path))
    p, c = ctypes.c_void_p, ctypes.c_char_p
    lib.nvrtcCreateProgram.argtypes = [ctypes.POINTER(p), c, c, ctypes.c_int,
                                       ctypes.POINTER(c), ctypes.POINTER(c)]
    lib.nvrtcCompileProgram.argtypes = [p, ctypes.c_int, ctypes.POINTER(c)]
    lib.nvrtcAddNameExpression.argtypes = [p, c]
    lib.nvrtcGetLoweredName.argtypes = [p, c, ctypes.POINTER(c)]
    lib.nvrtcGetProgramLogSize.argtypes = [p, ctypes.POINTER(ctypes.c_size_t)]
    lib.nvrtcGetProgramLog.argtypes = [p, ctypes.c_char_p]
    lib.nvrtcGetPTXSize.argtypes = [p, ctypes.POINTER(ctypes.c_size_t)]
    lib.nvrtcGetPTX.argtypes = [p, ctypes.c_char_p]
    lib.nvrtcGetCUBINSize.argtypes = [p, ctypes.POINTER(ctypes.c_size_t)]
    lib.nvrtcGetCUBIN.argtypes = [p, ctypes.c_char_p]
    lib.nvrtcDestroyProgram.argtypes = [ctypes.POINTER(p)]
    lib.nvrtcVersion.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int)]
    lib.nvrtcGetErrorString.restype = c
    return lib


def version() -> tuple[int, int]:
    """NVRTC's (major, minor) version."""
    major, minor = ctypes.c_int(), ctypes.c_int()
    _check(_lib().nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)))
    return major.value, minor.value


@dataclass(frozen=True)
class PTXResult:
    """``status`` is NVRTC's result code of the compile (0 = success); ``lowered`` maps each name
    expression (``"lr_weights<double>"``) to its mangled PTX entry; ``ptx`` for a virtual
    architecture (``compute_XX``), ``cubin`` (ELF bytes) for a real one (``sm_XX``);
    ``options`` what NVRTC was given."""

    arch: str
    status: int
    log: str
    ptx: str
    lowered: dict[str, str]
    cubin: bytes = b""
    options: tuple[str, ...] = ()


def _check(status: int) -> None:
    if status != 0:
        raise RuntimeError(f"NVRTC error {status}: {_lib().nvrtcGetErrorString(status).decode()}")


def compile_ptx(arch: str, source: str | None = None,
                name_expressions: list[str] | None = None,
                options: tuple[str, ...] | None = None) -> PTXResult:
    """Compile for ``arch`` (e.g. ``"compute_80"`` or ``"sm_80"``) with CuPy's options.

    Args:
        arch (str): a virtual (``compute_XX``: PTX) or real (``sm_XX``: cubin) architecture,
            passed as ``--gpu-architecture=<arch>``.
        source (str, optional): CUDA source. Default: ``local_relation.cu``.
        name_expressions (list[str], optional): template instances to instantiate. Default:
            every kernel of :data:`.launch.KERNELS` for float and double.
        options (tuple[str, ...], optional): Default: :data:`.launch.NVRTC_OPTIONS` followed
            by :data:`.launch.CUPY_ADDED_OPTIONS`, what CuPy's RawModule passes to NVRTC.

    Returns:
        PTXResult; a failed compile has ``status != 0``, the errors in ``log`` and no PTX.
    """
    lib = _lib()
    if source is None:
        source = SOURCE.read_text(encoding="ascii")
    if name_expressions is None:
        name_expressions = [f"{k}<{t}>" for k in KERNELS for t in CTYPES.values()]
    prog = ctypes.c_void_p()
    _check(lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), SOURCE.name.encode(),
                                  0, None, None))
    try:
        for expr in name_expressions:
            _check(lib.nvrtcAddNameExpression(prog, expr.encode()))
        if options is None:
            options = (*NVRTC_OPTIONS, *CUPY_ADDED_OPTIONS)
        opts = [f"--gpu-architecture={arch}", *options]
        argv = (ctypes.c_char_p * len(opts))(*(o.encode() for o in opts))
        status = lib.nvrtcCompileProgram(prog, len(opts), argv)
        size = ctypes.c_size_t()
        _check(lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size)))
        buf = ctypes.create_string_buffer(size.value)
        _check(lib.nvrtcGetProgramLog(prog, buf))
        log = buf.value.decode(errors="replace")
        ptx, cubin, lowered = "", b"", {}
        if status == 0 and arch.startswith("sm_"):
            _check(lib.nvrtcGetCUBINSize(prog, ctypes.byref(size)))
            buf = ctypes.create_string_buffer(size.value)
            _check(lib.nvrtcGetCUBIN(prog, buf))
            cubin = buf.raw
        elif status == 0:
            _check(lib.nvrtcGetPTXSize(prog, ctypes.byref(size)))
            buf = ctypes.create_string_buffer(size.value)
            _check(lib.nvrtcGetPTX(prog, buf))
            ptx = buf.value.decode()
        if status == 0:
            for expr in name_expressions:
                name = ctypes.c_char_p()
                _check(lib.nvrtcGetLoweredName(prog, expr.encode(), ctypes.byref(name)))
                lowered[expr] = name.value.decode()
        return PTXResult(arch, status, log, ptx, lowered, cubin, tuple(opts))
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))
