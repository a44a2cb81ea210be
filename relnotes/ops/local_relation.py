r"""The local relation op (Hu, Zhang, Xie, Lin, *Local Relation Networks for Image Recognition*,
ICCV 2019, arXiv:1904.11491).

A pixel :math:`p'` of the output aggregates the input pixels :math:`p` of the :math:`k \times k`
window :math:`\Omega_{p'}` centred on it, with weights computed from the pixels themselves
(appearance) and from where they are (geometry). In the paper's notation (LR Eqs. (1)-(2)),

.. math::

    y(c, p') = \sum_{p \in \Omega_{p'}} \omega(g(c), p', p)\, x(c, p), \qquad
    \omega(g, p', p) = \operatorname{softmax}_{p \in \Omega_{p'}}
        \Big(\Phi\big(q_g(p'), k_g(p)\big) + \pi_g(p - p')\Big)

- :math:`x` is the value, ``Tensor[B, C, H, W]`` (in the LR layer, the layer's input itself);
- the C channels are cut into G contiguous groups of :math:`m = \lceil C / G \rceil` channels,
  channel :math:`c` belongs to group :math:`g(c) = \lfloor c / m \rfloor` (the layout of the
  official LR-Net kernel); the last group may be smaller (C = 100, G = 13 in LR-Net-50);
- :math:`q_g` and :math:`k_g` are one *scalar* query and key per group and pixel
  (``Tensor[B, G, H', W']`` and ``Tensor[B, G, H, W]``);
- :math:`\Phi` is the appearance composability: ``"squared_difference"`` :math:`-(q-k)^2`
  (the paper's default), ``"dot"`` :math:`q k`, ``"abs_difference"`` :math:`-|q-k|`;
- :math:`\pi_g(p - p')` is the geometry prior, ``Tensor[G, k, k]``, indexed by the offset;
- the softmax runs over the neighbours that lie *inside* the image; the others take no weight
  (the official kernel gives them the logit -100, we give them :math:`-\infty`);
- with ``stride`` s the output is ``[B, C, H', W']`` with :math:`H' = \lceil H / s \rceil`, and the
  window of output :math:`(i, j)` is centred on input :math:`(i s, j s)`.

Four functions:

- :func:`local_relation`, the public entry: it checks its inputs and picks an implementation
  (CUDA tensors: the CuPy kernels of :mod:`relnotes.ops.kernels`; float32 and float64 CPU
  tensors: the fused C++ loop of :mod:`relnotes.ops.kernels.cpu_backend`, the same sums in one
  pass over each plane, several times faster than the reference, as
  :mod:`relnotes.analysis.lr_benchmark` measures; otherwise the reference);
- :func:`local_relation_reference`, the PyTorch reference, written in the index order of a CUDA
  kernel (per output pixel, per offset). It never builds the :math:`k^2`-unfolded value tensor
  ``[B, C, k*k, H', W']``: it loops over the :math:`k^2` offsets, reading shifted strided views
  of the zero-padded input. The only :math:`k^2`-sized tensor is the weights,
  ``[B, G, k*k, H', W']``, :math:`k^2 / m` times the output (6.1x for k = 7, m = 8), which the
  official kernel also materialises;
- :func:`local_relation_unfold`, the *naive* implementation that the reference is measured
  against (``relnotes.analysis.lr_benchmark``): it unfolds the key and the value with
  :func:`torch.nn.functional.unfold` into :math:`k^2`-times larger tensors and sums their
  weighted windows. Short and easy to check, and :math:`k^2` times the memory of the value;
- :func:`local_relation_macs`, the multiply-accumulates of one call.

**Counting MACs.** The reference is made of element-wise PyTorch ops (``mul``, ``sub``, ``add``,
``softmax``): :class:`torch.utils.flop_counter.FlopCounterMode` has formulas only for matmuls and
convolutions, so it counts this op as 0 (a test checks it). Its cost comes from the closed form in
:func:`local_relation_macs`, applied per call with forward hooks by
``relnotes.analysis.count_macs_with_local_relation``. The CUDA backend
(``torch.ops.relnotes.local_relation``, a ``torch.library.custom_op``) registers the same formula
with ``relnotes.ops.flop_formulas.register_mac_formula``, so the count does not depend on the device.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from .local_relation_args import COMPOSABILITIES, check_composability, check_kernel_size

__all__ = ["local_relation", "local_relation_reference", "local_relation_unfold",
           "local_relation_weights", "local_relation_macs", "COMPOSABILITIES"]


def _composability(q: Tensor, k: Tensor, composability: str) -> Tensor:
    """Φ(q, k), element-wise."""
    if composability == "squared_difference":
        return -(q - k) ** 2
    if composability == "dot":
        return q * k
    return -(q - k).abs()  # "abs_difference"


def local_relation_reference(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    geometry_prior: Tensor,
    kernel_size: int,
    stride: int = 1,
    composability: str = "squared_difference",
) -> Tensor:
    r"""The local relation op in plain PyTorch; see :func:`local_relation` for the arguments.

    It does not check its inputs (call :func:`local_relation` for that). The computation follows
    a CUDA kernel's index order: a kernel thread owns one output pixel (b, g, i, j) and loops over
    the k x k offsets (a, b'); here the loop over offsets is the Python loop, and every pixel is
    handled at once by a shifted, strided view of the zero-padded key and value
    (:func:`_reference_forward`). The backward pass is written by hand in the same loop
    (:func:`_reference_backward`, the equations of the CUDA kernels' backward): letting autograd
    differentiate the loop would allocate a full-size gradient for each of the k² views and run
    several times slower. Works on any device, including ``"meta"``; double backward is not
    supported (a clear error).
    """
    return _LocalRelationReference.apply(query, key, value, geometry_prior, kernel_size, stride,
                                         composability)


def _window(t: Tensor, a: int, b: int, stride: int, out_h: int, out_w: int) -> Tensor:
    """t at input (i*s + a - r, j*s + b - r) for every output (i, j), t padded by r: a view."""
    return t[..., a : a + stride * (out_h - 1) + 1 : stride, b : b + stride * (out_w - 1) + 1 : stride]


def _reference_forward(query, key, value, geometry_prior, kernel_size, stride, composability):
    """Forward of the reference; returns the output and what the backward needs."""
    B, G, Ho, Wo = query.shape
    C, H, W = value.shape[1:]
    m = -(-C // G)                        # channels per group, ceil(C / G)
    r = kernel_size // 2                  # window radius
    # Pad H and W by r (zeros), and the channels up to G*m so that the groups can be a view.
    key_p = F.pad(key, (r, r, r, r))                                    # [B, G, H+2r, W+2r]
    value_p = F.pad(value, (r, r, r, r, 0, G * m - C))                  # [B, G*m, H+2r, W+2r]
    value_p = value_p.view(B, G, m, H + 2 * r, W + 2 * r)               # [B, G, m, H+2r, W+2r]
    inside = F.pad(value.new_ones(H, W, dtype=torch.bool), (r, r, r, r))  # [H+2r, W+2r]
    offsets = [(a, b) for a in range(kernel_size) for b in range(kernel_size)]
    window = lambda t, a, b: _window(t, a, b, stride, Ho, Wo)           # noqa: E731

    # Pass 1: the logits of every offset.
    logits = query.new_empty(B, G, kernel_size**2, Ho, Wo)
    for o, (a, b) in enumerate(offsets):
        # LR Eq. (2): Φ(q(p'), k(p)) + π(p - p'), for p = p' + (a - r, b - r)
        logit = _composability(query, window(key_p, a, b), composability)   # [B, G, H', W']
        logit = logit + geometry_prior[:, a, b].view(1, G, 1, 1)
        # neighbours outside the image take no weight
        logits[:, :, o] = logit.masked_fill(~window(inside, a, b), float("-inf"))
    # LR Eq. (2): the softmax over the window (the centre is always inside, so no row is empty)
    weights = torch.softmax(logits, dim=2)                                 # [B, G, k*k, H', W']

    # Pass 2: aggregate, one offset at a time.
    out = value.new_zeros(B, G, m, Ho, Wo)                                 # [B, G, m, H', W']
    for o, (a, b) in enumerate(offsets):
        # LR Eq. (1): y(c, p') += ω(g(c), p', p) x(c, p); the m channels of a group share ω
        out.addcmul_(weights[:, :, o, None], window(value_p, a, b))
    return out.view(B, G * m, Ho, Wo)[:, :C], (key_p, value_p, weights)


def _reference_backward(grad_out, query, key_p, value_p, weights, kernel_size, stride,
                        composability, needs):
    """Gradients of the reference in the same loop over offsets (the kernels' backward).

    Returns the gradients of (query, key, value, geometry_prior); None where ``needs`` is False.
    """
    B, G, Ho, Wo = query.shape
    m, Hp, Wp = value_p.shape[2:]
    C, r = grad_out.shape[1], kernel_size // 2
    offsets = [(a, b) for a in range(kernel_size) for b in range(kernel_size)]
    window = lambda t, a, b: _window(t, a, b, stride, Ho, Wo)           # noqa: E731
    dy = F.pad(grad_out, (0, 0, 0, 0, 0, G * m - C)).view(B, G, m, Ho, Wo)

    # Eq. (1) backward: dL/dω = Σ_c∈g dy(c, p') x(c, p) and dL/dx(c, p) += ω dy(c, p').
    grad_weights = torch.empty_like(weights)                             # [B, G, k*k, H', W']
    grad_value_p = torch.zeros_like(value_p) if needs[2] else None
    for o, (a, b) in enumerate(offsets):
        grad_weights[:, :, o] = (dy * window(value_p, a, b)).sum(dim=2)
        if grad_value_p is not None:            # a scatter here; the CUDA kernel gathers
            window(grad_value_p, a, b).addcmul_(weights[:, :, o, None], dy)
    # softmax backward: dL/dlogit = ω (dL/dω - Σ_window ω dL/dω); 0 outside the image (ω = 0)
    grad_logits = weights * (grad_weights - (weights * grad_weights).sum(dim=2, keepdim=True))

    # Eq. (2) backward: the prior gets the logits' gradient summed over images and pixels,
    # the query and the key the chain rule through Φ.
    grad_prior = grad_logits.sum(dim=(0, 3, 4)).view(G, kernel_size, kernel_size) if needs[3] \
        else None
    grad_query = torch.zeros_like(query) if needs[0] else None
    grad_key_p = torch.zeros_like(key_p) if needs[1] else None
    if needs[0] or needs[1]:
        for o, (a, b) in enumerate(offsets):
            d_q, d_k = _composability_grads(query, window(key_p, a, b), composability)
            if grad_query is not None:
                grad_query.addcmul_(grad_logits[:, :, o], d_q)
            if grad_key_p is not None:
                window(grad_key_p, a, b).addcmul_(grad_logits[:, :, o], d_k)
    grad_key = grad_key_p[..., r : Hp - r, r : Wp - r] if grad_key_p is not None else None
    grad_value = (grad_value_p.view(B, G * m, Hp, Wp)[:, :C, r : Hp - r, r : Wp - r]
                  if grad_value_p is not None else None)
    return grad_query, grad_key, grad_value, grad_prior


def _composability_grads(q: Tensor, k: Tensor, composability: str) -> tuple[Tensor, Tensor]:
    """(∂Φ/∂q, ∂Φ/∂k), element-wise."""
    if composability == "squared_difference":      # Φ = -(q - k)²
        d = 2 * (q - k)
        return -d, d
    if composability == "dot":                     # Φ = q k
        return k, q.expand_as(k)
    d = torch.sign(q - k)                          # Φ = -|q - k|
    return -d, d


class _LocalRelationReference(torch.autograd.Function):
    """Autograd glue of :func:`local_relation_reference`."""

    @staticmethod
    def forward(ctx, query, key, value, geometry_prior, kernel_size, stride, composability):
        out, (key_p, value_p, weights) = _reference_forward(
            query, key, value, geometry_prior, kernel_size, stride, composability)
        ctx.save_for_backward(query, key_p, value_p, weights)
        ctx.args = (kernel_size, stride, composability)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        query, key_p, value_p, weights = ctx.saved_tensors
        grads = _reference_backward(grad_out, query, key_p, value_p, weights, *ctx.args,
                                    needs=ctx.needs_input_grad[:4])
        return (*grads, None, None, None)


def local_relation_weights(
    query: Tensor,
    key: Tensor,
    geometry_prior: Tensor,
    kernel_size: int,
    stride: int = 1,
    composability: str = "squared_difference",
) -> Tensor:
    r"""The aggregation weights :math:`\omega(g, p', p)` of LR Eq. (2), unfolded.

    Arguments as in :func:`local_relation` (no checks). Returns Tensor[B, G, k*k, H', W']:
    ``w[b, g, a*k + c, i, j]`` is the weight that output (i, j) gives to input
    (i*s + a - k//2, j*s + c - k//2); it sums to 1 over the window and is 0 outside the image.
    """
    B, G, Ho, Wo = query.shape
    H, W = key.shape[-2:]
    k, r = kernel_size, kernel_size // 2
    keys = F.unfold(key, k, padding=r, stride=stride).view(B, G, k * k, Ho, Wo)
    inside = F.unfold(key.new_ones(1, 1, H, W), k, padding=r, stride=stride)
    inside = inside.view(1, 1, k * k, Ho, Wo) > 0
    # LR Eq. (2): Φ(q(p'), k(p)) + π(p - p'), softmax over the in-image neighbours
    logits = _composability(query.unsqueeze(2), keys, composability)
    logits = logits + geometry_prior.reshape(1, G, k * k, 1, 1)
    return torch.softmax(logits.masked_fill(~inside, float("-inf")), dim=2)


def local_relation_unfold(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    geometry_prior: Tensor,
    kernel_size: int,
    stride: int = 1,
    composability: str = "squared_difference",
) -> Tensor:
    """The naive implementation: unfold the value into Tensor[B, G, m, k*k, H', W'] (k² times
    its size), weight and sum. Arguments as in :func:`local_relation` (no checks). Used as the
    baseline of the memory and speed benchmark and as an independent check of the reference."""
    B, G, Ho, Wo = query.shape
    C = value.shape[1]
    m, k, r = -(-C // G), kernel_size, kernel_size // 2
    weights = local_relation_weights(query, key, geometry_prior, k, stride, composability)
    value = F.pad(value, (0, 0, 0, 0, 0, G * m - C))                    # channels up to G*m
    windows = F.unfold(value, k, padding=r, stride=stride).view(B, G, m, k * k, Ho, Wo)
    # LR Eq. (1), all offsets at once: the k²-times larger product, then the sum
    out = (weights.unsqueeze(2) * windows).sum(dim=3)                    # [B, G, m, H', W']
    return out.reshape(B, G * m, Ho, Wo)[:, :C]


def local_relation(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    geometry_prior: Tensor,
    kernel_size: int,
    stride: int = 1,
    composability: str = "squared_difference",
) -> Tensor:
    r"""Local relation aggregation (LR Eqs. (1)-(2)); see the module docstring for the math.

    Args:
        query (Tensor[B, G, H', W']): one scalar query per channel group and *output* pixel,
            :math:`H' = \lceil H / s \rceil`, :math:`W' = \lceil W / s \rceil`.
        key (Tensor[B, G, H, W]): one scalar key per channel group and input pixel.
        value (Tensor[B, C, H, W]): the features to aggregate. Channel c belongs to group
            c // m, m = ceil(C / G); every group must get at least one channel.
        geometry_prior (Tensor[G, k, k]): :math:`\pi_g(p - p')`, added to the logits;
            ``geometry_prior[g, a, b]`` is the offset (a - k // 2, b - k // 2) (row, column).
        kernel_size (int): k, odd. The window of output (i, j) is centred on input (i*s, j*s).
        stride (int): s >= 1. Default: 1.
        composability (str): Φ, one of ``"squared_difference"`` :math:`-(q-k)^2`, ``"dot"``
            :math:`qk`, ``"abs_difference"`` :math:`-|q-k|`. Default: ``"squared_difference"``.

    All four tensors must share one floating dtype and one device. The result is differentiable
    in all four. Half precision: float16 and bfloat16 inputs give an output of their dtype (the
    reference computes in that dtype; the CUDA kernels, float32 and float64 only, compute in
    float32 and cast back). Under :func:`torch.autocast` the op runs in float32, whatever the
    dtypes of its inputs (our choice, as autocast does for ``softmax``): in
    :class:`relnotes.nn.LocalRelation2d` the query and key come from autocast's half precision
    convolutions and the value is the layer's float32 input.

    Returns:
        Tensor[B, C, H', W']

    Examples::

        >>> v = torch.arange(4.).view(1, 1, 2, 2)          # one channel, one group
        >>> q, k = torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
        >>> local_relation(q, k, v, torch.zeros(1, 3, 3), kernel_size=3)  # equal weights: mean
        tensor([[[[1.5000, 1.5000],
                  [1.5000, 1.5000]]]])
        >>> q2 = torch.zeros(1, 1, 1, 1)                    # stride 2: H' = ceil(2 / 2) = 1
        >>> local_relation(q2, k, v, torch.zeros(1, 3, 3), kernel_size=3, stride=2).shape
        torch.Size([1, 1, 1, 1])
    """
    query, key, value, geometry_prior = _autocast_to_float32(query, key, value, geometry_prior)
    _check_inputs(query, key, value, geometry_prior, kernel_size, stride, composability)
    # ---- Backend selection: the one place where an implementation is chosen. ----------------
    # The CuPy CUDA kernels (relnotes.ops.kernels) take over for CUDA tensors when CuPy and a GPU
    # are present; the fused C++ implementation (relnotes.ops.kernels.cpu_backend) for float32
    # and float64 CPU tensors when a C++ compiler is present. The imports are lazy so that the
    # package works without CuPy or a compiler. Every other case (half precision on the CPU,
    # meta, no CuPy, no compiler) runs the PyTorch reference.
    if query.is_cuda:
        backend = _cuda_backend()
        if backend is not None:
            return backend(query, key, value, geometry_prior, kernel_size, stride, composability)
    elif query.device.type == "cpu":
        backend = _cpu_backend(query.dtype)
        if backend is not None:
            return backend(query, key, value, geometry_prior, kernel_size, stride, composability)
    return local_relation_reference(query, key, value, geometry_prior, kernel_size, stride,
                                    composability)


def _cuda_backend():
    """The CUDA implementation, or None when ``relnotes.ops.kernels`` or CuPy is unavailable.

    Contract with the kernels module: it exposes ``available() -> bool`` and
    ``local_relation_cuda(query, key, value, geometry_prior, kernel_size, stride,
    composability)``, which receives inputs already checked by :func:`local_relation`.
    """
    try:
        from relnotes.ops import kernels
    except ImportError:
        return None
    if not kernels.available():
        return None
    return kernels.local_relation_cuda


def _cpu_backend(dtype: torch.dtype):
    """The fused CPU implementation for ``dtype``, or None (float16 / bfloat16, no compiler,
    ``RELNOTES_LR_CPU=reference``); see :mod:`relnotes.ops.kernels.cpu_backend`."""
    try:
        from relnotes.ops.kernels import cpu_backend
    except ImportError:
        return None
    if dtype not in cpu_backend.DTYPES or not cpu_backend.available():
        return None
    return cpu_backend.local_relation_cpu


def local_relation_macs(
    batch: int, channels: int, groups: int, out_height: int, out_width: int, kernel_size: int
) -> int:
    r"""Multiply-accumulates of one :func:`local_relation` call.

    One multiply per logit for Φ (:math:`B G k^2 H' W'`; the square of
    :math:`-(q-k)^2`, the product :math:`qk`; :math:`-|q-k|` is counted the same for simplicity)
    and one multiply-add per weight and channel for the aggregation (:math:`B C k^2 H' W'`).
    Adding the prior, the softmax and the masking are free, like biases, activations and softmax
    everywhere else in ``relnotes.analysis``. This is the op term of the LR-Net FLOP recount in
    the reference note (§3.2); the 1x1 embeddings belong to the layer and are counted as convs.

    Examples::

        >>> local_relation_macs(1, 64, 8, 112, 112, 7)    # the LR-Net stem layer
        44255232
    """
    return batch * out_height * out_width * kernel_size**2 * (groups + channels)


def _autocast_to_float32(*tensors):
    """Under autocast for the tensors' device, the floating tensors in float32 (the op's autocast
    policy, also registered for ``torch.ops.relnotes.local_relation``); else unchanged."""
    first = tensors[0]
    if not (all(isinstance(t, Tensor) for t in tensors)
            # not on "meta"; under torch.compile the device is a real one, and Dynamo cannot
            # trace is_autocast_available in every PyTorch (2.11 raised, fullgraph=True)
            and (torch.compiler.is_compiling()
                 or torch.amp.is_autocast_available(first.device.type))
            and torch.is_autocast_enabled(first.device.type)):
        return tensors
    return tuple(t.float() if t.is_floating_point() else t for t in tensors)


# --- input checks -------------------------------------------------------------------------------
def _check_inputs(query, key, value, geometry_prior, kernel_size, stride, composability) -> None:
    names = ("query", "key", "value", "geometry_prior")
    tensors = (query, key, value, geometry_prior)
    for name, t in zip(names, tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(t).__name__}")
    shapes = ("[B, G, H', W']", "[B, G, H, W]", "[B, C, H, W]", "[G, k, k]")
    for name, t, dims, shape in zip(names, tensors, (4, 4, 4, 3), shapes):
        if t.dim() != dims:
            raise ValueError(f"{name} must be Tensor{shape} ({dims} dimensions); got shape "
                             f"{tuple(t.shape)}")
    check_kernel_size(kernel_size)
    if isinstance(stride, bool) or not isinstance(stride, int):
        raise TypeError(f"stride must be an int; got {type(stride).__name__}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1; got {stride}")
    check_composability(composability)
    if not query.dtype.is_floating_point:
        raise TypeError(f"query must have a floating dtype; got {query.dtype}")
    for name, t in zip(names[1:], tensors[1:]):
        if t.dtype != query.dtype:
            raise TypeError(f"{name} must have the dtype of query ({query.dtype}); got {t.dtype}")
        if t.device != query.device:
            raise ValueError(f"{name} must be on the device of query ({query.device}); got "
                             f"{t.device}")
    B, G, Ho, Wo = query.shape
    C, H, W = value.shape[1:]
    if key.shape[0] != B or value.shape[0] != B:
        raise ValueError(f"query, key and value must have the same batch size B; got "
                         f"{B}, {key.shape[0]} and {value.shape[0]}")
    if key.shape[1] != G:
        raise ValueError(f"key must have the G = {G} groups of query (shape {tuple(query.shape)});"
                         f" got key of shape {tuple(key.shape)}")
    if key.shape[2:] != value.shape[2:]:
        raise ValueError(f"key and value must share the input size H x W; got key "
                         f"{tuple(key.shape)} and value {tuple(value.shape)}")
    expected = (math.ceil(H / stride), math.ceil(W / stride))
    if (Ho, Wo) != expected:
        raise ValueError(f"query must be on the output grid H' x W' = ceil(H / stride) x "
                         f"ceil(W / stride) = {expected[0]} x {expected[1]} (H x W = {H} x {W}, "
                         f"stride {stride}); got {Ho} x {Wo}")
    if G < 1 or C < 1:
        raise ValueError(f"need at least one group and one channel; got G = {G}, C = {C}")
    m = -(-C // G)
    if -(-C // m) != G:
        raise ValueError(f"value's C = {C} channels cannot be cut into G = {G} contiguous groups "
                         f"of m = ceil(C / G) = {m} without an empty group (that needs "
                         f"ceil(C / m) = G, here {-(-C // m)}); use G = ceil(C / m) groups")
    if tuple(geometry_prior.shape) != (G, kernel_size, kernel_size):
        raise ValueError(f"geometry_prior must be Tensor[G, k, k] = [{G}, {kernel_size}, "
                         f"{kernel_size}]; got {tuple(geometry_prior.shape)}")
