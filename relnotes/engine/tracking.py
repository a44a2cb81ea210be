r"""Online tracking by detection, and training a pair scorer on same-identity labels.

The tracker (:func:`track`) is the usual online loop of public-detection trackers; the similarity
comes from a model of :mod:`relnotes.models.strn`. Every frame t:

1. **Similarity.** For every live tracklet k (its last T entries: features, boxes, ages) and
   every detection n of frame t, a score ``s[k, n]`` (a probability ``sigmoid(logit)`` for the
   learned models, the IoU for :class:`~relnotes.models.strn.IoUMotion`).
2. **Assignment.** The Hungarian algorithm (``scipy.optimize.linear_sum_assignment``) on
   ``-s`` over the pairs with ``s >= min_score``, taking as many such pairs as possible; a matched
   detection extends its tracklet and is reported with the tracklet's id.
3. **Birth.** A detection left over with confidence >= ``birth_conf`` starts a tracklet with a new
   id (our choice: at once, no tentative state; a false detection therefore costs one FP).
4. **Death.** A tracklet not matched for more than ``max_age`` frames is dropped (our choice:
   nothing is reported for a tracklet while it is unmatched, no interpolation).

An optional gate (our choice, the same for every model) forbids pairs whose centres are further
apart than ``gate * (frames since last seen) + box height`` pixels (:func:`gate_mask`).

**Training** (:func:`train_pair_scorer`). Labels come from the ground truth: at frame t, the
"oracle" tracklets are the identities' own detections in the previous ``max_age`` frames (each
false detection of that span is a tracklet of its own), and a pair is positive when the detection
of frame t has the tracklet's identity. The loss is the binary cross-entropy over all pairs of
all frames of a sequence (one optimiser step per sequence, sequences in a seeded order; our
choice). With ``gate``, only the pairs the gated tracker can ever score enter the loss: the
negatives left are the nearby, hard ones (the second design of the chapter's pilot; our choice). Features are recomputed with gradients every step, so the spatial relation inside
``encode`` is trained through every frame of the history.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from ..data.mot import MOTSequence

__all__ = ["encode_sequence", "gate_mask", "oracle_pairs", "train_pair_scorer", "track",
           "TrackOutput", "xywh_to_xyxy"]


def xywh_to_xyxy(b: np.ndarray | Tensor) -> Tensor:
    """MOT boxes (left, top, width, height) -> (x1, y1, x2, y2) as a float32 tensor."""
    b = torch.as_tensor(np.asarray(b), dtype=torch.float32).reshape(-1, 4)
    return torch.cat([b[:, :2], b[:, :2] + b[:, 2:]], dim=-1)


def encode_sequence(model: nn.Module, seq: MOTSequence) -> Tensor:
    """``model.encode`` of every frame's detections, stacked in ``seq.det`` order: Tensor[D, C]."""
    boxes = xywh_to_xyxy(seq.det[:, 2:6])
    desc = torch.as_tensor(seq.features, dtype=torch.float32)
    out = []
    for f in np.unique(seq.det[:, 0]).astype(int):
        s = seq.frame_slice(f)
        out.append(model.encode(boxes[s], desc[s]))
    if not out:
        return torch.zeros(0, 0)
    return torch.cat(out)


def _encode_rows(model: nn.Module, seq: MOTSequence, boxes: Tensor, rows: np.ndarray) -> Tensor:
    """``model.encode`` of the detections ``rows`` (whole frames, in det order)."""
    desc = torch.as_tensor(seq.features[rows], dtype=torch.float32)
    b = boxes[torch.as_tensor(rows)]
    f = seq.det[rows, 0]
    cuts = np.nonzero(np.diff(f))[0] + 1
    parts = [model.encode(bb, dd) for bb, dd in zip(torch.tensor_split(b, cuts.tolist()),
                                                   torch.tensor_split(desc, cuts.tolist()))]
    return torch.cat(parts)


@dataclass
class _Pairs:
    """One frame's training pairs: history indices into seq.det (-1: none), ages, labels."""

    frame: int
    det: np.ndarray          # [N] row indices of the frame's detections
    hist: np.ndarray         # [K, T] row indices, right-aligned, -1 where absent
    ages: np.ndarray         # [K, T] frames since each entry (0 where absent)
    labels: np.ndarray       # [K, N] 1 = same identity


