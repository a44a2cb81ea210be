import pytest
import torch

from relnotes.analysis.lookup import lookup_stats, plot_lookup_weights
from relnotes.data.key_value import key_value_lookup
from relnotes.models.lookup import LookupAttention


class Oracle(torch.nn.Module):
    """Puts all its weight on the matching element and answers its value."""

    def __init__(self, match, labels, n_values):
        super().__init__()
        self.match, self.labels, self.n_values = match, labels, n_values

    def forward(self, tokens, return_weights=False):
        w = torch.nn.functional.one_hot(self.match, tokens.shape[1]).double()[:, None]
        logits = 10.0 * torch.nn.functional.one_hot(self.labels, self.n_values).double()
        return logits, w


def test_an_oracle_gets_everything_right():
    test = key_value_lookup(20, n_pairs=4, n_keys=8, n_values=5, seed=1)
    stats, w = lookup_stats(Oracle(test[2], test[1], 5), test)
    assert stats["acc"] == 100.0
    assert stats["mass"] == 1.0
    assert stats["loss"] < 1e-3
    assert w.shape == (20, 5)


def test_untrained_model_is_near_uniform_and_plots():
    torch.manual_seed(0)
    test = key_value_lookup(64, n_pairs=4, n_keys=8, n_values=5, seed=2)
    stats, w = lookup_stats(LookupAttention(8, 5, channels=8), test)
    assert 0.0 <= stats["mass"] <= 1.0
    assert torch.allclose(w.sum(1), torch.ones(64), atol=1e-5)
    fig = plot_lookup_weights(w[:6], test[2][:6], title="t")
    assert len(fig.axes) == 3   # two panels and the colour bar
