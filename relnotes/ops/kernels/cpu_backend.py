"""The fused CPU implementation of the local relation op: ``local_relation_cpu.cpp``, built with
g++ (OpenMP, vectorised) on first use and called through ctypes.

:func:`relnotes.ops.local_relation` picks it for float32 and float64 CPU tensors when a C++
compiler is present (:func:`available`); otherwise, and for float16, bfloat16 and ``meta``
tensors, the PyTorch reference runs. Set ``RELNOTES_LR_CPU=reference`` to force the reference,
before the first local relation call of the process (the choice is made once per process).

Why a C++ file and not ``torch.compile``: the reference loops over the k² offsets in Python, so
Inductor traces and compiles a k²-long graph for every kernel size, stride and shape the book
uses (minutes on two cores, per process), while this file is compiled once (a few seconds) and
cached under ``$RELNOTES_KERNEL_CACHE`` (default ``<tempdir>/relnotes-kernels``), named by a hash
of the source, the flags and the compiler version.

Numerics: the library is compiled for x86-64-v3 (AVX2 + FMA) when the processor has them (every
machine the references are checked on), else for baseline x86-64, with the same flags whatever
``ATEN_CPU_CAPABILITY`` says; each output and gradient number is summed by one thread in a fixed
order, so results do not depend on the thread count. Against the reference they agree to
rounding (float64: 1e-10 in the tests), not bit for bit: the sums run in another order, and the
float32 exponential is a polynomial (relative error about 1e-7).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
from pathlib import Path

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..local_relation_args import COMPOSABILITY_MODES
from .build import build_library, cxx

__all__ = ["SOURCE", "available", "why_unavailable", "compile_flags", "library_path",
           "local_relation_cpu", "exp_sums", "phase_timer", "PHASES", "DTYPES"]

SOURCE = Path(__file__).with_name("local_relation_cpu.cpp")
#: The dtypes the library is compiled for.
DTYPES = {torch.float32: "float", torch.float64: "double"}


def _has_avx2_fma() -> bool:
    try:
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx2" in flags and "fma" in flags


def compile_flags() -> tuple[str, ...]:
    """The g++ flags: -O3, OpenMP, and x86-64-v3 where the processor has AVX2 and FMA."""
    import platform

    march = ()
    if platform.machine() in ("x86_64", "AMD64"):
        march = ("-march=x86-64-v3",) if _has_avx2_fma() else ("-march=x86-64",)
    return ("-std=c++17", "-O3", "-shared", "-fPIC", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", *march)


#: The phases that the profiling build times (``enum Phase`` in the source), in its order.
PHASES = ("forward: pad", "forward: weights (logits, softmax)", "forward: aggregation (Eq. 1)",
          "backward: pad", "backward: weights again", "backward: dL/dw (Eq. 1)",
          "backward: softmax and query", "backward: prior", "backward: key",
          "backward: value (Eq. 1)", "backward: gradients out")


@functools.lru_cache(maxsize=2)
def library_path(profile: bool = False) -> Path:
    """Build (once per source hash) and return the path of the library; with ``profile``, the
    profiling build (``-DLR_CPU_PROFILE``: the same code with phase timers, :func:`phase_timer`)."""
    flags = compile_flags() + (("-DLR_CPU_PROFILE",) if profile else ())
    return build_library("lr_cpu_profile" if profile else "lr_cpu",
                         {SOURCE.name: SOURCE.read_bytes()}, SOURCE.name, flags,
                         what="the fused CPU local relation")


#: True inside :func:`phase_timer`: the op calls the profiling build.
_profiling = False


def _lib() -> ctypes.CDLL:
    """The library the op calls: the profiling build inside :func:`phase_timer`."""
    return _load(_profiling)


@functools.lru_cache(maxsize=2)
def _load(profile: bool = False) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(library_path(profile)))
    p, i64, c_int = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    for suffix in DTYPES.values():
        fwd = getattr(lib, f"lr_cpu_forward_{suffix}")
        fwd.argtypes = [p] * 7 + [i64] * 9 + [c_int, c_int]
        fwd.restype = None
        bwd = getattr(lib, f"lr_cpu_backward_{suffix}")
        bwd.argtypes = [p] * 11 + [i64] * 9 + [c_int, c_int]
        bwd.restype = None
    lib.lr_cpu_stats_len.argtypes = [i64] * 8
    lib.lr_cpu_stats_len.restype = i64
    lib.lr_cpu_saved_weights_len.argtypes = [i64] * 8
    lib.lr_cpu_saved_weights_len.restype = i64
    lib.lr_cpu_exp_sums_float.argtypes = [p, i64, i64, c_int, p]
    lib.lr_cpu_exp_sums_float.restype = i64
    if profile:
        lib.lr_cpu_phase_seconds.argtypes = [p]
        lib.lr_cpu_phase_seconds.restype = c_int
    return lib


@contextlib.contextmanager
def phase_timer():
    """Where the fused op's time goes: inside the block, the op runs the profiling build, whose
    timers add each phase's time (:data:`PHASES`) over the block's calls; the yielded dict gets
    phase -> thread-seconds (summed over threads) when the block ends. The profiling build is the
    same code with a clock read between phases (its results are the op's, bit for bit; the
    reads cost a little time). Not reentrant.

    Example::

        with phase_timer() as seconds:
            local_relation_cpu(q, k, v, prior, 7).sum().backward()
        seconds["backward: dL/dw (Eq. 1)"]
    """
    global _profiling
    reason = why_unavailable()
    if reason is not None:
        raise RuntimeError(f"the fused CPU local relation is unavailable: {reason}")
    if _profiling:
        raise RuntimeError("phase_timer is not reentrant")
    lib = _load(True)
    out = (ctypes.c_double * len(PHASES))()
    if lib.lr_cpu_phase_seconds(out) != len(PHASES):    # zeroes the totals
        raise RuntimeError("the profiling build's phases do not match PHASES")
    seconds: dict[str, float] = {}
    _profiling = True
    try:
        yield seconds
    finally:
        _profiling = False
        lib.lr_cpu_phase_seconds(out)
        seconds.update(zip(PHASES, out))


@functools.lru_cache(maxsize=1)
def why_unavailable() -> str | None:
    """None when the fused CPU path can run here; else the reason. Decided once per process:
    ``RELNOTES_LR_CPU`` set after the first call changes nothing (``why_unavailable.cache_clear()``
    makes the next call read it again)."""
    if os.environ.get("RELNOTES_LR_CPU", "").lower() == "reference":
        return "RELNOTES_LR_CPU=reference"
    if cxx() is None:
        return "no C++ compiler (g++ or $CXX)"
    try:
        _load()
    except (RuntimeError, OSError) as e:
        return str(e)
    return None


def available() -> bool:
    """True when the library builds and loads here (and ``RELNOTES_LR_CPU`` is not
    ``reference``)."""
    return why_unavailable() is None


def _ptr(t: Tensor) -> int:
    return t.data_ptr()


def _shape_args(query: Tensor, value: Tensor, kernel_size: int, stride: int) -> list[int]:
    B, G, Ho, Wo = query.shape
    C, H, W = value.shape[1:]
    return [B, G, C, H, W, Ho, Wo, kernel_size, stride]


class _LocalRelationCPU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, query, key, value, geometry_prior, kernel_size, stride, composability,
                save_weights):
        query, key, value = query.contiguous(), key.contiguous(), value.contiguous()
        geometry_prior = geometry_prior.contiguous()
        B, G, Ho, Wo = query.shape
        C = value.shape[1]
        H, W = value.shape[2:]
        out = value.new_empty(B, C, Ho, Wo)
        # the softmax's statistics (maximum and 1 / sum per output position and group, in the
        # library's padded layout), which spare the backward pass two of its passes
        stats = value.new_empty(_lib().lr_cpu_stats_len(B, G, H, W, Ho, Wo, kernel_size, stride))
        # the other design: the weights themselves, saved for the backward (k^2 / m times out)
        weights = (value.new_empty(_lib().lr_cpu_saved_weights_len(B, G, H, W, Ho, Wo,
                                                                    kernel_size, stride))
                   if save_weights else None)
        fn = getattr(_lib(), f"lr_cpu_forward_{DTYPES[query.dtype]}")
        fn(_ptr(query), _ptr(key), _ptr(value), _ptr(geometry_prior), _ptr(out), _ptr(stats),
           None if weights is None else _ptr(weights),
           *_shape_args(query, value, kernel_size, stride),
           COMPOSABILITY_MODES[composability], torch.get_num_threads())
        ctx.save_for_backward(query, key, value, geometry_prior, stats, weights)
        ctx.args = (kernel_size, stride, composability)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        query, key, value, geometry_prior, stats, weights = ctx.saved_tensors
        kernel_size, stride, composability = ctx.args
        grad_out = grad_out.contiguous()
        # the library writes every gradient number
        gq, gk, gx = torch.empty_like(query), torch.empty_like(key), torch.empty_like(value)
        B, G = query.shape[:2]
        gprior = query.new_empty(B, G, kernel_size**2)
        fn = getattr(_lib(), f"lr_cpu_backward_{DTYPES[query.dtype]}")
        fn(_ptr(grad_out), _ptr(query), _ptr(key), _ptr(value), _ptr(geometry_prior),
           _ptr(stats), None if weights is None else _ptr(weights), _ptr(gq),
           _ptr(gk), _ptr(gx), _ptr(gprior), *_shape_args(query, value, kernel_size, stride),
           COMPOSABILITY_MODES[composability], torch.get_num_threads())
        needs = ctx.needs_input_grad
        grad_prior = gprior.sum(dim=0).view(G, kernel_size, kernel_size) if needs[3] else None
        return (gq if needs[0] else None, gk if needs[1] else None, gx if needs[2] else None,
                grad_prior, None, None, None, None)


def local_relation_cpu(query: Tensor, key: Tensor, value: Tensor, geometry_prior: Tensor,
                       kernel_size: int, stride: int = 1,
                       composability: str = "squared_difference", *,
                       save_weights: bool = False) -> Tensor:
    """The local relation op on float32 / float64 CPU tensors, fused (differentiable once).

    Same contract as :func:`relnotes.ops.local_relation.local_relation`, which checks the
    inputs before calling it; this function checks only the device and dtype.

    ``save_weights``: the other design, for comparison (the benchmark's row
    :data:`relnotes.analysis.lr_benchmark.SAVED_WEIGHTS_ROW`). The forward also saves the
    aggregation weights for the backward, which then computes no exponentials, at the cost of
    holding about :math:`k^2 / m` times the output's memory until the backward. The results
    are the default's, bit for bit. Default: False (the backward recomputes the weights from
    the softmax's saved statistics).
    """
    for name, t in (("query", query), ("key", key), ("value", value),
                    ("geometry_prior", geometry_prior)):
        if t.device.type != "cpu" or t.dtype not in DTYPES:
            raise ValueError(f"local_relation_cpu needs float32 or float64 CPU tensors; {name} "
                             f"is {t.dtype} on {t.device}")
    reason = why_unavailable()
    if reason is not None:
        raise RuntimeError(f"the fused CPU local relation is unavailable: {reason}")
    return _LocalRelationCPU.apply(query, key, value, geometry_prior, kernel_size, stride,
                                   composability, bool(save_weights))


def exp_sums(x: Tensor, reps: int, threads: int | None = None) -> tuple[int, Tensor]:
    """Run the library's float32 exponential (the one the op's softmax calls) ``reps`` times over
    the arguments ``x`` (float32, <= 0, small enough to stay in the cache) on each of ``threads``
    threads (default: ``torch.get_num_threads()``), each pass with another small shift, for a
    throughput measurement. Returns the number of exponentials computed and each thread's sum.
    """
    if x.dtype != torch.float32 or x.device.type != "cpu" or x.dim() != 1:
        raise ValueError(f"exp_sums needs a 1-d float32 CPU tensor; got {x.dtype} {x.shape} "
                         f"on {x.device}")
    if reps < 1:
        raise ValueError(f"need reps >= 1; got {reps}")
    reason = why_unavailable()
    if reason is not None:
        raise RuntimeError(f"the fused CPU local relation is unavailable: {reason}")
    threads = threads or torch.get_num_threads()
    x = x.contiguous()
    sums = x.new_zeros(threads)
    count = _load().lr_cpu_exp_sums_float(_ptr(x), x.numel(), reps, threads, _ptr(sums))
    return int(count), sums
