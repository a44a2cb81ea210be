"""Why the Transformer divides the dot product by sqrt(d_k) (Vaswani et al., 2017, Sec. 3.2.1).

With q and k of d_k i.i.d. entries of mean 0 and variance 1, ``q . k`` is a sum of d_k terms of
variance 1, so its variance is d_k; a softmax over logits that spread that wide puts nearly all its
weight on one key. :func:`dot_product_scaling` measures both, with and without the scale, on random
queries and keys; :func:`plot_dot_product_scaling` draws them against d_k.
"""

from __future__ import annotations

import math

import torch

__all__ = ["dot_product_scaling", "plot_dot_product_scaling"]


def dot_product_scaling(d_k: int, *, samples: int, keys: int, generator: torch.Generator,
                        chunk: int = 1000) -> dict[str, float]:
    """Variance of the logits and the softmax's largest weight, unscaled and scaled by sqrt(d_k).

    Args:
        d_k (int): width of the queries and keys.
        samples (int): random queries, each with its own ``keys`` random keys.
        keys (int): keys per query (the softmax's width).
        generator (torch.Generator): draws q (all at once), then k chunk after chunk, so that the
            memory stays ``chunk * keys * d_k`` doubles whatever ``samples`` is; the chunks follow
            each other in the generator's stream.
        chunk (int): queries per chunk of keys. Default: 1000.

    Returns:
        dict[str, float]: ``var_unscaled`` (variance of q.k_1 over the samples), ``var_scaled``
        (of q.k_1 / sqrt(d_k)), ``max_w_unscaled`` and ``max_w_scaled`` (mean over queries of the
        largest softmax weight over the keys).
    """
    for name, v in (("d_k", d_k), ("samples", samples), ("keys", keys), ("chunk", chunk)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int; got {v!r}")
    if samples < 2:
        raise ValueError(f"samples must be >= 2 for a variance; got {samples}")
    q = torch.randn(samples, 1, d_k, generator=generator, dtype=torch.float64)
    logits = torch.cat([
        (q[i:i + chunk] * torch.randn(min(chunk, samples - i), keys, d_k, generator=generator,
                                      dtype=torch.float64)).sum(-1)          # q . k_j: [chunk, keys]
        for i in range(0, samples, chunk)])
    scale = math.sqrt(d_k)                                                    # q . k_j / sqrt(d_k)
    return dict(
        var_unscaled=logits[:, 0].var().item(),
        var_scaled=(logits[:, 0] / scale).var().item(),
        max_w_unscaled=logits.softmax(-1).max(-1).values.mean().item(),
        max_w_scaled=(logits / scale).softmax(-1).max(-1).values.mean().item(),
    )


def plot_dot_product_scaling(scaling: dict[int, dict[str, float]], keys: int):
    """Two panels against d_k: the logits' variance (log-log) and the softmax's largest weight.

    Args:
        scaling (dict[int, dict]): d_k -> the dict of :func:`dot_product_scaling`.
        keys (int): the softmax's width (for the uniform line).

    Returns:
        matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    dks = sorted(scaling)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax1.loglog(dks, [scaling[d]["var_unscaled"] for d in dks], "o-", label="$q \\cdot k$")
    ax1.loglog(dks, [scaling[d]["var_scaled"] for d in dks], "s-", label="$q \\cdot k / \\sqrt{d_k}$")
    ax1.set(xlabel="$d_k$", ylabel="variance over random pairs", title="variance of the logits")
    ax1.legend()
    ax2.semilogx(dks, [scaling[d]["max_w_unscaled"] for d in dks], "o-", label="softmax($q \\cdot k$)")
    ax2.semilogx(dks, [scaling[d]["max_w_scaled"] for d in dks], "s-",
                 label="softmax($q \\cdot k / \\sqrt{d_k}$)")
    ax2.axhline(1 / keys, color="0.5", linestyle=":", label="uniform")
    ax2.set(xlabel="$d_k$", ylabel="mean largest weight", ylim=(0, 1.05),
            title=f"saturation of a softmax over {keys} keys")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig
