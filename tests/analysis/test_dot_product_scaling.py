import math

import pytest
import torch

from relnotes.analysis.dot_product_scaling import dot_product_scaling, plot_dot_product_scaling


def unchunked(d_k, samples, keys, seed):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(samples, 1, d_k, generator=g, dtype=torch.float64)
    k = torch.randn(samples, keys, d_k, generator=g, dtype=torch.float64)
    logits = (q * k).sum(-1)
    return logits


@pytest.mark.parametrize("d_k, samples, chunk", [(4, 300, 1000), (64, 300, 64), (16, 257, 100)])
def test_chunks_follow_the_generator_stream(d_k, samples, chunk):
    logits = unchunked(d_k, samples, 16, seed=3)
    out = dot_product_scaling(d_k, samples=samples, keys=16, generator=torch.Generator().manual_seed(3),
                              chunk=chunk)
    assert out["var_unscaled"] == logits[:, 0].var().item()
    assert out["var_scaled"] == (logits[:, 0] / math.sqrt(d_k)).var().item()
    assert out["max_w_unscaled"] == logits.softmax(-1).max(-1).values.mean().item()
    assert out["max_w_scaled"] == (logits / math.sqrt(d_k)).softmax(-1).max(-1).values.mean().item()


def test_variance_grows_with_d_k_and_the_scale_undoes_it():
    g = torch.Generator().manual_seed(0)
    small = dot_product_scaling(4, samples=4000, keys=16, generator=g)
    big = dot_product_scaling(256, samples=4000, keys=16, generator=g)
    assert big["var_unscaled"] == pytest.approx(256, rel=0.1)
    assert big["var_scaled"] == pytest.approx(1.0, abs=0.1)
    assert big["max_w_unscaled"] > 0.9
    assert big["max_w_scaled"] == pytest.approx(small["max_w_scaled"], abs=0.05)


@pytest.mark.parametrize("kw", [dict(samples=1), dict(samples=0), dict(keys=0), dict(chunk=True)])
def test_bad_sizes_are_clear_errors(kw):
    args = dict(samples=10, keys=4, chunk=5) | kw
    with pytest.raises(ValueError):
        dot_product_scaling(8, generator=torch.Generator(), **args)


def test_plot_has_two_panels():
    g = torch.Generator().manual_seed(0)
    scaling = {d: dot_product_scaling(d, samples=50, keys=8, generator=g) for d in (4, 16)}
    fig = plot_dot_product_scaling(scaling, 8)
    assert len(fig.axes) == 2
