r"""Training and inspecting box heads on one frozen detector body (RN Tables 1, 2; Figure 4).

RN's head ablations (Hu et al., "Relation Networks for Object Detection", arXiv:1711.11575v2,
Tables 1 and 2) change only the box head. At small scale we make that literal: the body (backbone
and RPN) of :func:`relnotes.models.tiny_faster_rcnn` is trained **once** with the 2fc head, and
every head variant is then trained on that same frozen body, so all heads see the same proposals
and differ only in the head:

1. ``fit`` the whole detector (2fc head) with :func:`train_detector`;
2. :func:`body_state` copies its backbone and RPN weights (1 and 2: :func:`train_body`);
3. for each head: build a fresh detector with that head, :func:`load_body` (loads the body
   weights and freezes them, :func:`freeze_detector_body`), and
   :func:`train_detector` again (only the head trains) (:func:`train_head_on_body`);
4. :func:`evaluate_detector`: COCO mAP / mAP50 / mAP75 (pycocotools), per-class AP, and the mean
   AP of a group of classes (the context-decided classes of ContextShapes) and of the others.

What a trained head looks at (its relation weights) is measured in
:mod:`relnotes.analysis.relation_weights`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torchvision.models.detection import FasterRCNN

from ..data.coco_eval import coco_evaluate, detections_to_coco
from ..data.collate import detection_collate
from .loop import History, fit

__all__ = ["freeze_detector_body", "detector_loss", "body_state", "load_body",
           "trainable_parameters", "warmup_step_lr", "train_detector", "step_seconds", "train_body",
           "train_head_on_body", "train_body_then_head", "predict_coco", "evaluate_detector"]

_BODY = ("backbone.", "rpn.")


def _check_detector(model) -> None:
    if not isinstance(model, FasterRCNN):
        raise TypeError(f"model must be a torchvision FasterRCNN; got {type(model).__name__}")


def freeze_detector_body(model: FasterRCNN) -> FasterRCNN:
    """Fix the backbone and the RPN of ``model`` (in place; returned): no gradients, and
    :func:`detector_loss` keeps them in eval mode, so the RPN gives its test-time proposals and
    no RPN loss. Only ``model.roi_heads`` then trains."""
    for p in list(model.backbone.parameters()) + list(model.rpn.parameters()):
        p.requires_grad_(False)
    model._body_frozen = True
    return model


def detector_loss(model: FasterRCNN, batch) -> torch.Tensor:
    """The ``loss_fn`` of :func:`relnotes.engine.fit` for a torchvision detector: the sum of its
    losses on ``batch = (images, targets)`` (RPN objectness and box, head class and box)."""
    images, targets = batch
    if getattr(model, "_body_frozen", False):
        model.backbone.eval()
        model.rpn.eval()
    losses = model(list(images), list(targets))
    return sum(losses.values())


def body_state(model: FasterRCNN) -> dict[str, Tensor]:
    """A copy of the backbone and RPN weights of ``model`` (its ``state_dict`` entries that start
    with ``backbone.`` or ``rpn.``)."""
    _check_detector(model)
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k.startswith(_BODY)}


def load_body(model: FasterRCNN, state: dict[str, Tensor]) -> FasterRCNN:
    """Load a :func:`body_state` into ``model`` and freeze it (in place; returned).

    Raises:
        ValueError: ``state`` does not hold exactly the backbone and RPN entries of ``model``
            (another architecture), or a shape differs.
    """
    _check_detector(model)
    own = {k: v for k, v in model.state_dict().items() if k.startswith(_BODY)}
    if set(state) != set(own):
        missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        raise ValueError(f"state must hold the backbone and RPN entries of model; missing "
                         f"{missing[:3]}, unexpected {extra[:3]}")
    for k, v in state.items():
        if v.shape != own[k].shape:
            raise ValueError(f"state[{k!r}] has shape {tuple(v.shape)}; model expects "
                             f"{tuple(own[k].shape)}")
    model.load_state_dict(state, strict=False)
    return freeze_detector_body(model)


def trainable_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters of ``model`` with ``requires_grad`` (the head only after :func:`load_body`;
    without a frozen stem), for building its optimizer.

    Raises:
        ValueError: every parameter is frozen.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters (everything is frozen)")
    return params


def warmup_step_lr(optimizer: torch.optim.Optimizer, *, steps_per_epoch: int, warmup_steps: int,
                   lr_steps: Sequence[float], warmup_ratio: float = 1 / 3
                   ) -> torch.optim.lr_scheduler.LambdaLR:
    """A step schedule with a linear warm-up, stepped once per optimizer step: the learning rate
    rises linearly from ``warmup_ratio`` x lr to lr over ``warmup_steps`` steps (mmdetection's
    warm-up), and is multiplied by 0.1 at every epoch in ``lr_steps`` (epochs counted from 0,
    fractions allowed: (8, 11) for mmdetection's 1x schedule, (4,) for RN's FPN schedule, "the
    first 2/3 of 6 epochs"). With ``warmup_steps=0`` and no ``lr_steps`` the rate is constant.

    Example: with ``steps_per_epoch=10, warmup_steps=4, lr_steps=(2,)`` the factors of steps
    0, 2, 4, 19, 20 are 1/3, 2/3, 1, 1, 0.1.
    """
    if warmup_steps < 0 or steps_per_epoch < 1:
        raise ValueError(f"warmup_steps must be >= 0 and steps_per_epoch >= 1; got "
                         f"{warmup_steps}, {steps_per_epoch}")

    def factor(step: int) -> float:
        warm = 1.0 if step >= warmup_steps else warmup_ratio + (1 - warmup_ratio) * step / warmup_steps
        return warm * 0.1 ** sum(step >= e * steps_per_epoch for e in lr_steps)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_detector(model: torch.nn.Module, dataset, optimizer: torch.optim.Optimizer, *,
                   epochs: int, batch_size: int, warmup_steps: int = 0,
                   lr_steps: Sequence[float] = (), seed: int = 0,
                   device: str | torch.device = "cpu", checkpoint_path=None,
                   num_workers: int = 0, progress: bool = False) -> History:
    """Train a torchvision detector (Faster or Mask R-CNN) on ``(image, target)`` items with
    ``optimizer`` and the schedule :func:`warmup_step_lr`, through :func:`relnotes.engine.fit`
    (seeded example order, a clear stop on a non-finite loss, checkpoints and resume). The loss is
    :func:`detector_loss`, the sum of the detector's losses; a body
    frozen by :func:`load_body` stays in eval mode.

    Build the optimizer on :func:`trainable_parameters`, e.g. ``torch.optim.Adam(
    trainable_parameters(model), lr=3e-3)`` on the synthetic sets, or RN's
    ``SGD(..., lr=5e-3, momentum=0.9, weight_decay=1e-4)`` for 4 COCO images per step.

    Args:
        model: the detector; moved to ``device``.
        dataset (Dataset): ``(image, target)`` items (``ContextShapes.torch_dataset()``,
            :class:`~relnotes.data.coco_instances.CocoInstances`).
        optimizer (Optimizer): over the trainable parameters.
        epochs, batch_size (int): as in :func:`~relnotes.engine.fit`.
        warmup_steps (int), lr_steps (sequence of float): :func:`warmup_step_lr`. Defaults: 0,
            () (a constant rate).
        seed (int): fixes the example order. Default: 0.
        device (str or torch.device): Default: ``"cpu"``.
        checkpoint_path (path, optional): save every epoch and resume from it (long COCO runs).
            Default: None.
        num_workers (int): DataLoader workers (COCO's JPEG decoding). Default: 0.
        progress (bool): tqdm bar. Default: False.

    Returns:
        History: the loss of every step and epoch.
    """
    _check_detector(model)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer (e.g. torch.optim.Adam("
                        f"trainable_parameters(model), lr=...)); got {type(optimizer).__name__}")
    steps_per_epoch = -(-len(dataset) // batch_size)
    scheduler = warmup_step_lr(optimizer, steps_per_epoch=steps_per_epoch,
                               warmup_steps=warmup_steps, lr_steps=lr_steps)
    return fit(model, dataset, detector_loss, optimizer, epochs=epochs, batch_size=batch_size,
               seed=seed, scheduler=scheduler, scheduler_interval="step",
               collate_fn=detection_collate, device=device, checkpoint_path=checkpoint_path,
               num_workers=num_workers, progress=progress)


def step_seconds(model: torch.nn.Module, dataset, *, batch_size: int, steps: int = 3) -> float:
    """Median wall-clock seconds of one training step (forward, backward, an SGD step) of a
    torchvision detector on the first ``batch_size`` items of ``dataset``, after one warm-up
    step. It trains ``model`` a little: pass a throw-away copy. What a part of the detector costs
    to train (the mask branch, for instance) is the difference of two such numbers.
    """
    import time

    batch = detection_collate([dataset[i] for i in range(min(batch_size, len(dataset)))])
    optimizer = torch.optim.SGD(trainable_parameters(model), lr=1e-4)
    model.train()
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        optimizer.zero_grad()
        detector_loss(model, batch).backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[steps // 2]


def train_body(model: FasterRCNN, dataset, *, lr: float, epochs: int, batch_size: int,
               seed: int = 0, device: str | torch.device = "cpu", return_history: bool = False
               ) -> dict[str, Tensor] | tuple[dict[str, Tensor], History]:
    """Step 1 of the head ablations: train the whole detector (its 2fc head included) with Adam
    (``lr``) through :func:`train_detector`, and return its :func:`body_state`, the backbone and
    RPN weights every head is then trained on (:func:`train_head_on_body`); with
    ``return_history``, also the :class:`~relnotes.engine.loop.History` of that training (whether
    the body learnt)."""
    history = train_detector(model, dataset, torch.optim.Adam(trainable_parameters(model), lr=lr),
                             epochs=epochs, batch_size=batch_size, seed=seed, device=device)
    return (body_state(model), history) if return_history else body_state(model)


def train_head_on_body(model: FasterRCNN, state: dict[str, Tensor], dataset, *, lr: float,
                       epochs: int, batch_size: int, seed: int = 0,
                       device: str | torch.device = "cpu") -> FasterRCNN:
    """Steps 2-3 of the head ablations: :func:`load_body` (``state``, from :func:`train_body`)
    into ``model``, a fresh detector with the head to study, and train only that head with Adam
    (``lr``) through :func:`train_detector`. Returns ``model``, trained in place."""
    load_body(model, state)
    train_detector(model, dataset, torch.optim.Adam(trainable_parameters(model), lr=lr),
                   epochs=epochs, batch_size=batch_size, seed=seed, device=device)
    return model


def train_body_then_head(make_body, make_model, dataset, *, lr: float, body_epochs: int,
                         head_epochs: int, batch_size: int, seed: int = 0,
                         threads: int | None = None,
                         device: str | torch.device = "cpu") -> tuple[FasterRCNN, History]:
    """Both stages of the head ablations for one seed: seed, build ``make_body()`` and train the
    whole detector (:func:`train_detector`, Adam ``lr``, ``body_epochs``); seed again, build
    ``make_model()`` (the detector with the head to study) and train its head on the frozen body
    (:func:`train_head_on_body`, ``head_epochs``). The models are built after their seeding, so a
    run equals the two calls written out.

    Returns:
        (FasterRCNN, History): the trained model in eval mode, and the body's training history.
    """
    from .seed import seed_everything

    seed_everything(seed, threads=threads)
    state, history = train_body(make_body(), dataset, lr=lr, epochs=body_epochs,
                                batch_size=batch_size, seed=seed, device=device,
                                return_history=True)
    seed_everything(seed, threads=threads)
    model = train_head_on_body(make_model(), state, dataset, lr=lr, epochs=head_epochs,
                               batch_size=batch_size, seed=seed, device=device)
    return model.eval(), history


@torch.no_grad()
def predict_coco(model: torch.nn.Module, dataset, *, batch_size: int = 16,
                 device: str | torch.device = "cpu", label_to_category=None,
                 progress: bool = False) -> list[dict]:
    """COCO result dicts of a torchvision detector (eval mode) on every item of ``dataset``,
    batch by batch (100 masks at image size for 5,000 COCO images would not fit in memory).

    Args:
        model (nn.Module): a torchvision detector; moved to ``device``, put back in its mode.
        dataset: ``(image, target)`` items, ``target["image_id"]`` the COCO id.
        batch_size (int): images per forward pass. Default: 16.
        device (str or torch.device): Default: ``"cpu"``.
        label_to_category (sequence of int, optional): passed to
            :func:`~relnotes.data.coco_eval.detections_to_coco`. Default: None.
        progress (bool): a tqdm bar. Default: False.

    Returns:
        list of dicts ``image_id, category_id, bbox, score`` (+ ``segmentation`` for masks).
    """
    from tqdm.auto import tqdm

    was_training = model.training
    model.to(device).eval()
    dets = []
    try:
        for start in tqdm(range(0, len(dataset), batch_size), desc="predict", disable=not progress):
            items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
            outputs = model([im.to(device) for im, _ in items])
            dets += detections_to_coco([int(t["image_id"]) for _, t in items], outputs,
                                       label_to_category=label_to_category)
    finally:
        model.train(was_training)
    return dets


def evaluate_detector(model: FasterRCNN, dataset, coco_gt: dict, *,
                      group: tuple[str, ...] = (), batch_size: int = 32,
                      device: str | torch.device = "cpu", label_to_category=None,
                      progress: bool = False) -> dict:
    """COCO box AP of ``model`` on ``dataset`` against ``coco_gt``
    (:func:`relnotes.data.coco_eval.coco_evaluate`).

    Args:
        model (FasterRCNN): evaluated in eval mode (the mode is restored).
        dataset (Dataset): ``(image, target)`` pairs whose ``image_id`` are those of ``coco_gt``.
        coco_gt (dict): COCO-format ground truth.
        group (tuple of str): category names whose mean AP is reported as ``ap_group``, the mean
            over the other categories as ``ap_rest`` (e.g. the context-decided classes).
            Default: () (both NaN).
        batch_size (int): images per forward pass. Default: 32.
        device, label_to_category, progress: as in :func:`predict_coco` (COCO's category ids:
            ``CocoInstances.label_to_category``). Defaults: ``"cpu"``, None, False.

    Returns:
        dict: ``mAP``, ``mAP50``, ``mAP75``, ``per_class`` (as ``coco_evaluate``), ``ap_group``,
        ``ap_rest`` (floats in [0, 1]).
    """
    _check_detector(model)
    names = [c["name"] for c in coco_gt.get("categories", [])]
    unknown = [g for g in group if g not in names]
    if unknown:
        raise ValueError(f"group names {unknown} are not categories of coco_gt ({names})")
    dets = predict_coco(model, dataset, batch_size=batch_size, device=device,
                        label_to_category=label_to_category, progress=progress)
    result = coco_evaluate(coco_gt, dets)
    per_class = result["per_class"]

    def mean(keys):
        vals = [per_class[k] for k in keys if not math.isnan(per_class[k])]
        return sum(vals) / len(vals) if vals else math.nan

    result["ap_group"] = mean(group)
    result["ap_rest"] = mean([n for n in names if n not in group]) if group else math.nan
    return result
