"""``torch.ops.relnotes.local_relation``: the kernels as a PyTorch custom op, with autograd.

Two ops are registered when this module is imported (CuPy is *not* needed for that):

- ``relnotes::local_relation(query, key, value, geometry_prior, kernel_size, stride,
  composability) -> out``, with a fake (meta) implementation, a MAC formula for
  :func:`relnotes.analysis.count_macs` (registered with :mod:`relnotes.ops.flop_formulas`), and an autograd formula that calls
- ``relnotes::local_relation_backward(grad_out, query, key, value, geometry_prior, kernel_size,
  stride, composability) -> (grad_query, grad_key, grad_value, grad_geometry_prior)``.

The implementation picks the backend from the device of the tensors: CUDA tensors run the CuPy
kernels; CPU tensors run the *same* CUDA source under the host emulation (g++ and one std::thread
per CUDA thread: slow, meant for tests). Both go through :mod:`.launch`, so the grid, block and
argument lists the tests check are the ones a GPU gets. The backward is first-order only.
Determinism: the forward and the query, key and value gradients are bitwise reproducible; the
prior's gradient on CUDA is not above 256 output positions (B*Ho*Wo), since blocks add their
sums with atomicAdd, and the backward raises under ``torch.use_deterministic_algorithms(True)``
(:func:`_check_deterministic`).
Dtypes: float32 and float64 (a TypeError otherwise; :func:`relnotes.ops.kernels.local_relation_cuda`
computes float16 and bfloat16 in float32); under :func:`torch.autocast` (CUDA and CPU) the op
casts its inputs to float32.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from ..flop_formulas import register_mac_formula
from . import cupy_backend, emulation
from .launch import Geometry, LaunchConfig, backward, forward, grid_prior

__all__ = ["local_relation_op", "local_relation_backward_op", "local_relation_op_macs"]


def _backend(t: Tensor):
    if t.device.type == "cuda":
        if not cupy_backend.available():
            raise RuntimeError(f"the local relation kernels on CUDA tensors need a working CuPy "
                               f"(pip install 'relnotes[gpu]'): {cupy_backend.why_unavailable()}")
        return cupy_backend.launch, cupy_backend.DEFAULT_CONFIG
    if t.device.type == "cpu":
        return emulation.launch, emulation.DEFAULT_CONFIG
    raise ValueError(f"no local relation kernel for device {t.device}")


def _prepare(tensors: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    first = tensors[0]
    for t in tensors:
        if t.dtype != first.dtype or t.device != first.device:
            raise ValueError(f"all tensors must share dtype and device; got {t.dtype} on "
                             f"{t.device} and {first.dtype} on {first.device}")
    if first.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"the local relation kernels support float32 and float64; got "
                        f"{first.dtype}")
    return tuple(t.contiguous() for t in tensors)


@torch.library.custom_op("relnotes::local_relation", mutates_args=())
def local_relation_op(query: Tensor, key: Tensor, value: Tensor, geometry_prior: Tensor,
                      kernel_size: int, stride: int, composability: str) -> Tensor:
    """LR Eqs. (1)-(2) with the kernels of ``local_relation.cu`` (see :mod:`.custom_op`)."""
    geo = Geometry.of(query, key, value, geometry_prior, kernel_size, stride, composability)
    query, key, value, geometry_prior = _prepare((query, key, value, geometry_prior))
    launch, config = _backend(query)
    return forward(launch, query, key, value, geometry_prior, geo, config)


@local_relation_op.register_fake
def _(query, key, value, geometry_prior, kernel_size, stride, composability):
    geo = Geometry.of(query, key, value, geometry_prior, kernel_size, stride, composability)
    return value.new_empty(geo.B, geo.C, geo.Ho, geo.Wo)


@torch.library.custom_op("relnotes::local_relation_backward", mutates_args=())
def local_relation_backward_op(grad_out: Tensor, query: Tensor, key: Tensor, value: Tensor,
                               geometry_prior: Tensor, kernel_size: int, stride: int,
                               composability: str
                               ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Gradients of ``local_relation`` w.r.t. query, key, value and geometry_prior."""
    geo = Geometry.of(query, key, value, geometry_prior, kernel_size, stride, composability)
    if tuple(grad_out.shape) != (geo.B, geo.C, geo.Ho, geo.Wo):
        raise ValueError(f"grad_out must have the output's shape {[geo.B, geo.C, geo.Ho, geo.Wo]};"
                         f" got {tuple(grad_out.shape)}")
    grad_out, query, key, value, geometry_prior = _prepare(
        (grad_out, query, key, value, geometry_prior))
    launch, config = _backend(query)
    _check_deterministic(query.device.type, geo, config)
    return backward(launch, grad_out, query, key, value, geometry_prior, geo, config)


