r"""Similarity models for online tracking by detection: IoU/motion, appearance, STRN-style relation.

A tracker (:mod:`relnotes.engine.tracking`) asks, every frame, how likely each live tracklet k and
each detection n are the same object, and assigns them with the Hungarian algorithm. The three
models here answer with a ``[K, N]`` matrix, all through the same two calls:

- ``encode(boxes, descriptors) -> Tensor[N, C]``: the features of one frame's detections,
  computed once per frame (the spatial relation, when there is one, is inside a frame);
- ``forward(history, history_boxes, mask, ages, features, boxes) -> Tensor[K, N]``: a score for
  every (tracklet, detection) pair, from the tracklet's last T entries (right-aligned: entry
  T - 1 is the most recent; ``mask`` marks the entries that exist; ``ages`` counts the frames
  since each). ``model.logits`` says whether the score is a logit (trained with binary
  cross-entropy on same-identity labels) or already a similarity in [0, 1].

The models:

- :class:`IoUMotion`: no parameters; the IoU of the detection with the tracklet's box moved on at
  constant velocity (the usual IoU tracker with a motion model; our choice of baseline).
- :class:`AppearanceEmbedding`: a small embedding of the descriptor; cosine of the detection's
  embedding with the mean of the tracklet's last T embeddings, scaled and shifted into a logit.
- :class:`STRN`: our reconstruction of Xu, Cao, Zhang, Hu, "Spatial-Temporal Relation Networks
  for Multi-Object Tracking" (ICCV 2019, arXiv:1904.11489). The sources we could read confirm
  the outline (a similarity between a tracklet and an object from appearance, location and
  topology cues, aggregated over time, trained end to end; ``region-tracking-deformable-graphs.md``
  §2.1) but not the design; every choice below is **ours**:

  1. *spatial*: the book's object relation module (:class:`relnotes.nn.ObjectRelation`, RN
     Eqs. (2)-(6)) over the detections of a frame: ``h = a + f_R`` with ``a`` the embedded
     descriptor and ``f_R`` the relation feature; ``encode`` keeps ``[h, f_R]``;
  2. *temporal*: :class:`relnotes.nn.temporal_relation.TemporalRelation`, the candidate's
     attention over the tracklet's last ``window`` features ``h``, giving a tracklet summary
     ``g`` per candidate (and the same weights applied to the tracklet's ``f_R``);
  3. *pair features*, one group per cue: appearance ``[cos(g, h_n), W_a (g ⊙ h_n)]``; location
     (the tracklet's constant-velocity box against the detection: IoU, the RN Eq. (5) geometry
     ``ε_G`` and the log of the frames since the tracklet was last seen); topology
     ``cos(Σ_t w_t f_R^t, f_R^n)``, whether the object sits among its neighbours as the tracklet
     did (needs the spatial relation);
  4. a two-layer classifier on the concatenated cues, one logit, trained with binary
     cross-entropy on same-identity labels.
  5. optionally (``iou_prior=True``, the chapter's second design): the classifier's logit is
     *added to* the IoU baseline's score instead of replacing it,
     ``logit = s_0 IoU(b_k, b_n) + c_0 + classifier(...)``, the classifier's last layer
     zero-initialised, so that the untrained model is the IoU tracker and training learns a
     correction from the relation cues (``s_0``, ``c_0`` learned, initialised at 10 and -3: a
     probability of 0.5 at IoU 0.3).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.object_relation import ObjectRelation
from ..nn.temporal_relation import TemporalRelation
from ..ops.box_geometry import box_geometry

__all__ = ["IoUMotion", "AppearanceEmbedding", "STRN", "CUES", "predict_boxes", "box_iou_xyxy"]

#: The pair-feature cues of :class:`STRN`.
CUES = ("appearance", "location", "topology")


def box_iou_xyxy(a: Tensor, b: Tensor) -> Tensor:
    """IoU of every pair of boxes (x1, y1, x2, y2): a ``Tensor[K, 4]``, b ``Tensor[N, 4]`` ->
    ``Tensor[K, N]``."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp_min(0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).prod(-1)
    return inter / (area_a[:, None] + area_b[None] - inter)


