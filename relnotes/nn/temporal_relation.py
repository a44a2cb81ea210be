r"""Temporal relation: attention of an object over a tracklet's recent features (STRN, our reading).

Xu, Cao, Zhang, Hu, "Spatial-Temporal Relation Networks for Multi-Object Tracking", ICCV 2019
(arXiv:1904.11489). The paper's figure 1 says the networks "aggregat[e] information over time";
how is not in the sources we could read (``region-tracking-deformable-graphs.md`` §2.3), so this
block is **our choice**, written as one more instance of the book's relation formula
:math:`y = \sum_j w(f_i, f_j, g_{ij})\, v(f_j)`:

- the *query* is the candidate object n of the current frame, :math:`f^n`;
- the *keys and values* are the tracklet's features at its last T appearances,
  :math:`h^t, t = 1 \dots T`, each seen :math:`\Delta_t \ge 1` frames ago;
- the weights compare the two (appearance) and add a learned bias per age (the temporal
  analogue of the geometry term; our choice, one scalar per age up to ``max_age``):

.. math::

    w_t^{n} = \operatorname{softmax}_t\Big(\frac{\langle W_K h^t, W_Q f^n\rangle}{\sqrt{d_k}}
              + b_{\min(\Delta_t, \Delta_{\max})}\Big),\qquad
    g^{n} = \sum_t w_t^{n}\, W_V h^t .

So a tracklet presents a different summary to each candidate: the frames in which it looked like
the candidate count most. When an occluder's appearance has leaked into some of the tracklet's
past features (the synthetic crowd of :mod:`relnotes.data.mot`), a candidate that is the true
object attends to the clean frames. Missing history entries (a tracklet shorter than T) are
masked out exactly (weight 0, :func:`relnotes.ops.relation`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..ops.relation import relation, scaled_dot_product

__all__ = ["TemporalRelation"]


class TemporalRelation(nn.Module):
    r"""Attention of each candidate over a tracklet's last T features; see the module docstring.

    Args:
        channels (int): :math:`d_f` of the features.
        d_k (int): key and query channels. Default: 32.
        max_age (int): ages :math:`\Delta \ge` ``max_age`` share the last bias. Default: 32.
        age_bias (bool): learn :math:`b_\Delta`; False keeps only the appearance term. Default: True.
    """

    def __init__(self, channels: int, *, d_k: int = 32, max_age: int = 32,
                 age_bias: bool = True) -> None:
        super().__init__()
        if channels <= 0 or d_k <= 0 or max_age <= 0:
            raise ValueError(f"channels, d_k and max_age must be positive; got {channels}, {d_k}, "
                             f"{max_age}")
        self.channels, self.d_k, self.max_age = channels, d_k, max_age
        self.query = nn.Linear(channels, d_k)              # W_Q
        self.key = nn.Linear(channels, d_k)                # W_K
        self.value = nn.Linear(channels, channels)         # W_V
        self.age_bias = nn.Parameter(torch.zeros(max_age + 1)) if age_bias else None   # b_Δ
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Default PyTorch init for the projections (our choice), W_V the identity so that at
        initialisation :math:`g^n` is a weighted mean of the raw history; age biases 0."""
        for layer in (self.query, self.key):
            layer.reset_parameters()
        nn.init.eye_(self.value.weight)
        nn.init.zeros_(self.value.bias)
        if self.age_bias is not None:
            nn.init.zeros_(self.age_bias)

    def forward(self, query: Tensor, history: Tensor, mask: Tensor, ages: Tensor,
                return_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        r"""
        Args:
            query (Tensor[K, N, d_f] or Tensor[N, d_f]): :math:`f^n`, the candidates (one set per
                tracklet, or the same N for all K tracklets).
            history (Tensor[K, T, d_f]): :math:`h^t`, each tracklet's last T features.
            mask (BoolTensor[K, T]): True where the history entry exists.
            ages (Tensor[K, T]): :math:`\Delta_t`, frames since each entry (integers >= 1).
            return_weights (bool): also return :math:`w`, Tensor[K, N, T]. Default: False.

        Returns:
            Tensor[K, N, d_f]: :math:`g^n` for every (tracklet, candidate); zero for a tracklet
            with no history.
        """
        if history.dim() != 3 or history.shape[-1] != self.channels:
            raise ValueError(f"history must be Tensor[K, T, {self.channels}]; got "
                             f"{tuple(history.shape)}")
        k, t, _ = history.shape
        if mask.shape != (k, t) or ages.shape != (k, t):
            raise ValueError(f"mask and ages must be [K, T] = [{k}, {t}]; got {tuple(mask.shape)} "
                             f"and {tuple(ages.shape)}")
        if query.dim() == 2:
            query = query.expand(k, *query.shape)                        # [K, N, d_f]
        q = self.query(query)                                            # [K, N, d_k]
        key = self.key(history)                                          # [K, T, d_k]
        # <W_K h^t, W_Q f^n> / sqrt(d_k)
        logits = scaled_dot_product(q, key, scale=1.0 / math.sqrt(self.d_k))   # [K, N, T]
        if self.age_bias is not None:
            idx = ages.long().clamp(0, self.max_age)                     # Δ_t, capped
            logits = logits + self.age_bias[idx][:, None, :]             # + b_Δ
        value = self.value(history)                                      # [K, T, d_f]
        # g^n = Σ_t w_t^n W_V h^t, softmax over the existing entries t
        out, w = relation(value, appearance=logits, neighbourhood=mask[:, None, :].expand_as(logits),
                          return_weights=True)                           # [K, N, d_f]
        return (out, w) if return_weights else out

    def extra_repr(self) -> str:
        return f"{self.channels}, d_k={self.d_k}, max_age={self.max_age}, " \
               f"age_bias={self.age_bias is not None}"
