import pytest
import torch
import torch.nn.functional as F

from relnotes.data.key_value import key_value_lookup
from relnotes.models.lookup import LookupAttention


def test_shapes_and_weights_of_the_query_row():
    tokens, _, _ = key_value_lookup(3, n_pairs=4, n_keys=6, n_values=5, seed=0)
    model = LookupAttention(6, 5, channels=8, num_heads=2)
    logits, w = model(tokens, return_weights=True)
    assert logits.shape == (3, 5) and w.shape == (3, 2, 5)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 2))
    assert torch.equal(model(tokens), logits)


def test_the_memory_is_a_set():
    """No positions: permuting the memory elements leaves the logits unchanged."""
    torch.manual_seed(0)
    tokens, _, _ = key_value_lookup(2, n_pairs=4, n_keys=6, n_values=5, seed=0)
    model = LookupAttention(6, 5, channels=8)
    perm = torch.tensor([2, 0, 3, 1, 4])
    torch.testing.assert_close(model(tokens[:, perm]), model(tokens))


def test_learns_the_lookup_and_attends_to_the_match():
    torch.manual_seed(0)
    tokens, labels, match = key_value_lookup(2048, n_pairs=4, n_keys=8, n_values=4, seed=0)
    model = LookupAttention(8, 4, channels=16)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(150):
        i = torch.arange(step * 64, (step + 1) * 64) % 2048
        loss = F.cross_entropy(model(tokens[i]), labels[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    test = key_value_lookup(500, n_pairs=4, n_keys=8, n_values=4, seed=1)
    with torch.no_grad():
        logits, w = model(test[0], return_weights=True)
    assert (logits.argmax(1) == test[1]).float().mean() > 0.9
    assert w[:, 0].gather(1, test[2][:, None]).mean() > 0.5


def test_bad_tokens_raise():
    with pytest.raises(ValueError, match=r"Tensor\[B, N, 2\]"):
        LookupAttention(6, 5, channels=8)(torch.zeros(3, 4, dtype=torch.long))
