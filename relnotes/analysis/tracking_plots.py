"""Figures of the tracking chapter: tracks with identity switches, temporal attention.

- :func:`plot_tracks`: every ground-truth identity's horizontal position over the frames,
  coloured by the tracker identity matched to it (grey where it was missed), with each identity
  switch of the CLEAR MOT events (:class:`relnotes.analysis.mot_metrics.MOTAccumulator`) marked
  by a red cross.
- :func:`occluded_attention` / :func:`plot_attention`: one tracklet's temporal attention weights
  (:class:`relnotes.nn.temporal_relation.TemporalRelation`) over its history, beside the visible
  fraction of the object in each history frame.
- :func:`animate_tracks`: the sequence as a GIF (matplotlib's animation with the pillow writer):
  the ground-truth boxes in grey, the tracker's boxes coloured by tracker id, and every identity
  switch drawn in red for a few frames.
"""

from __future__ import annotations

import numpy as np

from ..data.mot import MOTSequence
from .mot_metrics import MOTAccumulator

__all__ = ["plot_tracks", "occluded_attention", "plot_attention", "history_visibility",
           "animate_tracks"]


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


def animate_tracks(path, seq: MOTSequence, hyp: np.ndarray, acc: MOTAccumulator, *,
                   title: str = "", fps: int = 8, size: float = 6.0, dpi: int = 72,
                   hold: int = 6) -> int:
    """Write ``seq`` with a tracker's output as an animated GIF; returns the number of switches.

    Every frame shows the ground-truth boxes (grey, dashed), the tracker's boxes ``hyp`` (MOT
    rows ``frame, id, x, y, w, h, ...``) coloured and labelled by tracker id, and a red box with
    "switch" on every ground-truth object whose identity switched (the ``SWITCH`` events of
    ``acc``) in that frame or the ``hold - 1`` frames before, so a reader can see it.

    Args:
        path (path): the ``.gif`` file to write.
        seq (MOTSequence): the sequence (its ``gt``, ``width``, ``height``, ``n_frames``).
        hyp (np.ndarray[M, >=6]): the tracker's rows.
        acc (MOTAccumulator): the CLEAR MOT events of ``hyp`` against ``seq.gt``
            (:func:`relnotes.analysis.mot_metrics.accumulate`).
        title (str): drawn above the frame number. Default: "".
        fps (int): frames per second. Default: 8.
        size (float): figure width in inches (the height follows the image). Default: 6.
        dpi (int): pixels per inch. Default: 72.
        hold (int): frames a switch stays drawn. Default: 6.
    """
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter
    from matplotlib.patches import Rectangle

    if hold < 1 or fps < 1:
        raise ValueError(f"hold and fps must be >= 1; got hold={hold}, fps={fps}")
    gt, hyp = np.asarray(seq.gt, dtype=np.float64), np.asarray(hyp, dtype=np.float64)
    hyp = hyp if hyp.ndim == 2 else hyp.reshape(-1, 7)          # no rows at all: an empty table
    box = {(int(r[0]), int(r[1])): r[2:6] for r in gt}
    switches = [(f, o) for f, kind, o, _, _ in acc.events if kind == "SWITCH"]
    cmap = plt.get_cmap("tab20")
    fig, ax = plt.subplots(figsize=(size, size * seq.height / seq.width + 0.3), dpi=dpi)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.92)

    def draw(t):
        ax.clear()
        ax.set_xlim(0, seq.width)
        ax.set_ylim(seq.height, 0)
        ax.set_xticks([])
        ax.set_yticks([])
        for r in gt[gt[:, 0] == t]:
            ax.add_patch(Rectangle(r[2:4], r[4], r[5], fill=False, ec="0.6", ls="--", lw=0.8))
        for r in hyp[hyp[:, 0] == t]:
            c = cmap(int(r[1]) % 20)
            ax.add_patch(Rectangle(r[2:4], r[4], r[5], fill=False, ec=c, lw=1.5))
            ax.text(r[2], r[3] - 1, str(int(r[1])), color=c, fontsize=6, va="bottom")
        for f, o in switches:
            if f <= t < f + hold and (t, o) in box:
                x, y, w, h = box[(t, o)]
                ax.add_patch(Rectangle((x - 2, y - 2), w + 4, h + 4, fill=False, ec="red", lw=2.5))
                ax.text(x, y + h + 2, "switch", color="red", fontsize=7, va="top")
        ax.set_title(f"{title} frame {t}/{seq.n_frames}".strip(), fontsize=7)

    anim = FuncAnimation(fig, draw, frames=range(1, seq.n_frames + 1))
    anim.save(str(path), writer=PillowWriter(fps=fps))
    plt.close(fig)
    return len(switches)
