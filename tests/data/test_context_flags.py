import numpy as np
import pytest
import torch

from relnotes.data.context_flags import (
    DISTRACTOR_COLOURS, GLYPHS, context_flags, context_flags_dataset,
)


@pytest.fixture(scope="module")
def sample():
    return context_flags(64, size=32, seed=3)


def test_labels_follow_the_designed_rule_and_are_balanced(sample):
    assert torch.equal(sample.labels, (sample.shapes + sample.flags) % 4)
    assert torch.bincount(sample.shapes).tolist() == [16] * 4
    assert torch.bincount(sample.flags).tolist() == [32, 32]
    assert sample.images.shape == (64, 3, 32, 32) and sample.images.dtype == torch.float32


def test_glyph_and_flag_are_drawn_where_recorded(sample):
    for i in range(64):
        r, c = sample.glyph_xy[i].tolist()
        patch = sample.images[i, 0, r:r + 7, c:c + 7]
        glyph = torch.from_numpy(GLYPHS[sample.shapes[i]])
        # the glyph adds 1 on top of noise (std 0.1): the strokes are bright, the rest is not
        assert (patch[glyph > 0] > 0.5).all() and (patch[glyph == 0].abs() < 0.6).all()
        fr, fc = sample.flag_xy[i].tolist()
        red = ((sample.images[i, 0] == 1) & (sample.images[i, 1] == 0) & (sample.images[i, 2] == 0))
        if sample.flags[i]:
            assert red[fr:fr + 3, fc:fc + 3].all() and red.sum().item() == 9
            centre_g = np.array([r + 3, c + 3])
            assert np.abs(np.array([fr + 1, fc + 1]) - centre_g).max() >= 14
        else:
            assert (fr, fc) == (-1, -1) and red.sum().item() == 0


def test_same_number_of_coloured_squares_with_and_without_flag(sample):
    def n_coloured(img):
        count = 0
        for colour in ((1.0, 0.0, 0.0),) + DISTRACTOR_COLOURS:
            mask = torch.ones(img.shape[1:], dtype=torch.bool)
            for ch, v in enumerate(colour):
                mask &= img[ch] == v
            count += mask.sum().item()
        return count // 9
    counts = [n_coloured(sample.images[i]) for i in range(64)]
    assert set(counts) == {4}


def test_control_labels_are_the_shapes_and_images_are_identical():
    a, b = context_flags(16, seed=5), context_flags(16, seed=5, control=True)
    assert torch.equal(a.images, b.images)
    assert torch.equal(b.labels, b.shapes)
    assert not torch.equal(a.labels, b.labels)


def test_deterministic_and_seed_dependent():
    a, b, c = (context_flags_dataset(8, seed=s) for s in (0, 0, 1))
    assert torch.equal(a.tensors[0], b.tensors[0]) and torch.equal(a.tensors[1], b.tensors[1])
    assert not torch.equal(a.tensors[0], c.tensors[0])


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=0), "n must be"), (dict(n=4, size=8), "size"),
    (dict(n=4, min_distance=20), "min_distance"),
    (dict(n=4, noise=-1.0), "noise"), (dict(n=4, n_distractors=9), "n_distractors"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        context_flags(**kwargs)
