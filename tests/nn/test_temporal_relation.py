import pytest
import torch

from relnotes.nn.temporal_relation import TemporalRelation


def inputs(k=3, t=4, n=5, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    hist = torch.randn(k, t, d, generator=g)
    mask = torch.ones(k, t, dtype=torch.bool)
    mask[0, :2] = False                                  # a short tracklet
    ages = torch.arange(t, 0, -1).expand(k, t).clone()  # right-aligned: last entry 1 frame ago
    return torch.randn(n, d, generator=g), hist, mask, ages


def test_shapes_and_weights_sum_to_one_over_existing_entries():
    q, h, m, a = inputs()
    block = TemporalRelation(8, d_k=4)
    out, w = block(q, h, m, a, return_weights=True)
    assert out.shape == (3, 5, 8) and w.shape == (3, 5, 4)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 5))
    assert torch.all(w[0, :, :2] == 0)


def test_loop_reference():
    """g^n = sum_t softmax_t(<W_K h^t, W_Q f^n>/sqrt(d_k) + b_age) W_V h^t, written as a loop."""
    q, h, m, a = inputs()
    block = TemporalRelation(8, d_k=4)
    with torch.no_grad():
        block.age_bias.copy_(torch.linspace(-1, 1, block.max_age + 1))
        block.value.weight.normal_()
    out = block(q, h, m, a)
    for k in range(3):
        for n in range(5):
            ts = [t for t in range(4) if m[k, t]]
            logits = torch.stack([block.key(h[k, t]) @ block.query(q[n]) / 2.0
                                  + block.age_bias[a[k, t]] for t in ts])
            w = torch.softmax(logits, 0)
            ref = sum(w[i] * block.value(h[k, t]) for i, t in enumerate(ts))
            torch.testing.assert_close(out[k, n], ref)


def test_age_bias_flag_changes_the_module():
    q, h, m, a = inputs()
    torch.manual_seed(0)
    with_bias = TemporalRelation(8, d_k=4)
    with torch.no_grad():
        with_bias.age_bias.copy_(torch.arange(with_bias.max_age + 1.0))
    torch.manual_seed(0)
    without = TemporalRelation(8, d_k=4, age_bias=False)
    assert without.age_bias is None
    assert not torch.allclose(with_bias(q, h, m, a), without(q, h, m, a))


def test_bad_shapes_are_reported():
    q, h, m, a = inputs()
    block = TemporalRelation(8)
    with pytest.raises(ValueError, match=r"history must be Tensor\[K, T, 8\]"):
        block(q, h[..., :4], m, a)
    with pytest.raises(ValueError, match="mask and ages must be"):
        block(q, h, m[:, :2], a)
