"""Launch plan of the local relation kernels, shared by every backend.

``local_relation.cu`` is run by two backends: CuPy on a GPU (:mod:`.cupy_backend`) and a host
emulation of the CUDA thread model (:mod:`.emulation`), which CI runs. Everything a launch needs
apart from the compiled function is decided here, once, so the emulation tests check it too:

- the checks of the inputs and the derived sizes (:class:`Geometry`);
- grid and block of each kernel (:func:`grid_1d`, :func:`grid_prior`);
- the ordered argument list of each kernel (:class:`Launch`), which must match the parameter list
  in the ``.cu`` file: pointers first, then ``int`` sizes;
- the order of the kernels and the buffers between them (:func:`forward`, :func:`backward`).

A backend is any callable ``launch(spec: Launch) -> None`` that runs ``spec.kernel`` for
``spec.dtype`` with ``spec.grid``, ``spec.block`` and ``spec.args``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

from ..local_relation_args import COMPOSABILITY_MODES, check_composability, check_kernel_size

__all__ = [
    "SOURCE", "KERNELS", "CTYPES", "NVRTC_OPTIONS", "CUPY_ADDED_OPTIONS", "Geometry", "Launch",
    "LaunchConfig", "grid_1d", "grid_prior", "name_expression", "forward", "backward",
]

#: The CUDA source, as a path (the same bytes go to NVRTC, CuPy and g++).
SOURCE = Path(__file__).with_name("local_relation.cu")

#: The ``__global__`` templates in ``local_relation.cu``, in launch order.
KERNELS = ("lr_weights", "lr_aggregate", "lr_grad_logits", "lr_grad_key", "lr_grad_value",
           "lr_grad_prior")

#: torch dtype -> the C type the templates are instantiated with.
CTYPES = {torch.float32: "float", torch.float64: "double"}

#: NVRTC options, for CuPy's RawModule and for the CI compile check.
NVRTC_OPTIONS = ("--std=c++17",)

#: What CuPy appends to those options whenever it compiles (``cupy.cuda.compiler``,
#: ``_compile_with_cache_cuda``): float32 denormals flush to zero on the GPU, so float32 GPU
#: results are compared with float64 at a tolerance, never bit for bit with the emulation
#: (g++ keeps denormals). The CI check (:mod:`.nvrtc`) compiles with them too, and CuPy
#: compiles a cubin for the device's architecture (``sm_XX``), which CI also builds.
CUPY_ADDED_OPTIONS = ("-ftz=true",)

#: Must equal LR_MAX_THREADS in the .cu (the shared array of lr_grad_prior).
MAX_PRIOR_THREADS = 256


def name_expression(kernel: str, dtype: torch.dtype) -> str:
    """The template instance to compile and look up, e.g. ``"lr_weights<double>"``."""
    if dtype not in CTYPES:
        raise TypeError(f"the local relation kernels support {sorted(map(str, CTYPES))}; "
                        f"got {dtype}")
    return f"{kernel}<{CTYPES[dtype]}>"


@dataclass(frozen=True)
class LaunchConfig:
    """Block size and grid caps.

    Args:
        threads (int): threads per block, a power of two <= 256 (lr_grad_prior's shared
            array). Default: 256.
        max_blocks (int): cap on the grid of the one-thread-per-element kernels; their
            grid-stride loops cover the rest. Default: 65535 (the official LR kernel's cap).
        max_prior_chunks (int): cap on gridDim.y of lr_grad_prior (blocks per prior entry, each
            ending with one atomicAdd). Default: 64.

    The emulation uses small values (e.g. 32 threads, 2 blocks), since each CUDA thread is a
    std::thread there.
    """

    threads: int = 256
    max_blocks: int = 65535
    max_prior_chunks: int = 64

    def __post_init__(self):
        t = self.threads
        if not (isinstance(t, int) and 1 <= t <= MAX_PRIOR_THREADS and t & (t - 1) == 0):
            raise ValueError(f"threads must be a power of two in [1, {MAX_PRIOR_THREADS}]; "
                             f"got {t!r}")
        if self.max_blocks < 1 or self.max_prior_chunks < 1:
            raise ValueError(f"max_blocks and max_prior_chunks must be >= 1; got "
                             f"{self.max_blocks} and {self.max_prior_chunks}")


@dataclass(frozen=True)
class Launch:
    """One kernel launch: what a backend needs besides the compiled function.

    ``args`` is ordered as the kernel's parameters: tensors (passed as device or host pointers
    to their first element; all contiguous, of ``dtype``) and Python ints (passed as ``int``,
    32 bits).
    """

    kernel: str
    dtype: torch.dtype
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    args: tuple

    @property
    def name(self) -> str:
        return name_expression(self.kernel, self.dtype)


def grid_1d(n: int, config: LaunchConfig) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Grid and block for one thread per element of an ``n``-element tensor (grid-stride)."""
    blocks = max(1, min(math.ceil(n / config.threads), config.max_blocks))
    return (blocks, 1, 1), (config.threads, 1, 1)