def oracle_pairs(seq: MOTSequence, *, history: int, max_age: int,
                 fp_age: int = 5) -> list[_Pairs]:
    """Training pairs of every frame (see the module docstring): ``history`` entries per
    tracklet, identities seen within ``max_age`` frames, false detections of the last ``fp_age``
    frames (our choice: fewer easy negatives)."""
    frames = seq.det[:, 0].astype(int)
    ids = seq.det_ids
    out = []
    for t in np.unique(frames):
        det = np.nonzero(frames == t)[0]
        past = np.nonzero((frames < t) & (frames >= t - max_age)
                          & ((ids >= 0) | (frames >= t - fp_age)))[0]
        if not len(det) or not len(past):
            continue
        tracks = {}
        for i in past:                       # past is in frame order: the last entries win
            key = ("id", int(ids[i])) if ids[i] >= 0 else ("fp", int(i))
            tracks.setdefault(key, []).append(i)
        hist = np.full((len(tracks), history), -1)
        ages = np.zeros((len(tracks), history), dtype=np.int64)
        labels = np.zeros((len(tracks), len(det)), dtype=np.float32)
        for k, (key, rows) in enumerate(tracks.items()):
            rows = rows[-history:]
            hist[k, history - len(rows):] = rows
            ages[k, history - len(rows):] = t - frames[rows]
            if key[0] == "id":
                labels[k] = ids[det] == key[1]
        out.append(_Pairs(int(t), det, hist, ages, labels))
    return out


def gate_mask(last_boxes: Tensor, since: np.ndarray | Tensor, det_boxes: Tensor,
              gate: float) -> np.ndarray:
    """Which (tracklet, detection) pairs the gate allows: the detection's centre lies within
    ``gate * since + height`` pixels of the centre of the tracklet's last box.

    Args:
        last_boxes (Tensor[K, 4]): each tracklet's last box (x1, y1, x2, y2).
        since (array[K]): frames since that box.
        det_boxes (Tensor[N, 4]): the detections.
        gate (float): pixels per frame.

    Returns:
        BoolArray[K, N]
    """
    last, det = np.asarray(last_boxes), np.asarray(det_boxes)          # float32, as the boxes
    c_last = (last[:, :2] + last[:, 2:]) / 2
    c_det = (det[:, :2] + det[:, 2:]) / 2
    dist = np.linalg.norm(c_last[:, None] - c_det[None], axis=-1)
    reach = gate * np.asarray(since)[:, None] + (last[:, 3] - last[:, 1])[:, None]
    return dist <= reach


def _gate_pairs(pairs: list[_Pairs], boxes: Tensor, gate: float | None) -> list[Tensor | None]:
    """Per frame, the float mask of the pairs inside the gate (None: no gate)."""
    if gate is None:
        return [None] * len(pairs)
    return [torch.as_tensor(gate_mask(boxes[p.hist[:, -1]], p.ages[:, -1], boxes[p.det], gate),
                            dtype=torch.float32) for p in pairs]


def _gather(feats: Tensor, boxes: Tensor, hist: np.ndarray, ages: np.ndarray):
    idx = torch.as_tensor(hist)
    mask = idx >= 0
    safe = idx.clamp_min(0)
    return feats[safe] * mask[..., None], boxes[safe], mask, torch.as_tensor(ages)


def train_pair_scorer(model: nn.Module, sequences: list[MOTSequence], *, epochs: int,
                      lr: float = 3e-3, max_age: int = 30, seed: int = 0,
                      pos_weight: float | str = "balanced", chunk: int = 20,
                      gate: float | None = None) -> list[float]:
    """Train ``model`` with binary cross-entropy on same-identity labels (module docstring).

    One Adam step per ``chunk`` frames of a sequence (the features of the frames they need are
    recomputed for each step). ``pos_weight`` weighs the positive pairs in the loss;
    ``"balanced"`` (our choice) is #negatives / #positives over the training pairs, so that the
    classes weigh the same and a probability of 0.5 means "as likely the same object as not"
    whatever the crowd size (without it, about 1 pair in 20 is positive and an undertrained
    model scores every pair below 0.5). ``gate`` (pixels per frame, as :func:`track`'s): only
    the pairs inside the gate are in the loss and in the balance. Default: None (all pairs).

    Returns:
        list[float]: the mean loss of each epoch.
    """
    history = max(getattr(model, "window", 1), 2)
    pairs = [oracle_pairs(s, history=history, max_age=max_age) for s in sequences]
    chunk = max(int(chunk), 1)
    boxes = [xywh_to_xyxy(s.det[:, 2:6]) for s in sequences]
    inside = [_gate_pairs(ps, b, gate) for ps, b in zip(pairs, boxes)]    # None: every pair
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = np.random.default_rng(seed)
    if pos_weight == "balanced":
        weight = lambda p, g: torch.as_tensor(p.labels) if g is None else torch.as_tensor(p.labels) * g
        n_pos = sum(float(weight(p, g).sum()) for ps, gs in zip(pairs, inside) for p, g in zip(ps, gs))
        n_all = sum(float(p.labels.size if g is None else g.sum())
                    for ps, gs in zip(pairs, inside) for p, g in zip(ps, gs))
        pos_weight = (n_all - n_pos) / max(n_pos, 1.0)
    pw = torch.tensor(float(pos_weight))
    losses = []
    model.train()
    for _ in range(epochs):
        total, count = 0.0, 0
        for i in gen.permutation(len(sequences)):
            seq, frames = sequences[i], sequences[i].det[:, 0].astype(int)
            for lo in range(0, len(pairs[i]), chunk):
                part, part_in = pairs[i][lo: lo + chunk], inside[i][lo: lo + chunk]
                # the detections these frames need: from max_age frames before the first one
                first, last = part[0].frame - max_age, part[-1].frame
                rows = np.nonzero((frames >= first) & (frames <= last))[0]
                enc = _encode_rows(model, seq, boxes[i], rows)
                feats = enc.new_zeros(len(frames), enc.shape[1]).index_copy(0, torch.as_tensor(rows), enc)
                loss, n_pairs = 0.0, 0
                for p, g in zip(part, part_in):
                    h, hb, m, a = _gather(feats, boxes[i], p.hist, p.ages)
                    logits = model(h, hb, m, a, feats[p.det], boxes[i][p.det])
                    loss = loss + F.binary_cross_entropy_with_logits(
                        logits, torch.as_tensor(p.labels), weight=g, pos_weight=pw,
                        reduction="sum")
                    n_pairs += p.labels.size if g is None else int(g.sum())
                loss = loss / max(n_pairs, 1)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * n_pairs
                count += n_pairs
        losses.append(total / max(count, 1))
    model.eval()
    return losses


