r"""RN's COCO setting, in one place: what the ``full`` profile of every detection notebook runs.

The setting is a dict (``_RN_COCO`` in :mod:`relnotes.repro.profiles`, read as ``S.coco``):
splits, image sizes, test NMS, flips, and the schedule of RN Appendix A1 for the FPN detector
(SGD with momentum and weight decay, ``lr``, ``epochs``, ``lr_steps``, ``warmup_steps``,
``batch_size``, ``num_workers``). Three notebooks use it the same way:

1. :func:`coco_splits`: the training split (images without a usable box dropped, flipped with
   probability 1/2 when ``flip``) and the validation split, boxes only;
2. :func:`coco_detector`: :func:`~relnotes.models.relation_fasterrcnn_r50_fpn` with ImageNet
   weights when ``pretrained_backbone``, at the setting's sizes and test NMS;
3. :func:`train_on_coco`: :func:`~relnotes.engine.detection.train_detector` with :func:`coco_sgd`
   and the setting's schedule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torchvision.models.detection import FasterRCNN

from ..data.coco_instances import CocoInstances
from .detection import train_detector, train_head_on_body, trainable_parameters
from .loop import History

__all__ = ["coco_splits", "coco_detector", "coco_sgd", "train_on_coco", "train_head_row"]


def coco_splits(root, setting: Mapping[str, Any]) -> tuple[CocoInstances, CocoInstances]:
    """``(train, test)``: ``setting["train_split"]`` (non-empty images, the first ``max_train``,
    flipped when ``flip``) and ``setting["val_split"]`` (the first ``max_test``), boxes only."""
    from torchvision.transforms import v2

    train = CocoInstances(root, setting["train_split"], skip_empty=True, masks=False,
                          max_images=setting["max_train"],
                          transforms=v2.RandomHorizontalFlip(0.5) if setting["flip"] else None)
    test = CocoInstances(root, setting["val_split"], masks=False, max_images=setting["max_test"])
    return train, test


def coco_detector(num_classes: int, setting: Mapping[str, Any], *,
                  device: torch.device | str | None = None, **head) -> FasterRCNN:
    """:func:`~relnotes.models.relation_fasterrcnn_r50_fpn` at the setting's ``min_size``,
    ``max_size`` and ``nms_thresh``, with ImageNet weights (downloaded on first use) when
    ``pretrained_backbone`` and not on the ``meta`` device; ``head``: its other keyword arguments
    (``relations``, ``representation_size``, ``proposals``, ...)."""
    from torchvision.models import ResNet50_Weights

    from ..models import relation_fasterrcnn_r50_fpn

    weights = (ResNet50_Weights.IMAGENET1K_V1
               if setting["pretrained_backbone"] and str(device) != "meta" else None)
    return relation_fasterrcnn_r50_fpn(num_classes, backbone_weights=weights,
                                       min_size=setting["min_size"],
                                       max_size=setting["max_size"],
                                       nms_thresh=setting["nms_thresh"], device=device, **head)


def coco_sgd(model: torch.nn.Module, setting: Mapping[str, Any],
             lr: float | None = None) -> torch.optim.SGD:
    """SGD on the trainable parameters with the setting's momentum and weight decay, at ``lr``
    (default: the setting's)."""
    return torch.optim.SGD(trainable_parameters(model), lr=setting["lr"] if lr is None else lr,
                           momentum=setting["momentum"], weight_decay=setting["weight_decay"])


def train_on_coco(model: FasterRCNN, dataset, setting: Mapping[str, Any], *, seed: int = 0,
                  device: str | torch.device = "cpu", checkpoint_path=None) -> History:
    """:func:`~relnotes.engine.detection.train_detector` with :func:`coco_sgd` and the setting's
    schedule (``epochs``, ``batch_size``, ``warmup_steps``, ``lr_steps``, ``num_workers``), with
    a progress bar; ``checkpoint_path`` saves every epoch and resumes."""
    return train_detector(model, dataset, coco_sgd(model, setting), epochs=setting["epochs"],
                          batch_size=setting["batch_size"],
                          warmup_steps=setting["warmup_steps"], lr_steps=setting["lr_steps"],
                          seed=seed, device=device, checkpoint_path=checkpoint_path,
                          num_workers=setting["num_workers"], progress=True)


def train_head_row(model: FasterRCNN, dataset, *, setting: Mapping[str, Any] | None = None,
                   body: dict | None = None, lr: float | None = None, epochs: int | None = None,
                   batch_size: int | None = None, seed: int = 0,
                   device: str | torch.device = "cpu", checkpoint_path=None) -> FasterRCNN:
    """Train one row of the head ablations (RN Tables 1-2), ``model`` being a fresh detector
    with the row's head, on either kind of data.

    Synthetic sets (``setting`` None): the head alone on the frozen ``body``
    (:func:`~relnotes.engine.detection.train_head_on_body`, Adam at ``lr`` for ``epochs``).
    COCO (``setting``: RN's COCO setting): the whole detector with RN's schedule
    (:func:`train_on_coco`; ``body``, ``lr``, ``epochs`` and ``batch_size`` are not used),
    checkpointed at ``checkpoint_path``. Returns ``model``, trained in place.
    """
    if setting is None:
        if body is None:
            raise ValueError("on synthetic data give the trained body: train_head_row(..., body=train_body(...))")
        return train_head_on_body(model, body, dataset, lr=lr, epochs=epochs,
                                  batch_size=batch_size, seed=seed, device=device)
    train_on_coco(model, dataset, setting, seed=seed, device=device,
                  checkpoint_path=checkpoint_path)
    return model
