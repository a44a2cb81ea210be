r"""The relation formula: one op behind every network of the book.

Every block in relnotes computes, for each element :math:`i` (a word, a graph node, an object, a
pixel),

.. math::

    y_i = \sum_{j \in \mathcal{N}(i)} w_{ij}\, v_j, \qquad
    w_{ij} = \frac{\omega_{ij}}{Z_{ij}}, \qquad
    \omega_{ij} = \omega^G_{ij} \exp\big(\omega^A_{ij}\big)

- :math:`v_j` is the *value* of element :math:`j` (an embedding of its feature :math:`f_j`);
- :math:`\omega^A_{ij}` is the *appearance* term, a score computed from the two features, for
  example the scaled dot product :math:`\langle W_Q f_i, W_K f_j\rangle / \sqrt{d_k}`
  (Transformer; Relation Networks for Object Detection (RN), Eq. (4));
- :math:`\omega^G_{ij} \ge 0` is the *geometry* term, a weight computed from where the elements
  are: the learned box-geometry weight of RN Eq. (5), or the edge weight of a graph;
- :math:`\mathcal{N}(i)` is the *neighbourhood*: all elements, the edges of a graph, a k x k window;
- :math:`Z_{ij}` normalises the weights over :math:`j`: ``"softmax"``,
  :math:`Z_i = \sum_k \omega_{ik}` (RN Eq. (3)); ``"symmetric"``,
  :math:`Z_{ij} = \sqrt{d_i d_j}` with :math:`d_i = \sum_k \omega_{ik}` (Kipf & Welling's
  :math:`D^{-1/2}\tilde A D^{-1/2}`); or ``"none"``.

The product :math:`\omega^G \exp(\omega^A)` is computed in log space,
:math:`\exp(\omega^A + \log \omega^G)`, as in the official RN code. The op holds no parameters;
the blocks in ``relnotes.nn`` own the projections that make queries, keys and values.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["relation", "scaled_dot_product", "NORMALIZATIONS"]

NORMALIZATIONS = ("softmax", "symmetric", "none")


def scaled_dot_product(query: Tensor, key: Tensor, scale: float | None = None) -> Tensor:
    r"""Appearance term :math:`\omega^A_{ij} = \langle q_i, k_j \rangle \cdot s` (RN Eq. (4)).

    Args:
        query (Tensor[..., N, d_k]): one query per element i.
        key (Tensor[..., M, d_k]): one key per element j.
        scale (float, optional): s. Default: :math:`1/\sqrt{d_k}`, which keeps the scores' variance
            near 1 when queries and keys have unit-variance entries.

    Returns:
        Tensor[..., N, M]

    Examples::

        >>> q, k = torch.ones(1, 2, 4), torch.ones(1, 3, 4)
        >>> scaled_dot_product(q, k)     # <q, k> = 4, / sqrt(4)
        tensor([[[2., 2., 2.],
                 [2., 2., 2.]]])
    """
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"query and key must share their last dimension d_k; got query "
                         f"{tuple(query.shape)} and key {tuple(key.shape)}")
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    # ω^A_ij = Σ_d q_id k_jd · s
    return torch.einsum("...id,...jd->...ij", query, key) * scale


def relation(
    value: Tensor,
    appearance: Tensor | None = None,
    geometry: Tensor | None = None,
    neighbourhood: Tensor | None = None,
    normalization: str = "softmax",
    return_weights: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    r"""Aggregate values with relation weights: :math:`y_i = \sum_{j \in N(i)} w_{ij} v_j`.

    Args:
        value (Tensor[..., M, d_v]): :math:`v_j`.
        appearance (Tensor[..., N, M], optional): :math:`\omega^A_{ij}`, any real number.
            Default: 0 (no appearance term).
        geometry (Tensor[..., N, M], optional): :math:`\omega^G_{ij} \ge 0`; a zero removes the
            pair. Default: 1 (no geometry term).
        neighbourhood (BoolTensor[..., N, M], optional): True where j is in N(i).
            Default: every j.
        normalization (str): ``"softmax"``, ``"symmetric"`` (needs N == M) or ``"none"``.
            Default: ``"softmax"``.
        return_weights (bool): also return :math:`w` (Tensor[..., N, M]). Default: False.

    The three relation inputs broadcast against each other, so a graph's ``[N, N]`` adjacency
    serves a batch of ``[B, N, N]`` scores. At least one of them must be given, to say what N is.
    An element with an empty neighbourhood gets :math:`y_i = 0` (an empty sum), never NaN.

    Returns:
        Tensor[..., N, d_v], and the weights when ``return_weights``.

    Examples::

        >>> v = torch.tensor([[1.], [3.]])                 # two elements, d_v = 1
        >>> relation(v, appearance=torch.zeros(2, 2))      # equal weights: the mean
        tensor([[2.],
                [2.]])
        >>> relation(v, geometry=torch.tensor([[1., 0.], [1., 1.]]))   # element 0 sees only itself
        tensor([[1.],
                [2.]])
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}; got {normalization!r}")
    terms = [t for t in (appearance, geometry, neighbourhood) if t is not None]
    if not terms:
        raise ValueError("give at least one of appearance, geometry or neighbourhood: they say "
                         "which elements relate (use appearance=torch.zeros(N, M) for a plain mean)")
    shape = torch.broadcast_shapes(*(t.shape for t in terms))  # [..., N, M]
    if shape[-1] != value.shape[-2]:
        raise ValueError(f"the relation terms have M = {shape[-1]} elements j (shape "
                         f"{tuple(shape)}) but value has {value.shape[-2]} (shape "
                         f"{tuple(value.shape)}); value must be Tensor[..., M, d_v]")

    # log ω_ij = ω^A_ij + log ω^G_ij, and -inf outside the neighbourhood
    logits = torch.zeros(shape, dtype=value.dtype, device=value.device)
    if appearance is not None:
        logits = logits + appearance
    absent = None
    if geometry is not None:
        if bool((geometry < 0).any()):
            raise ValueError("geometry weights must be >= 0 (RN Eq. (5) clips them with a ReLU); "
                             f"got a minimum of {geometry.min().item():.4g}")
        absent = geometry == 0
        # where ω^G = 0 take log(1) and mask the pair below, so no gradient sees log(0)
        logits = logits + torch.where(absent, torch.ones_like(geometry), geometry).log()
    if neighbourhood is not None:
        if neighbourhood.dtype != torch.bool:
            raise TypeError(f"neighbourhood must be a bool tensor; got {neighbourhood.dtype}")
        absent = ~neighbourhood if absent is None else absent | ~neighbourhood
    if absent is not None:
        logits = logits.masked_fill(absent, float("-inf"))

    if normalization == "softmax":
        # RN Eq. (3): w_ij = ω_ij / Σ_k ω_ik, shifted by the row maximum for stability
        row_max = logits.amax(dim=-1, keepdim=True)
        row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))
        omega = torch.exp(logits - row_max)                                      # [..., N, M]
        weights = omega / omega.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(omega.dtype).tiny)
    else:
        omega = torch.exp(logits)                                                # [..., N, M]
        if normalization == "symmetric":
            if shape[-1] != shape[-2]:
                raise ValueError(f"symmetric normalization needs N == M; got {tuple(shape)}")
            # Kipf & Welling: w_ij = ω_ij / sqrt(d_i d_j), d_i = Σ_k ω_ik
            degree = omega.sum(dim=-1)                                           # [..., N]
            inv_sqrt = torch.where(degree > 0, degree.rsqrt(), torch.zeros_like(degree))
            weights = inv_sqrt.unsqueeze(-1) * omega * inv_sqrt.unsqueeze(-2)
        else:
            weights = omega

    # y_i = Σ_j w_ij v_j
    out = torch.einsum("...ij,...jd->...id", weights, value)
    return (out, weights) if return_weights else out
