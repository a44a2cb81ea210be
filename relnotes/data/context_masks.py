r"""ContextMasks: a synthetic COCO-format instance-segmentation set where a far-away flag decides
the class of every object.

**Designed to show an effect**, and labelled so wherever it is used. GCNet's COCO table trains
Mask R-CNN with NL, SE or GC blocks in the backbone; the blocks carry *global* context to every
position. Here, by construction, the class of every object depends on a cue that sits far from it:

- **Objects**: one to three white shapes per image, ``disc``, ``square`` or ``triangle`` (apex
  up), with sides of ``object_size`` px, not touching each other. Each has an exact pixel mask.
- **Flag**: in half of the images (balanced, then shuffled) a pure-red ``flag_size`` square whose
  edge-to-edge distance to every object is at least ``flag_distance`` px.
- **Distractors**: ``n_distractors`` squares of the flag's size in other colours (green, blue,
  yellow, magenta, cyan; one more when the flag is absent, so that counting coloured squares
  does not give the flag away), away from the objects.
- **Class** = shape and scene: ``disc/plain``, ``square/plain``, ``triangle/plain`` without the
  flag, ``disc/flagged``, ``square/flagged``, ``triangle/flagged`` with it (category ids 1-6).
  An object on its own shows its shape, not its scene: a detector whose RoI features do not know
  whether the image has a flag must give both scene classes about the same score, which costs it
  about half of every class's AP; its boxes and masks can still be perfect.
- **Control** (``control=True``): the same layouts, but the objects of flagged images are drawn
  in light cyan, so the class is visible on the object itself and context should not matter.

Everything is drawn with NumPy from one ``numpy.random.Generator`` seeded with ``seed``, so a set
is a pure function of its arguments. A mask covers the pixels painted for its object; the box is
the tight box of the mask (COCO ``[x, y, w, h]`` with ``x + w`` one past the last column), and
the segmentation is the mask as compressed RLE (:func:`relnotes.data.coco_eval.encode_masks`),
so pycocotools evaluates ``bbox`` and ``segm`` on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from .coco_eval import encode_masks
from .context_shapes import ContextShapesDataset

__all__ = ["SHAPES", "SCENES", "MASK_CATEGORIES", "ContextMasks", "make_context_masks"]

SHAPES = ("disc", "square", "triangle")
SCENES = ("plain", "flagged")
#: category id = 1 + shape + 3 * flag
MASK_CATEGORIES = [dict(id=1 + s + 3 * f, name=f"{SHAPES[s]}/{SCENES[f]}", supercategory=SCENES[f])
                   for f in range(2) for s in range(3)]

_OBJECT_COLOUR = np.array([0.95, 0.95, 0.95])
_CONTROL_COLOUR = np.array([0.55, 0.95, 0.95])        # flagged-scene objects in the control set
_FLAG_COLOUR = np.array([1.0, 0.0, 0.0])
_DISTRACTOR_COLOURS = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0],
                                [1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])


def shape_mask(shape: int, size: int) -> np.ndarray:
    """The ``size`` x ``size`` boolean mask of shape 0 (disc), 1 (square) or 2 (triangle).

    Example: ``shape_mask(1, 3)`` is all True; the disc and the triangle touch all four sides of
    their square, so the tight box of every mask is the full square.
    """
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    if shape == 0:
        r = size / 2
        return (xx - r) ** 2 + (yy - r) ** 2 <= r * r + 0.5
    if shape == 1:
        return np.ones((size, size), bool)
    if shape == 2:
        return np.abs(xx - size / 2) <= (size / 2) * yy / size + 0.5
    raise ValueError(f"shape must be 0 (disc), 1 (square) or 2 (triangle); got {shape!r}")


def _gap(a, b) -> int:
    """Chebyshev edge-to-edge gap of two (x1, y1, x2, y2) boxes (0 when they touch or overlap)."""
    return max(b[0] - a[2], a[0] - b[2], b[1] - a[3], a[1] - b[3], 0)


@dataclass
class ContextMasks:
    """A generated set: ``images`` (ndarray[N, H, W, 3], float32 in [0, 1]) and ``coco``, the
    COCO-format dict (``images``, ``annotations`` with RLE ``segmentation``, ``categories``).

    ``boxes``, ``labels``, ``masks`` hold per image ndarray[K, 4] (x1, y1, x2, y2),
    ndarray[K] (category ids) and ndarray[K, H, W] (uint8); ``flags`` is ndarray[N] (1: the flag is
    drawn). :meth:`torch_dataset` is the view torchvision's Mask R-CNN trains on.
    """

    images: np.ndarray
    coco: dict
    flags: np.ndarray
    boxes: list = field(repr=False)
    labels: list = field(repr=False)
    masks: list = field(repr=False)

    def __len__(self) -> int:
        return len(self.images)

    def torch_dataset(self) -> "ContextMasksDataset":
        return ContextMasksDataset(self)


class ContextMasksDataset(ContextShapesDataset):
    """Item ``i``: ``(image, target)``, ``image`` Tensor[3, H, W] in [0, 1] and ``target`` the
    dict of torchvision's Mask R-CNN: ``boxes`` Tensor[K, 4] (x1, y1, x2, y2, float32),
    ``labels`` Tensor[K] (int64 category ids), ``image_id``, as for ContextShapes, and ``masks``
    Tensor[K, H, W] (uint8)."""

    def __getitem__(self, i: int):
        image, target = super().__getitem__(i)
        target["masks"] = torch.from_numpy(self.shapes.masks[i])
        return image, target


def make_context_masks(n_images: int, *, seed: int = 0, image_size: int = 64,
                       object_size: tuple[int, int] = (12, 20), n_objects: tuple[int, int] = (1, 3),
                       flag_size: int = 4, flag_distance: int = 16, n_distractors: int = 2,
                       noise: float = 0.08, control: bool = False,
                       first_image_id: int = 1) -> ContextMasks:
    """Generate a ContextMasks set (see the module docstring).

    Args:
        n_images (int): number of images; half of them (rounded down) have the flag.
        seed (int): seed of the ``numpy.random.Generator``. Default: 0.
        image_size (int): images are square, >= 32 px. Default: 64.
        object_size (tuple[int, int]): min and max side of an object, px. Default: (12, 20).
        n_objects (tuple[int, int]): min and max objects per image (fewer if the layout has no
            room, never fewer than 1). Default: (1, 3).
        flag_size (int): side of the flag and of the distractors, px. Default: 4.
        flag_distance (int): minimum Chebyshev edge-to-edge distance from the flag to every
            object, px. Default: 16.
        n_distractors (int): coloured squares besides the flag (one more without it). Default: 2.
        noise (float): std of the Gaussian background around grey 0.45. Default: 0.08.
        control (bool): draw the objects of flagged images in another colour. Default: False.
        first_image_id (int): COCO id of the first image. Default: 1.

    Returns:
        ContextMasks
    """
    for name, v in (("n_images", n_images), ("flag_size", flag_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int; got {v!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 32:
        raise ValueError(f"image_size must be an int >= 32; got {image_size!r}")
    if not 1 <= object_size[0] <= object_size[1] <= image_size // 2:
        raise ValueError(f"object_size must be (lo, hi) with 1 <= lo <= hi <= image_size // 2 = "
                         f"{image_size // 2}; got {object_size}")
    if not 1 <= n_objects[0] <= n_objects[1]:
        raise ValueError(f"n_objects must be (lo, hi) with 1 <= lo <= hi; got {n_objects}")
    if not 0 <= flag_distance <= image_size - object_size[1] - flag_size:
        raise ValueError(f"flag_distance must be in [0, image_size - object_size[1] - flag_size = "
                         f"{image_size - object_size[1] - flag_size}] (farther is not always "
                         f"possible); got {flag_distance}")
    if isinstance(n_distractors, bool) or not isinstance(n_distractors, int) \
            or not 0 <= n_distractors <= 8:
        raise ValueError(f"n_distractors must be an int in [0, 8]; got {n_distractors!r}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0; got {noise}")
    rng = np.random.default_rng(seed)
    flags = rng.permutation(np.arange(n_images) % 2)
    S = image_size
    images = np.empty((n_images, S, S, 3), np.float32)
    coco = dict(images=[], annotations=[], categories=[dict(c) for c in MASK_CATEGORIES])
    all_boxes, all_labels, all_masks = [], [], []
    ann_id = 1
    for i in range(n_images):
        img = (0.45 + noise * rng.standard_normal((S, S, 3))).clip(0, 1)
        flag = int(flags[i])
        for _ in range(100):             # a layout with room for the flag far from every object
            boxes, shapes = _place_objects(rng, S, object_size, n_objects)
            spot = _place_square(rng, S, flag_size, boxes, flag_distance) if flag else None
            if not flag or spot is not None:
                break
        else:
            raise RuntimeError("could not place the flag; lower flag_distance or object_size")
        masks = np.zeros((len(boxes), S, S), np.uint8)
        colour = _CONTROL_COLOUR if control and flag else _OBJECT_COLOUR
        for k, (b, s) in enumerate(zip(boxes, shapes)):
            m = shape_mask(s, b[2] - b[0])
            masks[k, b[1]:b[3], b[0]:b[2]] = m
            img[b[1]:b[3], b[0]:b[2]][m] = (colour + rng.uniform(-0.04, 0.04, 3)).clip(0, 1)
        squares = list(boxes)
        if spot is not None:
            img[spot[1]:spot[3], spot[0]:spot[2]] = _FLAG_COLOUR
            squares.append(spot)
        for _ in range(n_distractors + 1 - flag):
            d = _place_square(rng, S, flag_size, squares, 2)
            if d is not None:
                img[d[1]:d[3], d[0]:d[2]] = _DISTRACTOR_COLOURS[rng.integers(len(_DISTRACTOR_COLOURS))]
                squares.append(d)
        images[i] = img
        labels = np.array([1 + s + 3 * flag for s in shapes], np.int64)
        # tight boxes of the masks (the disc and triangle fill their square's extent)
        tight = np.array([_mask_box(m) for m in masks], np.float32).reshape(-1, 4)
        image_id = first_image_id + i
        coco["images"].append(dict(id=image_id, width=S, height=S,
                                   file_name=f"context_masks_{image_id:06d}.png"))
        for b, c, rle, m in zip(tight, labels, encode_masks(masks), masks):
            coco["annotations"].append(dict(
                id=ann_id, image_id=image_id, category_id=int(c), iscrowd=0,
                bbox=[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
                area=float(m.sum()), segmentation=rle))
            ann_id += 1
        all_boxes.append(tight)
        all_labels.append(labels)
        all_masks.append(masks)
    return ContextMasks(images, coco, flags.astype(np.int64), all_boxes, all_labels, all_masks)


def _mask_box(m: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(m)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _place_objects(rng, S, object_size, n_objects, tries=200):
    n = int(rng.integers(n_objects[0], n_objects[1] + 1))
    boxes, shapes = [], []
    for _ in range(tries):
        if len(boxes) == n:
            break
        s = int(rng.integers(object_size[0], object_size[1] + 1))
        x0, y0 = (int(v) for v in rng.integers(0, S - s + 1, 2))
        b = (x0, y0, x0 + s, y0 + s)
        if all(_gap(b, o) >= 2 for o in boxes):
            boxes.append(b)
            shapes.append(int(rng.integers(len(SHAPES))))
    return boxes, shapes


def _place_square(rng, S, k, occupied, distance, tries=200):
    """A k x k square at Chebyshev gap >= ``distance`` from every occupied box, or None."""
    for _ in range(tries):
        x0, y0 = (int(v) for v in rng.integers(0, S - k + 1, 2))
        b = (x0, y0, x0 + k, y0 + k)
        if all(_gap(b, o) >= distance for o in occupied):
            return b
    return None
