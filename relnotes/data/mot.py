r"""Multi-object tracking data: a synthetic crowd, and MOTChallenge text files in and out.

The tracking chapter (STRN, Xu, Cao, Zhang, Hu, ICCV 2019, arXiv:1904.11489) tracks by detection:
each frame comes with "public detections" (boxes, a confidence, and here an appearance
descriptor), and the tracker links them into identities. This module provides

- :func:`synthetic_sequence`: a crowd of moving, occluding, similar-looking boxes (groups walking
  together, groups crossing each other, objects leaving the image and coming back) with noisy,
  missing and false detections and the ground-truth identities;
- :func:`write_mot` / :func:`read_mot`: the MOTChallenge text format, one box per line,
  ``frame, id, bb_left, bb_top, bb_width, bb_height, conf, ...`` (frames from 1; ``id = -1`` in
  detection files; MOT16/17 ground truth adds ``class, visibility``), so that standard tools
  (py-motmetrics' ``loadtxt``, TrackEval) read what we write. A malformed file (missing columns,
  a field that is not a number, a non-positive size, frames out of order, an identity twice in a
  frame) raises :class:`MOTFormatError` naming the file and the line; nothing is skipped;
- :func:`read_mot17_sequence`: a real MOT17 training sequence, ``train/MOT17-xx-DPM/{det,gt,img1,
  seqinfo.ini}``, under ``data_root`` (the ``full`` profile).

**Appearance descriptors (our choice).** STRN crops every box from the image and runs a CNN; the
sources do not say which (``region-tracking-deformable-graphs.md`` §2.3). Our synthetic detector
instead emits a ``d``-dimensional descriptor per box, written after the 10 MOTChallenge columns of
``det.txt`` (as DeepSORT's detection files append a re-identification feature to the MOT row).
It is the object's own appearance mixed with that of whatever covers it,
``a = v * a_own + (1 - v) * a_occluder + noise``, with ``v`` the visible fraction of the box,
so a partly occluded detection *looks like its occluder*: the case in which a tracklet's past
features disagree and attention over time has something to choose. For real MOT17 frames
:func:`crop_colour_descriptors` gives a colour histogram of each crop (our choice, no CNN).
"""

from __future__ import annotations

import configparser
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["MOTFormatError", "MOTSequence", "MOT_COLUMNS", "read_mot", "write_mot",
           "synthetic_sequence", "write_sequence", "read_sequence", "read_mot17_sequence",
           "crop_colour_descriptors", "visible_fraction"]

#: The first seven MOTChallenge columns, which every file must have.
MOT_COLUMNS = ("frame", "id", "bb_left", "bb_top", "bb_width", "bb_height", "conf")


class MOTFormatError(ValueError):
    """A MOTChallenge text file that cannot be read; the message names the file and the line."""


