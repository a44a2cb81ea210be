r"""Training the duplicate-removal network (RN Table 4): its loss, alone on a frozen detector
(cached or streamed head outputs), or end to end with the detector (Sec. 4.4)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
import copy
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.models.detection import FasterRCNN

from ...nn.duplicate_removal import (DuplicateRemoval, duplicate_removal_loss,
                                     duplicate_removal_targets)
from ...data.collate import detection_collate
from ..coco import coco_sgd
from ..detection import detector_loss, warmup_step_lr
from ..loop import History, fit
from .outputs import HeadOutputs, _candidates, head_outputs

__all__ = ["dedup_loss", "mean_dedup_loss", "frozen_detector_dedup_loss", "DetectorWithDedup", "e2e_loss",
           "train_alone", "train_alone_streaming", "train_e2e"]


def dedup_loss(net: DuplicateRemoval, outputs: list[HeadOutputs], targets: list[dict], *,
               first_n: int = 100, class_score_threshold: float | None = None,
               pos_weight: float = 4.0) -> Tensor:
    r"""The duplicate-removal loss (:func:`~relnotes.nn.duplicate_removal_loss`, BCE on
    :math:`s_0 s_1`) on every class of every image, summed over classes, averaged over images.

    Args:
        net (DuplicateRemoval)
        outputs (list of HeadOutputs): one per image.
        targets (list of dict): ``boxes`` Tensor[G, 4], ``labels`` Tensor[G] (detector labels,
            1-based), one per image.
        first_n (int): detections per class. Default: 100.
        class_score_threshold (float, optional): skip the classes whose best :math:`s_0` is
            below (the code trains on every class; a threshold saves time, and the skipped
            classes only have near-zero scores, whose loss is near zero). Default: every class.
        pos_weight (float): Default: 4 (code).

    Returns:
        Tensor[]: 0 (with a gradient path) when there is no image or no RoI.
    """
    if len(outputs) != len(targets):
        raise ValueError(f"outputs and targets must have one entry per image; got "
                         f"{len(outputs)} and {len(targets)}")
    total = sum(p.sum() for p in net.parameters()) * 0.0
    # the classes of all images with the same N go through the network as one batch
    groups: dict[int, list[tuple[Tensor, Tensor, Tensor, Tensor]]] = {}
    for out, target in zip(outputs, targets):
        classes, scores, boxes, feats = _candidates(out, first_n, class_score_threshold)
        if scores.numel() == 0:
            continue
        t = torch.stack([
            duplicate_removal_targets(b, s.detach(), target["boxes"][target["labels"] == c + 1],
                                      net.thresholds)
            for c, s, b in zip(classes.tolist(), scores, boxes)])            # [C', N, T]
        groups.setdefault(scores.shape[1], []).append((scores, boxes, feats, t))
    for group in groups.values():
        scores, boxes, feats, t = (torch.cat(x) for x in zip(*group))
        s1 = net(feats, scores, boxes)                                       # [sum C', N, T]
        total = total + duplicate_removal_loss(scores[..., None] * s1, t, pos_weight)
    return total / max(len(outputs), 1)


def mean_dedup_loss(net: DuplicateRemoval, data, *, first_n: int = 100,
                    class_score_threshold: float | None = 0.01, batch_size: int = 32) -> float:
    """:func:`dedup_loss` of ``net`` averaged over every image of ``data``, without gradients:
    the number a learning claim compares before and after training (an untrained network, or
    one trained at a learning rate of 0, gives the same value twice).

    ``net`` is not touched: a CPU copy in eval mode is measured (the cached outputs are on the
    CPU). Images are taken in order, ``batch_size`` at a time; the result does not depend on
    ``batch_size`` (:func:`dedup_loss` is a mean over images).

    Args:
        net (DuplicateRemoval)
        data (CachedHeadOutputs or sequence): ``(HeadOutputs, target)`` items.
        first_n, class_score_threshold: of :func:`dedup_loss`. Defaults: 100, 0.01 (those of
            :func:`train_alone`).
        batch_size (int): images per call of :func:`dedup_loss`. Default: 32.

    Returns:
        float: the mean loss per image.
    """
    n = len(data)
    if n == 0:
        raise ValueError("data must hold at least one (HeadOutputs, target) item; got none")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1; got {batch_size!r}")
    net = copy.deepcopy(net).cpu().eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, n, batch_size):
            items = [data[i] for i in range(start, min(start + batch_size, n))]
            loss = dedup_loss(net, [o for o, _ in items], [t for _, t in items], first_n=first_n,
                              class_score_threshold=class_score_threshold)
            total += float(loss) * len(items)
    return total / n


def frozen_detector_dedup_loss(detector: FasterRCNN, *, first_n: int = 100,
                               class_score_threshold: float | None = None) -> Callable:
    """The ``loss_fn`` of :func:`relnotes.engine.fit` that trains a network alone on a frozen
    ``detector`` without a cache: for each batch ``(images, targets)`` of a detection dataset,
    :func:`head_outputs` without gradients, then :func:`dedup_loss`. ``detector`` must be on the
    device ``fit`` trains on; it stays frozen (nothing reaches its parameters)."""
    def loss_fn(net: DuplicateRemoval, batch) -> Tensor:
        images, targets = batch
        with torch.no_grad():
            outs = head_outputs(detector, list(images), [int(t["image_id"]) for t in targets])
        return dedup_loss(net, outs, list(targets), first_n=first_n,
                          class_score_threshold=class_score_threshold)
    return loss_fn


class DetectorWithDedup(nn.Module):
    """A detector and a duplicate-removal network trained together (RN Sec. 4.4, e2e); the
    ``model`` of :func:`relnotes.engine.fit` with :func:`e2e_loss`.

    Args:
        detector (FasterRCNN): with a :class:`~relnotes.models.RelationBoxHead`.
        dedup (DuplicateRemoval): its ``channels`` are the head's width.
        first_n (int): detections per class of the network. Default: 100.
        class_score_threshold (float, optional): of :func:`dedup_loss`. Default: every class.
    """

    def __init__(self, detector: FasterRCNN, dedup: DuplicateRemoval, first_n: int = 100,
                 class_score_threshold: float | None = None) -> None:
        super().__init__()
        width = detector.roi_heads.box_head.representation_size
        if dedup.channels != width:
            raise ValueError(f"dedup.channels ({dedup.channels}) must be the box head's width "
                             f"({width})")
        self.detector, self.dedup, self.first_n = detector, dedup, first_n
        self.class_score_threshold = class_score_threshold


def e2e_loss(model: DetectorWithDedup, batch) -> Tensor:
    """RN Sec. 4.4: the detector's losses plus the duplicate-removal loss, equal weights.
    ``batch = (images, targets)`` as for :func:`~relnotes.engine.detection.detector_loss`."""
    images, targets = batch
    loss = detector_loss(model.detector, batch)
    outs = head_outputs(model.detector, list(images), [int(t["image_id"]) for t in targets])
    return loss + dedup_loss(model.dedup, outs, list(targets), first_n=model.first_n,
                             class_score_threshold=model.class_score_threshold)


def train_alone(net: DuplicateRemoval, data, *, lr: float, epochs: int, batch_size: int,
                seed: int, first_n: int = 100, class_score_threshold: float | None = 0.01
                ) -> History:
    """Train ``net`` alone on a frozen detector's cached head outputs (RN Table 4, "ours"):
    Adam (``lr``) through :func:`relnotes.engine.fit` on :func:`dedup_loss`.

    Args:
        net (DuplicateRemoval): trained in place.
        data (CachedHeadOutputs): ``(HeadOutputs, target)`` items of the training images.
        lr (float), epochs (int), batch_size (int), seed (int): as in ``fit``.
        first_n, class_score_threshold: of :func:`dedup_loss`. Defaults: 100, 0.01.

    Returns:
        History: the loss of every step.
    """
    def loss_fn(net: DuplicateRemoval, batch) -> Tensor:
        return dedup_loss(net, [o for o, _ in batch], [t for _, t in batch], first_n=first_n,
                          class_score_threshold=class_score_threshold)

    return fit(net, data, loss_fn, torch.optim.Adam(net.parameters(), lr=lr), epochs=epochs,
               batch_size=batch_size, seed=seed, collate_fn=list, progress=False)


def train_alone_streaming(net: DuplicateRemoval, detector: FasterRCNN, dataset,
                          setting: Mapping[str, Any], *, lr: float, epochs: int,
                          batch_size: int, seed: int, first_n: int = 100,
                          class_score_threshold: float | None = 0.01,
                          device: str | torch.device = "cpu", checkpoint_path=None) -> History:
    """:func:`train_alone` on COCO, where the head outputs do not fit in memory: each batch goes
    through the frozen ``detector`` (:func:`frozen_detector_dedup_loss`); RN's SGD
    (:func:`relnotes.engine.coco.coco_sgd` of ``setting``, at ``lr``), its warm-up, and x0.1
    after 2/3 of ``epochs``."""
    opt = coco_sgd(net, setting, lr=lr)
    steps = -(-len(dataset) // batch_size)
    loss_fn = frozen_detector_dedup_loss(detector.to(device), first_n=first_n,
                                         class_score_threshold=class_score_threshold)
    return fit(net, dataset, loss_fn, opt, epochs=epochs, batch_size=batch_size, seed=seed,
               scheduler=warmup_step_lr(opt, steps_per_epoch=steps,
                                        warmup_steps=setting["warmup_steps"],
                                        lr_steps=(2 * epochs / 3,)),
               scheduler_interval="step", collate_fn=detection_collate, device=device,
               checkpoint_path=checkpoint_path, num_workers=setting["num_workers"],
               progress=True)


def train_e2e(pair: DetectorWithDedup, dataset, *, optimizer: torch.optim.Optimizer | None = None,
              lr: float | None = None, epochs: int, batch_size: int, seed: int,
              scheduler=None, device: str | torch.device = "cpu", checkpoint_path=None,
              num_workers: int = 0, progress: bool = True) -> History:
    """Train a detector and its duplicate-removal network together (RN Sec. 4.4) on
    :func:`e2e_loss` through :func:`relnotes.engine.fit`: with ``optimizer`` (and its
    ``scheduler``, stepped every step), or Adam (``lr``) on the trainable parameters."""
    if optimizer is None:
        if lr is None:
            raise ValueError("give an optimizer or a learning rate lr")
        optimizer = torch.optim.Adam([p for p in pair.parameters() if p.requires_grad], lr=lr)
    kw = dict(scheduler=scheduler, scheduler_interval="step") if scheduler is not None else {}
    return fit(pair, dataset, e2e_loss, optimizer, epochs=epochs, batch_size=batch_size,
               seed=seed, collate_fn=detection_collate, device=device,
               checkpoint_path=checkpoint_path, num_workers=num_workers, progress=progress, **kw)
