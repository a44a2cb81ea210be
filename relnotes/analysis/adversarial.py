r"""Adversarial examples: FGSM, PGD, robust accuracy and adversarial training.

The LR-Net paper (Hu, Zhang, Xie, Lin, ICCV 2019, arXiv:1904.11491) and Han Hu's talk compare
ResNet-26/50 and LR-Net-26 under adversarial attacks: clean, targeted-attack and
untargeted-attack top-1 of adversarially trained networks. This module holds the attacks and the
two ways the book uses them: to *measure* a trained model (:func:`robust_accuracy`) and to *train*
one (:func:`adversarial_loss_fn`, a ``loss_fn`` for :func:`relnotes.engine.fit`). It lives in
``relnotes.analysis`` because an attack is a measurement of a model; training needs nothing more
than a loss function, so the engine stays unaware of attacks.

**Threat model.** An image :math:`x` with values in :math:`[l, u]` (``lower``, ``upper``; [0, 1]
for the book's digits) may be changed by at most :math:`\epsilon` per pixel: the adversarial
image lives in the set

.. math::  S(x) = \{x' : \|x' - x\|_\infty \le \epsilon,\ l \le x' \le u\}.

**FGSM** (Goodfellow, Shlens, Szegedy, ICLR 2015) takes one step along the sign of the gradient
of the loss :math:`L` (cross-entropy) with respect to the input:

.. math::  x' = \Pi_{S(x)}\big(x + \epsilon\, \operatorname{sign} \nabla_x L(f(x), y)\big).

**PGD** (Madry et al., ICLR 2018) repeats smaller steps of size :math:`\alpha` and projects back
onto :math:`S(x)` after each, from a random start :math:`x^0 = x + U(-\epsilon, \epsilon)`:

.. math::  x^{t+1} = \Pi_{S(x)}\big(x^t + \alpha\, \operatorname{sign} \nabla_x L(f(x^t), y)\big).

A **targeted** attack chooses a class :math:`t \ne y` (here uniformly at random, as in the
ImageNet protocol of Kannan et al. 2018 and Xie et al. 2019 that the LR-Net paper is believed to
follow) and *descends* the loss of that class, :math:`x^t - \alpha \operatorname{sign} \nabla_x
L(f(x^t), t)`. It succeeds only if the network says :math:`t`, which is harder than making it
say anything but :math:`y`; so accuracy under a targeted attack is higher than under an
untargeted one, as in every row of the talk's table.

The projection onto :math:`S(x)`, a box, is a clamp of each pixel to
:math:`[\max(x - \epsilon, l), \min(x + \epsilon, u)]`.

**FGSM with a random start** ("fast" adversarial training, Wong, Rice, Kolter, ICLR 2020) is one
PGD step from a random start with :math:`\alpha = 1.25\,\epsilon`. Training on it costs two
forward-backward passes per step instead of the :math:`K + 1` of PGD-K training.

Examples:
    >>> model = torch.nn.Linear(4, 2)
    >>> x, y = torch.full((3, 4), 0.5), torch.tensor([0, 1, 0])
    >>> x_adv = pgd(model, x, y, eps=0.1, step_size=0.025, steps=10)
    >>> bool((x_adv - x).abs().max() <= 0.1 + 1e-7)
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from ..engine import evaluate
from ..engine.classification import train_classifier

__all__ = [
    "Attack", "fgsm", "pgd", "project", "random_targets", "adversarial_loss_fn",
    "robustness_metric_fn", "robust_accuracy", "recalibrate_batchnorm", "AdversarialDesign",
    "adversarial_designs", "train_adversarially", "pick_design",
]


def project(x_adv: Tensor, x: Tensor, eps: float, lower: float = 0.0,
            upper: float = 1.0) -> Tensor:
    """:math:`\\Pi_{S(x)}`: clamp every pixel of ``x_adv`` to :math:`[\\max(x - \\epsilon, l),
    \\min(x + \\epsilon, u)]`, the closest point of the allowed set in any L-p norm (a box).

    Args:
        x_adv (Tensor[B, ...]): the perturbed images.
        x (Tensor[B, ...]): the clean images, inside ``[lower, upper]``.
        eps (float): the L-inf radius.
        lower (float), upper (float): the valid input range. Default: 0.0 and 1.0.

    Returns:
        Tensor[B, ...]: the projected images.
    """
    return torch.minimum(torch.maximum(x_adv, (x - eps).clamp(min=lower)),
                         (x + eps).clamp(max=upper))


def random_targets(labels: Tensor, num_classes: int, *,
                   generator: torch.Generator | None = None) -> Tensor:
    """A target class for each label, uniform over the ``num_classes - 1`` other classes.

    ``(y + r) mod K`` with ``r`` uniform in ``{1, ..., K-1}``: never the true class.

    Args:
        labels (Tensor[B]): int64 class indices in ``[0, num_classes)``.
        num_classes (int): K, at least 2.
        generator (torch.Generator, optional): a CPU generator for the draw. Default: None (the
            global generator).

    Returns:
        Tensor[B]: int64 targets, on the device of ``labels``.

    Examples:
        >>> t = random_targets(torch.tensor([0, 1, 2]), 3, generator=torch.Generator().manual_seed(0))
        >>> bool((t != torch.tensor([0, 1, 2])).all())
        True
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2; got {num_classes!r}")
    _check_labels(labels, "labels", None, num_classes)
    shift = torch.randint(1, num_classes, labels.shape, generator=generator)
    return (labels + shift.to(labels.device)) % num_classes


