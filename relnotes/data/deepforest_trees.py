r"""Real aerial images with tree crowns: the sample data of the ``deepforest`` package, as COCO.

``deepforest`` (PyPI, MIT; imagery from NEON) ships four annotated RGB images in
``deepforest/data/``: ``OSBS_029`` and ``SOAP_061`` (400 x 400 px, 61 and 37 boxes) and two crops
of a Yellowstone tile, ``2019_YELL_2_541000_4977000_image_crop`` (279 boxes) and
``2019_YELL_2_528000_4978000_image_crop2`` (574 boxes): 951 tree boxes in Pascal-VOC XML, one
class (``SOAP_061`` labels its trees ``Alive`` / ``Dead``; here every box is a ``tree``). Crowns
are dense and touch each other, which makes duplicate removal hard for a rule: two neighbouring
trees overlap as much as two detections of one tree.

This module only reads the files, without importing the package (whose dependencies are heavy):
install it with ``pip install --no-deps deepforest==2.1.0`` (the Makefile's ``env`` target does).

:func:`load_deepforest_trees` downscales the images (``scale``), cuts them into square tiles of
``tile`` px on a regular grid (the last row and column are shifted inwards so that they fit) and
keeps in each tile the boxes of which at least ``min_visible`` of the area is inside, clipped to
the tile. The result is a :class:`~relnotes.data.ContextShapes`, the generic container of the
chapter (images, a COCO dict, per-image boxes and labels, :meth:`torch_dataset`).
"""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import torch

from .context_shapes import ContextShapes

__all__ = ["DEEPFOREST_IMAGES", "deepforest_data_dir", "read_voc_boxes", "load_deepforest_trees",
           "with_flips"]

#: The annotated images of deepforest 2.1.0 (file stems in ``deepforest/data``).
DEEPFOREST_IMAGES = ("OSBS_029", "SOAP_061", "2019_YELL_2_541000_4977000_image_crop",
                     "2019_YELL_2_528000_4978000_image_crop2")
INSTALL_HINT = "pip install --no-deps deepforest==2.1.0"


def deepforest_data_dir() -> Path:
    """The ``data`` folder of the installed ``deepforest`` package, found without importing it.

    Raises:
        ModuleNotFoundError: the package is not installed (the message says how to install it).
    """
    spec = importlib.util.find_spec("deepforest")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"the deepforest package is not installed; its sample images are "
                                  f"the real data of this experiment: `{INSTALL_HINT}` (the "
                                  f"Makefile's env target does it)")
    path = Path(spec.origin).parent / "data"
    if not path.is_dir():
        raise ModuleNotFoundError(f"deepforest is installed but has no data folder at {path}; "
                                  f"reinstall it: `{INSTALL_HINT}`")
    return path


def read_voc_boxes(xml_path: str | Path) -> np.ndarray:
    """All boxes of a Pascal-VOC annotation file: ndarray[K, 4] float64 (xmin, ymin, xmax, ymax).

    Raises:
        ValueError: a box with xmax <= xmin or ymax <= ymin, or an object without ``bndbox``.
    """
    root = ET.parse(xml_path).getroot()
    boxes = []
    for obj in root.iter("object"):
        bb = obj.find("bndbox")
        if bb is None:
            raise ValueError(f"{xml_path}: an object has no bndbox")
        b = [float(bb.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax")]
        if not (b[2] > b[0] and b[3] > b[1]):
            raise ValueError(f"{xml_path}: box {b} has xmax <= xmin or ymax <= ymin")
        boxes.append(b)
    return np.array(boxes, np.float64).reshape(-1, 4)


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), np.float32) / 255.0


def _downscale(image: np.ndarray, scale: int) -> np.ndarray:
    """Average pooling by ``scale`` (the image is cropped to a multiple of it)."""
    if scale == 1:
        return image
    h, w = image.shape[0] // scale * scale, image.shape[1] // scale * scale
    x = torch.from_numpy(np.ascontiguousarray(image[:h, :w])).permute(2, 0, 1)[None]
    return torch.nn.functional.avg_pool2d(x, scale)[0].permute(1, 2, 0).numpy()


def _grid(length: int, tile: int) -> list[int]:
    starts = list(range(0, max(length - tile, 0) + 1, tile))
    if starts[-1] + tile < length:
        starts.append(length - tile)        # the last tile is shifted inwards to fit
    return starts


