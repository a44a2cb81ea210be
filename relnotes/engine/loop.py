"""The training and evaluation loops every chapter uses: :func:`fit` and :func:`evaluate`.

**The batch convention.** The loop never looks inside a batch. It moves the batch to ``device``
(every tensor inside tuples, lists and dicts) and hands it, with the model, to a function you
write. The forward pass lives in that function, so nothing is hidden::

    def loss_fn(model, batch):           # -> Tensor[], the loss to minimise
        images, labels = batch
        return F.cross_entropy(model(images), labels)

    def metric_fn(model, batch):         # -> {name: mean over the examples of this batch}
        images, labels = batch
        logits = model(images)
        return {"loss": F.cross_entropy(logits, labels),
                "accuracy": (logits.argmax(1) == labels).float().mean()}

Classifiers, graph networks and torchvision detectors (which compute their own losses) all fit
this shape.

**Order, position, exact resume.** In epoch ``e`` the examples are visited in the order
``torch.randperm(n)`` drawn from a generator seeded with ``seed + e`` (:func:`epoch_permutation`),
a pure function of ``(seed, e)``. The position of a run is therefore three counters: epochs done,
batches done in the current epoch, and optimizer steps done. A checkpoint stores them with the
model, optimizer and scheduler states, the generators' states (dropout draws from them) and the
loss history. A resumed run rebuilds the epoch's permutation and skips the finished batches by
index, without loading their examples, so on CPU it ends bit-identical to a run that was never
interrupted.

**Mixed precision (opt-in).** ``precision="float32"`` (the default) runs exactly the plain loop.
``"bfloat16"`` runs ``loss_fn`` under ``torch.autocast`` with bfloat16 (same exponent range as
float32, so no loss scaling). ``"float16"`` adds a ``torch.amp.GradScaler``: the loss is scaled
up before ``backward`` so that small gradients do not flush to zero in half precision, the
gradients are unscaled before the step, and a step whose gradients overflowed is skipped while
the scale backs off. The scaler's state goes into the checkpoint, so a resumed run continues
with the same scale. Our choice for CPU: both work there (PyTorch's CPU autocast takes float16
and bfloat16), slowly, which is how the tests check them; on a GPU float16 needs compute
capability 7.0+ to be fast, bfloat16 8.0+. Operations autocast keeps in float32 (softmax, losses,
norms) stay there; an op whose kernels do not take half precision should cast its inputs back
to float32 itself.

**Several processes.** Under ``torchrun``, with a process group initialised, ``fit`` trains
with PyTorch's ``DistributedDataParallel``: ``batch_size`` is the global batch, each rank takes
its share of every batch, checkpoints are written by rank 0 and resumed by all
(:mod:`relnotes.engine.distributed`).

**Training log.** With a ``checkpoint_path``, every step and epoch is appended as a JSON line to
``<checkpoint stem>.log.jsonl`` beside it, and to TensorBoard when installed
(:mod:`relnotes.engine.train_log`).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import LRScheduler
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm  # the plain-text bar: widget output (tqdm.auto) breaks the offline book

from .checkpoint import load_checkpoint, save_checkpoint
from .seed import check_seed, rng_state, seed_everything, set_rng_state
from .train_log import TrainingLog, log_path

__all__ = [
    "History", "NonFiniteLossError", "EpochBatchSampler", "epoch_permutation", "fit", "evaluate",
    "PRECISIONS",
]

#: ``fit``'s ``precision`` values and the autocast dtype of each (None: no autocast).
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}

LossFn = Callable[[nn.Module, Any], Tensor]
MetricFn = Callable[[nn.Module, Any], Mapping[str, Tensor | float]]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite. The message says where, and which checkpoint is good."""


