import importlib.util

import numpy as np
import pytest

from relnotes.data import deepforest_trees as dt
from relnotes.data.deepforest_trees import (DEEPFOREST_IMAGES, deepforest_data_dir,
                                            load_deepforest_trees, read_voc_boxes)

VOC = """<annotation><filename>x.png</filename><size><width>40</width><height>30</height></size>
<object><name>Tree</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>11</xmax><ymax>12</ymax>
</bndbox></object>
<object><name>Dead</name><bndbox><xmin>20</xmin><ymin>5</ymin><xmax>35</xmax><ymax>25</ymax>
</bndbox></object></annotation>"""


def test_read_voc_boxes(tmp_path):
    p = tmp_path / "a.xml"
    p.write_text(VOC)
    np.testing.assert_array_equal(read_voc_boxes(p), [[1, 2, 11, 12], [20, 5, 35, 25]])
    p.write_text(VOC.replace("<xmax>11</xmax>", "<xmax>1</xmax>"))
    with pytest.raises(ValueError, match="xmax <= xmin"):
        read_voc_boxes(p)


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(dt.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install --no-deps deepforest==2\.1\.0"):
        deepforest_data_dir()
    with pytest.raises(ModuleNotFoundError, match="deepforest"):
        load_deepforest_trees()


needs_deepforest = pytest.mark.skipif(importlib.util.find_spec("deepforest") is None,
                                      reason="deepforest is not installed (make env installs it)")


@needs_deepforest
def test_951_boxes_in_four_images():
    root = deepforest_data_dir()
    counts = {s: len(read_voc_boxes(root / f"{s}.xml")) for s in DEEPFOREST_IMAGES}
    assert counts == {"OSBS_029": 61, "SOAP_061": 37,
                      "2019_YELL_2_541000_4977000_image_crop": 279,
                      "2019_YELL_2_528000_4978000_image_crop2": 574}
    assert sum(counts.values()) == 951


@needs_deepforest
def test_tiles_are_coco_and_boxes_inside():
    d = load_deepforest_trees(("OSBS_029",), tile=100, scale=2)
    # 400 px / 2 = 200 px: a 2 x 2 grid of 100 px tiles
    assert d.images.shape == (4, 100, 100, 3)
    assert [im["origin"] for im in d.coco["images"]] == [[0, 0], [100, 0], [0, 100], [100, 100]]
    assert len(d.coco["annotations"]) == sum(len(b) for b in d.boxes)
    for b in d.boxes:
        assert ((b >= 0) & (b <= 100)).all() and (b[:, 2:] > b[:, :2]).all()
    # every tree whose centre falls in a tile is kept (more than half of it is inside, mostly)
    assert 61 - 10 <= len(d.coco["annotations"]) <= 61 + 10
    image, target = d.torch_dataset()[0]
    assert image.shape == (3, 100, 100) and target["labels"].eq(1).all()


@needs_deepforest
def test_last_tile_is_shifted_inwards_and_bad_arguments():
    d = load_deepforest_trees(("OSBS_029",), tile=150, scale=2)     # 200 px: starts 0 and 50
    assert [im["origin"] for im in d.coco["images"]] == [[0, 0], [50, 0], [0, 50], [50, 50]]
    with pytest.raises(ValueError, match="images must be"):
        load_deepforest_trees(("nope",))
    with pytest.raises(ValueError, match="tile must be a positive int"):
        load_deepforest_trees(tile=0)
    with pytest.raises(ValueError, match="larger than image"):
        load_deepforest_trees(("OSBS_029",), tile=300, scale=2)
    with pytest.raises(ValueError, match="min_visible"):
        load_deepforest_trees(min_visible=0)


def test_with_flips():
    from relnotes.data.context_shapes import make_context_shapes
    from relnotes.data.deepforest_trees import with_flips

    d = make_context_shapes(2, seed=0, image_size=32, large_size=(8, 10), n_small=(0, 0))
    f = with_flips(d)
    assert len(f) == 8 and len({im["id"] for im in f.coco["images"]}) == 8
    np.testing.assert_array_equal(f.images[2], d.images[0][:, ::-1])        # left-right
    np.testing.assert_array_equal(f.images[4], d.images[0][::-1])           # up-down
    b, fb = d.boxes[0], f.boxes[2]
    np.testing.assert_array_equal(fb[:, 0], 32 - b[:, 2])
    np.testing.assert_array_equal(fb[:, [1, 3]], b[:, [1, 3]])
    assert len(f.coco["annotations"]) == 4 * len(d.coco["annotations"])
    # the flipped box covers the flipped pixels: the object's colour is inside it
    x0, y0, x1, y1 = (int(v) for v in fb[0])
    np.testing.assert_array_equal(f.images[2][y0:y1, x0:x1], d.images[0][y0:y1, 32 - x1:32 - x0][:, ::-1])


def test_with_flips_transpose():
    from relnotes.data.context_shapes import make_context_shapes
    from relnotes.data.deepforest_trees import with_flips

    d = make_context_shapes(2, seed=0, image_size=32, large_size=(8, 10), n_small=(0, 0))
    f = with_flips(d, transpose=True)
    assert len(f) == 16 and len({im["id"] for im in f.coco["images"]}) == 16
    assert len(f.coco["annotations"]) == 8 * len(d.coco["annotations"])
    np.testing.assert_array_equal(f.images[:8], with_flips(d).images)      # the four flips first
    np.testing.assert_array_equal(f.images[8], d.images[0].transpose(1, 0, 2))
    b, tb = d.boxes[0], f.boxes[8]
    np.testing.assert_array_equal(tb, b[:, [1, 0, 3, 2]])
    # the transposed box covers the transposed pixels
    x0, y0, x1, y1 = (int(v) for v in tb[0])
    np.testing.assert_array_equal(f.images[8][y0:y1, x0:x1],
                                  d.images[0][x0:x1, y0:y1].transpose(1, 0, 2))
    # transposed left-right flip = a 90-degree rotation
    np.testing.assert_array_equal(f.images[10], np.rot90(d.images[0], 1))
    assert [im["transpose"] for im in f.coco["images"]] == [False] * 8 + [True] * 8
    with pytest.raises(ValueError, match="transpose needs square images; got 32 x 16"):
        with_flips(type(d)(d.images[:, :16], d.coco, d.boxes, d.labels), transpose=True)
