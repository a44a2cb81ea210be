r"""CLEAR MOT and identity (IDF1) metrics, following py-motmetrics' procedure exactly.

Why not the library. py-motmetrics 1.4.0, the last release on PyPI, fails on NumPy 2
(``np.asfarray``) and pandas 2 (``DataFrame.append``); the fixes are only on its GitHub master
(``region-tracking-deformable-graphs.md`` §4.1). ``trackeval`` 1.3.0 (a packaged fork of TrackEval)
installs here, but it pulls in OpenCV, and its CLEAR metric takes similarities with a fixed 0.5
threshold, so it cannot evaluate py-motmetrics' published toy example, which gives arbitrary
distances. So we implement the accumulator of ``motmetrics.mot.MOTAccumulator.update`` and the
metric formulas of ``motmetrics.metrics``, step for step, with scipy; the tests check them on
py-motmetrics' README example and on sequences worked out by hand.

**Per frame** (:meth:`MOTAccumulator.update`), with a distance ``D[o, h]`` for every ground-truth
object o and hypothesis h (NaN: the pair cannot match; for boxes, ``1 - IoU`` and NaN when
``IoU < 0.5``):

1. *Keep previous matches while they stay valid, before any assignment.* If o was last matched
   to h (at any earlier frame, even with misses in between) and h is present with a finite
   ``D[o, h]``, the pair is a MATCH again.
2. The remaining objects and hypotheses are assigned by minimum total distance among finite
   pairs, with as many pairs as possible (py-motmetrics replaces NaN by a cost larger than any
   set of finite pairs, then drops those pairs; ``scipy.optimize.linear_sum_assignment``). A new
   pair (o, h) is a **SWITCH** if o was matched before to another hypothesis, else a MATCH.
3. Objects left are MISSes (FN), hypotheses left are false positives (FP).

**Metrics** (``motmetrics.metrics``), over all frames:

.. math::

    \mathrm{MOTA} = 1 - \frac{\mathrm{FN} + \mathrm{IDSW} + \mathrm{FP}}{\mathrm{GT}},\qquad
    \mathrm{MOTP} = \frac{\sum_{\text{matches and switches}} D}{\#\text{matches} + \mathrm{IDSW}}

(MOTP is the mean *distance*, ``1 - IoU``; MOTChallenge prints ``(1 - MOTP) * 100``.)
Recall = (matches + switches) / GT, precision = (matches + switches) / (matches + switches + FP).
Each object is mostly tracked (MT) when matched in >= 80% of its frames, mostly lost (ML) below
20%, partially tracked (PT) in between. A fragmentation (FM) is a change from tracked to missed
between an object's first and last tracked frames.

**IDF1** (Ristani et al. 2016) uses one *global* matching of identities: objects and hypotheses
are matched one to one (plus a dummy for each, so that anything may stay unmatched) to minimise
ID false positives + ID false negatives, where a matched pair (o, h) gains one true positive per
frame in which both are present with a finite distance. Then ``IDTP = GT - IDFN`` and

.. math:: \mathrm{IDF1} = \frac{2\,\mathrm{IDTP}}{\mathrm{GT} + \mathrm{PRED}},\quad
          \mathrm{IDP} = \frac{\mathrm{IDTP}}{\mathrm{IDTP} + \mathrm{IDFP}},\quad
          \mathrm{IDR} = \frac{\mathrm{IDTP}}{\mathrm{IDTP} + \mathrm{IDFN}}

HOTA is not computed (py-motmetrics has it only on master, TrackEval needs OpenCV).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["MOTAccumulator", "iou_distance", "assign_with_missing", "mot_metrics",
           "accumulate", "evaluate_mot", "evaluate_many", "METRIC_NAMES"]

#: The metrics :func:`mot_metrics` returns, in MOTChallenge's column order.
METRIC_NAMES = ("idf1", "idp", "idr", "recall", "precision", "num_unique_objects",
                "mostly_tracked", "partially_tracked", "mostly_lost", "num_false_positives",
                "num_misses", "num_switches", "num_fragmentations", "mota", "motp",
                "num_frames", "num_matches", "num_objects", "num_predictions", "idtp", "idfp",
                "idfn")


def assign_with_missing(costs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost assignment in which NaN / inf entries are missing edges.

    As py-motmetrics' ``lap.add_expensive_edges``: a missing edge costs ``2 r c + 1`` with
    ``r = min(shape)`` and ``c = max |finite cost| + 1``, more than any r finite edges could
    save, so the solver takes as many finite edges as possible at least total cost; the
    missing edges it was forced to take are then dropped.

    Returns:
        (rows, cols): the chosen finite pairs.
    """
    costs = np.asarray(costs, dtype=np.float64)
    if costs.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    valid = np.isfinite(costs)
    if not valid.any():
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    r = min(costs.shape)
    c = np.abs(costs[valid]).max() + 1
    rows, cols = linear_sum_assignment(np.where(valid, costs, 2 * r * c + 1))
    keep = valid[rows, cols]
    return rows[keep], cols[keep]