def predict_boxes(history_boxes: Tensor, mask: Tensor, ages: Tensor, min_size: float = 1.0) -> Tensor:
    r"""Each tracklet's box now, at constant velocity from its last two entries (our choice):
    :math:`b = b_{T} + \Delta_T (b_T - b_{T-1}) / (\Delta_{T-1} - \Delta_T)`; a tracklet with one
    entry stays where it was. Widths and heights are kept >= ``min_size``.

    Args:
        history_boxes (Tensor[K, T, 4]), mask (BoolTensor[K, T]), ages (Tensor[K, T]); T >= 1,
        entry T - 1 present.

    Returns:
        Tensor[K, 4]
    """
    last = history_boxes[:, -1]
    if history_boxes.shape[1] < 2:
        return last
    prev = history_boxes[:, -2]
    gap = (ages[:, -2] - ages[:, -1]).clamp_min(1).to(last.dtype)
    vel = torch.where(mask[:, -2, None], (last - prev) / gap[:, None], torch.zeros_like(last))
    pred = last + vel * ages[:, -1, None].to(last.dtype)
    centre = (pred[:, :2] + pred[:, 2:]) / 2
    half = ((pred[:, 2:] - pred[:, :2]) / 2).clamp_min(min_size / 2)
    return torch.cat([centre - half, centre + half], dim=-1)


class IoUMotion(nn.Module):
    """IoU of each detection with each tracklet's constant-velocity box (:func:`predict_boxes`).
    No parameters; ``encode`` passes the descriptors through (unused)."""

    logits = False

    def __init__(self) -> None:
        super().__init__()
        self.window = 2

    def encode(self, boxes: Tensor, descriptors: Tensor) -> Tensor:
        return descriptors

    def forward(self, history: Tensor, history_boxes: Tensor, mask: Tensor, ages: Tensor,
                features: Tensor, boxes: Tensor) -> Tensor:
        return box_iou_xyxy(predict_boxes(history_boxes, mask, ages), boxes)


def _mlp(in_features: int, out_features: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_features, out_features), nn.ReLU(),
                         nn.Linear(out_features, out_features))


class AppearanceEmbedding(nn.Module):
    r"""Cosine of embedded descriptors: :math:`s \cos(\bar e_k, e_n) + c`, with
    :math:`\bar e_k` the mean of the tracklet's last ``window`` embeddings (our choice).

    Args:
        in_features (int): descriptor size d.
        d_f (int): embedding size. Default: 32.
        window (int): T, history entries averaged. Default: 8.
    """

    logits = True

    def __init__(self, in_features: int, *, d_f: int = 32, window: int = 8) -> None:
        super().__init__()
        self.in_features, self.d_f, self.window = in_features, d_f, window
        self.embed = _mlp(in_features, d_f)
        self.scale = nn.Parameter(torch.tensor(5.0))      # s, our init
        self.shift = nn.Parameter(torch.tensor(-2.5))     # c

    def encode(self, boxes: Tensor, descriptors: Tensor) -> Tensor:
        return self.embed(descriptors)

    def forward(self, history: Tensor, history_boxes: Tensor, mask: Tensor, ages: Tensor,
                features: Tensor, boxes: Tensor) -> Tensor:
        h, m = history[:, -self.window:], mask[:, -self.window:, None].to(history.dtype)
        mean = (h * m).sum(1) / m.sum(1).clamp_min(1)                         # [K, d_f]
        cos = F.cosine_similarity(mean[:, None], features[None], dim=-1)     # [K, N]
        return self.scale * cos + self.shift