def read_mot(path: str | os.PathLike, *, min_columns: int = 7,
             unique_ids: bool = True) -> np.ndarray:
    """Read a MOTChallenge text file into ``float64[N, C]``, one row per line, in file order.

    Args:
        path: a ``gt.txt``, ``det.txt`` or tracker result, comma-separated (whitespace is allowed
            around the commas, as MOTChallenge files have it).
        min_columns (int): every line must have at least this many fields, and all lines the
            same number. Default: 7 (``frame, id, x, y, w, h, conf``).
        unique_ids (bool): an identity may appear at most once per frame (ids ``>= 0``; the
            ``-1`` of detection files is exempt). Default: True.

    Returns:
        np.ndarray[N, C]: column 0 the frame (an integer >= 1), column 1 the id (an integer),
        columns 2-5 the box (left, top, width > 0, height > 0), then the rest as written.
        Frames never decrease from one line to the next. An empty file gives ``[0, min_columns]``.

    Raises:
        MOTFormatError: ``"<path>, line <k>: <what is wrong>"`` for the first bad line.
    """
    path = Path(path)
    rows, n_cols, last_frame, seen = [], None, 0, set()
    with open(path, encoding="utf-8") as fh:
        for k, line in enumerate(fh, start=1):
            text = line.strip()
            if not text:
                raise MOTFormatError(f"{path}, line {k}: empty line (a MOT file has one box per "
                                     f"line and no blank lines)")
            fields = [f.strip() for f in text.split(",")]
            where = f"{path}, line {k}"
            if len(fields) < min_columns:
                raise MOTFormatError(f"{where}: expected at least {min_columns} comma-separated "
                                     f"fields ({', '.join(MOT_COLUMNS[:min_columns])}); got "
                                     f"{len(fields)}: {text!r}")
            if n_cols is not None and len(fields) != n_cols:
                raise MOTFormatError(f"{where}: {len(fields)} fields, but the lines before have "
                                     f"{n_cols}")
            n_cols = len(fields)
            values = []
            for j, f in enumerate(fields):
                name = MOT_COLUMNS[j] if j < len(MOT_COLUMNS) else f"column {j + 1}"
                try:
                    v = float(f)
                except ValueError:
                    raise MOTFormatError(f"{where}: field {j + 1} ({name}) is not a number: "
                                         f"{f!r}") from None
                if not math.isfinite(v):
                    raise MOTFormatError(f"{where}: field {j + 1} ({name}) is not finite: {f!r}")
                values.append(v)
            frame, ident, _, _, w, h = values[:6]
            if frame != int(frame) or frame < 1:
                raise MOTFormatError(f"{where}: frame must be an integer >= 1; got {fields[0]!r}")
            if ident != int(ident):
                raise MOTFormatError(f"{where}: id must be an integer; got {fields[1]!r}")
            if not (w > 0 and h > 0):
                raise MOTFormatError(f"{where}: bb_width and bb_height must be > 0; got "
                                     f"{fields[4]!r}, {fields[5]!r}")
            if frame < last_frame:
                raise MOTFormatError(f"{where}: frame {int(frame)} comes after frame "
                                     f"{int(last_frame)}; lines must be sorted by frame")
            if unique_ids and ident >= 0:
                if (frame, ident) in seen:
                    raise MOTFormatError(f"{where}: id {int(ident)} appears twice in frame "
                                         f"{int(frame)}")
                seen.add((frame, ident))
            last_frame = frame
            rows.append(values)
    if not rows:
        return np.zeros((0, min_columns))
    return np.asarray(rows, dtype=np.float64)


