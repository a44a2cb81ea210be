r"""The object relation module (RN, Hu et al., CVPR 2018, Sec. 3).

Hu, Gu, Zhang, Dai, Wei, "Relation Networks for Object Detection", arXiv:1711.11575v2. Official
MXNet code consulted for the differences listed below: msracver/Relation-Networks-for-Object-
Detection (``attention_module_multi_head``, ``extract_position_matrix``,
``extract_position_embedding``); no code was copied.

Symbols: :math:`N` objects, each with an appearance feature :math:`f_A^n \in \mathbb R^{d_f}` and a
box :math:`f_G^n`; :math:`N_r` relations (heads), each with keys and queries of :math:`d_k`
channels; :math:`d_g` channels of box-geometry embedding (:mod:`relnotes.ops.box_geometry`).
For one relation and a reference (query) object n, with the other (key) objects m:

.. math::

    f_R(n) &= \sum_m \omega^{mn} \, (W_V f_A^m)                                    &\text{(2)}\\
    \omega^{mn} &= \frac{\omega_G^{mn} \exp(\omega_A^{mn})}
                       {\sum_k \omega_G^{kn} \exp(\omega_A^{kn})}                       &\text{(3)}\\
    \omega_A^{mn} &= \frac{\langle W_K f_A^m,\ W_Q f_A^n \rangle}{\sqrt{d_k}}            &\text{(4)}\\
    \omega_G^{mn} &= \max\{0,\ W_G \cdot \mathcal E_G(f_G^m, f_G^n)\}                    &\text{(5)}\\
    f_A^n &\leftarrow f_A^n + \mathrm{Concat}[f_R^1(n), \dots, f_R^{N_r}(n)]             &\text{(6)}

Each :math:`W_V^r` maps :math:`d_f \to d_f/N_r`, so the concatenation has :math:`d_f` channels and
the residual of Eq. (6) needs no projection. Without biases the module has
:math:`N_r(2 d_f d_k + d_g) + d_f^2` parameters, Eq. (7): 3,146,752 for :math:`d_f = 1024` and the
defaults :math:`N_r = 16, d_k = 64, d_g = 64` (``bias=False``). The official code has biases on
every layer, 3,088 more: 3,149,840 (``bias=True``, the default).

Eq. (3) is a softmax of :math:`\omega_A + \log\omega_G`; :func:`relnotes.ops.relation` computes it
that way, with :math:`\omega_G = 0` (the ReLU of Eq. (5) is zero for about half of the pairs at
initialisation) removing the pair exactly. A query whose every :math:`\omega_G` is zero gets
:math:`f_R = 0`, the empty sum, instead of the paper's 0/0.

**Where the official code differs** (each an option, ``OFFICIAL_CODE_OPTIONS`` sets them all):

- geometry (``normalize_by="query"``, ``plus_one=True``, ``geometry_scale=100``): see
  :mod:`relnotes.ops.box_geometry`;
- ``geometry_floor=1e-6``: the code computes :math:`\log\max(\omega_G, 10^{-6}) + \omega_A`, so a
  pair whose :math:`\omega_G` is zero keeps the tiny weight :math:`10^{-6} e^{\omega_A}` instead of
  being removed, and a query with every :math:`\omega_G` zero falls back to a softmax of
  :math:`\omega_A`. Here the floor is applied to :math:`\omega_G` before it enters
  :func:`~relnotes.ops.relation` (``geometry=max(ω_G, floor)``, strictly positive so nothing is
  removed), which is exactly the code's log-space sum. The gradient is the same either way: zero
  below the floor, as behind the ReLU;
- the code has no :math:`W_V`: it aggregates the raw features with each relation's weights and
  then applies a grouped 1x1 convolution (group r: :math:`d_f \to d_f/N_r`). Because the weights
  of a query sum to one this equals projecting first, :math:`\sum_m \omega^{mn} W_V f^m =
  W_V \sum_m \omega^{mn} f^m` (the bias included), which is what we do: it costs
  :math:`N d_f^2` instead of :math:`N N_r d_f^2` multiply-accumulates and gives the FLOPs of
  Eq. (8). (With no floor and a query whose weights are all zero, the two differ by the bias.)

**Keys without the ground truth** (``nongt_dim``). In training the official code appends the
ground-truth boxes to the proposals, so that the head sees some perfect positives. They must
not be *keys*: at test time there is no ground truth, and a module trained with a perfect box of
every object in its context would learn to copy it. The code therefore passes ``nongt_dim`` (the
number of proposals, 300) and uses only the first ``nongt_dim`` objects as keys and values; every
object, ground truth included, is a query. ``forward(..., nongt_dim=K)`` does the same.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..ops.box_geometry import (
    NORMALIZE_BY, box_geometry, box_geometry_embedding, check_boxes, sinusoidal_embedding,
)
from ..ops.relation import relation, scaled_dot_product

__all__ = ["ObjectRelation", "ObjectRelationNoGeometry", "ObjectRelationUnary", "GEOMETRY_TERMS",
           "OFFICIAL_CODE_OPTIONS", "object_relation_params", "object_relation_macs"]

#: The official MXNet code's choices, ``ObjectRelation(1024, **OFFICIAL_CODE_OPTIONS)``.
OFFICIAL_CODE_OPTIONS = dict(normalize_by="query", eps=1e-3, plus_one=True, geometry_scale=100.0,
                             geometry_floor=1e-6)


def object_relation_params(d_f: int, n_relations: int = 16, d_k: int = 64, d_g: int = 64) -> int:
    r"""RN Eq. (7): :math:`N_r(2 d_f d_k + d_g) + d_f^2`, the parameters of one module without
    biases. ``object_relation_params(1024)`` is 3,146,752."""
    return n_relations * (2 * d_f * d_k + d_g) + d_f ** 2  # RN Eq. (7)


def object_relation_macs(n: int, d_f: int, n_relations: int = 16, d_k: int = 64,
                         d_g: int = 64) -> int:
    r"""RN Eq. (8): :math:`N d_f (2 N_r d_k + d_f) + N^2 N_r (d_g + d_k + d_f/N_r + 1)`
    multiply-accumulates of one module on N objects. ``object_relation_macs(300, 1024)`` is
    1,221,638,400. The last ``+ 1`` is the product :math:`\omega_G \cdot \exp(\omega_A)`, an
    element-wise op that a FLOP counter does not count."""
    return n * d_f * (2 * n_relations * d_k + d_f) + \
        n * n * n_relations * (d_g + d_k + d_f // n_relations + 1)  # RN Eq. (8)


class ObjectRelation(nn.Module):
    r"""Object relation module, RN Eqs. (2)-(6); see the module docstring.

    Args:
        channels (int): :math:`d_f`, the appearance feature channels (kept as ``self.d_f``, the
            paper's name); divisible by ``n_relations``.
        n_relations (int): :math:`N_r`. Default: 16.
        d_k (int): key and query channels per relation. Default: 64.
        d_g (int): geometry embedding channels; a multiple of 8. Default: 64.
        bias (bool): biases on :math:`W_Q, W_K, W_V, W_G` (official layout, 3,149,840 parameters
            for d_f = 1024) or none (RN Eq. (7), 3,146,752). Default: True.
        residual (bool): return :math:`f_A + \mathrm{Concat}[f_R]` (Eq. (6)) or only the
            concatenation. Default: True.
        normalize_by (str): ``"key"`` (paper) or ``"query"`` (official code) box for the centre
            offsets of Eq. (5). Default: ``"key"``.
        eps (float): clamp of the log offsets. Default: 1e-3 (official; the paper is undefined at 0).
        plus_one (bool): box width :math:`x_2 - x_1 + 1` (official). Default: False.
        geometry_scale (float): factor on the relative geometry before the sinusoids (official
            100). Default: 1.
        wavelength (float): of the sinusoids. Default: 1000.
        geometry_floor (float, optional): use :math:`\max(\omega_G, \text{floor})` (official
            1e-6); ``None`` keeps Eq. (3) exact, a zero :math:`\omega_G` removing the pair.
            Default: None.
    """

    def __init__(self, channels: int, *, n_relations: int = 16, d_k: int = 64, d_g: int = 64,
                 bias: bool = True, residual: bool = True, normalize_by: str = "key",
                 eps: float = 1e-3, plus_one: bool = False, geometry_scale: float = 1.0,
                 wavelength: float = 1000.0, geometry_floor: float | None = None) -> None:
        super().__init__()
        d_f = channels                                               # RN's d_f
        if d_f <= 0 or n_relations <= 0 or d_k <= 0:
            raise ValueError(f"d_f, n_relations and d_k must be positive; got {d_f}, "
                             f"{n_relations}, {d_k}")
        if d_f % n_relations:
            raise ValueError(f"d_f ({d_f}) must be divisible by n_relations ({n_relations}): "
                             f"each W_V^r outputs d_f / N_r channels (RN Eq. (6))")
        if d_g <= 0 or d_g % 8:
            raise ValueError(f"d_g must be a positive multiple of 8; got {d_g}")
        if normalize_by not in NORMALIZE_BY:
            raise ValueError(f"normalize_by must be one of {NORMALIZE_BY}; got {normalize_by!r}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0; got {eps}")
        if geometry_floor is not None and not geometry_floor > 0:
            raise ValueError(f"geometry_floor must be > 0 or None; got {geometry_floor}")
        self.channels = self.d_f = d_f
        self.n_relations, self.d_k, self.d_g = n_relations, d_k, d_g
        self.d_v = d_f // n_relations
        self.bias, self.residual = bias, residual
        self.normalize_by, self.eps, self.plus_one = normalize_by, eps, plus_one
        self.geometry_scale, self.wavelength, self.geometry_floor = (geometry_scale, wavelength,
                                                                     geometry_floor)
        self.query = nn.Linear(d_f, n_relations * d_k, bias=bias)   # W_Q^r, r = 1..N_r stacked
        self.key = nn.Linear(d_f, n_relations * d_k, bias=bias)     # W_K^r
        self.value = nn.Linear(d_f, d_f, bias=bias)                 # W_V^r, d_f -> d_f/N_r each
        self.geometry = nn.Linear(d_g, n_relations, bias=bias)      # W_G^r, d_g -> 1 each
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weights ~ N(0, 0.01), biases 0, as the official ``init_weight_attention_multi_head``.
        The small W_V makes the module start close to the identity (f_R ~ 0 in Eq. (6))."""
        for layer in (self.query, self.key, self.value, self.geometry):
            if layer is None:   # ObjectRelationNoGeometry has no W_G
                continue
            nn.init.normal_(layer.weight, std=0.01)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    def _heads(self, x: Tensor, channels: int) -> Tensor:
        # [..., N, N_r * c] -> [..., N_r, N, c]: relation r, object n
        return x.unflatten(-1, (self.n_relations, channels)).transpose(-3, -2)

    def appearance_logits(self, features: Tensor, key_features: Tensor) -> Tensor:
        r"""RN Eq. (4), :math:`\omega_A^{mn}` for every relation.

        Args:
            features (Tensor[..., N, d_f]): the queries n.
            key_features (Tensor[..., M, d_f]): the keys m.

        Returns:
            Tensor[..., N_r, N, M]
        """
        q = self._heads(self.query(features), self.d_k)       # [..., N_r, N, d_k]
        k = self._heads(self.key(key_features), self.d_k)     # [..., N_r, M, d_k]
        # RN Eq. (4): ω_A^{mn} = <W_K f^m, W_Q f^n> / sqrt(d_k)
        return scaled_dot_product(q, k, scale=1.0 / math.sqrt(self.d_k))

    def geometry_weight(self, boxes: Tensor, key_boxes: Tensor) -> Tensor:
        r"""RN Eq. (5), :math:`\omega_G^{mn} = \max\{0, W_G \mathcal E_G(f_G^m, f_G^n)\} \ge 0`
        (then :math:`\max(\cdot, \text{floor})` if ``geometry_floor``).

        Args:
            boxes (Tensor[..., N, 4]): the query boxes, (x1, y1, x2, y2).
            key_boxes (Tensor[..., M, 4]): the key boxes.

        Returns:
            Tensor[..., N_r, N, M]
        """
        eps_g = box_geometry(boxes, key_boxes, normalize_by=self.normalize_by, eps=self.eps,
                             plus_one=self.plus_one)                          # [..., N, M, 4]
        emb = box_geometry_embedding(eps_g, self.d_g, wavelength=self.wavelength,
                                     scale=self.geometry_scale)               # [..., N, M, d_g]
        # RN Eq. (5): ω_G = max{0, W_G E_G}, one scalar per relation
        w = torch.relu(self.geometry(emb)).movedim(-1, -3)                    # [..., N_r, N, M]
        if self.geometry_floor is not None:
            w = w.clamp_min(self.geometry_floor)
        return w

    def forward(self, features: Tensor, boxes: Tensor, nongt_dim: int | None = None,
                return_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        r"""
        Args:
            features (Tensor[N, d_f] or Tensor[B, N, d_f]): :math:`f_A` of the N objects of an
                image (or of B images with the same N).
            boxes (Tensor[N, 4] or Tensor[B, N, 4]): :math:`f_G`, (x1, y1, x2, y2) with
                x1 < x2, y1 < y2 (x2 - x1 + 1 > 0 with ``plus_one``), in image pixels.
            nongt_dim (int, optional): only the first ``nongt_dim`` objects are keys (the
                proposals; ground-truth boxes appended after them are queries only).
                Default: all N.
            return_weights (bool): also return :math:`\omega^{mn}`, Tensor[..., N_r, N, M].
                Default: False.

        Returns:
            Tensor[..., N, d_f]: the updated features, Eq. (6) (only the concatenation when
            ``residual=False``), and the weights when ``return_weights``. N = 0 gives empty
            outputs; no keys (``nongt_dim=0``) gives :math:`f_R = 0`.
        """
        if not isinstance(features, Tensor) or features.dim() not in (2, 3) \
                or features.shape[-1] != self.d_f:
            shape = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
            raise ValueError(f"features must be Tensor[N, {self.d_f}] or Tensor[B, N, "
                             f"{self.d_f}]; got {shape}")
        check_boxes(boxes, "boxes", self.plus_one)
        if boxes.shape[:-1] != features.shape[:-1]:
            raise ValueError(f"boxes must be Tensor[..., N, 4] with the leading dimensions of "
                             f"features {tuple(features.shape[:-1])}; got {tuple(boxes.shape)}")
        n = features.shape[-2]
        m = n if nongt_dim is None else nongt_dim
        if isinstance(m, bool) or not isinstance(m, int) or not 0 <= m <= n:
            raise ValueError(f"nongt_dim must be an int in [0, N = {n}]; got {nongt_dim!r}")
        key_features, key_boxes = features[..., :m, :], boxes[..., :m, :]

        if m == 0:  # no keys: every f_R(n) is the empty sum
            f_r = torch.zeros_like(features)
            weights = features.new_zeros(*features.shape[:-2], self.n_relations, n, 0)
        else:
            appearance = self.appearance_logits(features, key_features)      # [..., N_r, N, M]
            geometry = self.geometry_weight(boxes, key_boxes)                # [..., N_r, N, M]
            value = self._heads(self.value(key_features), self.d_v)         # [..., N_r, M, d_f/N_r]
            # RN Eqs. (2), (3): f_R^r(n) = Σ_m ω^{mn} W_V^r f^m, softmax of ω_A + log ω_G over m
            f_r, weights = relation(value, appearance=appearance, geometry=geometry,
                                    return_weights=True)                     # [..., N_r, N, d_f/N_r]
            f_r = f_r.transpose(-3, -2).flatten(-2)                          # [..., N, d_f]: Concat
        out = features + f_r if self.residual else f_r                       # RN Eq. (6)
        return (out, weights) if return_weights else out

    def extra_repr(self) -> str:
        s = f"channels={self.d_f}, n_relations={self.n_relations}, d_k={self.d_k}, d_g={self.d_g}"
        defaults = dict(bias=True, residual=True, normalize_by="key", eps=1e-3, plus_one=False,
                        geometry_scale=1.0, wavelength=1000.0, geometry_floor=None)
        for name, default in defaults.items():
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)!r}"
        return s


