import pytest
import torch

from relnotes.data import load_mnist5k, mnist5k_path


def test_split_shapes_balance_and_range():
    x, y = load_mnist5k("train")
    xt, yt = load_mnist5k("test")
    assert x.shape == (4000, 1, 28, 28) and xt.shape == (1000, 1, 28, 28)
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.bincount(y).tolist() == [400] * 10
    assert torch.bincount(yt).tolist() == [100] * 10
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0


def test_split_is_fixed_and_disjoint():
    x, _ = load_mnist5k("train", test_per_class=50)
    xt, _ = load_mnist5k("test", test_per_class=50)
    assert len(x) == 4500 and len(xt) == 500
    flat = {tuple((v * 255).round().to(torch.uint8).flatten().tolist()) for v in xt}
    assert not any(tuple((v * 255).round().to(torch.uint8).flatten().tolist()) in flat
                   for v in x[::9])
    torch.testing.assert_close(load_mnist5k("test", test_per_class=50)[0], xt, rtol=0, atol=0)


def test_pixel_checksums_of_the_default_split():
    """Sums of the 0-255 pixel values: a change of file, order or split would show."""
    assert int((load_mnist5k("train")[0] * 255).round().sum()) == 104_646_032
    assert int((load_mnist5k("test")[0] * 255).round().sum()) == 26_621_066


def test_bad_arguments():
    assert mnist5k_path().name == "mnist_5k.csv.gz"
    with pytest.raises(ValueError, match="split"):
        load_mnist5k("val")
    with pytest.raises(ValueError, match="test_per_class"):
        load_mnist5k(test_per_class=500)
