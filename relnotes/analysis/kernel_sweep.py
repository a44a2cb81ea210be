"""Train-and-evaluate of a small image classifier, the unit of the LR-Net kernel-size sweep
(``notebooks/lrnet/lrnet_kernel_size.ipynb``): a fixed, short recipe through
:func:`relnotes.engine.fit` / :func:`relnotes.engine.evaluate`, so that every cell of the sweep is
trained the same way.

Recipe: Adam (lr ``lr``, no weight decay), a cosine decay of the learning rate to 0 over
``steps`` optimizer steps (stepped every step), cross-entropy, batches drawn in the engine's
seeded order. Deterministic on CPU for fixed threads.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from ..engine import evaluate, fit

__all__ = ["train_classifier", "accuracy_metric"]


def _loss(model: nn.Module, batch) -> Tensor:
    images, labels = batch
    return F.cross_entropy(model(images), labels)


def accuracy_metric(model: nn.Module, batch) -> dict[str, Tensor]:
    """``{"accuracy", "loss"}`` of a batch ``(images, labels)``, for :func:`relnotes.engine.evaluate`."""
    images, labels = batch
    logits = model(images)
    return {"accuracy": (logits.argmax(1) == labels).float().mean(),
            "loss": F.cross_entropy(logits, labels)}


def train_classifier(model: nn.Module, train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor],
                     *, steps: int, batch_size: int = 32, lr: float = 2e-3, seed: int = 0,
                     progress: bool = False) -> dict[str, float]:
    """Train ``model`` for ``steps`` steps on ``train`` and evaluate it on ``test``.

    Args:
        model (nn.Module): a classifier, images -> logits; trained in place.
        train ((Tensor[N, ...], Tensor[N])): images and int64 labels.
        test ((Tensor[M, ...], Tensor[M])): images and int64 labels.
        steps (int): optimizer steps (>= 1); the data are cycled in the engine's seeded order.
        batch_size (int): Default: 32.
        lr (float): Adam's peak learning rate. Default: 2e-3.
        seed (int): seeds the order of the examples (and the global generators). Default: 0.
        progress (bool): tqdm bars. Default: False.

    Returns:
        dict[str, float]: ``accuracy`` and ``loss`` on ``test``, ``train_loss`` (mean of the
        last 10 % of the steps' losses), ``seconds`` (wall time of training + evaluation).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int; got {steps!r}")
    start = time.perf_counter()
    dataset = TensorDataset(*train)
    epochs = math.ceil(steps / math.ceil(len(dataset) / batch_size))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    history = fit(model, dataset, _loss, optimizer, epochs=epochs, batch_size=batch_size,
                  seed=seed, scheduler=scheduler, scheduler_interval="step", max_steps=steps,
                  progress=progress)
    metrics = evaluate(model, TensorDataset(*test), accuracy_metric, batch_size=256,
                       progress=progress)
    tail = history.step_losses[-max(1, steps // 10):]
    return {"accuracy": metrics["accuracy"], "loss": metrics["loss"],
            "train_loss": sum(tail) / len(tail), "seconds": time.perf_counter() - start}