class ObjectRelationNoGeometry(ObjectRelation):
    r"""RN Table 1(a) "none": the relation module without geometry, :math:`\omega_G^{mn} \equiv 1`
    in Eq. (3), so the weights are a softmax of the appearance term :math:`\omega_A` alone (and
    there is no :math:`W_G`: :math:`N_r d_g` fewer parameters than Eq. (7)). Takes
    :class:`ObjectRelation`'s arguments; the geometry ones are unused."""

    def __init__(self, channels: int, **kwargs) -> None:
        super().__init__(channels, **kwargs)
        self.geometry = None

    def geometry_weight(self, boxes: Tensor, key_boxes: Tensor) -> None:
        r"""No geometry term: ``None`` is :func:`~relnotes.ops.relation`'s :math:`\omega_G = 1`."""
        return None


class ObjectRelationUnary(ObjectRelationNoGeometry):
    r"""RN Table 1(a) "unary": each object's own box :math:`f_G^n` is embedded and *added* to its
    appearance feature, then the module runs as "none" (:class:`ObjectRelationNoGeometry`):

    .. math::

        f_A^n \leftarrow f_A^n + W_U \, \mathcal E(f_G^n), \qquad
        \text{then RN Eqs. (2)-(4), (6) with } \omega_G \equiv 1

    :math:`\mathcal E` is the sinusoidal embedding of :mod:`relnotes.ops.box_geometry` applied to
    the four absolute coordinates (x1, y1, x2, y2) in pixels, ``d_g / 4`` channels each
    (``d_g`` in all, wavelength ``wavelength``), and :math:`W_U` a linear map ``d_g -> d_f``
    (initialised N(0, 0.01), like the module's other weights). Position information then reaches
    the keys, queries and values through :math:`f_A`, but the weight of a pair can only depend on
    the two positions through the dot product of Eq. (4), not through a term built on their
    *relative* geometry. The output includes the added embedding (it is part of :math:`f_A`).
    Takes :class:`ObjectRelation`'s arguments.
    """

    def __init__(self, channels: int, **kwargs) -> None:
        super().__init__(channels, **kwargs)
        self.unary = nn.Linear(self.d_g, channels, bias=self.bias)     # W_U
        self._reset_unary()

    def reset_parameters(self) -> None:
        """:meth:`ObjectRelation.reset_parameters`, and W_U ~ N(0, 0.01), bias 0."""
        super().reset_parameters()
        if getattr(self, "unary", None) is not None:   # not yet built while the base initialises
            self._reset_unary()

    def _reset_unary(self) -> None:
        nn.init.normal_(self.unary.weight, std=0.01)
        if self.unary.bias is not None:
            nn.init.zeros_(self.unary.bias)

    def unary_embedding(self, boxes: Tensor) -> Tensor:
        r""":math:`W_U \mathcal E(f_G)`: Tensor[..., N, 4] -> Tensor[..., N, d_f]."""
        emb = sinusoidal_embedding(boxes, self.d_g // 4, wavelength=self.wavelength)  # [..., N, 4, d_g/4]
        return self.unary(emb.flatten(-2))                                             # [..., N, d_f]

    def forward(self, features: Tensor, boxes: Tensor, nongt_dim: int | None = None,
                return_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """As :meth:`ObjectRelation.forward`, with the box embedding added to ``features`` first."""
        if not isinstance(features, Tensor) or features.shape[-1] != self.d_f:
            shape = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
            raise ValueError(f"features must be Tensor[N, {self.d_f}] or Tensor[B, N, "
                             f"{self.d_f}]; got {shape}")
        check_boxes(boxes, "boxes", self.plus_one)
        features = features + self.unary_embedding(boxes.to(features.dtype))
        return super().forward(features, boxes, nongt_dim=nongt_dim, return_weights=return_weights)


#: RN Table 1(a): the geometric term of the relation module, by name.
GEOMETRY_TERMS = {"relative": ObjectRelation, "none": ObjectRelationNoGeometry,
                  "unary": ObjectRelationUnary}
