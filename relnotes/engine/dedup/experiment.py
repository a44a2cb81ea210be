r"""RN Table 4 as one experiment on either kind of data: the tiny Faster R-CNN on synthetic
images, or the R50-FPN detector on COCO (the ``full`` profile).

The data decide the detector and its schedule, so each step of the experiment is one call that
takes the data as its argument, and a notebook has no branch on where its data come from:

- :func:`crowded_shapes_data` / :func:`coco_data`: the :class:`DedupData` of a run;
- :func:`train_frozen_detector`: the detector of one seed, trained, frozen, its head outputs
  cached (:class:`FrozenDetector`);
- :func:`dedup_detections`: every method's detections of the test images, from the cache or
  streamed (COCO);
- :func:`train_dedup_alone`: a network trained alone on the frozen detector, with its loss on
  the cached test images before and after (:class:`AloneRun`);
- :func:`train_dedup_e2e`: a network trained together with the detector (RN Sec. 4.4).

On the synthetic data the detector is trained with Adam at ``lr`` for ``epochs``; on COCO with
RN's SGD schedule of ``data.setting`` (:func:`~relnotes.engine.coco.train_on_coco`), and the
arguments ``lr``, ``epochs`` and ``batch_size`` of the detector are not used.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset, Subset
from torchvision.models.detection import FasterRCNN

from ...data.context_shapes import make_crowded_shapes
from ...nn.duplicate_removal import DuplicateRemoval
from ..coco import coco_detector, coco_sgd, coco_splits, train_on_coco
from ..detection import freeze_detector_body, train_detector, trainable_parameters, warmup_step_lr
from ..seed import seed_everything
from .outputs import CachedHeadOutputs, HeadOutputs
from .rules import rule_detections
from .evaluation import coco_ap, stream_detections
from .training import (DetectorWithDedup, mean_dedup_loss, train_alone, train_alone_streaming,
                       train_e2e)

__all__ = ["DedupData", "crowded_shapes_data", "coco_data", "FrozenDetector",
           "train_frozen_detector", "rule_methods", "dedup_detections", "dedup_ap",
           "AloneRun", "train_dedup_alone", "train_dedup_e2e", "table4_labels", "TABLE3_LABELS"]

#: Row key -> artifact label of RN Table 3 (the inputs of the network; ``"nms"``: N_t = 0.6).
TABLE3_LABELS = {"nms": "NMS (N_t = 0.6)", "eta 0.5-0.9": "ours {f_R, f, bbox}",
                 "rank: none": "rank f_R: none", "rank: s0": "rank f_R: s0",
                 "appearance: none": "appearance f: none", "geometry: none": "geometric bbox: none",
                 "geometry: unary": "geometric bbox: unary"}


def table4_labels(nms_thresholds: Sequence[float], soft_sigmas: Sequence[float]) -> dict:
    """Row key -> artifact label of RN Table 4 and its controls: ``"none"``, ``("nms", N_t)``,
    ``("soft", sigma)`` (the keys of :func:`rule_methods` and of
    :data:`relnotes.repro.papers.RN_TABLE_4`), the networks ``"eta 0.5"``, ``"eta 0.75"``,
    ``"eta 0.5-0.9"``, ``"e2e"``, and the controls."""
    labels: dict[Any, str] = {"none": "no duplicate removal"}
    labels.update({("nms", t): f"NMS, N_t = {t}" for t in nms_thresholds})
    labels.update({("soft", s): f"Soft-NMS, sigma = {s}" for s in soft_sigmas})
    labels.update({"eta 0.5": "ours, eta = 0.5", "eta 0.75": "ours, eta = 0.75",
                   "eta 0.5-0.9": "ours, eta in [0.5, 0.9]", "e2e": "ours, e2e, eta in [0.5, 0.9]",
                   "alone, longer": "control: ours alone, e2e_epochs more",
                   "e2e head, nms 0.5": "control: e2e head with NMS 0.5",
                   "eta 0.5, lr x10": "control: ours, eta = 0.5, 10x learning rate"})
    return labels


@dataclass(frozen=True)
class DedupData:
    """The data of one duplicate-removal run.

    Args:
        train, test (Dataset): ``(image, target)`` items.
        coco_gt (dict): the COCO ground truth of ``test``.
        label_to_category (dict, optional): detector label -> COCO category id (COCO); None
            when the labels are the category ids (synthetic).
        setting (Mapping, optional): RN's COCO setting (``relnotes.repro`` profiles' ``coco``);
            None on synthetic data.
    """

    train: Dataset
    test: Dataset
    coco_gt: dict
    label_to_category: dict | None = None
    setting: Mapping[str, Any] | None = None

    @property
    def is_coco(self) -> bool:
        return self.setting is not None

    def image(self, i: int):
        """Test image ``i`` as an H x W x 3 array, for plots."""
        return self.test[i][0].permute(1, 2, 0).numpy()


def crowded_shapes_data(n_train: int, n_test: int, *, seed: int = 0) -> DedupData:
    """Crowded ContextShapes (:func:`~relnotes.data.make_crowded_shapes`): ``n_train`` training
    images (seed ``seed + 1``) and ``n_test`` test images (seed ``seed + 2``, ids from 1,000,000)."""
    train = make_crowded_shapes(n_train, seed=seed + 1)
    test = make_crowded_shapes(n_test, seed=seed + 2, first_image_id=1_000_000)
    return DedupData(train.torch_dataset(), test.torch_dataset(), test.coco)


def coco_data(root, setting: Mapping[str, Any]) -> DedupData:
    """COCO 2017 under ``root`` with the splits of ``setting`` (:func:`~relnotes.engine.coco.coco_splits`)."""
    train, test = coco_splits(root, setting)
    return DedupData(train, test, test.coco_gt, test.label_to_category, setting)


@dataclass
class FrozenDetector:
    """A trained detector with a frozen body and its cached head outputs.

    Attributes:
        detector (FasterRCNN): on the CPU (synthetic) or where it trained (COCO), frozen.
        train_out (CachedHeadOutputs, optional): of the training images (synthetic only; on COCO
            the networks compute them batch by batch).
        test_out (CachedHeadOutputs): of the test images (COCO: the first ``n_test``).
    """

    detector: FasterRCNN
    train_out: CachedHeadOutputs | None
    test_out: CachedHeadOutputs

    @property
    def outputs(self) -> list[HeadOutputs]:
        """The head outputs of the cached test images."""
        return [o for o, _ in self.test_out.items]

    @property
    def targets(self) -> list[dict]:
        """The targets of the cached test images."""
        return [t for _, t in self.test_out.items]


def train_frozen_detector(data: DedupData, *, seed: int, proposals: int, lr: float | None = None,
                          epochs: int | None = None, batch_size: int | None = None,
                          n_test: int | None = None, threads: int | None = None,
                          device: str | torch.device = "cpu",
                          checkpoint_path=None) -> FrozenDetector:
    """Train the detector of ``data`` for one seed (body and 2fc head, ``proposals`` RoIs per
    image), freeze its body and cache its head outputs.

    Synthetic data: :func:`~relnotes.models.tiny_faster_rcnn`, Adam at ``lr`` on the trainable
    parameters for ``epochs`` (``batch_size`` images per step); both sets cached. COCO: the
    R50-FPN 2fc detector of ``data.setting`` (:func:`~relnotes.engine.coco.coco_detector`)
    with its SGD schedule, checkpointed at ``checkpoint_path``; the detector is put in eval mode
    without gradients, and only the first ``n_test`` test images are cached.
    ``seed_everything(seed, threads)`` runs first.
    """
    from ...models.tiny_rcnn import tiny_faster_rcnn

    seed_everything(seed, threads=threads)
    if not data.is_coco:
        detector = tiny_faster_rcnn(proposals=proposals)
        train_detector(detector, data.train,
                       torch.optim.Adam(trainable_parameters(detector), lr=lr), epochs=epochs,
                       batch_size=batch_size, seed=seed, device=device)
        detector = freeze_detector_body(detector.cpu())
        return FrozenDetector(detector, CachedHeadOutputs(detector, data.train),
                              CachedHeadOutputs(detector, data.test))
    setting = data.setting
    detector = coco_detector(len(data.label_to_category), setting, proposals=proposals)
    train_on_coco(detector, data.train, setting, seed=seed, device=device,
                  checkpoint_path=checkpoint_path)
    # trained alone, the network sees a fixed detector
    detector = freeze_detector_body(detector).eval().requires_grad_(False)
    n = len(data.test) if n_test is None else min(n_test, len(data.test))
    return FrozenDetector(detector, None, CachedHeadOutputs(detector, Subset(data.test, range(n)),
                                                            batch_size=setting["eval_batch_size"]))


def rule_methods(nms_thresholds: Sequence[float], soft_sigmas: Sequence[float]
                 ) -> dict[Any, Callable[[list[HeadOutputs]], list[dict]]]:
    """The rules of RN Table 4 as methods of :func:`dedup_detections`: ``"none"``,
    ``("nms", N_t)`` for each threshold and ``("soft", sigma)`` for each sigma
    (:func:`rule_detections`)."""
    methods: dict[Any, Callable] = {"none": lambda o: rule_detections(o, "none")}
    methods.update({("nms", t): (lambda o, t=t: rule_detections(o, "nms", t))
                    for t in nms_thresholds})
    methods.update({("soft", s): (lambda o, s=s: rule_detections(o, "soft_nms", s))
                    for s in soft_sigmas})
    return methods


def dedup_detections(data: DedupData, frozen: FrozenDetector,
                     methods: Mapping[Any, Callable[[list[HeadOutputs]], list[dict]]], *,
                     model: FasterRCNN | None = None, device: str | torch.device = "cpu"
                     ) -> dict[Any, list[dict]]:
    """Every method's detections of the test images, from the head outputs of ``model``
    (default: the frozen detector). Synthetic data: the cached outputs (or ``model``'s, computed
    once); COCO: the whole test split streamed through the detector
    (:func:`stream_detections`)."""
    if data.is_coco:
        return stream_detections(model or frozen.detector, data.test, methods,
                                 batch_size=data.setting["eval_batch_size"], device=device,
                                 progress=True)
    outs = frozen.outputs if model is None else [o for o, _ in CachedHeadOutputs(model, data.test).items]
    return {name: method(outs) for name, method in methods.items()}


def dedup_ap(data: DedupData, detections: list[dict]) -> dict[str, float]:
    """mAP, mAP50 and mAP75 (%) of ``detections`` on the test images (:func:`coco_ap`)."""
    return coco_ap(data.coco_gt, detections, label_to_category=data.label_to_category)


@dataclass
class AloneRun:
    """What :func:`train_dedup_alone` returns.

    Attributes:
        step_losses (list[float]): the training loss of every step.
        test_loss (tuple[float, float]): (untrained, trained): :func:`mean_dedup_loss` on the
            frozen detector's cached test images before and after training. A network that
            learned nothing (a learning rate of 0) has the same value twice.
    """

    step_losses: list[float]
    test_loss: tuple[float, float]


def train_dedup_alone(net: DuplicateRemoval, data: DedupData, frozen: FrozenDetector, *,
                      lr: float, epochs: int, batch_size: int, seed: int, first_n: int,
                      device: str | torch.device = "cpu", checkpoint_path=None) -> AloneRun:
    """Train ``net`` alone on the frozen detector (RN Table 4, "ours"): on the cached head
    outputs with Adam (:func:`train_alone`), or on COCO batch by batch with RN's SGD
    (:func:`train_alone_streaming`). Returns the loss of every step and the loss on the
    cached test images before and after training (:class:`AloneRun`)."""
    kw = dict(lr=lr, epochs=epochs, batch_size=batch_size, first_n=first_n, seed=seed)
    untrained = mean_dedup_loss(net, frozen.test_out, first_n=first_n)
    if not data.is_coco:
        history = train_alone(net, frozen.train_out, **kw)
    else:
        history = train_alone_streaming(net, frozen.detector, data.train, data.setting,
                                        device=device, checkpoint_path=checkpoint_path, **kw)
    return AloneRun(history.step_losses,
                    (untrained, mean_dedup_loss(net, frozen.test_out, first_n=first_n)))


def train_dedup_e2e(data: DedupData, frozen: FrozenDetector, net: DuplicateRemoval, *,
                    first_n: int, seed: int, proposals: int | None = None,
                    lr: float | None = None, epochs: int | None = None,
                    batch_size: int | None = None, threads: int | None = None,
                    device: str | torch.device = "cpu", checkpoint_path=None
                    ) -> DetectorWithDedup:
    """The detector and a duplicate-removal network trained together (RN Sec. 4.4).

    Synthetic data: copies of the frozen detector (body frozen) and of ``net`` (trained alone),
    Adam at ``lr`` for ``epochs`` (batches seeded with ``seed + 1``); returned on the CPU. COCO
    (RN's e2e): a fresh R50-FPN 2fc detector with ``proposals`` RoIs and a fresh copy of
    ``net`` (``reset_parameters()``), trained together from ImageNet weights with the
    detector's SGD schedule. ``seed_everything(seed, threads)`` runs first; returned in eval
    mode.
    """
    seed_everything(seed, threads=threads)
    if not data.is_coco:
        pair = DetectorWithDedup(copy.deepcopy(frozen.detector), copy.deepcopy(net),
                                 first_n=first_n, class_score_threshold=0.01)
        train_e2e(pair, data.train, lr=lr, epochs=epochs, batch_size=batch_size, seed=seed + 1,
                  device=device)
        return pair.cpu().eval()
    setting = data.setting
    detector = coco_detector(len(data.label_to_category), setting, proposals=proposals)
    net = copy.deepcopy(net)
    net.reset_parameters()
    pair = DetectorWithDedup(detector, net, first_n=first_n, class_score_threshold=0.01)
    opt = coco_sgd(pair, setting)
    steps = -(-len(data.train) // setting["batch_size"])
    train_e2e(pair, data.train, optimizer=opt, epochs=setting["epochs"],
              batch_size=setting["batch_size"], seed=seed,
              scheduler=warmup_step_lr(opt, steps_per_epoch=steps, lr_steps=setting["lr_steps"],
                                       warmup_steps=setting["warmup_steps"]),
              device=device, checkpoint_path=checkpoint_path, num_workers=setting["num_workers"])
    return pair.eval()