@dataclass
class History:
    """What :func:`fit` returns; checkpoints carry it too, so a resumed run returns all of it.

    Attributes:
        step_losses (list[float]): the loss of every optimizer step, in order.
        epoch_losses (list[float]): per finished epoch, the mean of its step losses.
        metrics (list[dict[str, float]]): per finished epoch, :func:`evaluate` on
            ``eval_dataset``. Empty when ``fit`` has no ``eval_dataset``.
    """

    step_losses: list[float] = field(default_factory=list)
    epoch_losses: list[float] = field(default_factory=list)
    metrics: list[dict[str, float]] = field(default_factory=list)


def epoch_permutation(n: int, seed: int, epoch: int) -> Tensor:
    """The order of the ``n`` examples in epoch ``epoch``: ``Tensor[n]``, a pure function of
    ``(seed, epoch)``. (So seed 0 epoch 1 repeats seed 1 epoch 0; harmless, and easy to read.)"""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch))


class EpochBatchSampler(Sampler[list[int]]):
    """The batches of one epoch, from batch ``start`` on: ``epoch_permutation`` cut in pieces.

    Args:
        n (int): number of examples.
        batch_size (int): examples per batch; the last batch may be smaller.
        seed (int), epoch (int): select the permutation.
        start (int): batches to skip (already done before an interruption). Default: 0.
        drop_last (bool): drop a last batch smaller than ``batch_size``. Default: False.

    Examples:
        >>> all_batches = list(EpochBatchSampler(5, 2, seed=0, epoch=0))
        >>> list(EpochBatchSampler(5, 2, seed=0, epoch=0, start=1)) == all_batches[1:]
        True
    """

    def __init__(self, n: int, batch_size: int, *, seed: int, epoch: int, start: int = 0,
                 drop_last: bool = False) -> None:
        self.batches = [b.tolist() for b in epoch_permutation(n, seed, epoch).split(batch_size)]
        if drop_last and n % batch_size:
            self.batches.pop()
        self.start = start

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches[self.start:])

    def __len__(self) -> int:
        return len(self.batches) - self.start


