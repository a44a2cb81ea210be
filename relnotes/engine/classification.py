"""Image classification with the engine: the cross-entropy step, accuracy, one short recipe.

The classification chapters (GCNet's ablations and attention study, LR-Net's kernel-size sweep
and robustness study) train small classifiers with :func:`relnotes.engine.fit` and
:func:`relnotes.engine.evaluate`; the loss and the metric they pass are these.

- :func:`cross_entropy_loss`: the ``loss_fn`` of ``fit`` for a batch ``(images, labels)``.
- :func:`accuracy`: the fraction of argmax predictions equal to the labels.
- :func:`accuracy_metric` (``{"accuracy"}``) and :func:`accuracy_loss_metric`
  (``{"accuracy", "loss"}``): ``metric_fn`` of ``evaluate``.
- :func:`train_classifier`: the fixed recipe of the LR-Net kernel-size sweep
  (``notebooks/lrnet/lrnet_kernel_size.ipynb``), so that every cell of the sweep is trained the
  same way: Adam (lr ``lr``, no weight decay), a cosine decay of the learning rate to 0 over
  ``steps`` optimizer steps (stepped every step), cross-entropy (or a given ``loss_fn``, e.g.
  the adversarial loss of the robustness study), batches drawn in the engine's seeded order.
  Deterministic on CPU for fixed threads.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from .loop import LossFn, evaluate, fit

__all__ = ["cross_entropy_loss", "accuracy", "accuracy_metric", "accuracy_loss_metric",
           "train_classifier"]


def cross_entropy_loss(model: nn.Module, batch) -> Tensor:
    """Cross-entropy of ``model(images)`` against ``labels`` for a batch ``(images, labels)``."""
    images, labels = batch
    return F.cross_entropy(model(images), labels)


def accuracy(logits: Tensor, labels: Tensor) -> Tensor:
    """Fraction of rows whose argmax is the label: logits Tensor[B, K], labels Tensor[B] -> 0-d."""
    return (logits.argmax(1) == labels).float().mean()


def accuracy_metric(model: nn.Module, batch) -> dict[str, Tensor]:
    """``{"accuracy"}`` of a batch ``(images, labels)``, for :func:`relnotes.engine.evaluate`."""
    images, labels = batch
    return {"accuracy": accuracy(model(images), labels)}


def accuracy_loss_metric(model: nn.Module, batch) -> dict[str, Tensor]:
    """``{"accuracy", "loss"}`` of a batch ``(images, labels)``, for
    :func:`relnotes.engine.evaluate`."""
    images, labels = batch
    logits = model(images)
    return {"accuracy": accuracy(logits, labels), "loss": F.cross_entropy(logits, labels)}


def train_classifier(model: nn.Module, train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor],
                     *, steps: int, batch_size: int = 32, lr: float = 2e-3, seed: int = 0,
                     loss_fn: LossFn = cross_entropy_loss,
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
        loss_fn (callable): ``loss_fn(model, (images, labels)) -> Tensor[]``, the training loss
            (e.g. :func:`relnotes.analysis.adversarial.adversarial_loss_fn`); the test loss is
            always the clean cross-entropy. Default: :func:`cross_entropy_loss`.
        progress (bool): tqdm bars. Default: False.

    Returns:
        dict[str, float]: ``accuracy`` and ``loss`` on ``test``, ``train_loss`` (mean of the
        last 10 % of the steps' ``loss_fn`` values), ``seconds`` (wall time of training +
        evaluation).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int; got {steps!r}")
    start = time.perf_counter()
    dataset = TensorDataset(*train)
    epochs = math.ceil(steps / math.ceil(len(dataset) / batch_size))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    history = fit(model, dataset, loss_fn, optimizer, epochs=epochs,
                  batch_size=batch_size, seed=seed, scheduler=scheduler,
                  scheduler_interval="step", max_steps=steps, progress=progress)
    metrics = evaluate(model, TensorDataset(*test), accuracy_loss_metric, batch_size=256,
                       progress=progress)
    tail = history.step_losses[-max(1, steps // 10):]
    return {"accuracy": metrics["accuracy"], "loss": metrics["loss"],
            "train_loss": sum(tail) / len(tail), "seconds": time.perf_counter() - start}
