import torch

from relnotes.engine.classification import train_classifier
from relnotes.models.lr_denoiser import ConvDenoiser, LRDenoiser


def test_shapes_weights_and_parameters():
    torch.manual_seed(0)
    m = LRDenoiser(channels=8, kernel_size=5, m=4, geometry_channels=16)
    x = torch.rand(2, 1, 12, 10)
    assert m(x).shape == (2, 1, 12, 10)
    w = m.aggregation_weights(x)
    assert w.shape == (2, 2, 5, 5, 12, 10)
    torch.testing.assert_close(w.sum((2, 3)), torch.ones(2, 2, 12, 10))
    # embed 16 + q, k 2 x 16 + geometry 3*16 + 16*2 + 2 + out 64 + head 9
    assert sum(p.numel() for p in m.parameters()) == 16 + 32 + 48 + 34 + 64 + 9
    assert ConvDenoiser(7)(x).shape == x.shape


def test_train_classifier_learns_a_trivial_task():
    torch.manual_seed(0)
    x = torch.randn(64, 1, 4, 4)
    y = (x.mean((1, 2, 3)) > 0).long()
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    r = train_classifier(model, (x, y), (x, y), steps=60, batch_size=16, lr=0.05)
    assert r["accuracy"] >= 0.9 and set(r) == {"accuracy", "loss", "train_loss", "seconds"}