def grid_prior(rows: int, terms: int, config: LaunchConfig):
    """lr_grad_prior: gridDim.x = G*K*K prior entries, gridDim.y = chunks of the B*Ho*Wo terms."""
    chunks = max(1, min(math.ceil(terms / config.threads), config.max_prior_chunks))
    return (rows, chunks, 1), (config.threads, 1, 1)


@dataclass(frozen=True)
class Geometry:
    """Checked sizes of one call: B, G, C, H, W, Ho, Wo, K, stride, m = ceil(C / G), mode."""

    B: int
    G: int
    C: int
    H: int
    W: int
    Ho: int
    Wo: int
    K: int
    stride: int
    m: int
    mode: int

    @classmethod
    def of(cls, query: Tensor, key: Tensor, value: Tensor, prior: Tensor, kernel_size: int,
           stride: int, composability: str) -> "Geometry":
        """Check the shapes of the op's contract and derive the sizes; ValueError if wrong."""
        check_composability(composability)
        check_kernel_size(kernel_size)
        if not (isinstance(stride, int) and stride >= 1):
            raise ValueError(f"stride must be an int >= 1; got {stride!r}")
        for name, t in (("query", query), ("key", key), ("value", value)):
            if t.dim() != 4:
                raise ValueError(f"{name} must be 4-d; got shape {tuple(t.shape)}")
        B, C, H, W = value.shape
        G = key.shape[1]
        if tuple(key.shape) != (B, G, H, W):
            raise ValueError(f"key must be Tensor[B, G, H, W] = [{B}, G, {H}, {W}] (B, H, W "
                             f"of value); got {tuple(key.shape)}")
        if not 1 <= G <= C:
            raise ValueError(f"the number of groups G = key.shape[1] must be in [1, C = {C}]; "
                             f"got {G}")
        Ho, Wo = -(-H // stride), -(-W // stride)
        if tuple(query.shape) != (B, G, Ho, Wo):
            raise ValueError(f"query must be Tensor[B, G, ceil(H/stride), ceil(W/stride)] = "
                             f"{[B, G, Ho, Wo]}; got {tuple(query.shape)}")
        K = kernel_size
        if tuple(prior.shape) != (G, K, K):
            raise ValueError(f"geometry_prior must be Tensor[G, k, k] = {[G, K, K]}; got "
                             f"{tuple(prior.shape)}")
        for n in (B * C * H * W, B * G * K * K * Ho * Wo):
            if n >= 2**62:
                raise ValueError(f"tensor of {n} elements is too large for 64-bit indexing")
        # int32 in the kernels: the size arguments, and the in-plane offsets y * W + x and
        # i * Wo + j (computed in int; the flat offsets across planes are 64-bit)
        for name, n in (("B", B), ("C", C), ("H", H), ("W", W), ("H*W", H * W),
                        ("Ho*Wo", Ho * Wo), ("G*k*k", G * K * K)):
            if n >= 2**31:
                raise ValueError(f"{name} = {n} does not fit the kernels' int32 indexing")
        return cls(B, G, C, H, W, Ho, Wo, K, stride, -(-C // G),
                   COMPOSABILITY_MODES[composability])


def forward(launch: Callable[[Launch], None], query: Tensor, key: Tensor, value: Tensor,
            prior: Tensor, geo: Geometry, config: LaunchConfig) -> Tensor:
    """LR Eqs. (2) then (1): lr_weights, then lr_aggregate. Returns ``out`` [B, C, Ho, Wo]."""
    weights = _weights(launch, query, key, prior, geo, config)
    g, dt = geo, value.dtype
    out = value.new_empty(g.B, g.C, g.Ho, g.Wo)
    grid, block = grid_1d(out.numel(), config)
    launch(Launch("lr_aggregate", dt, grid, block,
                  (weights, value, out, g.B, g.G, g.C, g.H, g.W, g.Ho, g.Wo, g.K, g.stride, g.m)))
    return out


def backward(launch: Callable[[Launch], None], grad_out: Tensor, query: Tensor, key: Tensor,
             value: Tensor, prior: Tensor, geo: Geometry, config: LaunchConfig):
    """Gradients (query, key, value, prior) of ``Σ grad_out * forward(...)``.

    The weights are recomputed (memory over compute, as the official kernel does), then
    lr_grad_logits (dL/dlogit and dL/dquery), lr_grad_key and lr_grad_value (gathers) and
    lr_grad_prior (a block reduction with one atomicAdd per block, into a zeroed tensor).
    Every gradient is a new contiguous tensor (``new_empty(shape)``, not ``empty_like``, which
    would keep the strides of a size-1 dimension), as the fake implementation says.
    """
    g, dt = geo, value.dtype
    weights = _weights(launch, query, key, prior, geo, config)
    grad_logits = weights.new_empty(weights.shape)
    grad_query = query.new_empty(query.shape)
    grid, block = grid_1d(query.numel(), config)
    launch(Launch("lr_grad_logits", dt, grid, block,
                  (grad_out, query, key, value, weights, grad_logits, grad_query,
                   g.B, g.G, g.C, g.H, g.W, g.Ho, g.Wo, g.K, g.stride, g.m, g.mode)))
    grad_key = key.new_empty(key.shape)
    grid, block = grid_1d(key.numel(), config)
    launch(Launch("lr_grad_key", dt, grid, block,
                  (query, key, grad_logits, grad_key,
                   g.B, g.G, g.H, g.W, g.Ho, g.Wo, g.K, g.stride, g.mode)))
    grad_value = value.new_empty(value.shape)
    grid, block = grid_1d(value.numel(), config)
    launch(Launch("lr_grad_value", dt, grid, block,
                  (grad_out, weights, grad_value,
                   g.B, g.G, g.C, g.H, g.W, g.Ho, g.Wo, g.K, g.stride, g.m)))
    grad_prior = prior.new_zeros(prior.shape)
    grid, block = grid_prior(g.G * g.K * g.K, g.B * g.Ho * g.Wo, config)
    launch(Launch("lr_grad_prior", dt, grid, block,
                  (grad_logits, grad_prior, g.B, g.G, g.Ho, g.Wo, g.K)))
    return grad_query, grad_key, grad_value, grad_prior


def _weights(launch, query, key, prior, geo: Geometry, config: LaunchConfig) -> Tensor:
    g = geo
    weights = query.new_empty(g.B, g.G, g.K * g.K, g.Ho, g.Wo)  # ω, LR Eq. (2)
    grid, block = grid_1d(query.numel(), config)
    launch(Launch("lr_weights", query.dtype, grid, block,
                  (query, key, prior, weights, g.B, g.G, g.H, g.W, g.Ho, g.Wo, g.K, g.stride,
                   g.mode)))
    return weights
