r"""ContextShapes: a synthetic COCO-format detection set in which context decides some classes.

The talk behind RN (Hu et al., "Relation Networks for Object Detection", CVPR 2018) motivates the
relation module with a glove: on its own a small brown blob, next to a baseball player a glove.
ContextShapes makes that literal, small enough to train on a CPU:

- **Large objects**, three kinds, two or three per image and never two of the same kind:
  ``player`` (red rectangle), ``table`` (green ellipse), ``tree`` (blue triangle), 14-22 px.
- **Small objects**, three classes, ``glove``, ``cup``, ``apple``: 5 x 5 px squares that look
  *identical*. The class of a small object is the kind of the **nearest** large object
  (``player -> glove``, ``table -> cup``, ``tree -> apple``), where the distance is from the
  small object's centre to the large object's box (0 inside it).
- **Beyond the receptive field.** Every small object lies ``gap`` = 9-15 px (edge to edge) from
  its own large object and at least ``gap[0]`` px from every other one, so a backbone whose
  receptive field is smaller (the 3-conv stride-4 backbone of
  :func:`relnotes.models.tiny_faster_rcnn` sees 15 x 15 px) cannot see any large object from
  inside a small box: its RoI feature carries no information about the class, and a head that
  looks at one RoI at a time is at chance (AP about 1/3) on the small classes by construction.
  A head that relates RoIs (the relation module) can find the nearest large object.
- **Which one is nearest** matters: with two or three large objects of different kinds in the
  image, "is there a player somewhere" does not decide the class, "is the nearest object a
  player" does. The nearest one is closer than the second nearest by at least ``margin`` px, so
  the rule is never ambiguous. This is why the geometric term of the relation module should
  matter here (RN Table 1(a)).
- **Control** (``control=True``): the same layouts, but each small class has its own colour, so
  appearance alone decides and the relation module should not help.

Everything is drawn with NumPy from one ``numpy.random.Generator`` seeded with ``seed``, so a set
is a pure function of its arguments. Boxes are pixel-exact: an object covering columns
``x0 .. x0 + w - 1`` has the COCO box ``[x0, y0, w, h]`` and the (x1, y1, x2, y2) box
``(x0, y0, x0 + w, y0 + h)``.

Category ids (COCO, 1-based; 0 is the background of torchvision detectors): 1 player, 2 table,
3 tree, 4 glove, 5 cup, 6 apple.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

__all__ = ["LARGE_KINDS", "SMALL_CLASSES", "CATEGORIES", "CONTEXT_RULE", "ContextShapes",
           "make_context_shapes", "make_crowded_shapes", "point_box_distance"]

#: The large object kinds and the small classes they decide, in category-id order.
LARGE_KINDS = ("player", "table", "tree")
SMALL_CLASSES = ("glove", "cup", "apple")
#: small class = CONTEXT_RULE[kind of the nearest large object]
CONTEXT_RULE = dict(zip(LARGE_KINDS, SMALL_CLASSES))
CATEGORIES = [dict(id=i + 1, name=n, supercategory="large" if i < 3 else "small")
              for i, n in enumerate(LARGE_KINDS + SMALL_CLASSES)]

_LARGE_COLOURS = np.array([[0.85, 0.15, 0.15], [0.15, 0.75, 0.2], [0.2, 0.3, 0.9]])
_SMALL_COLOUR = np.array([0.95, 0.85, 0.3])                       # identical for the 3 classes
_CONTROL_COLOURS = np.array([[0.95, 0.85, 0.3], [0.95, 0.4, 0.95], [0.3, 0.95, 0.95]])


def point_box_distance(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Euclidean distance from each point to each box, 0 inside the box.

    Args:
        points (ndarray[P, 2]): (x, y).
        boxes (ndarray[B, 4]): (x1, y1, x2, y2).

    Returns:
        ndarray[P, B]

    Example: the point (10, 0) and the box (0, 0, 4, 4) are 6 apart; (2, 2) is inside, 0.
    """
    p = np.asarray(points, dtype=np.float64)[:, None, :]
    b = np.asarray(boxes, dtype=np.float64)[None, :, :]
    dx = np.maximum(np.maximum(b[..., 0] - p[..., 0], p[..., 0] - b[..., 2]), 0.0)
    dy = np.maximum(np.maximum(b[..., 1] - p[..., 1], p[..., 1] - b[..., 3]), 0.0)
    return np.hypot(dx, dy)