def pgd(model: Callable[[Tensor], Tensor], images: Tensor, labels: Tensor, *, eps: float,
        step_size: float, steps: int, random_start: bool = True, target: Tensor | None = None,
        lower: float = 0.0, upper: float = 1.0,
        generator: torch.Generator | None = None) -> Tensor:
    """Projected gradient descent in the L-inf ball (Madry et al. 2018), untargeted or targeted.

    The model is used in the mode it is in (call ``model.eval()`` first to attack the network
    that is evaluated) and left as it was found. Gradients are taken with
    ``torch.autograd.grad`` with respect to the image only, so the parameters' ``.grad`` are left
    untouched; and every buffer of an ``nn.Module`` is put back after the attack, so that in train
    mode its forward passes use each batch's BatchNorm statistics without adding the
    half-attacked batches to the running statistics that eval mode uses.

    Args:
        model (callable): ``model(Tensor[B, ...]) -> Tensor[B, K]`` logits.
        images (Tensor[B, ...]): clean images, floating point, inside ``[lower, upper]``.
        labels (Tensor[B]): int64 true classes.
        eps (float): L-inf radius :math:`\\epsilon` (>= 0).
        step_size (float): :math:`\\alpha` (>= 0).
        steps (int): number of gradient steps (>= 0). ``steps=0`` without a random start
            returns ``images`` unchanged (a copy).
        random_start (bool): start from ``images + U(-eps, eps)``, projected. Default: True.
        target (Tensor[B], optional): int64 target classes; if given, the attack is targeted
            and descends the cross-entropy of ``target`` instead of ascending that of
            ``labels``. Default: None (untargeted).
        lower (float), upper (float): the valid input range. Default: 0.0 and 1.0.
        generator (torch.Generator, optional): a CPU generator for the random start. Default:
            None (the global generator).

    Returns:
        Tensor[B, ...]: adversarial images in :math:`S(x)`, detached.
    """
    _check_attack_args(images, labels, eps, step_size, steps, lower, upper)
    if target is not None:
        _check_labels(target, "target", labels.shape[0], None)
        if target.device != labels.device:
            raise ValueError(f"target must be on the device of labels ({labels.device}); "
                             f"got {target.device}")
    x = images.detach()
    x_adv = x.clone()
    if random_start:
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        x_adv = project(x + (2 * noise - 1) * eps, x, eps, lower, upper)
    # Targeted: descend the loss of the target class; untargeted: ascend the loss of the label.
    direction, goal = (-1.0, target) if target is not None else (1.0, labels)
    with _buffers_restored(model):
        for _ in range(steps):
            x_adv.requires_grad_(True)
            # Summed, not averaged: the sign of each example's gradient is the same, and a sum
            # does not shrink the gradients by 1/B towards underflow.
            loss = F.cross_entropy(model(x_adv), goal, reduction="sum")
            (grad,) = torch.autograd.grad(loss, x_adv)
            x_adv = x_adv.detach() + direction * step_size * grad.sign()  # PGD step
            x_adv = project(x_adv, x, eps, lower, upper)                    # Π_S(x)
    return x_adv.detach()


@contextmanager
def _buffers_restored(model: Any) -> Iterator[None]:
    """Put every buffer of ``model`` (if it is an ``nn.Module``) back as it was on exit: the
    attack's forward passes in train mode must not move BatchNorm's running statistics."""
    buffers = list(model.buffers()) if isinstance(model, nn.Module) else []
    saved = [b.detach().clone() for b in buffers]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, s in zip(buffers, saved):
                b.copy_(s)


