import pytest
import torch

from relnotes.data.photo_denoising import grey_photo, noisy_crops


def test_grey_photo_shape_and_range():
    a = grey_photo("camera", 64)
    assert a.shape == (64, 64) and a.dtype == torch.float32
    assert 0.0 <= float(a.min()) and float(a.max()) <= 1.0


def test_noisy_crops_deterministic_and_noise_level():
    x, y = noisy_crops(64, seed=2, size=16, sigma=0.1, photos=("camera", "coins"), short_side=64)
    x2, y2 = noisy_crops(64, seed=2, size=16, sigma=0.1, photos=("camera", "coins"), short_side=64)
    assert x.shape == y.shape == (64, 1, 16, 16)
    torch.testing.assert_close(x, x2, rtol=0, atol=0)
    assert float((x - y).std()) == pytest.approx(0.1, abs=0.005)
    with pytest.raises(ValueError):
        noisy_crops(0)