def fit(
    model: nn.Module,
    dataset: Dataset,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    scheduler: LRScheduler | None = None,
    scheduler_interval: str = "epoch",
    eval_dataset: Dataset | None = None,
    metric_fn: MetricFn | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = True,
    max_steps: int | None = None,
    device: str | torch.device = "cpu",
    collate_fn: Callable[[list[Any]], Any] | None = None,
    num_workers: int = 0,
    drop_last: bool = False,
    progress: bool = True,
    precision: str = "float32",
    log: bool = True,
    distributed: bool | None = None,
    sync_batchnorm: bool = False,
) -> History:
    """Train ``model`` on ``dataset`` for ``epochs`` epochs; resume from a checkpoint if one exists.

    Each step: ``loss = loss_fn(model, batch)``, a check that the loss is finite, then
    ``loss.backward()`` and ``optimizer.step()``. A fresh (not resumed) run starts with
    ``seed_everything(seed)``, so the dropout masks repeat too.

    Args:
        model (nn.Module): moved to ``device`` in place; left in the train/eval mode it came in.
        dataset (Dataset): map-style, with ``__len__``.
        loss_fn (callable): ``loss_fn(model, batch) -> Tensor[]`` (see the module docstring).
        optimizer (Optimizer): built on ``model.parameters()``.
        epochs (int): number of passes over ``dataset``.
        batch_size (int): examples per step.
        seed (int): fixes the example order of every epoch and the generators. Default: 0.
        scheduler (LRScheduler, optional): stepped without arguments (so not ReduceLROnPlateau).
        scheduler_interval (str): ``"epoch"`` or ``"step"``: when to call ``scheduler.step()``.
            Default: ``"epoch"``.
        eval_dataset (Dataset, optional): evaluated after every epoch into ``History.metrics``.
        metric_fn (callable, optional): for ``eval_dataset``, as in :func:`evaluate`.
            Default: ``{"loss": loss_fn(model, batch)}``.
        checkpoint_path (path, optional): where to save the training state, at the end of each
            epoch, every ``checkpoint_every`` steps, and when ``max_steps`` stops the run.
            Default: None (no checkpoints).
        checkpoint_every (int, optional): also save after every this many steps. Default: None.
        resume (bool): continue from ``checkpoint_path`` if the file exists. Default: True.
        max_steps (int, optional): stop once this many steps are done in total (counting those
            before a resume); call ``fit`` again without it to finish. Default: None.
        device (str or torch.device): where the model and batches go. Default: ``"cpu"``.
        collate_fn (callable, optional): as in ``DataLoader``. Default: None (default_collate).
        num_workers (int): ``DataLoader`` worker processes. Default: 0.
        drop_last (bool): drop each epoch's last, smaller batch. Default: False.
        progress (bool): show a tqdm bar with the loss. Default: True.
        precision (str): ``"float32"``, or mixed precision ``"bfloat16"`` / ``"float16"``
            (autocast, and a GradScaler for float16; see the module docstring). A checkpoint
            resumes only with the precision it was written with. Default: ``"float32"``.
        log (bool): with ``checkpoint_path``, append every step and epoch to the JSON-lines log
            beside it (:mod:`relnotes.engine.train_log`). Default: True.
        distributed (bool, optional): train with ``DistributedDataParallel`` across the ranks of
            the initialised process group; ``batch_size`` is then the global batch. None: when
            a process group of more than one rank is initialised. Default: None.
        sync_batchnorm (bool): when distributed, convert the model's BatchNorm layers to
            ``SyncBatchNorm`` (CUDA only), in place. Default: False.

    Returns:
        History: losses per step and per epoch, and metrics per epoch.

    Raises:
        NonFiniteLossError: the loss is NaN or infinite; the weights and the checkpoint on disk
            are left as they were after the last good step.
        ValueError: a bad argument, or a checkpoint written by a run with another seed,
            batch size, dataset size, ``drop_last``, scheduler or ``scheduler_interval``.
    """
    n_batches = _check_fit_args(dataset, epochs, batch_size, seed, scheduler_interval,
                                checkpoint_every, max_steps, num_workers, drop_last)
    if metric_fn is not None and eval_dataset is None:
        raise ValueError("metric_fn is given but eval_dataset is None; pass both or neither")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}; "
                         f"got {precision!r}")
    run = {"seed": seed, "batch_size": batch_size, "dataset_size": len(dataset),
           "drop_last": drop_last, "scheduler": scheduler is not None,
           "scheduler_interval": scheduler_interval}
    if precision != "float32":  # float32 checkpoints keep the keys they always had
        run["precision"] = precision
    device_type = torch.device(device).type
    scaler = torch.amp.GradScaler(device_type) if precision == "float16" else None
    rank, world_size = _world(distributed)
    if world_size > 1 and batch_size % world_size:
        raise ValueError(f"batch_size is the global batch under DDP and must be a multiple of "
                         f"the world size; got batch_size={batch_size}, world size {world_size}")
    if sync_batchnorm and world_size > 1 and device_type != "cuda":
        raise ValueError("sync_batchnorm=True needs CUDA devices: PyTorch's SyncBatchNorm "
                         f"rejects {device_type} tensors; pass sync_batchnorm=False")

    def autocast() -> contextlib.AbstractContextManager:
        if PRECISIONS[precision] is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type, dtype=PRECISIONS[precision])

    model.to(device)
    trained = model  # what loss_fn receives: the model, or its DDP wrapper
    if world_size > 1:
        from .distributed import DistributedModel

        if sync_batchnorm and nn.SyncBatchNorm.convert_sync_batchnorm(model) is not model:
            raise ValueError("sync_batchnorm=True cannot convert a model that is itself a "
                             "BatchNorm layer; wrap it in a module")
        index = torch.device(device).index  # "cuda" alone: this rank's current device
        trained = DistributedModel(model, device_ids=None if device_type != "cuda" else
                                   [torch.cuda.current_device() if index is None else index])
    history, epochs_done, batches_done, step, saved_step = History(), 0, 0, 0, None
    if checkpoint_path is not None and resume and Path(checkpoint_path).exists():
        state = load_checkpoint(checkpoint_path)
        _check_same_run(state.get("run"), run, checkpoint_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        if scaler is not None:
            scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        history = History(**state["history"])
        epochs_done, batches_done, step = state["epochs_done"], state["batches_done"], state["step"]
        saved_step = step
    else:
        seed_everything(seed)

    def save() -> None:
        nonlocal saved_step
        if checkpoint_path is None:
            return
        if rank != 0:  # rank 0 writes; the others wait until the file is complete
            torch.distributed.barrier()
            saved_step = step
            return
        save_checkpoint(checkpoint_path, {
            "run": run, "epochs_done": epochs_done, "batches_done": batches_done, "step": step,
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": None if scheduler is None else scheduler.state_dict(),
            "scaler": None if scaler is None else scaler.state_dict(),
            "rng": rng_state(), "history": asdict(history),
        })
        saved_step = step
        if world_size > 1:
            torch.distributed.barrier()

    train_log = None
    if checkpoint_path is not None and log and rank == 0:
        train_log = TrainingLog(log_path(checkpoint_path), resume_epochs=epochs_done,
                                resume_step=saved_step)
    was_training = model.training
    bar = tqdm(total=epochs * n_batches, initial=step, unit="step",
               disable=not progress or rank != 0)
    try:
        while epochs_done < epochs and (max_steps is None or step < max_steps):
            model.train()
            bar.set_description(f"epoch {epochs_done + 1}/{epochs}")
            for batch in _epoch_loader(dataset, batch_size, seed, epochs_done, batches_done,
                                       drop_last, collate_fn, num_workers, rank, world_size):
                optimizer.zero_grad(set_to_none=True)
                with autocast():
                    loss = loss_fn(trained, _to_device(batch, device))
                value = _loss_value(loss) if world_size == 1 else _mean_over_ranks(loss)
                if not math.isfinite(value):
                    raise NonFiniteLossError(_non_finite_message(
                        value, epochs_done, epochs, batches_done, n_batches, step,
                        checkpoint_path, saved_step))
                if scaler is None:
                    loss.backward()
                    optimizer.step()
                else:  # float16: scale the loss, unscale the gradients, skip a step on overflow
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                if scheduler is not None and scheduler_interval == "step":
                    scheduler.step()
                history.step_losses.append(value)
                batches_done, step = batches_done + 1, step + 1
                if train_log is not None:
                    extra = {} if scaler is None else {"scale": scaler.get_scale()}
                    train_log.write("step", epoch=epochs_done + 1, batch=batches_done, step=step,
                                    loss=value, lr=[g["lr"] for g in optimizer.param_groups],
                                    **extra)
                bar.update()
                bar.set_postfix(loss=f"{value:.4g}")
                if batches_done < n_batches:  # the end of an epoch is handled below
                    if step == max_steps or (checkpoint_every and step % checkpoint_every == 0):
                        save()
                    if step == max_steps:
                        return history
            if scheduler is not None and scheduler_interval == "epoch":
                scheduler.step()
            history.epoch_losses.append(sum(history.step_losses[-n_batches:]) / n_batches)
            if eval_dataset is not None:
                metrics = evaluate(model, eval_dataset, metric_fn or _loss_metric(loss_fn),
                                   batch_size=batch_size, device=device, collate_fn=collate_fn,
                                   num_workers=num_workers, progress=progress and rank == 0)
                history.metrics.append(metrics)
                bar.set_postfix({"loss": f"{history.epoch_losses[-1]:.4g}",
                                 **{f"eval_{name}": f"{v:.4g}" for name, v in metrics.items()}})
            epochs_done, batches_done = epochs_done + 1, 0
            if train_log is not None:
                train_log.write("epoch", epoch=epochs_done, step=step,
                                loss=history.epoch_losses[-1],
                                metrics=history.metrics[-1] if eval_dataset is not None else {})
            save()
    finally:
        bar.close()
        model.train(was_training)
        if train_log is not None:
            train_log.close()
    return history


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    metric_fn: MetricFn,
    *,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    collate_fn: Callable[[list[Any]], Any] | None = None,
    num_workers: int = 0,
    progress: bool = True,
) -> dict[str, float]:
    """Average ``metric_fn`` over ``dataset`` in eval mode, without gradients.

    Batches are taken in order. Each metric is a mean over a batch's examples, so the batches are
    weighted by their sizes and the result is the mean over all examples (exact for accuracy or a
    mean loss; a metric that is not a mean, such as mAP, needs its own loop). The global
    generators are not touched, and the model is put back in the mode it came in.

    Args:
        model (nn.Module): moved to ``device`` in place.
        dataset (Dataset): map-style, with ``__len__``.
        metric_fn (callable): ``metric_fn(model, batch) -> {name: Tensor[] or float}``.
        batch_size (int): examples per batch. Default: 64.
        device (str or torch.device): Default: ``"cpu"``.
        collate_fn (callable, optional): as in ``DataLoader``. Default: None (default_collate).
        num_workers (int): ``DataLoader`` worker processes. Default: 0.
        progress (bool): show a tqdm bar. Default: True.

    Returns:
        dict[str, float]: each metric's mean over all examples.
    """
    n = _dataset_size(dataset, "dataset")
    _check_int("batch_size", batch_size, minimum=1)
    _check_int("num_workers", num_workers, minimum=0)
    batches = [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
    loader = DataLoader(dataset, batch_sampler=batches, collate_fn=collate_fn,
                        num_workers=num_workers, generator=torch.Generator())
    was_training = model.training
    model.to(device).eval()
    totals: dict[str, float] = {}
    try:
        for indices, batch in zip(batches, tqdm(loader, desc="evaluate", leave=False,
                                                disable=not progress)):
            for name, value in metric_fn(model, _to_device(batch, device)).items():
                totals[name] = totals.get(name, 0.0) + float(value) * len(indices)
    finally:
        model.train(was_training)
    return {name: total / n for name, total in totals.items()}


def _epoch_loader(dataset: Dataset, batch_size: int, seed: int, epoch: int, start: int,
                  drop_last: bool, collate_fn: Callable | None, num_workers: int,
                  rank: int = 0, world_size: int = 1) -> DataLoader:
    if world_size == 1:
        sampler = EpochBatchSampler(len(dataset), batch_size, seed=seed, epoch=epoch, start=start,
                                    drop_last=drop_last)
    else:  # this rank's share of each of those batches
        from .distributed import DistributedEpochBatchSampler

        sampler = DistributedEpochBatchSampler(len(dataset), batch_size, seed=seed, epoch=epoch,
                                               start=start, drop_last=drop_last, rank=rank,
                                               world_size=world_size)
    # The loader gets its own generator: without one, starting an epoch draws a worker seed from
    # the global torch generator, and a resumed run would then see other dropout masks.
    generator = torch.Generator().manual_seed(seed + epoch)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_fn,
                      num_workers=num_workers, generator=generator)


