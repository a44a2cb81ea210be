"""What a trained key-value lookup layer (``relnotes.models.lookup``) does with its weights.

The right answer of every lookup example is known (``match``: the memory element whose key is the
query's), so :func:`lookup_stats` reads, beside accuracy and loss, the weight the query puts on that
element; :func:`plot_lookup_weights` draws the query's learnt weights beside the right pattern.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["lookup_stats", "plot_lookup_weights"]


def lookup_stats(model: nn.Module, test: tuple[Tensor, Tensor, Tensor]) -> tuple[dict[str, float], Tensor]:
    """Accuracy (%), loss, and the mean weight of the query (head 0) on the matching element.

    Args:
        model (nn.Module): maps tokens to ``(logits, weights[B, H, N])`` with ``return_weights=True``.
        test ((Tensor, Tensor, Tensor)): tokens, labels and match of ``key_value_lookup``.

    Returns:
        (dict[str, float], Tensor[B, N]): ``acc``, ``loss``, ``mass``; and head 0's weights.
    """
    tokens, labels, match = test
    with torch.no_grad():
        logits, w = model(tokens, return_weights=True)                  # w: [B, H, N]
    stats = dict(acc=100.0 * (logits.argmax(1) == labels).double().mean().item(),
                 loss=F.cross_entropy(logits, labels).item(),
                 mass=w[:, 0].gather(1, match[:, None]).mean().item())
    return stats, w[:, 0]


def plot_lookup_weights(weights: Tensor, match: Tensor, *, title: str):
    """The query's learnt weights (one row per example) beside the one-hot right pattern.

    Args:
        weights (Tensor[B, N]): the query's weights over the N = n_pairs + 1 elements.
        match (Tensor[B]): index of the matching element of each example.
        title (str): the figure's title.

    Returns:
        matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    n = weights.shape[1]
    right = F.one_hot(match, n).double()
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.6), sharey=True)
    for ax, w, name in ((axes[0], weights, "learnt weights $w_{qj}$"), (axes[1], right, "right pattern")):
        im = ax.imshow(w.numpy(), cmap="viridis", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(n), [str(j + 1) for j in range(n - 1)] + ["q"])
        ax.set(title=name, xlabel="element j (q: the query itself)")
    axes[0].set_ylabel("test example")
    fig.colorbar(im, ax=axes, fraction=0.04)
    fig.suptitle(title, fontsize=9)
    return fig
