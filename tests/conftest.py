"""Fixtures shared across the test folders."""

import json

import numpy as np
import pytest
from PIL import Image

from relnotes.data.context_masks import make_context_masks


def polygon_square(x, y, s):
    return [[x, y, x + s, y, x + s, y + s, x, y + s]]


@pytest.fixture(scope="module")
def tiny_coco_root(tmp_path_factory):
    """val2017 with 4 images (PNG, different sizes), category ids with gaps (1, 18, 90), a polygon,
    an RLE mask, a crowd region and a degenerate box; image 4 has no usable object."""
    root = tmp_path_factory.mktemp("coco")
    (root / "annotations").mkdir()
    (root / "val2017").mkdir()
    data = make_context_masks(3, seed=0)
    images, anns = [], []
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate([(64, 64), (80, 48), (64, 64), (40, 40)], start=1):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            root / "val2017" / f"{i:012d}.png")
        images.append(dict(id=i, width=w, height=h, file_name=f"{i:012d}.png"))
    anns.append(dict(id=1, image_id=1, category_id=18, iscrowd=0, bbox=[10, 12, 8, 8], area=64.0,
                     segmentation=polygon_square(10, 12, 8)))
    a = data.coco["annotations"][0]
    anns.append(dict(id=2, image_id=1, category_id=90, iscrowd=0, bbox=a["bbox"], area=a["area"],
                     segmentation=a["segmentation"]))
    anns.append(dict(id=3, image_id=2, category_id=1, iscrowd=0, bbox=[5, 5, 20, 10], area=200.0,
                     segmentation=polygon_square(5, 5, 10)))
    anns.append(dict(id=4, image_id=2, category_id=1, iscrowd=1, bbox=[40, 20, 10, 10], area=100.0,
                     segmentation=dict(size=[48, 80], counts=[48 * 40 + 20, 10] + [38, 10] * 9
                                       + [48 * 80 - (48 * 40 + 20) - 10 - 480 + 10])))
    anns.append(dict(id=5, image_id=3, category_id=18, iscrowd=0, bbox=[30, 30, 0.5, 9], area=4.0,
                     segmentation=polygon_square(30, 30, 1)))
    anns.append(dict(id=6, image_id=3, category_id=1, iscrowd=0, bbox=[2, 40, 16, 16], area=256.0,
                     segmentation=polygon_square(2, 40, 16)))
    cats = [dict(id=c, name=n, supercategory="x") for c, n in [(1, "person"), (18, "dog"),
                                                                (90, "toothbrush")]]
    (root / "annotations" / "instances_val2017.json").write_text(
        json.dumps(dict(images=images, annotations=anns, categories=cats)))
    return root