def _box_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Edge-to-edge distance of two (x1, y1, x2, y2) boxes (0 if they touch or overlap)."""
    dx = max(b[0] - a[2], a[0] - b[2], 0.0)
    dy = max(b[1] - a[3], a[1] - b[3], 0.0)
    return float(np.hypot(dx, dy))


def _draw(image: np.ndarray, kind: int, box: np.ndarray, colour: np.ndarray) -> None:
    """Paint a large object of ``kind`` filling ``box`` (rectangle, ellipse, triangle)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    w, h = x1 - x0, y1 - y0
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    if kind == 0:                                            # player: rectangle
        mask = np.ones((h, w), bool)
    elif kind == 1:                                          # table: ellipse inscribed in the box
        mask = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2 <= 1.0
    else:                                                    # tree: apex at the top, base at the bottom
        mask = np.abs(xx - w / 2) <= (w / 2) * yy / h
    image[y0:y1, x0:x1][mask] = colour


@dataclass
class ContextShapes:
    """A generated set: ``images`` (ndarray[N, H, W, 3], float32 in [0, 1]) and ``coco``, the
    COCO-format dict (``images``, ``annotations``, ``categories``) pycocotools reads.

    Also a torch ``Dataset`` view through :meth:`torch_dataset`.
    """

    images: np.ndarray
    coco: dict
    boxes: list = field(repr=False)    # per image ndarray[K, 4] (x1, y1, x2, y2)
    labels: list = field(repr=False)   # per image ndarray[K] category ids

    def __len__(self) -> int:
        return len(self.images)

    def torch_dataset(self) -> "ContextShapesDataset":
        """The set as a map-style ``Dataset`` for torchvision detectors."""
        return ContextShapesDataset(self)


class ContextShapesDataset(Dataset):
    """Item ``i``: ``(image, target)`` with ``image`` Tensor[3, H, W] in [0, 1] and ``target`` the
    dict torchvision detectors train on: ``boxes`` Tensor[K, 4] (x1, y1, x2, y2, float32),
    ``labels`` Tensor[K] (int64 category ids), ``image_id`` (int, the COCO image id)."""

    def __init__(self, shapes: ContextShapes) -> None:
        self.shapes = shapes

    def __len__(self) -> int:
        return len(self.shapes)

    def __getitem__(self, i: int):
        s = self.shapes
        image = torch.from_numpy(np.ascontiguousarray(s.images[i].transpose(2, 0, 1)))
        target = dict(boxes=torch.as_tensor(s.boxes[i], dtype=torch.float32).reshape(-1, 4),
                      labels=torch.as_tensor(s.labels[i], dtype=torch.int64),
                      image_id=torch.tensor(s.coco["images"][i]["id"]))
        return image, target