def fgsm(model: Callable[[Tensor], Tensor], images: Tensor, labels: Tensor, *, eps: float,
         target: Tensor | None = None, lower: float = 0.0, upper: float = 1.0) -> Tensor:
    """The fast gradient sign method (Goodfellow et al. 2015): one step of size ``eps`` from the
    clean image, i.e. :func:`pgd` with ``steps=1, step_size=eps, random_start=False``.

    Args: as in :func:`pgd`.

    Returns:
        Tensor[B, ...]: adversarial images in :math:`S(x)`, detached.
    """
    return pgd(model, images, labels, eps=eps, step_size=eps, steps=1, random_start=False,
               target=target, lower=lower, upper=upper)


@dataclass(frozen=True)
class Attack:
    """One attack setting, named and reusable: what a table column means.

    Args:
        eps (float): L-inf radius.
        step_size (float): PGD step :math:`\\alpha`.
        steps (int): PGD steps.
        random_start (bool): start at a uniform random point of the ball. Default: True.
        targeted (bool): attack towards a random other class (:func:`random_targets`).
            Default: False.
        lower (float), upper (float): the valid input range. Default: 0.0 and 1.0.

    Use the constructors :meth:`fgsm`, :meth:`fgsm_rs` and :meth:`pgd_linf` for the usual
    settings; ``attack(model, images, labels, num_classes=K)`` runs it.
    """

    eps: float
    step_size: float
    steps: int
    random_start: bool = True
    targeted: bool = False
    lower: float = 0.0
    upper: float = 1.0

    def __post_init__(self) -> None:
        _check_number("eps", self.eps)
        _check_number("step_size", self.step_size)
        _check_steps(self.steps)
        _check_range(self.lower, self.upper)

    @classmethod
    def fgsm(cls, eps: float, *, targeted: bool = False) -> "Attack":
        """FGSM: one step of size ``eps`` from the clean image."""
        return cls(eps, step_size=eps, steps=1, random_start=False, targeted=targeted)

    @classmethod
    def fgsm_rs(cls, eps: float, *, alpha: float = 1.25) -> "Attack":
        """FGSM with a random start, step ``alpha * eps`` (Wong et al. 2020; alpha 1.25)."""
        return cls(eps, step_size=alpha * eps, steps=1, random_start=True)

    @classmethod
    def pgd_linf(cls, eps: float, *, steps: int, step_size: float | None = None,
                 targeted: bool = False) -> "Attack":
        """PGD-``steps`` from a random start; step ``2.5 * eps / steps`` unless given (Madry et
        al.'s rule of thumb, so that the walk can cross the ball)."""
        if step_size is None:
            _check_steps(steps)
            step_size = 2.5 * eps / max(steps, 1)
        return cls(eps, step_size=step_size, steps=steps, random_start=True, targeted=targeted)

    def __call__(self, model: Callable[[Tensor], Tensor], images: Tensor, labels: Tensor, *,
                 num_classes: int | None = None,
                 generator: torch.Generator | None = None) -> tuple[Tensor, Tensor | None]:
        """Run the attack.

        Args:
            model, images, labels, generator: as in :func:`pgd`.
            num_classes (int, optional): K, needed to draw targets when ``targeted``.

        Returns:
            tuple: the adversarial images ``Tensor[B, ...]`` and the targets ``Tensor[B]`` (None
            when untargeted).
        """
        target = None
        if self.targeted:
            if num_classes is None:
                raise ValueError("a targeted Attack needs num_classes to draw the random targets")
            target = random_targets(labels, num_classes, generator=generator)
        x_adv = pgd(model, images, labels, eps=self.eps, step_size=self.step_size,
                    steps=self.steps, random_start=self.random_start, target=target,
                    lower=self.lower, upper=self.upper, generator=generator)
        return x_adv, target


