import pytest
import torch

from relnotes.analysis.scene_probe import linear_probe, scene_features, scene_probe
from relnotes.data.context_masks import make_context_masks
from relnotes.models.tiny_mask_rcnn import tiny_mask_rcnn


def test_linear_probe_reads_a_linear_label_and_not_noise():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (400,), generator=g)
    x = torch.randn(400, 5, generator=g)
    x_lin = torch.cat([x, (2 * y - 1)[:, None].float() + 0.1 * torch.randn(400, 1, generator=g)], 1)
    assert linear_probe(x_lin[:200], y[:200], x_lin[200:], y[200:]) == pytest.approx(1.0)
    noise = linear_probe(x[:200], y[:200], x[200:], y[200:])
    assert 0.35 < noise < 0.65


def test_scene_features_one_vector_per_image_and_per_object():
    data = make_context_masks(6, seed=1)
    torch.manual_seed(0)
    model = tiny_mask_rcnn(masks=False)
    model.train()
    f = scene_features(model, data.torch_dataset(), batch_size=4)
    x, y = f["backbone"]
    assert x.shape == (6, 256) and y.tolist() == data.flags.tolist()
    x, y = f["roi"]
    objects = [a for a in data.coco["annotations"]]
    assert x.shape == (len(objects), 256)
    assert y.tolist() == [int(a["category_id"] > 3) for a in objects]
    assert model.training                                         # the mode is restored


def test_scene_probe_gives_both_accuracies():
    data = make_context_masks(8, seed=2)
    torch.manual_seed(0)
    out = scene_probe(tiny_mask_rcnn(masks=False), data.torch_dataset(), data.torch_dataset())
    assert set(out) == {"backbone", "roi"} and all(0 <= v <= 1 for v in out.values())