def load_deepforest_trees(images: tuple[str, ...] = DEEPFOREST_IMAGES, *, tile: int = 128,
                          scale: int = 2, min_visible: float = 0.5,
                          first_image_id: int = 1) -> ContextShapes:
    """Tiles of deepforest's annotated images, COCO format, one class ``tree`` (id 1).

    Args:
        images (tuple of str): file stems from :data:`DEEPFOREST_IMAGES`. Default: all four.
        tile (int): side of a square tile after downscaling, px. Default: 128.
        scale (int): integer downscaling factor (average pooling) before tiling. Default: 2.
        min_visible (float): keep a box in a tile when at least this fraction of its area is
            inside (then clip it). Default: 0.5.
        first_image_id (int): COCO id of the first tile. Default: 1.

    Returns:
        ContextShapes: ``images`` ndarray[T, tile, tile, 3] in [0, 1]; each COCO image entry
        also names its ``source`` image and the tile's ``origin`` (x, y) in downscaled pixels.

    Raises:
        ModuleNotFoundError: deepforest is missing. ValueError: a bad argument.
    """
    unknown = [s for s in images if s not in DEEPFOREST_IMAGES]
    if unknown or not images:
        raise ValueError(f"images must be a non-empty tuple of {DEEPFOREST_IMAGES}; got {images}")
    for name, v in (("tile", tile), ("scale", scale)):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValueError(f"{name} must be a positive int; got {v!r}")
    if not 0 < min_visible <= 1:
        raise ValueError(f"min_visible must be in (0, 1]; got {min_visible}")
    root = deepforest_data_dir()
    tiles, all_boxes, all_labels = [], [], []
    coco = dict(images=[], annotations=[],
                categories=[dict(id=1, name="tree", supercategory="tree")])
    image_id, ann_id = first_image_id, 1
    for stem in images:
        image = _downscale(_read_image(root / f"{stem}.png"), scale)
        boxes = read_voc_boxes(root / f"{stem}.xml") / scale
        h, w = image.shape[:2]
        if h < tile or w < tile:
            raise ValueError(f"tile ({tile}) is larger than image {stem} after downscaling by "
                             f"{scale} ({w} x {h})")
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        for y0 in _grid(h, tile):
            for x0 in _grid(w, tile):
                clipped = np.clip(boxes - [x0, y0, x0, y0], 0, tile)
                inside = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
                b = clipped[inside >= min_visible * area].astype(np.float32)
                tiles.append(image[y0:y0 + tile, x0:x0 + tile])
                all_boxes.append(b)
                all_labels.append(np.ones(len(b), np.int64))
                coco["images"].append(dict(id=image_id, width=tile, height=tile, source=stem,
                                           origin=[x0, y0],
                                           file_name=f"{stem}_{x0}_{y0}.png"))
                for bb in b:
                    bw, bh = float(bb[2] - bb[0]), float(bb[3] - bb[1])
                    coco["annotations"].append(dict(id=ann_id, image_id=image_id, category_id=1,
                                                    bbox=[float(bb[0]), float(bb[1]), bw, bh],
                                                    area=bw * bh, iscrowd=0))
                    ann_id += 1
                image_id += 1
    return ContextShapes(np.stack(tiles).astype(np.float32), coco, all_boxes, all_labels)


def with_flips(data: ContextShapes, *, transpose: bool = False) -> ContextShapes:
    """``data`` and its horizontal, vertical and double flips (4x the images; aerial views have
    no up or left, so every flip is a valid image). With ``transpose``, also the transposes of
    these four (x and y swapped): 8x the images, the eight symmetries of the square, i.e. every
    90-degree rotation with and without a flip. New COCO ids follow the last one of ``data``.

    Args:
        data (ContextShapes): square or rectangular images (a transpose swaps width and height).
        transpose (bool): add the transposed copies. Default: False.

    Examples: a box (1, 2, 5, 6) in a 10 px tile becomes (5, 2, 9, 6) flipped left-right, and
    (2, 1, 6, 5) transposed.

    Raises:
        ValueError: ``transpose`` with images that are not square (the copies could not be
            stacked).
    """
    if transpose and len(data) and data.images.shape[1] != data.images.shape[2]:
        raise ValueError(f"transpose needs square images; got {data.images.shape[2]} x "
                         f"{data.images.shape[1]} px")
    images, boxes, labels = [], [], []
    coco = dict(images=[], annotations=[], categories=[dict(c) for c in data.coco["categories"]])
    image_id = max(im["id"] for im in data.coco["images"]) + 1 if len(data) else 1
    ann_id = 1
    variants = [(fx, fy, False) for fx, fy in ((False, False), (True, False), (False, True),
                                               (True, True))]
    if transpose:
        variants += [(fx, fy, True) for fx, fy, _ in variants]
    for flip_x, flip_y, swap in variants:
        for k, entry in enumerate(data.coco["images"]):
            im, b = data.images[k], data.boxes[k].copy()
            w, h = entry["width"], entry["height"]
            if flip_x:
                im, b[:, [0, 2]] = im[:, ::-1], w - b[:, [2, 0]]
            if flip_y:
                im, b[:, [1, 3]] = im[::-1], h - b[:, [3, 1]]
            if swap:
                im, b, w, h = im.transpose(1, 0, 2), b[:, [1, 0, 3, 2]], h, w
            original = not (flip_x or flip_y or swap)
            new_id = entry["id"] if original else image_id
            image_id += int(not original)
            images.append(np.ascontiguousarray(im))
            boxes.append(np.ascontiguousarray(b))
            labels.append(data.labels[k].copy())
            coco["images"].append(dict(entry, id=new_id, width=w, height=h, flip=[flip_x, flip_y],
                                       transpose=swap))
            for bb, c in zip(b, data.labels[k]):
                bw, bh = float(bb[2] - bb[0]), float(bb[3] - bb[1])
                coco["annotations"].append(dict(id=ann_id, image_id=new_id, category_id=int(c),
                                                bbox=[float(bb[0]), float(bb[1]), bw, bh],
                                                area=bw * bh, iscrowd=0))
                ann_id += 1
    return ContextShapes(np.stack(images), coco, boxes, labels)