def _world(distributed: bool | None) -> tuple[int, int]:
    """``(rank, world_size)`` of the run: ``(0, 1)`` unless DDP is asked for (or, with None,
    a process group of more than one rank is initialised)."""
    initialised = torch.distributed.is_available() and torch.distributed.is_initialized()
    if distributed and not initialised:
        raise ValueError("distributed=True but no process group is initialised: start the "
                         "script with torchrun and call relnotes.engine.distributed."
                         "init_from_env() first")
    if distributed is False or not initialised:
        return 0, 1
    return torch.distributed.get_rank(), torch.distributed.get_world_size()


def _mean_over_ranks(loss: Tensor) -> float:
    """The batch's loss: the mean of the ranks' losses (equal shares: their means' mean)."""
    _loss_value(loss)  # the same shape check as one process
    total = loss.detach().float().clone()
    torch.distributed.all_reduce(total)
    return total.item() / torch.distributed.get_world_size()


def _to_device(batch: Any, device: str | torch.device) -> Any:
    """Move every tensor inside nested tuples, lists and dicts to ``device``."""
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {key: _to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(value, device) for value in batch)
    return batch


def _loss_metric(loss_fn: LossFn) -> MetricFn:
    return lambda model, batch: {"loss": loss_fn(model, batch)}