def adversarial_loss_fn(attack: Attack, *, num_classes: int | None = None,
                        clean_weight: float = 0.0,
                        frozen_batchnorm: bool = False) -> Callable[[nn.Module, Any], Tensor]:
    """A ``loss_fn`` for :func:`relnotes.engine.fit` that trains on adversarial examples
    (Madry et al. 2018: minimise over the weights the loss maximised over :math:`S(x)`):

    .. math::  L = (1 - w)\\, L(f(x'), y) + w\\, L(f(x), y), \\quad x' = \\text{attack}(x),

    with ``w = clean_weight`` (0: adversarial examples only, as in Madry et al.; 0.5: the mixed
    loss of Goodfellow et al.). The attack runs on every batch, in the mode ``fit`` puts the
    model in (train: BatchNorm uses the batch's statistics, as in Wong et al.'s code), but does
    not move the running statistics (:func:`pgd` restores the buffers; our choice): only the
    forward passes of the loss do, so the running statistics average the images the network is
    trained on, not every intermediate step of the attack. The attack draws its random start and
    targets from the global generator, which ``fit`` seeds and checkpoints, so an interrupted run
    still resumes bit-exactly.

    Args:
        attack (Attack): e.g. ``Attack.fgsm_rs(0.1)`` or ``Attack.pgd_linf(0.1, steps=7)``.
        num_classes (int, optional): needed if ``attack.targeted``.
        clean_weight (float): w in [0, 1]. Default: 0.0.
        frozen_batchnorm (bool): BatchNorm layers normalise with their running statistics and
            leave them alone (eval mode) during the attack and the loss, and are put back in
            their mode afterwards: for fine-tuning a regularly trained network, whose running
            statistics are those of clean images, so that training and evaluation normalise
            every image alike (our choice; see ``book/local-relation.md``). Default: False.

    Returns:
        callable: ``loss_fn(model, (images, labels)) -> Tensor[]``.
    """
    if not isinstance(attack, Attack):
        raise TypeError(f"attack must be an Attack; got {type(attack).__name__}")
    if not (isinstance(clean_weight, (int, float)) and 0.0 <= clean_weight <= 1.0):
        raise ValueError(f"clean_weight must be a number in [0, 1]; got {clean_weight!r}")
    if attack.targeted and num_classes is None:
        raise ValueError("a targeted attack needs num_classes to draw the random targets")

    def loss_fn(model: nn.Module, batch: Any) -> Tensor:
        images, labels = batch
        with _batchnorm_frozen(model, frozen_batchnorm):
            x_adv, _ = attack(model, images, labels, num_classes=num_classes)
            loss = F.cross_entropy(model(x_adv), labels)
            if clean_weight > 0:
                loss = ((1 - clean_weight) * loss
                        + clean_weight * F.cross_entropy(model(images), labels))
        return loss

    return loss_fn


