r"""Training past one GPU: ``torchrun`` processes, PyTorch's DistributedDataParallel, one ``fit``.

``torchrun --nproc_per_node=8 train.py`` starts 8 processes (ranks) and tells each who it is
through environment variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``). A training script needs three lines more than a one-GPU one::

    info = init_from_env()                       # the process group; cuda:LOCAL_RANK
    model = build_model()                        # the same seed on every rank
    fit(model, dataset, loss_fn, optimizer, epochs=12, batch_size=64,  # the GLOBAL batch
        device=info.device, checkpoint_path="run/ckpt.pt", sync_batchnorm=True)

and :func:`relnotes.engine.fit` does the rest when a process group is initialised:

- **The model** is wrapped in ``torch.nn.parallel.DistributedDataParallel``: every rank runs
  forward and backward on its share of the batch, and DDP averages the gradients across ranks
  during ``backward`` (all-reduce), so every rank takes the same optimizer step.
- **The data**: :class:`DistributedEpochBatchSampler` cuts each batch of the one-process
  :class:`~relnotes.engine.loop.EpochBatchSampler` (the same ``(seed, epoch)`` permutation) into
  ``WORLD_SIZE`` equal, contiguous shares. The global batch is the one-process batch, so the
  mean of the ranks' mean losses is the batch's mean loss, and the averaged gradient is the
  gradient one process would compute: the same run, up to float rounding (the test checks it on
  two CPU processes with the gloo backend). ``batch_size`` must therefore be a multiple of the
  world size, and so must a last, smaller batch (or ``drop_last=True``).
- **BatchNorm**: each rank normalises with its own share's statistics unless
  ``sync_batchnorm=True`` converts the model's BatchNorm layers to ``torch.nn.SyncBatchNorm``,
  which computes them over the global batch (CUDA only: PyTorch's SyncBatchNorm rejects CPU
  tensors). Frozen BatchNorm (torchvision's detectors) is not affected either way.
- **Checkpoints** are written by rank 0 only (the training state is the same on every rank) and
  read by all ranks on resume; the model's weights are saved without DDP's ``module.`` prefix, so
  a checkpoint of N processes resumes in one process and back. The training log is rank 0's.
- **The logged loss** is the mean over ranks (one scalar all-reduce per step), so the history is
  the one-process history, and a NaN stops every rank at the same step.

**The learning rate** (our choice, the rule of Goyal et al., 2017, "Accurate, Large Minibatch
SGD", arXiv:1706.02677): a schedule tuned for a batch of ``B`` images keeps working for a batch
of ``k B`` with the learning rate multiplied by ``k`` (:func:`scale_lr`) and a warm-up of a few
hundred steps from a small rate; RN and GCNet's schedules are stated for their own batch
(RN: 5e-3 for 4 images; mmdetection: 0.02 for 16), so scale from those. Adam-type optimizers
follow the rule less well; they are not used for the ``full`` detectors.

Dropout: every rank starts from the same seed and draws the same stream (the ranks' shares have
equal shapes), so a checkpoint's generator state is every rank's; our choice, simple and exactly
resumable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Sampler

from .loop import EpochBatchSampler

__all__ = ["DistributedModel", "DistInfo", "init_from_env", "world", "is_main_process", "scale_lr",
           "DistributedEpochBatchSampler", "shard", "cleanup"]


class DistributedModel(DistributedDataParallel):
    """PyTorch's ``DistributedDataParallel``, plus attribute access to the wrapped model.

    ``fit`` hands this wrapper to ``loss_fn``, so that the forward pass goes through DDP (which
    is what synchronises the gradients). A ``loss_fn`` that also reads the model's attributes
    (``model.backbone.eval()``, a flag set on the model) then finds them as in one process:
    an attribute the wrapper lacks is looked up on ``self.module``. Calling a submodule
    directly still bypasses DDP: compute the loss by calling the model.
    """

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("module"), name)


@dataclass(frozen=True)
class DistInfo:
    """Who this process is: ``rank`` of ``world_size``, ``local_rank`` on its machine, and the
    ``device`` it trains on (``cuda:<local_rank>`` with CUDA, else ``cpu``)."""

    rank: int
    world_size: int
    local_rank: int
    device: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(backend: str | None = None) -> DistInfo:
    """Initialise the default process group from ``torchrun``'s environment variables.

    Without them (a plain ``python train.py``) nothing is initialised and the process is rank 0
    of 1, so the same script runs on one GPU or many.

    Args:
        backend (str, optional): ``"nccl"`` (GPUs) or ``"gloo"`` (CPU). Default: nccl when CUDA
            is available, else gloo.

    Raises:
        RuntimeError: with CUDA, when ``LOCAL_RANK`` has no device (more processes on this
            machine than GPUs).

    Returns:
        DistInfo: this process's rank, world size, local rank and device.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 and not dist.is_initialized():
        return DistInfo(0, 1, 0, "cuda:0" if torch.cuda.is_available() else "cpu")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available() and backend != "gloo"
    if cuda:
        devices = torch.cuda.device_count()
        if local_rank >= devices:
            raise RuntimeError(
                f"this process has LOCAL_RANK {local_rank}, but this machine has {devices} CUDA "
                f"device(s): start torchrun with --nproc_per_node at most {devices}, or pass "
                "backend='gloo' to train on the CPU")
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if cuda else "gloo"))
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank,
                    f"cuda:{local_rank}" if cuda else "cpu")