def _loss_value(loss: Any) -> float:
    if not isinstance(loss, Tensor) or loss.ndim != 0:
        got = f"shape {tuple(loss.shape)}" if isinstance(loss, Tensor) else type(loss).__name__
        raise ValueError(f"loss_fn must return a scalar Tensor (shape ()); got {got}")
    return loss.item()


def _non_finite_message(value: float, epochs_done: int, epochs: int, batches_done: int,
                        n_batches: int, step: int, checkpoint_path: str | os.PathLike | None,
                        saved_step: int | None) -> str:
    where = (f"loss is {value} at epoch {epochs_done + 1}/{epochs}, "
             f"batch {batches_done + 1}/{n_batches} (step {step + 1}); the step was not taken.")
    if checkpoint_path is None:
        return f"{where} No checkpoint is kept (checkpoint_path=None)."
    if saved_step is None:
        return f"{where} This run has not written a checkpoint to {checkpoint_path} yet."
    return (f"{where} The last good checkpoint is {checkpoint_path} (after step {saved_step}); "
            "it was not overwritten. Try a lower learning rate, or check the data and loss_fn.")


def _check_same_run(saved: Mapping[str, Any] | None, run: Mapping[str, Any],
                    path: str | os.PathLike) -> None:
    if saved is None:
        raise ValueError(f"checkpoint {path} was not written by fit (it has no 'run' entry); "
                         "use another checkpoint_path, or resume=False to overwrite it")
    # a float32 run's checkpoint has no "precision" key (the keys it always had)
    saved, run = {"precision": "float32", **saved}, {"precision": "float32", **run}
    for key, value in run.items():
        if saved.get(key) != value:
            raise ValueError(
                f"checkpoint {path} was written with {key}={saved.get(key)!r}, but this call "
                f"has {key}={value!r}; use the same value, another checkpoint_path, "
                "or resume=False")