def _check_deterministic(device_type: str, geo: Geometry, config: LaunchConfig) -> None:
    """Under ``torch.use_deterministic_algorithms(True)``, refuse a backward that is not bitwise
    reproducible, as PyTorch's own nondeterministic CUDA ops do (a warning with ``warn_only``).

    lr_grad_prior sums each prior entry's B*Ho*Wo terms in blocks of ``config.threads`` and adds
    the blocks' sums with float atomicAdd, whose order varies from run to run on a GPU: with more
    than one block per entry (B*Ho*Wo > 256 with the CUDA config) the prior's gradient may differ
    in the last bits between two identical calls. The query, key and value gradients are
    gathers, always deterministic. (The CPU emulation is a test tool and is not checked.)
    """
    if device_type != "cuda" or not torch.are_deterministic_algorithms_enabled():
        return
    (_, chunks, _), _ = grid_prior(geo.G * geo.K * geo.K, geo.B * geo.Ho * geo.Wo, config)
    if chunks == 1:
        return
    message = ("relnotes::local_relation_backward on CUDA does not have a deterministic "
               "implementation: the geometry prior's gradient is summed with float atomicAdd "
               f"across {chunks} blocks (B*Ho*Wo = {geo.B * geo.Ho * geo.Wo} > "
               f"{config.threads}), but you set torch.use_deterministic_algorithms(True). Run "
               "relnotes.ops.local_relation_reference instead, or pass warn_only=True.")
    if torch.is_deterministic_algorithms_warn_only_enabled():
        warnings.warn(message, UserWarning, stacklevel=2)
    else:
        raise RuntimeError(message)


@local_relation_backward_op.register_fake
def _(grad_out, query, key, value, geometry_prior, kernel_size, stride, composability):
    # Contiguous, as the real implementation returns them (it makes its inputs contiguous
    # first): empty_like would keep a channels_last or permuted layout, and opcheck and
    # Inductor compare the strides of the fake outputs with the real ones.
    return tuple(t.new_empty(t.shape) for t in (query, key, value, geometry_prior))


# Under autocast the op runs in float32, whatever its inputs (as relnotes.ops.local_relation
# does for the reference): the kernels have float32 and float64 instances only.
for _device_type in ("cuda", "cpu"):
    torch.library.register_autocast("relnotes::local_relation", _device_type, torch.float32)


def _setup_context(ctx, inputs, output):
    query, key, value, geometry_prior, kernel_size, stride, composability = inputs
    ctx.save_for_backward(query, key, value, geometry_prior)
    ctx.hyper = (kernel_size, stride, composability)


def _backward(ctx, grad_out):
    query, key, value, geometry_prior = ctx.saved_tensors
    grads = local_relation_backward_op(grad_out, query, key, value, geometry_prior, *ctx.hyper)
    grads = [g if need else None for g, need in zip(grads, ctx.needs_input_grad[:4])]
    return (*grads, None, None, None)


torch.library.register_autograd("relnotes::local_relation", _backward,
                                setup_context=_setup_context)


@register_mac_formula(torch.ops.relnotes.local_relation)
def local_relation_op_macs(query_shape, key_shape, value_shape, prior_shape, kernel_size=None,
                        stride=None, composability=None, *, out_shape=None, **kwargs) -> int:
    """MACs of one call: B*Ho*Wo*k*k*(G + C).

    Per output pixel and neighbour: one multiply for Φ in each of the G groups (the
    composability term of the reference note's LR count) and one multiply-add for each of the C
    channels of LR Eq. (1). The count is dense (neighbours outside the image included, as a
    convolution's count includes its padding); the softmax and the prior addition are free, as
    everywhere in :mod:`relnotes.analysis`.
    """
    B, G, Ho, Wo = query_shape
    C = value_shape[1]
    k = prior_shape[-1]
    return B * Ho * Wo * k * k * (G + C)
