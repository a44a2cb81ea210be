"""Figures of the tracking chapter: tracks with identity switches, temporal attention.

- :func:`plot_tracks`: every ground-truth identity's horizontal position over the frames,
  coloured by the tracker identity matched to it (grey where it was missed), with each identity
  switch of the CLEAR MOT events (:class:`relnotes.analysis.mot_metrics.MOTAccumulator`) marked
  by a red cross.
- :func:`occluded_attention` / :func:`plot_attention`: one tracklet's temporal attention weights
  (:class:`relnotes.nn.temporal_relation.TemporalRelation`) over its history, beside the visible
  fraction of the object in each history frame.
"""

from __future__ import annotations

import numpy as np

from ..data.mot import MOTSequence
from .mot_metrics import MOTAccumulator

__all__ = ["plot_tracks", "occluded_attention", "plot_attention", "history_visibility"]


def plot_tracks(ax, gt: np.ndarray, hyp: np.ndarray, acc: MOTAccumulator) -> int:
    """Draw the tracks (x: box centre, y: frame) on ``ax``; returns the number of switches."""
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab20")
    centre = {(int(r[0]), int(r[1])): r[2] + r[4] / 2 for r in gt}
    switches = 0
    for f, kind, o, h, _ in acc.events:
        if o is None:
            continue
        x = centre[(f, o)]
        if kind == "MISS":
            ax.plot(x, f, ".", color="0.8", ms=3)
        else:
            ax.plot(x, f, "o", color=cmap(int(h) % 20), ms=2.5)
        if kind == "SWITCH":
            switches += 1
            ax.plot(x, f, "x", color="red", ms=8, mew=2)
    ax.invert_yaxis()
    ax.set_xlabel("box centre x (px); colour: tracker id; red x: identity switch")
    return switches


def history_visibility(seq: MOTSequence, rows: np.ndarray) -> np.ndarray:
    """Visible fraction of the object behind each detection row (NaN for a false detection or
    an absent entry, ``row = -1``), from the ground truth's visibility column."""
    vis = {(int(r[0]), int(r[1])): r[8] for r in seq.gt}
    out = np.full(len(rows), np.nan)
    for k, r in enumerate(rows):
        if r >= 0 and seq.det_ids[r] >= 0:
            out[k] = vis.get((int(seq.det[r, 0]), int(seq.det_ids[r])), np.nan)
    return out


def occluded_attention(seq: MOTSequence, records: list, min_entries: int = 4):
    """The attention record (from :func:`relnotes.engine.tracking.track`) of a correct match
    whose history has the widest spread of visibility (an occlusion inside the window), or
    None. Records: ``(frame, track_id, history_rows, weights, det_row)``."""
    best, spread = None, 0.0
    for rec in records:
        frame, tid, rows, w, det_row = rec
        ok = rows >= 0
        if ok.sum() < min_entries or seq.det_ids[det_row] < 0:
            continue
        if not np.all(seq.det_ids[rows[ok]] == seq.det_ids[det_row]):
            continue
        vis = history_visibility(seq, rows)[ok]
        if np.isnan(vis).any():
            continue
        if vis.max() - vis.min() > spread:
            best, spread = rec, float(vis.max() - vis.min())
    return best


def plot_attention(ax, seq: MOTSequence, record) -> None:
    """Bars: the weights over the tracklet's history (x: frame of the entry); line: the object's
    visible fraction in that frame."""
    frame, tid, rows, w, det_row = record
    ok = rows >= 0
    frames = seq.det[rows[ok], 0]
    ax.bar(frames, w[ok], color="tab:blue", label="attention weight")
    ax.set_xlabel(f"history frame (candidate in frame {frame}, tracker id {tid})")
    ax.set_ylabel("weight")
    ax2 = ax.twinx()
    ax2.plot(frames, history_visibility(seq, rows)[ok], "o-", color="tab:orange",
             label="visible fraction")
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("visible fraction")
    ax.legend(loc="upper left", fontsize=7)
    ax2.legend(loc="upper right", fontsize=7)