def _check_int(name: str, value: Any, minimum: int, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        expected = f"an int >= {minimum}" + (" or None" if optional else "")
        raise ValueError(f"{name} must be {expected}; got {value!r}")


def _dataset_size(dataset: Any, name: str) -> int:
    try:
        n = len(dataset)
    except TypeError:
        raise ValueError(f"{name} must be a map-style Dataset with __len__; "
                         f"got {type(dataset).__name__}") from None
    if n == 0:
        raise ValueError(f"{name} is empty; expected at least one example")
    return n


def _check_fit_args(dataset: Dataset, epochs: int, batch_size: int, seed: int,
                    scheduler_interval: str, checkpoint_every: int | None,
                    max_steps: int | None, num_workers: int, drop_last: bool) -> int:
    """Validate fit's arguments; return the number of batches per epoch."""
    n = _dataset_size(dataset, "dataset")
    _check_int("epochs", epochs, minimum=1)
    _check_int("batch_size", batch_size, minimum=1)
    _check_int("checkpoint_every", checkpoint_every, minimum=1, optional=True)
    _check_int("max_steps", max_steps, minimum=1, optional=True)
    _check_int("num_workers", num_workers, minimum=0)
    check_seed(seed)
    if scheduler_interval not in ("epoch", "step"):
        raise ValueError("scheduler_interval must be 'epoch' or 'step'; "
                         f"got {scheduler_interval!r}")
    n_batches = n // batch_size if drop_last else math.ceil(n / batch_size)
    if n_batches == 0:
        raise ValueError(f"drop_last=True with batch_size={batch_size} > len(dataset)={n} "
                         "leaves no batch")
    return n_batches