class STRN(nn.Module):
    r"""STRN-style pair scorer (see the module docstring for the design, our reconstruction).

    Args:
        in_features (int): descriptor size d.
        d_f (int): feature channels. Default: 32.
        n_relations, d_k, d_g (int): of the spatial :class:`ObjectRelation`. Default: 4, 16, 32.
        window (int): T of the temporal relation. Default: 8.
        cues (tuple[str, ...]): a subset of :data:`CUES`. Default: all three.
        spatial (bool): the object relation module over each frame; ``False`` keeps
            ``h = a`` (then the topology cue does not exist). Default: True.
        temporal (bool): attention over the window; ``False`` uses the mean of the window's
            entries (uniform weights). Default: True.
        hidden (int): classifier width. Default: 32.
        iou_prior (bool): add the classifier's logit to ``s_0 IoU + c_0`` (item 5 of the
            module docstring), the classifier's last layer starting at zero. Default: False.
    """

    logits = True

    def __init__(self, in_features: int, *, d_f: int = 32, n_relations: int = 4, d_k: int = 16,
                 d_g: int = 32, window: int = 8, cues: tuple[str, ...] = CUES,
                 spatial: bool = True, temporal: bool = True, hidden: int = 32,
                 iou_prior: bool = False) -> None:
        super().__init__()
        cues = tuple(cues)
        unknown = sorted(set(cues) - set(CUES))
        if unknown or not cues:
            raise ValueError(f"cues must be a non-empty subset of {CUES}; got {cues}")
        if "topology" in cues and not spatial:
            raise ValueError("the topology cue compares relation features f_R, which only the "
                             "spatial relation computes: use spatial=True or drop 'topology'")
        if window < 1:
            raise ValueError(f"window must be >= 1; got {window}")
        self.in_features, self.d_f, self.window = in_features, d_f, window
        self.cues, self.spatial_on, self.temporal_on = cues, spatial, temporal
        self.embed = _mlp(in_features, d_f)                                   # a = MLP(descriptor)
        self.spatial = (ObjectRelation(d_f, n_relations=n_relations, d_k=d_k, d_g=d_g,
                                       residual=False) if spatial else None)  # f_R, RN Eq. (2)
        self.temporal = TemporalRelation(d_f, d_k=d_k, max_age=32)
        n_app = 8
        self.app_proj = nn.Linear(d_f, n_app) if "appearance" in cues else None   # W_a
        width = {"appearance": 1 + n_app, "location": 6, "topology": 1}
        self.classifier = nn.Sequential(nn.Linear(sum(width[c] for c in cues), hidden), nn.ReLU(),
                                        nn.Linear(hidden, 1))
        self.iou_prior = iou_prior
        if iou_prior:
            self.prior_scale = nn.Parameter(torch.tensor(10.0))     # s_0, our init
            self.prior_shift = nn.Parameter(torch.tensor(-3.0))     # c_0
            nn.init.zeros_(self.classifier[-1].weight)              # untrained: the IoU tracker
            nn.init.zeros_(self.classifier[-1].bias)

    def encode(self, boxes: Tensor, descriptors: Tensor) -> Tensor:
        """``[h, f_R]`` of one frame's detections, ``Tensor[N, 2 d_f]``; boxes (x1, y1, x2, y2)."""
        a = self.embed(descriptors)                                           # [N, d_f]
        if self.spatial is None or len(a) == 0:
            return torch.cat([a, torch.zeros_like(a)], dim=-1)
        f_r = self.spatial(a, boxes)                                          # Concat[f_R^r], [N, d_f]
        return torch.cat([a + f_r, f_r], dim=-1)                              # RN Eq. (6): h = a + f_R

    def forward(self, history: Tensor, history_boxes: Tensor, mask: Tensor, ages: Tensor,
                features: Tensor, boxes: Tensor, return_weights: bool = False
                ) -> Tensor | tuple[Tensor, Tensor]:
        """Logits ``Tensor[K, N]`` (and the temporal weights ``Tensor[K, N, window]``)."""
        d = self.d_f
        hist = history[:, -self.window:]                                      # [K, T, 2 d_f]
        m, age = mask[:, -self.window:], ages[:, -self.window:]
        h_hist, r_hist = hist[..., :d], hist[..., d:]
        h_det, r_det = features[:, :d], features[:, d:]
        k, n = len(history), len(features)
        if self.temporal_on:
            g, w = self.temporal(h_det, h_hist, m, age, return_weights=True)  # [K, N, d_f], [K, N, T]
        else:  # uniform weights over the entries that exist
            w = m[:, None, :].to(hist.dtype).expand(k, n, -1)
            w = w / w.sum(-1, keepdim=True).clamp_min(1)
            g = torch.einsum("knt,ktd->knd", w, h_hist)
        parts = []
        if "appearance" in self.cues:
            hn = h_det[None].expand(k, n, d)
            parts += [F.cosine_similarity(g, hn, dim=-1)[..., None], self.app_proj(g * hn)]
        if "location" in self.cues:
            pred = predict_boxes(history_boxes, mask, ages)                  # [K, 4]
            iou = box_iou_xyxy(pred, boxes)[..., None]                       # [K, N, 1]
            geo = box_geometry(pred, boxes, normalize_by="query")           # [K, N, 4], RN Eq. (5)
            since = ages[:, -1].to(hist.dtype).log1p()[:, None, None].expand(k, n, 1)
            parts += [iou, geo / 5.0, since]                                 # /5: log offsets to ~unit
        if "topology" in self.cues:
            r_track = torch.einsum("knt,ktd->knd", w, r_hist)                 # Σ_t w_t f_R^t
            parts.append(F.cosine_similarity(r_track, r_det[None].expand(k, n, d), dim=-1,
                                             eps=1e-12)[..., None])
        logits = self.classifier(torch.cat(parts, dim=-1)).squeeze(-1)       # [K, N]
        if self.iou_prior:                                                   # the IoU score + a correction
            iou = box_iou_xyxy(predict_boxes(history_boxes, mask, ages), boxes)
            logits = logits + self.prior_scale * iou + self.prior_shift
        return (logits, w) if return_weights else logits

    def extra_repr(self) -> str:
        return (f"{self.in_features}, d_f={self.d_f}, window={self.window}, cues={self.cues}, "
                f"spatial={self.spatial_on}, temporal={self.temporal_on}"
                + (", iou_prior=True" if self.iou_prior else ""))