def iou_distance(objects: np.ndarray, hypotheses: np.ndarray, max_iou: float = 0.5) -> np.ndarray:
    """``1 - IoU`` between boxes ``(x, y, w, h)``, NaN where it exceeds ``max_iou``
    (``motmetrics.distances.iou_matrix``; ``max_iou = 0.5`` means a pair needs IoU >= 0.5).

    Args:
        objects (np.ndarray[N, 4]), hypotheses (np.ndarray[M, 4]).

    Returns:
        np.ndarray[N, M]
    """
    a = np.asarray(objects, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(hypotheses, dtype=np.float64).reshape(-1, 4)
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    ax2, ay2, bx2, by2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]),
                 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]),
                 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    dist = 1.0 - inter / union
    return np.where(dist > max_iou, np.nan, dist)


@dataclass
class MOTAccumulator:
    """The events of a sequence, frame by frame (``motmetrics.MOTAccumulator`` with
    ``max_switch_time = inf``). ``events`` holds ``(frame, type, oid, hid, distance)`` with type
    ``MATCH``, ``SWITCH``, ``MISS`` or ``FP``; ``raw`` holds every (frame, oid, hid, distance)
    passed in (NaN kept), which the identity metrics count."""

    events: list = field(default_factory=list)
    raw: list = field(default_factory=list)
    frames: list = field(default_factory=list)
    _last: dict = field(default_factory=dict)      # o -> the hypothesis o was last matched to

    def update(self, oids, hids, dists, frame: int | None = None) -> int:
        """Add one frame. ``dists`` is ``[len(oids), len(hids)]`` (NaN: cannot match).
        Returns the frame id (0, 1, ... when ``frame`` is None)."""
        oids, hids = list(oids), list(hids)
        d = np.asarray(dists, dtype=np.float64).reshape(len(oids), len(hids)).copy()
        if frame is None:
            frame = len(self.frames)
        self.frames.append(frame)
        if oids and hids:
            self.raw += [(frame, o, h, d[i, j]) for i, o in enumerate(oids)
                         for j, h in enumerate(hids)]
        else:
            self.raw += [(frame, o, None, np.nan) for o in oids]
            self.raw += [(frame, None, h, np.nan) for h in hids]
        o_done = np.zeros(len(oids), bool)
        h_done = np.zeros(len(hids), bool)

        # 1. keep the previous match of each object while it is still valid
        for i, o in enumerate(oids):
            if o not in self._last:
                continue
            js = [j for j, h in enumerate(hids) if h == self._last[o] and not h_done[j]]
            if js and np.isfinite(d[i, js[0]]):
                j = js[0]
                o_done[i] = h_done[j] = True
                self.events.append((frame, "MATCH", o, hids[j], d[i, j]))

        # 2. assign the rest; a new partner for a previously matched object is a switch
        d[o_done, :] = np.nan
        d[:, h_done] = np.nan
        for i, j in zip(*assign_with_missing(d)):
            o, h = oids[i], hids[j]
            kind = "SWITCH" if o in self._last and self._last[o] != h else "MATCH"
            o_done[i] = h_done[j] = True
            self._last[o] = h
            self.events.append((frame, kind, o, h, d[i, j]))

        # 3. what is left: misses and false positives
        self.events += [(frame, "MISS", o, None, np.nan) for i, o in enumerate(oids) if not o_done[i]]
        self.events += [(frame, "FP", None, h, np.nan) for j, h in enumerate(hids) if not h_done[j]]
        return frame

    def upto(self, last_frame: int) -> "MOTAccumulator":
        """The events of frames ``<= last_frame`` (py-motmetrics' ``acc.events.loc[0:k]``)."""
        return MOTAccumulator(events=[e for e in self.events if e[0] <= last_frame],
                              raw=[r for r in self.raw if r[0] <= last_frame],
                              frames=[f for f in self.frames if f <= last_frame])


def _div(a: float, b: float) -> float:
    return float(a) / b if b else float("nan")     # py-motmetrics' quiet_divide