@dataclass
class TrackOutput:
    """What :func:`track` returns: ``rows`` (MOT rows ``frame, id, x, y, w, h, conf``) and, with
    ``return_attention``, one record per match: ``(frame, track_id, history_rows[T],
    weights[T], det_row)``, the temporal attention the matched detection (row ``det_row`` of
    ``seq.det``) paid to its tracklet's history (rows of ``seq.det``, -1 where absent)."""

    rows: np.ndarray
    attention: list = field(default_factory=list)


def _assign(scores: np.ndarray, min_score: float) -> list[tuple[int, int]]:
    valid = scores >= min_score
    if not valid.any():
        return []
    cost = np.where(valid, -scores, 2 * min(scores.shape) * (np.abs(scores[valid]).max() + 1) + 1)
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if valid[r, c]]


@torch.no_grad()
def track(model: nn.Module, seq: MOTSequence, *, min_score: float = 0.5, max_age: int = 30,
          birth_conf: float = 0.0, gate: float | None = None,
          return_attention: bool = False) -> TrackOutput:
    """Track ``seq`` online with ``model``'s similarity (see the module docstring)."""
    model.eval()
    history = max(getattr(model, "window", 1), 2)
    feats = encode_sequence(model, seq)
    boxes = xywh_to_xyxy(seq.det[:, 2:6])
    frames = seq.det[:, 0].astype(int)
    tracks: list[dict] = []                  # {"id", "rows": [det rows]}
    next_id, out, attn = 1, [], []
    for t in range(1, seq.n_frames + 1):
        det = np.nonzero(frames == t)[0]
        tracks = [tr for tr in tracks if t - frames[tr["rows"][-1]] - 1 <= max_age]   # frames missed
        pairs = []
        if len(det) and tracks:
            hist = np.full((len(tracks), history), -1)
            for k, tr in enumerate(tracks):
                rows = tr["rows"][-history:]
                hist[k, history - len(rows):] = rows
            ages = np.where(hist >= 0, t - frames[np.maximum(hist, 0)], 0)
            h, hb, m, a = _gather(feats, boxes, hist, ages)
            if return_attention and hasattr(model, "temporal"):
                raw, weights = model(h, hb, m, a, feats[det], boxes[det], return_weights=True)
            else:
                raw, weights = model(h, hb, m, a, feats[det], boxes[det]), None
            s = (torch.sigmoid(raw) if model.logits else raw).numpy().astype(np.float64)
            if gate is not None:
                s = np.where(gate_mask(boxes[hist[:, -1]], ages[:, -1], boxes[det], gate), s, -np.inf)
            pairs = _assign(s, min_score)
            for k, n in pairs:
                if weights is not None:
                    tw = weights[k, n].numpy()
                    attn.append((t, tracks[k]["id"], hist[k, -len(tw):].copy(), tw, int(det[n])))
        matched = {n for _, n in pairs}
        for k, n in pairs:
            tracks[k]["rows"].append(int(det[n]))
        for n in range(len(det)):
            if n not in matched and seq.det[det[n], 6] >= birth_conf:
                tracks.append({"id": next_id, "rows": [int(det[n])]})
                next_id += 1
        live = {tr["rows"][-1]: tr["id"] for tr in tracks if frames[tr["rows"][-1]] == t}
        for r in det:
            if int(r) in live:
                out.append([t, live[int(r)], *seq.det[r, 2:7]])
    rows = np.asarray(out, dtype=np.float64).reshape(-1, 7)
    return TrackOutput(rows=rows, attention=attn)