def make_context_shapes(n_images: int, *, seed: int = 0, image_size: int = 64,
                        large_size: tuple[int, int] = (14, 22), small_size: int = 5,
                        n_large: tuple[int, int] = (2, 3), n_small: tuple[int, int] = (2, 4),
                        gap: tuple[int, int] = (9, 15), margin: float = 3.0,
                        noise: float = 0.08, control: bool = False,
                        first_image_id: int = 1) -> ContextShapes:
    """Generate a ContextShapes set (see the module docstring).

    Args:
        n_images (int): number of images.
        seed (int): seed of the ``numpy.random.Generator``; the set is a pure function of the
            arguments. Default: 0.
        image_size (int): images are square. Default: 64.
        large_size (tuple[int, int]): min and max side of a large object, px. Default: (14, 22).
        small_size (int): side of a small object, px. Default: 5.
        n_large (tuple[int, int]): min and max large objects per image, each of a different kind
            (at most 3). Default: (2, 3).
        n_small (tuple[int, int]): min and max small objects per image (fewer if the layout has
            no room). Default: (2, 4).
        gap (tuple[int, int]): edge-to-edge distance of a small object to its nearest large
            object, px; also the minimum distance to every other large object. Default: (9, 15).
        margin (float): the nearest large object is nearer than the second by this, px (centre
            of the small object to box). Default: 3.
        noise (float): standard deviation of the Gaussian background around grey 0.45.
            Default: 0.08.
        control (bool): give each small class its own colour (appearance decides). Default: False.
        first_image_id (int): COCO id of the first image. Default: 1.

    Returns:
        ContextShapes
    """
    for name, v in (("n_images", n_images), ("image_size", image_size), ("small_size", small_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValueError(f"{name} must be a positive int; got {v!r}")
    if not 1 <= n_large[0] <= n_large[1] <= len(LARGE_KINDS):
        raise ValueError(f"n_large must be (lo, hi) with 1 <= lo <= hi <= 3; got {n_large}")
    if not 0 <= n_small[0] <= n_small[1]:
        raise ValueError(f"n_small must be (lo, hi) with 0 <= lo <= hi; got {n_small}")
    if not 0 < large_size[0] <= large_size[1] < image_size:
        raise ValueError(f"large_size must be (lo, hi) with 0 < lo <= hi < image_size; got "
                         f"{large_size}")
    if not 0 <= gap[0] <= gap[1]:
        raise ValueError(f"gap must be (lo, hi) with 0 <= lo <= hi; got {gap}")
    rng = np.random.default_rng(seed)
    images = np.empty((n_images, image_size, image_size, 3), np.float32)
    layouts = []
    for i in range(n_images):
        img = (0.45 + noise * rng.standard_normal((image_size, image_size, 3))).clip(0, 1)
        large_boxes, kinds = _place_large(rng, image_size, large_size, n_large)
        small_boxes, small_kinds = _place_small(rng, image_size, small_size, n_small, gap, margin,
                                                large_boxes, kinds)
        for b, k in zip(large_boxes, kinds):
            colour = (_LARGE_COLOURS[k] + rng.uniform(-0.08, 0.08, 3)).clip(0, 1)
            _draw(img, k, b, colour)
        for b, k in zip(small_boxes, small_kinds):
            colour = _CONTROL_COLOURS[k] if control else _SMALL_COLOUR
            x0, y0, x1, y1 = (int(v) for v in b)
            img[y0:y1, x0:x1] = colour
        images[i] = img
        boxes = np.concatenate([np.reshape(large_boxes, (-1, 4)), np.reshape(small_boxes, (-1, 4))])
        labels = np.array([k + 1 for k in kinds] + [k + 4 for k in small_kinds], np.int64)
        layouts.append((boxes, labels))
    return _shapes_set(images, layouts, first_image_id, "context_shapes")


def _shapes_set(images: np.ndarray, layouts: list, first_image_id: int,
                file_prefix: str) -> ContextShapes:
    """The :class:`ContextShapes` of drawn ``images`` (ndarray[N, H, W, 3]) and their
    ``layouts``, per image ``(boxes ndarray[K, 4], labels ndarray[K])``: the COCO dict (image
    ids from ``first_image_id``, file names ``<file_prefix>_<id>.png``, one annotation per box)
    and the boxes as float32."""
    size = images.shape[1]
    coco = dict(images=[], annotations=[], categories=[dict(c) for c in CATEGORIES])
    ann_id = 1
    for i, (boxes, labels) in enumerate(layouts):
        image_id = first_image_id + i
        coco["images"].append(dict(id=image_id, width=size, height=size,
                                   file_name=f"{file_prefix}_{image_id:06d}.png"))
        for b, c in zip(boxes, labels):
            w, h = float(b[2] - b[0]), float(b[3] - b[1])
            coco["annotations"].append(dict(id=ann_id, image_id=image_id, category_id=int(c),
                                            bbox=[float(b[0]), float(b[1]), w, h], area=w * h,
                                            iscrowd=0))
            ann_id += 1
    return ContextShapes(images, coco, [b.astype(np.float32) for b, _ in layouts],
                         [labels for _, labels in layouts])


def _place_large(rng, size, large_size, n_large, tries=200):
    n = int(rng.integers(n_large[0], n_large[1] + 1))
    kinds = [int(k) for k in rng.permutation(len(LARGE_KINDS))[:n]]     # different kinds
    boxes = []
    for _ in range(tries):
        if len(boxes) == n:
            break
        w, h = rng.integers(large_size[0], large_size[1] + 1, 2)
        x0, y0 = rng.integers(0, size - w + 1), rng.integers(0, size - h + 1)
        b = np.array([x0, y0, x0 + w, y0 + h], np.float64)
        if all(_box_gap(b, o) >= 4 for o in boxes):
            boxes.append(b)
    while len(boxes) < n_large[0]:     # pathological draw: fall back to a fixed 2-object layout
        s = large_size[0]
        boxes = [np.array([0, 0, s, s], np.float64), np.array([size - s, size - s, size, size],
                                                               np.float64)]
    kinds = kinds[:len(boxes)]
    return np.array(boxes).reshape(-1, 4), kinds


def _place_small(rng, size, s, n_small, gap, margin, large_boxes, kinds, tries=300):
    n = int(rng.integers(n_small[0], n_small[1] + 1))
    boxes, small_kinds = [], []
    for _ in range(tries):
        if len(boxes) == n:
            break
        j = int(rng.integers(len(large_boxes)))            # the intended nearest large object
        lb = large_boxes[j]
        g = rng.uniform(gap[0], gap[1])
        angle = rng.uniform(0, 2 * np.pi)
        # a point at distance g + s/2 from the large box, in direction `angle` from its centre
        cx, cy = (lb[0] + lb[2]) / 2, (lb[1] + lb[3]) / 2
        hw, hh = (lb[2] - lb[0]) / 2, (lb[3] - lb[1]) / 2
        ux, uy = np.cos(angle), np.sin(angle)
        t = min(hw / max(abs(ux), 1e-9), hh / max(abs(uy), 1e-9))           # to the box edge
        px, py = cx + (t + g + s / 2) * ux, cy + (t + g + s / 2) * uy
        x0, y0 = int(round(px - s / 2)), int(round(py - s / 2))
        if not (0 <= x0 and 0 <= y0 and x0 + s <= size and y0 + s <= size):
            continue
        b = np.array([x0, y0, x0 + s, y0 + s], np.float64)
        gaps = np.array([_box_gap(b, o) for o in large_boxes])
        if gaps.min() < gap[0] or gaps[j] > gap[1]:
            continue                                        # context inside the receptive field
        d = point_box_distance(np.array([[x0 + s / 2, y0 + s / 2]]), large_boxes)[0]
        order = np.argsort(d, kind="stable")
        if order[0] != j or (len(d) > 1 and d[order[1]] - d[order[0]] < margin):
            continue                                        # ambiguous: which one is nearest
        if any(_box_gap(b, o) < 2 for o in boxes):
            continue
        boxes.append(b)
        small_kinds.append(kinds[j])
    return np.array(boxes).reshape(-1, 4), small_kinds


def _outline(mask: np.ndarray) -> np.ndarray:
    """The pixels of ``mask`` with a 4-neighbour outside it (or on the array's edge)."""
    m = np.pad(mask, 1)
    inner = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    return mask & ~inner


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two (x1, y1, x2, y2) boxes."""
    iw = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    ih = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = iw * ih
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def make_crowded_shapes(n_images: int, *, seed: int = 0, image_size: int = 64,
                        size: tuple[int, int] = (14, 22), n_groups: tuple[int, int] = (2, 3),
                        group_size: tuple[int, int] = (2, 3),
                        pair_iou: tuple[float, float] = (0.3, 0.7), noise: float = 0.08,
                        first_image_id: int = 1) -> ContextShapes:
    """Crowded ContextShapes: groups of touching and overlapping objects of one kind.

    The duplicate-removal experiment of RN (Table 4) needs scenes where one IoU threshold cannot
    serve: true objects of the same class overlap, so greedy NMS with a low :math:`N_t` deletes
    real neighbours, and with a high one keeps the duplicate detections of each object. Each
    image holds ``n_groups`` groups, each of ``group_size`` objects of one large kind
    (``player``, ``table``, ``tree``, drawn as in :func:`make_context_shapes`, with a dark
    outline so that overlapping objects of one colour stay separable). Inside a group every
    object overlaps an earlier one with an IoU drawn in ``pair_iou`` and no pair exceeds its
    upper end; groups are at least 4 px apart. Later objects are drawn over earlier ones. There
    are no small (context-decided) objects; the categories are those of ContextShapes.

    Args:
        n_images (int): number of images.
        seed (int): seed of the ``numpy.random.Generator``. Default: 0.
        image_size (int): images are square. Default: 64.
        size (tuple[int, int]): min and max side of an object, px. Default: (14, 22).
        n_groups (tuple[int, int]): min and max groups per image (fewer if there is no room).
            Default: (2, 3).
        group_size (tuple[int, int]): min and max objects per group (fewer if there is no room).
            Default: (2, 3).
        pair_iou (tuple[float, float]): IoU range of an object with the one it was placed against;
            also the most any two objects of a group overlap. Default: (0.3, 0.7).
        noise (float): standard deviation of the Gaussian background around grey 0.45.
            Default: 0.08.
        first_image_id (int): COCO id of the first image. Default: 1.

    Returns:
        ContextShapes

    Example: ``make_crowded_shapes(1, seed=0).boxes[0]`` has 4-9 boxes, and within a group
    every box overlaps another of its group with an IoU in [0.3, 0.7].
    """
    for name, v in (("n_images", n_images), ("image_size", image_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValueError(f"{name} must be a positive int; got {v!r}")
    if not 0 < size[0] <= size[1] < image_size:
        raise ValueError(f"size must be (lo, hi) with 0 < lo <= hi < image_size; got {size}")
    if not 1 <= n_groups[0] <= n_groups[1] <= len(LARGE_KINDS):
        raise ValueError(f"n_groups must be (lo, hi) with 1 <= lo <= hi <= 3; got {n_groups}")
    if not 1 <= group_size[0] <= group_size[1]:
        raise ValueError(f"group_size must be (lo, hi) with 1 <= lo <= hi; got {group_size}")
    if not 0 < pair_iou[0] <= pair_iou[1] < 1:
        raise ValueError(f"pair_iou must be (lo, hi) with 0 < lo <= hi < 1; got {pair_iou}")
    rng = np.random.default_rng(seed)
    images = np.empty((n_images, image_size, image_size, 3), np.float32)
    layouts = []
    for i in range(n_images):
        img = (0.45 + noise * rng.standard_normal((image_size, image_size, 3))).clip(0, 1)
        groups = _place_groups(rng, image_size, size, n_groups, group_size, pair_iou)
        boxes, labels = [], []
        for kind, members in groups:
            for b in members:
                colour = (_LARGE_COLOURS[kind] + rng.uniform(-0.08, 0.08, 3)).clip(0, 1)
                x0, y0, x1, y1 = (int(v) for v in b)
                patch = np.zeros((y1 - y0, x1 - x0, 3), np.float32)
                _draw(patch, kind, np.array([0, 0, x1 - x0, y1 - y0]), colour)
                mask = patch.any(-1)
                img[y0:y1, x0:x1][mask] = colour
                img[y0:y1, x0:x1][_outline(mask)] = 0.3 * colour     # the dark outline
                boxes.append(b)
                labels.append(kind + 1)
        images[i] = img
        boxes = np.reshape(np.array(boxes, np.float64), (-1, 4))
        layouts.append((boxes, np.array(labels, np.int64)))
    return _shapes_set(images, layouts, first_image_id, "crowded_shapes")


def _place_groups(rng, image_size, size, n_groups, group_size, pair_iou, tries=200):
    n = int(rng.integers(n_groups[0], n_groups[1] + 1))
    kinds = [int(k) for k in rng.permutation(len(LARGE_KINDS))[:n]]
    placed = []                                       # (kind, [boxes])
    for kind in kinds:
        others = [b for _, members in placed for b in members]
        members = []
        k = int(rng.integers(group_size[0], group_size[1] + 1))
        for _ in range(tries * k):
            if len(members) == k:
                break
            w, h = (int(v) for v in rng.integers(size[0], size[1] + 1, 2))
            if members:                               # overlap a member of the group
                a = members[int(rng.integers(len(members)))]
                cx = rng.uniform(a[0] - w + 1, a[2] - 1)
                cy = rng.uniform(a[1] - h + 1, a[3] - 1)
                x0, y0 = int(round(cx)), int(round(cy))
            else:
                x0 = int(rng.integers(0, image_size - w + 1))
                y0 = int(rng.integers(0, image_size - h + 1))
            b = np.array([x0, y0, x0 + w, y0 + h], np.float64)
            if x0 < 0 or y0 < 0 or x0 + w > image_size or y0 + h > image_size:
                continue
            if any(_box_gap(b, o) < 4 for o in others):
                continue                              # groups stay apart
            if members:
                ious = [_iou(b, m) for m in members]
                if not pair_iou[0] <= _iou(b, a) <= pair_iou[1] or max(ious) > pair_iou[1]:
                    continue
            members.append(b)
        if members:
            placed.append((kind, members))
    return placed