def mot_metrics(acc: MOTAccumulator) -> dict[str, float]:
    """Every metric of :data:`METRIC_NAMES` for one accumulator (see the module docstring)."""
    ev = acc.events
    n_match = sum(e[1] == "MATCH" for e in ev)
    n_switch = sum(e[1] == "SWITCH" for e in ev)
    n_fp = sum(e[1] == "FP" for e in ev)
    n_miss = sum(e[1] == "MISS" for e in ev)
    n_det = n_match + n_switch
    n_obj = n_det + n_miss
    n_pred = n_det + n_fp
    dist_sum = sum(e[4] for e in ev if e[1] in ("MATCH", "SWITCH"))

    # per object: its events in frame order -> track ratio and fragmentations
    per_obj: dict = {}
    for e in ev:
        if e[2] is not None:
            per_obj.setdefault(e[2], []).append(e[1] != "MISS")
    ratios = {o: sum(v) / len(v) for o, v in per_obj.items()}
    frag = 0
    for tracked in per_obj.values():
        idx = [k for k, t in enumerate(tracked) if t]
        if not idx:
            continue
        span = tracked[idx[0]: idx[-1] + 1]
        frag += sum(1 for a, b in zip(span, span[1:]) if a and not b)

    # IDF1: global min-cost matching of identities (motmetrics.metrics.id_global_assignment)
    ocs: dict = {}
    hcs: dict = {}
    tps: dict = {}
    for f, o, h, dist in acc.raw:
        if o is not None:
            ocs.setdefault(o, set()).add(f)
        if h is not None:
            hcs.setdefault(h, set()).add(f)
        if o is not None and h is not None and np.isfinite(dist):
            tps[(o, h)] = tps.get((o, h), 0) + 1
    oids, hids = sorted(ocs), sorted(hcs)
    no, nh = len(oids), len(hids)
    oi = {o: k for k, o in enumerate(oids)}
    hi = {h: k for k, h in enumerate(hids)}
    fp = np.zeros((no + nh, no + nh))
    fn = np.zeros((no + nh, no + nh))
    fp[no:, :nh] = np.nan
    fn[:no, nh:] = np.nan
    for o in oids:
        fn[oi[o], :nh] = len(ocs[o])
        fn[oi[o], nh + oi[o]] = len(ocs[o])
    for h in hids:
        fp[:no, hi[h]] = len(hcs[h])
        fp[no + hi[h], hi[h]] = len(hcs[h])
    for (o, h), ex in tps.items():
        fp[oi[o], hi[h]] -= ex
        fn[oi[o], hi[h]] -= ex
    rows, cols = assign_with_missing(fp + fn)
    idfp = float(fp[rows, cols].sum())
    idfn = float(fn[rows, cols].sum())
    idtp = n_obj - idfn

    return dict(
        idf1=_div(2 * idtp, n_obj + n_pred), idp=_div(idtp, idtp + idfp),
        idr=_div(idtp, idtp + idfn), recall=_div(n_det, n_obj), precision=_div(n_det, n_pred),
        num_unique_objects=len(per_obj),
        mostly_tracked=sum(r >= 0.8 for r in ratios.values()),
        partially_tracked=sum(0.2 <= r < 0.8 for r in ratios.values()),
        mostly_lost=sum(r < 0.2 for r in ratios.values()),
        num_false_positives=n_fp, num_misses=n_miss, num_switches=n_switch,
        num_fragmentations=frag, mota=1.0 - _div(n_miss + n_switch + n_fp, n_obj),
        motp=_div(dist_sum, n_det), num_frames=len(set(acc.frames)), num_matches=n_match,
        num_objects=n_obj, num_predictions=n_pred, idtp=idtp, idfp=idfp, idfn=idfn)


def accumulate(gt: np.ndarray, hyp: np.ndarray, iou_threshold: float = 0.5,
               acc: MOTAccumulator | None = None, frame_offset: int = 0,
               id_prefix: str | int | None = None) -> MOTAccumulator:
    """The events of a tracker's output against the ground truth, both MOT rows
    (``frame, id, x, y, w, h, ...``), as py-motmetrics' ``compare_to_groundtruth(gt, hyp,
    "iou", distth=1 - iou_threshold)`` over the union of their frames. ``acc``, ``frame_offset``
    and ``id_prefix`` append a further sequence to an accumulator with distinct frames and ids."""
    gt = np.asarray(gt, dtype=np.float64)
    gt = gt.reshape(-1, gt.shape[-1] if gt.ndim == 2 and gt.size else 6)
    hyp = np.asarray(hyp, dtype=np.float64)
    hyp = hyp.reshape(-1, hyp.shape[-1] if hyp.ndim == 2 and hyp.size else 6)
    acc = MOTAccumulator() if acc is None else acc

    def ids(rows):
        out = rows[:, 1].astype(int).tolist()
        return out if id_prefix is None else [(id_prefix, i) for i in out]

    for f in np.union1d(gt[:, 0], hyp[:, 0]):
        g, h = gt[gt[:, 0] == f], hyp[hyp[:, 0] == f]
        acc.update(ids(g), ids(h), iou_distance(g[:, 2:6], h[:, 2:6], max_iou=1 - iou_threshold),
                   frame=int(f) + frame_offset)
    return acc


def evaluate_mot(gt: np.ndarray, hyp: np.ndarray, iou_threshold: float = 0.5) -> dict[str, float]:
    """:func:`mot_metrics` of :func:`accumulate`: one sequence."""
    return mot_metrics(accumulate(gt, hyp, iou_threshold))


def evaluate_many(pairs: list[tuple[np.ndarray, np.ndarray]],
                  iou_threshold: float = 0.5) -> dict[str, float]:
    """The metrics over several sequences ``[(gt, hyp), ...]`` at once (py-motmetrics'
    ``OVERALL`` row: counts summed; identities of different sequences never match)."""
    acc = MOTAccumulator()
    offset = 0
    for k, (gt, hyp) in enumerate(pairs):
        accumulate(gt, hyp, iou_threshold, acc=acc, frame_offset=offset, id_prefix=k)
        frames = [np.max(np.asarray(a)[:, 0]) for a in (gt, hyp) if len(a)]
        offset += int(max(frames, default=0)) + 1
    return mot_metrics(acc)