def write_mot(path: str | os.PathLike, rows: np.ndarray) -> Path:
    """Write ``rows`` (``[N, C]``, C >= 7, sorted by frame) as a MOTChallenge text file.

    Frame and id are written as integers, the box with 2 decimals, the rest with up to 6
    significant digits. :func:`read_mot` reads it back (to that precision).
    """
    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim != 2 or (rows.size and rows.shape[1] < 7):
        raise ValueError(f"rows must be [N, C] with C >= 7 ({', '.join(MOT_COLUMNS)}); got "
                         f"{rows.shape}")
    if rows.size and np.any(np.diff(rows[:, 0]) < 0):
        raise ValueError("rows must be sorted by frame (column 0)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            head = [f"{int(r[0])}", f"{int(r[1])}"] + [f"{v:.2f}" for v in r[2:6]]
            fh.write(",".join(head + [f"{v:.6g}" for v in r[6:]]) + "\n")
    return path


@dataclass
class MOTSequence:
    """One sequence: ground truth, public detections and their descriptors.

    Attributes:
        name (str): sequence name.
        width, height (int): image size in pixels.
        n_frames (int): frames 1..n_frames.
        gt (np.ndarray[G, 9]): ``frame, id, x, y, w, h, 1, 1, visibility`` (MOT16/17 layout).
        det (np.ndarray[D, 7]): ``frame, -1, x, y, w, h, conf``, sorted by frame.
        features (np.ndarray[D, d]): the appearance descriptor of each detection (or ``[D, 0]``).
        det_ids (np.ndarray[D]): the identity that produced each detection, -1 for a false one
            (not part of a MOT file; :func:`label_detections` recovers it from ``gt`` by IoU).
    """

    name: str
    width: int
    height: int
    n_frames: int
    gt: np.ndarray
    det: np.ndarray
    features: np.ndarray
    det_ids: np.ndarray
    info: dict = field(default_factory=dict)

    def frame_slice(self, frame: int) -> slice:
        """Rows of ``det`` (and ``features``, ``det_ids``) in ``frame``."""
        lo, hi = np.searchsorted(self.det[:, 0], [frame, frame + 1])
        return slice(int(lo), int(hi))


def visible_fraction(boxes: np.ndarray, grid: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Visible fraction of each box ``(x, y, w, h)`` and its main occluder.

    Depth order (our choice, the usual ground-plane assumption): a box whose bottom edge is lower
    in the image is closer to the camera. The fraction is measured on a ``grid x grid`` lattice
    of points inside each box. Returns ``(visibility[N], occluder[N])``, the occluder being the
    closer box covering most points (-1 when nothing covers the box).
    """
    n = len(boxes)
    vis, occ = np.ones(n), np.full(n, -1)
    if n < 2:
        return vis, occ
    t = (np.arange(grid) + 0.5) / grid
    bottom = boxes[:, 1] + boxes[:, 3]
    for i in range(n):
        x, y, w, h = boxes[i]
        px, py = np.meshgrid(x + t * w, y + t * h)                      # [grid, grid]
        covered = np.zeros(px.shape, bool)
        best, best_count = -1, 0
        for j in np.nonzero(bottom > bottom[i])[0]:
            xj, yj, wj, hj = boxes[j]
            inside = (px >= xj) & (px <= xj + wj) & (py >= yj) & (py <= yj + hj)
            if inside.sum() > best_count:
                best, best_count = j, int(inside.sum())
            covered |= inside
        vis[i] = 1.0 - covered.mean()
        occ[i] = best
    return vis, occ


def synthetic_sequence(*, n_frames: int = 100, n_groups: int = 4, group_size: tuple[int, int] = (2, 4),
                       width: int = 640, height: int = 360, box_width: tuple[float, float] = (24, 40),
                       speed: tuple[float, float] = (2.0, 5.0), d: int = 16, n_looks: int = 3,
                       look_spread: float = 0.35, feature_noise: float = 0.25,
                       p_detect: float = 0.92, min_visibility: float = 0.4,
                       box_noise: float = 0.06, fp_rate: float = 0.6, p_reenter: float = 0.5,
                       seed: int = 0, name: str | None = None) -> MOTSequence:
    """A synthetic crowd with ground truth and public detections (see the module docstring).

    Layout. ``n_groups`` groups of ``group_size`` (inclusive range) people enter from the left or
    the right edge at random times and walk across at ``speed`` px/frame, with a small vertical
    drift, so that groups going opposite ways cross. Members of a group walk side by side
    (random offsets of about one box width), share the group's velocity with a small personal
    jitter, and *look alike*: every person's appearance is one of ``n_looks`` prototype
    directions plus ``look_spread`` of personal variation (unit vectors in R^d). A person who
    leaves the image comes back ``p_reenter`` of the time, with the same identity, after 5-20
    frames, walking the other way. Boxes are pedestrian-shaped, ``h = 2.4 w``.

    Detections. A person with visible fraction ``v`` (:func:`visible_fraction`) is detected with
    probability ``p_detect`` when ``v >= min_visibility``, else ``p_detect * v / min_visibility``;
    the box is perturbed by ``box_noise`` of its size (Gaussian); conf ~ 0.5 + 0.5 v + noise.
    The descriptor is ``v * a_own + (1 - v) * a_occluder + feature_noise * N(0, I/d)``, then
    normalised. False detections: Poisson(``fp_rate``) per frame, random size and place, random
    descriptor, conf ~ U(0.2, 0.7).

    Returns:
        MOTSequence: gt and det rows in frame order; identities 1, 2, ...
    """
    rng = np.random.default_rng(seed)
    looks = rng.normal(size=(n_looks, d))
    looks /= np.linalg.norm(looks, axis=1, keepdims=True)

    # --- plan every person: appearance and one or two straight passages -------------------------
    people = []                          # dicts: appearance, list of (t0, x0, y0, vx, vy), w
    pid = 0
    for g in range(n_groups):
        size = int(rng.integers(group_size[0], group_size[1] + 1))
        look = looks[rng.integers(n_looks)]
        direction = 1 if rng.random() < 0.5 else -1
        vx = direction * rng.uniform(*speed)
        vy = rng.uniform(-0.4, 0.4)
        t0 = int(rng.integers(1, max(2, n_frames // 2)))
        y0 = rng.uniform(0.15 * height, 0.55 * height)
        w_g = rng.uniform(*box_width)
        for k in range(size):
            pid += 1
            a = look + look_spread * rng.normal(size=d) / math.sqrt(d)
            w = w_g * rng.uniform(0.9, 1.1)
            x0 = (-w - k * 1.1 * w_g) if direction > 0 else (width + k * 1.1 * w_g)
            passages = [(t0, x0, y0 + rng.normal(0, 0.4 * w_g),
                         vx * rng.uniform(0.95, 1.05), vy + rng.normal(0, 0.1))]
            people.append(dict(id=pid, a=a / np.linalg.norm(a), w=w, passages=passages,
                               reenter=rng.random() < p_reenter, delay=int(rng.integers(5, 21))))

    def position(p, t):
        for (t0, x0, y0, vx, vy) in p["passages"]:
            if t >= t0:
                last = (t0, x0, y0, vx, vy)
        if t < p["passages"][0][0]:
            return None
        t0, x0, y0, vx, vy = last
        return x0 + vx * (t - t0), y0 + vy * (t - t0)

    gt_rows, det_rows, feats, det_ids = [], [], [], []
    for t in range(1, n_frames + 1):
        ids, boxes = [], []
        for p in people:
            pos = position(p, t)
            if pos is None:
                continue
            x, y = pos
            w = p["w"]
            h = 2.4 * w
            t0, x0, y0, vx, vy = p["passages"][-1]
            gone = (vx > 0 and x > width) or (vx < 0 and x + w < 0)
            if gone:
                if p["reenter"] and len(p["passages"]) == 1:   # come back the other way, once
                    p["passages"].append((t + p["delay"], x, y, -vx, -vy))
                continue
            if x + w <= 0 or x >= width:
                continue                                       # entering, not yet in the image
            y = float(np.clip(y, 0, height - h))
            ids.append(p["id"])
            boxes.append((x, y, w, h))
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        vis, occ = visible_fraction(boxes)
        for i, pid_i in enumerate(ids):
            gt_rows.append([t, pid_i, *boxes[i], 1, 1, vis[i]])
        by_id = {p["id"]: p for p in people}
        for i, pid_i in enumerate(ids):
            p_det = p_detect if vis[i] >= min_visibility else p_detect * vis[i] / min_visibility
            if rng.random() >= p_det:
                continue
            x, y, w, h = boxes[i]
            x += box_noise * w * rng.normal()
            y += box_noise * h * rng.normal()
            w *= math.exp(box_noise * rng.normal())
            h *= math.exp(box_noise * rng.normal())
            own = by_id[pid_i]["a"]
            other = by_id[ids[occ[i]]]["a"] if occ[i] >= 0 else own
            a = vis[i] * own + (1 - vis[i]) * other + feature_noise * rng.normal(size=d) / math.sqrt(d)
            conf = float(np.clip(0.5 + 0.5 * vis[i] + 0.05 * rng.normal(), 0.05, 1.0))
            det_rows.append([t, -1, x, y, w, h, conf])
            feats.append(a / np.linalg.norm(a))
            det_ids.append(pid_i)
        for _ in range(rng.poisson(fp_rate)):
            w = rng.uniform(*box_width)
            h = 2.4 * w * rng.uniform(0.8, 1.2)
            x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
            a = rng.normal(size=d)
            det_rows.append([t, -1, x, y, w, h, rng.uniform(0.2, 0.7)])
            feats.append(a / np.linalg.norm(a))
            det_ids.append(-1)
    return MOTSequence(
        name=name or f"synthetic-{seed}", width=width, height=height, n_frames=n_frames,
        gt=np.asarray(gt_rows, dtype=np.float64).reshape(-1, 9),
        det=np.asarray(det_rows, dtype=np.float64).reshape(-1, 7),
        features=np.asarray(feats, dtype=np.float64).reshape(-1, d),
        det_ids=np.asarray(det_ids, dtype=np.int64))


def write_sequence(folder: str | os.PathLike, seq: MOTSequence) -> Path:
    """Write ``seq`` as a MOTChallenge folder: ``seqinfo.ini``, ``gt/gt.txt``, ``det/det.txt``
    (the 10 MOT columns, then the descriptor, our choice; ``det_ids`` are not written)."""
    folder = Path(folder)
    write_mot(folder / "gt" / "gt.txt", seq.gt)
    n = len(seq.det)
    det10 = np.concatenate([seq.det, -np.ones((n, 3)), seq.features], axis=1)
    write_mot(folder / "det" / "det.txt", det10)
    ini = configparser.ConfigParser()
    ini.optionxform = str
    ini["Sequence"] = dict(name=seq.name, imDir="img1", frameRate="30", seqLength=str(seq.n_frames),
                           imWidth=str(seq.width), imHeight=str(seq.height), imExt=".jpg")
    with open(folder / "seqinfo.ini", "w", encoding="utf-8") as fh:
        ini.write(fh)
    return folder


def _read_seqinfo(folder: Path) -> dict:
    path = folder / "seqinfo.ini"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: a MOTChallenge sequence folder has "
                                f"seqinfo.ini, det/det.txt and (for training) gt/gt.txt")
    ini = configparser.ConfigParser()
    ini.read(path, encoding="utf-8")
    if "Sequence" not in ini:
        raise MOTFormatError(f"{path}: no [Sequence] section")
    s = ini["Sequence"]
    try:
        return dict(name=s.get("name", folder.name), n_frames=int(s["seqLength"]),
                    width=int(s["imWidth"]), height=int(s["imHeight"]),
                    im_dir=s.get("imDir", "img1"), im_ext=s.get("imExt", ".jpg"),
                    frame_rate=float(s.get("frameRate", "30")))
    except (KeyError, ValueError) as e:
        raise MOTFormatError(f"{path}: seqLength, imWidth and imHeight must be integers "
                             f"({e})") from None


def label_detections(det: np.ndarray, gt: np.ndarray, iou_threshold: float = 0.5) -> np.ndarray:
    """The ground-truth identity of each detection: per frame, a Hungarian matching of
    detections and ground-truth boxes on IoU (pairs with IoU >= ``iou_threshold``); -1 for a
    detection left unmatched. Used to train on real sequences, whose detection files have no
    identities."""
    from scipy.optimize import linear_sum_assignment

    out = np.full(len(det), -1, dtype=np.int64)
    for f in np.unique(det[:, 0]):
        di = np.nonzero(det[:, 0] == f)[0]
        gi = np.nonzero(gt[:, 0] == f)[0]
        if not len(di) or not len(gi):
            continue
        iou = _iou_xywh(det[di, 2:6], gt[gi, 2:6])
        cost = np.where(iou >= iou_threshold, 1 - iou, 10.0)
        r, c = linear_sum_assignment(cost)
        ok = iou[r, c] >= iou_threshold
        out[di[r[ok]]] = gt[gi[c[ok]], 1].astype(np.int64)
    return out


def _iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return inter / union


def read_sequence(folder: str | os.PathLike, *, min_confidence: float | None = None,
                  pedestrians_only: bool = False) -> MOTSequence:
    """Read a MOTChallenge sequence folder written by :func:`write_sequence` (or a real one).

    ``det/det.txt`` columns 11.. are the descriptors (none in real MOT files). ``gt/gt.txt`` is
    optional (test sequences have none). ``min_confidence``: keep ground-truth rows whose column 7
    ("consider" flag in MOT16/17) is at least this; ``pedestrians_only``: keep class 1 (column 8),
    as the MOT16/17 devkit does for evaluation. ``det_ids`` come from :func:`label_detections`.
    """
    folder = Path(folder)
    info = _read_seqinfo(folder)
    det_path = folder / "det" / "det.txt"
    if not det_path.is_file():
        raise FileNotFoundError(f"{det_path} does not exist")
    det_all = read_mot(det_path, unique_ids=False)
    gt_path = folder / "gt" / "gt.txt"
    gt = read_mot(gt_path) if gt_path.is_file() else np.zeros((0, 9))
    if gt.shape[1] < 9:
        gt = np.concatenate([gt, np.ones((len(gt), 9 - gt.shape[1]))], axis=1)
    keep = np.ones(len(gt), bool)
    if min_confidence is not None:
        keep &= gt[:, 6] >= min_confidence
    if pedestrians_only:
        keep &= gt[:, 7] == 1
    gt = gt[keep][:, :9]
    feats = det_all[:, 10:] if det_all.shape[1] > 10 else np.zeros((len(det_all), 0))
    det = det_all[:, :7]
    return MOTSequence(name=info["name"], width=info["width"], height=info["height"],
                       n_frames=info["n_frames"], gt=gt, det=det, features=feats,
                       det_ids=label_detections(det, gt), info=info)


def crop_colour_descriptors(seq: MOTSequence, folder: str | os.PathLike, bins: int = 4) -> np.ndarray:
    """A colour histogram (``bins`` per RGB channel, ``bins**3`` values, L2-normalised) of every
    detection's crop of ``img1/<frame>.jpg`` (our choice of descriptor for real frames)."""
    from PIL import Image

    folder = Path(folder)
    out = np.zeros((len(seq.det), bins ** 3))
    for f in np.unique(seq.det[:, 0]).astype(int):
        path = folder / seq.info.get("im_dir", "img1") / f"{f:06d}{seq.info.get('im_ext', '.jpg')}"
        img = np.asarray(Image.open(path).convert("RGB"))
        for i in np.nonzero(seq.det[:, 0] == f)[0]:
            x, y, w, h = seq.det[i, 2:6]
            x0, y0 = max(int(x), 0), max(int(y), 0)
            crop = img[y0:max(int(y + h), y0 + 1), x0:max(int(x + w), x0 + 1)].reshape(-1, 3)
            q = (crop.astype(np.int64) * bins) // 256
            hist = np.bincount(q[:, 0] * bins * bins + q[:, 1] * bins + q[:, 2],
                               minlength=bins ** 3).astype(np.float64)
            out[i] = hist / max(np.linalg.norm(hist), 1e-12)
    return out


def read_mot17_sequence(data_root: str | os.PathLike, name: str = "MOT17-02-DPM", *,
                        descriptors: bool = True) -> MOTSequence:
    """A MOT17 training sequence, ``<data_root>/train/<name>/{det,gt,img1,seqinfo.ini}``.

    Ground truth is filtered as the MOT16/17 devkit evaluates it (consider flag 1, class 1
    pedestrian). With ``descriptors``, each detection gets :func:`crop_colour_descriptors`.

    Raises:
        FileNotFoundError: the folder does not exist (says where it looked).
    """
    folder = Path(data_root) / "train" / name
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} does not exist: put the MOT17 training set under "
                                f"data_root as train/{name}/{{det,gt,img1,seqinfo.ini}}")
    seq = read_sequence(folder, min_confidence=1, pedestrians_only=True)
    if descriptors:
        seq.features = crop_colour_descriptors(seq, folder)
    return seq