def world() -> tuple[int, int]:
    """``(rank, world_size)``: ``(0, 1)`` when no process group is initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    """True on rank 0 (and in a single process): the rank that writes files."""
    return world()[0] == 0


def cleanup() -> None:
    """Destroy the default process group, if any (end of a torchrun script)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def scale_lr(base_lr: float, global_batch: int, base_batch: int) -> float:
    """The linear scaling rule: ``base_lr * global_batch / base_batch`` (Goyal et al., 2017).

    Args:
        base_lr (float): the learning rate tuned for ``base_batch`` examples per step.
        global_batch (int): examples per step over all ranks (``batch_size`` of ``fit``).
        base_batch (int): the batch ``base_lr`` was tuned for.

    Examples:
        >>> scale_lr(5e-3, global_batch=32, base_batch=4)  # RN's 5e-3 for 4 images, on 8 GPUs x 4
        0.04
    """
    for name, value in (("global_batch", global_batch), ("base_batch", base_batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1; got {value!r}")
    if not base_lr > 0:
        raise ValueError(f"base_lr must be > 0; got {base_lr!r}")
    return base_lr * global_batch / base_batch


def shard(batch: list[int], rank: int, world_size: int) -> list[int]:
    """Rank ``rank``'s contiguous share of a global batch whose length is a multiple of
    ``world_size``: ``batch[rank * k:(rank + 1) * k]`` with ``k = len(batch) // world_size``."""
    k = len(batch) // world_size
    return batch[rank * k:(rank + 1) * k]


class DistributedEpochBatchSampler(Sampler[list[int]]):
    """Rank ``rank``'s shares of the batches of :class:`EpochBatchSampler` (same arguments).

    The global batches are exactly the one-process batches (the ``(seed, epoch)`` permutation
    cut in ``batch_size`` pieces); each is cut again into ``world_size`` contiguous shares.

    Args:
        n (int), batch_size (int, the global batch), seed (int), epoch (int), start (int),
            drop_last (bool): as in :class:`EpochBatchSampler`.
        rank (int), world_size (int): this process, and how many there are.

    Raises:
        ValueError: ``batch_size``, or the length of the last batch, is not a multiple of
            ``world_size`` (the shares would differ in size and the averaged gradient would not
            be the batch's).

    Examples:
        >>> full = list(EpochBatchSampler(8, 4, seed=0, epoch=0))
        >>> r0 = list(DistributedEpochBatchSampler(8, 4, seed=0, epoch=0, rank=0, world_size=2))
        >>> r1 = list(DistributedEpochBatchSampler(8, 4, seed=0, epoch=0, rank=1, world_size=2))
        >>> [a + b for a, b in zip(r0, r1)] == full
        True
    """

    def __init__(self, n: int, batch_size: int, *, seed: int, epoch: int, rank: int,
                 world_size: int, start: int = 0, drop_last: bool = False) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size={world_size}); got {rank}")
        if batch_size % world_size:
            raise ValueError(f"batch_size (the global batch, {batch_size}) must be a multiple "
                             f"of the world size ({world_size})")
        inner = EpochBatchSampler(n, batch_size, seed=seed, epoch=epoch, start=start,
                                  drop_last=drop_last)
        if inner.batches and len(inner.batches[-1]) % world_size:
            raise ValueError(f"the last batch of an epoch has {len(inner.batches[-1])} examples "
                             f"(len(dataset)={n}, batch_size={batch_size}), not a multiple of "
                             f"the world size ({world_size}); pass drop_last=True or use a "
                             f"dataset size that splits evenly")
        self.batches = [shard(b, rank, world_size) for b in inner.batches]
        self.start = start

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches[self.start:])

    def __len__(self) -> int:
        return len(self.batches) - self.start
