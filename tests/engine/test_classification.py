import pytest
import torch
from torch import nn

from relnotes.engine.classification import (
    accuracy, accuracy_loss_metric, accuracy_metric, cross_entropy_loss, train_classifier,
)


def test_accuracy_and_metrics_on_a_fixed_batch():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    labels = torch.tensor([0, 0, 0])
    assert accuracy(logits, labels).item() == pytest.approx(2 / 3)
    model = nn.Identity()
    assert accuracy_metric(model, (logits, labels))["accuracy"].item() == pytest.approx(2 / 3)
    both = accuracy_loss_metric(model, (logits, labels))
    expected = nn.functional.cross_entropy(logits, labels)
    assert both["loss"].item() == pytest.approx(expected.item())
    assert cross_entropy_loss(model, (logits, labels)).item() == pytest.approx(expected.item())


def test_train_classifier_learns_a_separable_problem():
    torch.manual_seed(0)
    x = torch.randn(256, 2)
    y = (x[:, 0] > 0).long()
    model = nn.Linear(2, 2)
    out = train_classifier(model, (x[:192], y[:192]), (x[192:], y[192:]), steps=60, lr=0.05)
    assert out["accuracy"] > 0.9
    with pytest.raises(ValueError, match="steps must be a positive int"):
        train_classifier(model, (x, y), (x, y), steps=0)


def test_train_classifier_uses_the_given_loss_fn():
    torch.manual_seed(0)
    x = torch.randn(64, 2)
    y = (x[:, 0] > 0).long()
    calls = []

    def doubled(model, batch):
        calls.append(len(batch[1]))
        return 2 * cross_entropy_loss(model, batch)

    torch.manual_seed(1)
    plain = train_classifier(nn.Linear(2, 2), (x, y), (x, y), steps=5, batch_size=16)
    torch.manual_seed(1)
    out = train_classifier(nn.Linear(2, 2), (x, y), (x, y), steps=5, batch_size=16,
                           loss_fn=doubled)
    assert calls == [16] * 5
    # the reported training loss is the given loss_fn's
    assert out["train_loss"] > 1.2 * plain["train_loss"]
