"""CUDA kernels of the local relation layer (LR-Net, arXiv:1904.11491, Eqs. (1)-(2)).

One CUDA source, ``local_relation.cu``, three ways to run or check it:

- on a GPU, through CuPy (:mod:`.cupy_backend`), picked automatically for CUDA tensors when
  CuPy is installed (``pip install 'relnotes[gpu]'``; :func:`available`, the one CUDA/CuPy check,
  decided once per process; :func:`why_unavailable` says why not);
- on a CPU, under a host emulation of the CUDA thread model (:mod:`.emulation`: g++ and
  ``cuda_emulation.h``), which the tests compare with PyTorch in float64;
- with NVRTC for compute_75/80/90 (PTX) and sm_75/80/90 (cubin), with the options CuPy compiles
  with (``-ftz=true`` included; :mod:`.nvrtc`), which needs neither a GPU nor CuPy.

The CPU has its own fused implementation of the same sums, ``local_relation_cpu.cpp``
(:mod:`.cpu_backend`: g++ with OpenMP, vectorised, picked by :func:`relnotes.ops.local_relation`
for float32 and float64 CPU tensors); it is not the emulation, which runs one ``std::thread``
per CUDA thread to test the ``.cu`` file.

Grid, block and argument lists are shared by both runners (:mod:`.launch`). The kernels are
registered as the custom op ``torch.ops.relnotes.local_relation`` (fake implementation, MAC
formula, autograd through ``torch.ops.relnotes.local_relation_backward``) in
:mod:`.custom_op`. Importing this package needs neither CuPy nor a compiler.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .cupy_backend import available, why_unavailable
from .custom_op import local_relation_op_macs, local_relation_op

__all__ = ["available", "why_unavailable", "local_relation_cuda", "local_relation_op_macs"]


def local_relation_cuda(query: Tensor, key: Tensor, value: Tensor, geometry_prior: Tensor,
                        kernel_size: int, stride: int = 1,
                        composability: str = "squared_difference") -> Tensor:
    """The local relation op on CUDA tensors, with the CuPy kernels (differentiable).

    Same contract as :func:`relnotes.ops.local_relation.local_relation`.

    Args:
        query (Tensor[B, G, H', W']): one scalar per group and output pixel,
            H' = ceil(H / stride).
        key (Tensor[B, G, H, W]): one scalar per group and input pixel.
        value (Tensor[B, C, H, W]): channel c belongs to group c // ceil(C / G).
        geometry_prior (Tensor[G, k, k]): added to the logits (LR Eq. (2)).
        kernel_size (int): k, odd.
        stride (int): Default: 1.
        composability (str): ``"squared_difference"``, ``"dot"`` or ``"abs_difference"``.
            Default: ``"squared_difference"``.

    Returns:
        Tensor[B, C, H', W']

    The kernels exist for float32 and float64; float16 and bfloat16 inputs are computed in
    float32 and the output cast back to their dtype (the gradients flow through the casts), so
    that a ``model.half()`` runs with the kernels as it does with the reference.
    """
    for name, t in (("query", query), ("key", key), ("value", value),
                    ("geometry_prior", geometry_prior)):
        if t.device.type != "cuda":
            raise ValueError(f"local_relation_cuda needs CUDA tensors; {name} is on {t.device}")
    if not available():
        raise RuntimeError(f"local_relation_cuda needs CuPy and a CUDA device: "
                           f"{why_unavailable()}")
    return _in_kernel_dtype(query, key, value, geometry_prior, kernel_size, stride,
                            composability)


def _in_kernel_dtype(query, key, value, geometry_prior, kernel_size, stride, composability):
    """The op, with float16 and bfloat16 computed in float32 and cast back (any device)."""
    dtype = query.dtype
    if dtype in (torch.float16, torch.bfloat16):
        out = local_relation_op(query.float(), key.float(), value.float(),
                                geometry_prior.float(), kernel_size, stride, composability)
        return out.to(dtype)
    return local_relation_op(query, key, value, geometry_prior, kernel_size, stride,
                             composability)
