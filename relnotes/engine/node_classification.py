"""Semi-supervised node classification, full batch (Kipf & Welling, ICLR 2017, Sec. 5.3).

Every step sees the whole graph: the loss is the cross-entropy on the labelled nodes only
(``train_mask``), and the accuracy is read on ``test_mask``. The paper's recipe: Adam, lr 0.01,
200 epochs at most, L2 5e-4 on the first layer, early stopping on a validation set. Ours: Adam,
lr and weight decay as given (on every parameter, our choice), a fixed number of epochs, no
early stopping (our small graphs have no validation split: our choice).
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from ..data.graphs import Graph
from .seed import seed_everything

__all__ = ["train_node_classifier"]


def train_node_classifier(model: nn.Module, graph: Graph, *, epochs: int, lr: float = 0.01,
                          weight_decay: float = 5e-4, seed: int = 0, threads: int | None = None,
                          snapshot_epochs: tuple[int, ...] = ()) -> dict:
    """Train ``model(x, adjacency) -> logits`` on ``graph`` (full batch) and evaluate it.

    ``seed`` seeds the generators *before* the caller's model is used here (build the model after
    ``seed_everything`` for a seeded initialisation); it makes the dropout masks repeat.

    Returns:
        dict: ``accuracy`` on the test nodes (fraction), ``losses`` (training loss per epoch,
        before the step), ``initial_loss``, ``final_loss`` (after the last step, eval mode),
        ``seconds``, and ``snapshots``: {epoch: hidden Tensor[N, h]} for the epochs in
        ``snapshot_epochs`` (0 = before training), when the model takes ``return_hidden``.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int; got {epochs!r}")
    start = time.perf_counter()
    seed_everything(seed, threads=threads)
    x, a, y = graph.x, graph.adjacency, graph.y
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    snapshots, losses = {}, []

    def snapshot(epoch):
        if epoch in snapshot_epochs:
            model.eval()
            with torch.no_grad():
                snapshots[epoch] = model(x, a, return_hidden=True)[1].clone()

    snapshot(0)
    for epoch in range(1, epochs + 1):
        model.train()
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x, a)[graph.train_mask], y[graph.train_mask])
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the training loss is {loss.item()} at epoch {epoch}")
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        snapshot(epoch)
    model.eval()
    with torch.no_grad():
        logits = model(x, a)
        final_loss = F.cross_entropy(logits[graph.train_mask], y[graph.train_mask]).item()
        acc = (logits.argmax(1) == y)[graph.test_mask].float().mean().item()
    return {"accuracy": acc, "losses": losses, "initial_loss": losses[0], "final_loss": final_loss,
            "seconds": time.perf_counter() - start, "snapshots": snapshots}
