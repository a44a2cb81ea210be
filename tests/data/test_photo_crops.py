import pytest
import torch

from relnotes.data.photo_crops import PHOTOS, load_photos, photo_crops


@pytest.fixture(scope="module")
def photos():
    return load_photos(PHOTOS[:3], short_side=64)


def test_photos_are_grey_in_unit_range_with_the_short_side(photos):
    assert len(photos) == 3
    for p in photos:
        assert p.dim() == 2 and min(p.shape) == 64
        assert 0 <= p.min().item() and p.max().item() <= 1
    assert photos[0].shape == (64, 64)              # astronaut is square
    assert photos[2].shape == (64, 96)              # chelsea is 300 x 451 -> 64 x 96


def test_crops_are_cut_from_the_labelled_photo(photos):
    ds, off = photo_crops(photos, 9, crop=16, seed=0, return_offsets=True)
    images, labels = ds.tensors
    assert images.shape == (9, 1, 16, 16) and labels.tolist() == [0, 1, 2] * 3
    for i in range(9):
        r, c = off[i].tolist()
        assert torch.equal(images[i, 0], photos[labels[i]][r:r + 16, c:c + 16])


def test_train_and_test_regions_do_not_overlap(photos):
    _, tr = photo_crops(photos, 60, crop=16, split="train", seed=0, return_offsets=True)
    _, te = photo_crops(photos, 60, crop=16, split="test", seed=1, return_offsets=True)
    assert (tr[:, 0] + 16 <= 48).all()              # train crops end above row 64 - 64 // 4
    assert (te[:, 0] >= 48).all()


def test_too_small_and_bad_split(photos):
    with pytest.raises(ValueError, match="too small"):
        photo_crops(photos, 3, crop=32, split="test")
    with pytest.raises(ValueError, match="split"):
        photo_crops(photos, 3, split="val")
    with pytest.raises(ValueError, match="no loader"):
        load_photos(("not_a_photo",))