@contextmanager
def _batchnorm_frozen(model: nn.Module, frozen: bool) -> Iterator[None]:
    """Put every BatchNorm layer of ``model`` in eval mode (if ``frozen``), and back on exit."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)] \
        if frozen else []
    modes = [m.training for m in norms]
    try:
        for m in norms:
            m.eval()
        yield
    finally:
        for m, mode in zip(norms, modes):
            m.train(mode)


@dataclass(frozen=True)
class AdversarialDesign:
    """One way to train a network adversarially: a column of the robustness pilot.

    Args:
        attack (Attack): the attack that makes each batch's training examples.
        finetune (bool): start from the regularly trained weights (True) or from the
            initialisation (False).
        steps (int): optimizer steps of the adversarial training.
        lr (float): Adam's peak learning rate (cosine decay over ``steps``).
        frozen_batchnorm (bool): see :func:`adversarial_loss_fn`. Default: False.
    """

    attack: Attack
    finetune: bool
    steps: int
    lr: float
    frozen_batchnorm: bool = False


def adversarial_designs(eps: float, *, pgd_steps: int, steps: int, lr: float,
                        finetune_steps: int, finetune_lr: float) -> dict[str, AdversarialDesign]:
    """The candidate designs of the robustness study, by name (a profile lists the names):

    - ``"pgd-finetune"``: PGD-``pgd_steps`` fine-tuning of the regular weights, ``finetune_steps``
      steps at ``finetune_lr``, BatchNorm in train mode;
    - ``"pgd-finetune-frozen-bn"``: the same with BatchNorm frozen (running statistics of the
      clean images of the regular training, in training and evaluation alike);
    - ``"fgsm-rs"``: FGSM with a random start from the initialisation (Wong et al. 2020), ``steps``
      steps at ``lr``, as the regular training.
    """
    pgd = Attack.pgd_linf(eps, steps=pgd_steps)
    return {
        "pgd-finetune": AdversarialDesign(pgd, True, finetune_steps, finetune_lr),
        "pgd-finetune-frozen-bn": AdversarialDesign(pgd, True, finetune_steps, finetune_lr,
                                                    frozen_batchnorm=True),
        "fgsm-rs": AdversarialDesign(Attack.fgsm_rs(eps), False, steps, lr),
    }


def train_adversarially(model: nn.Module, design: AdversarialDesign,
                        train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor], *,
                        batch_size: int = 32, seed: int = 0) -> dict[str, float]:
    """Train ``model`` in place with ``design`` (:func:`relnotes.engine.classification.
    train_classifier` with :func:`adversarial_loss_fn`); ``model`` is the regularly trained
    network for a fine-tuning design, a fresh one otherwise. Returns ``train_classifier``'s
    metrics (clean test accuracy in eval mode, final training loss on the attacked batches)."""
    loss_fn = adversarial_loss_fn(design.attack, frozen_batchnorm=design.frozen_batchnorm)
    return train_classifier(model, train, test, steps=design.steps, batch_size=batch_size,
                            lr=design.lr, seed=seed, loss_fn=loss_fn)


def pick_design(clean: Mapping[str, Mapping[str, float]]) -> str:
    """The pilot's choice: the design whose *lower* clean accuracy over the networks is highest
    (the first on a tie), since robust accuracies can be compared only between networks that
    both classify clean images.

    Args:
        clean (Mapping[str, Mapping[str, float]]): design -> network -> clean accuracy.

    Examples:
        >>> pick_design({"a": {"x": 60.0, "y": 30.0}, "b": {"x": 50.0, "y": 45.0}})
        'b'
    """
    if not clean or not all(clean.values()):
        raise ValueError("clean must map at least one design to its networks' clean accuracies")
    return max(clean, key=lambda name: min(clean[name].values()))


def robustness_metric_fn(attacks: Mapping[str, Attack], *, num_classes: int | None = None,
                         seed: int = 0) -> Callable[[nn.Module, Any], dict[str, Tensor]]:
    """A ``metric_fn`` for :func:`relnotes.engine.evaluate`: clean accuracy and accuracy under
    each attack (the fraction of images still classified as their true class).

    For a targeted attack ``name``, ``name + "_hit"`` is also returned: the fraction classified as
    the target (the attack's success rate).

    The random starts and targets come from a private generator seeded with ``seed`` when this
    function is called, so the global generators are not touched (as ``evaluate`` promises) and
    a fresh metric function over the same data gives the same numbers.

    Args:
        attacks (Mapping[str, Attack]): column name -> attack. "clean" is reserved.
        num_classes (int, optional): needed if an attack is targeted.
        seed (int): seed of the private generator. Default: 0.

    Returns:
        callable: ``metric_fn(model, (images, labels)) -> {"clean": ..., name: ..., ...}``.
    """
    if not isinstance(attacks, Mapping) or not all(isinstance(a, Attack)
                                                   for a in attacks.values()):
        raise TypeError("attacks must be a mapping from names to Attack objects; got "
                        f"{type(attacks).__name__}")
    if "clean" in attacks:
        raise ValueError("the name 'clean' is reserved for the accuracy without attack")
    if num_classes is None and any(a.targeted for a in attacks.values()):
        raise ValueError("a targeted attack needs num_classes to draw the random targets")
    generator = torch.Generator().manual_seed(seed)

    def metric_fn(model: nn.Module, batch: Any) -> dict[str, Tensor]:
        images, labels = batch
        metrics = {"clean": (model(images).argmax(1) == labels).float().mean()}
        with torch.enable_grad():  # evaluate() runs under no_grad; the attacks need gradients
            for name, attack in attacks.items():
                x_adv, target = attack(model, images, labels, num_classes=num_classes,
                                       generator=generator)
                with torch.no_grad():
                    predicted = model(x_adv).argmax(1)
                metrics[name] = (predicted == labels).float().mean()
                if target is not None:
                    metrics[f"{name}_hit"] = (predicted == target).float().mean()
        return metrics

    return metric_fn


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, images: Tensor, *, batch_size: int = 32) -> nn.Module:
    """A copy of ``model`` whose BatchNorm running statistics are recomputed on ``images``, in eval
    mode: a diagnostic of adversarial training, whose running statistics average attacked batches
    while the clean accuracy is measured in eval mode on clean images.

    Each running mean and variance becomes the plain average of the per-batch statistics over the
    batches of ``images`` (PyTorch's ``momentum=None``), as in train mode; the parameters and
    ``model`` itself are untouched.

    Args:
        model (nn.Module): a network with BatchNorm layers (``_BatchNorm`` with running stats).
        images (Tensor[N, ...]): inputs, on the model's device; cut into batches of ``batch_size``.
        batch_size (int): images per batch (the training batch size: batch statistics depend on
            it). Default: 32.

    Returns:
        nn.Module: the recalibrated copy, in eval mode.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(f"batch_size must be an int >= 2; got {batch_size!r}")
    if not isinstance(images, Tensor) or images.ndim < 2 or len(images) < 2:
        raise ValueError("images must be a Tensor[N, ...] with N >= 2")
    twin = deepcopy(model)
    norms = [b for b in twin.modules()
             if isinstance(b, nn.modules.batchnorm._BatchNorm) and b.track_running_stats]
    momenta = [b.momentum for b in norms]
    for b in norms:
        b.reset_running_stats()
        b.momentum = None        # cumulative average over the batches
    twin.train()
    for batch in images.split(batch_size):
        if len(batch) > 1:       # BatchNorm needs two values per channel
            twin(batch)
    for b, momentum in zip(norms, momenta):
        b.momentum = momentum
    return twin.eval()


def robust_accuracy(model: nn.Module, dataset: Dataset, attacks: Mapping[str, Attack], *,
                    num_classes: int | None = None, seed: int = 0, batch_size: int = 100,
                    device: str | torch.device = "cpu", progress: bool = False) -> dict[str, float]:
    """Clean accuracy and accuracy under each attack over ``dataset``, in eval mode.

    :func:`relnotes.engine.evaluate` with :func:`robustness_metric_fn`.

    Args:
        model (nn.Module): a classifier.
        dataset (Dataset): ``(image, label)`` pairs with images in the attacks' range.
        attacks, num_classes, seed: as in :func:`robustness_metric_fn`.
        batch_size (int): images per batch. Default: 100.
        device (str or torch.device): Default: ``"cpu"``.
        progress (bool): show a progress bar. Default: False.

    Returns:
        dict[str, float]: ``{"clean": ..., name: ..., name + "_hit": ...}``, fractions in [0, 1].
    """
    return evaluate(model, dataset, robustness_metric_fn(attacks, num_classes=num_classes,
                                                         seed=seed),
                    batch_size=batch_size, device=device, progress=progress)


# --- input checks ---------------------------------------------------------------------------

def _check_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")


def _check_steps(steps: Any) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an int >= 0; got {steps!r}")


def _check_range(lower: Any, upper: Any) -> None:
    for name, v in (("lower", lower), ("upper", upper)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{name} must be a finite number; got {v!r}")
    if not lower < upper:
        raise ValueError(f"the input range needs lower < upper; got lower={lower}, upper={upper}")


def _check_labels(labels: Any, name: str, batch: int | None, num_classes: int | None) -> None:
    if not isinstance(labels, Tensor):
        raise TypeError(f"{name} must be a Tensor[B] of int64 classes; got {type(labels).__name__}")
    if labels.ndim != 1 or labels.dtype != torch.int64:
        raise ValueError(f"{name} must be a Tensor[B] of int64 classes; got shape "
                         f"{tuple(labels.shape)}, dtype {labels.dtype}")
    if batch is not None and labels.shape[0] != batch:
        raise ValueError(f"{name} must have one entry per image (B = {batch}); "
                         f"got {labels.shape[0]}")
    if num_classes is not None and labels.numel() and not (
            0 <= int(labels.min()) and int(labels.max()) < num_classes):
        raise ValueError(f"{name} must lie in [0, {num_classes}); got values in "
                         f"[{int(labels.min())}, {int(labels.max())}]")


def _check_attack_args(images: Any, labels: Any, eps: Any, step_size: Any, steps: Any,
                       lower: Any, upper: Any) -> None:
    _check_number("eps", eps)
    _check_number("step_size", step_size)
    _check_steps(steps)
    _check_range(lower, upper)
    if not isinstance(images, Tensor) or not images.is_floating_point() or images.ndim < 2:
        got = (f"shape {tuple(images.shape)}, dtype {images.dtype}" if isinstance(images, Tensor)
               else type(images).__name__)
        raise ValueError(f"images must be a floating-point Tensor[B, ...]; got {got}")
    _check_labels(labels, "labels", images.shape[0], None)
    if images.numel():
        lo, hi = float(images.min()), float(images.max())
        if lo < lower or hi > upper:
            raise ValueError(f"images must lie in the input range [lower, upper] = "
                             f"[{lower}, {upper}]; got values in [{lo:.4g}, {hi:.4g}]")
