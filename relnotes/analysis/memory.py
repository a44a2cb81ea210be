"""Memory of one training step, estimated without allocating it.

The dry run (``python -m relnotes.repro dry-run``) asks, before a ``gpu`` or ``full`` run, whether
each notebook fits the GPU. The answer here is made without the GPU and without the memory: the
notebook's model and one batch of its shape are built under PyTorch's ``FakeTensorMode``
(``torch._subclasses.fake_tensor``), where every tensor has a shape, a dtype and a device but no
storage, and one training step runs on them -- forward, loss, backward, optimizer step -- under
PyTorch's ``MemTracker`` (``torch.distributed._tools.mem_tracker``), a dispatch mode that adds up
the bytes of every tensor alive at each operator and keeps the peak, by kind:

- **parameters** and **buffers** of the model;
- **gradients**, one per trainable parameter;
- **optimizer state** (Adam: two tensors per parameter; SGD with momentum: one), created at the
  first step, the step measured here;
- **activations** kept for the backward, and **temporary** tensors of the operators.

peak = the largest sum over the step; on the GPU add the CUDA context (a few hundred MiB) and the
caching allocator's rounding and fragmentation. What it does not see: scratch memory an operator
allocates *inside* its kernel (cuDNN's or oneDNN's workspaces; on the CPU a convolution can take
one more activation-sized buffer, :func:`measure_step` shows it), the data loader's workers, and
evaluation (``torch.no_grad``, smaller than a training step). ``tests/analysis/test_memory.py``
compares the estimate with the peak of a real CPU step (:func:`measure_step`, the allocator's own
events) on small models.

Some steps fake tensors cannot run: sparse tensors (the graph networks' propagation), loops whose
length a value decides (the learned region features, the tracker's training). Such a step is
*measured* instead -- run on the CPU, under a cap on this process's memory
(:func:`measure_step_capped`, :data:`MEASURE_CAP_MIB`) -- and the dry run says "measured"; over
the cap it says that the step needs more, and gives no number.

What a notebook trains is said once per experiment in :data:`ESTIMATORS`: a function of the
experiment's knobs (as :mod:`relnotes.repro.profiles` gives them) that returns the steps to
estimate -- the largest model at the largest batch the notebook trains -- and the notebook's peak
is the largest of them. The dry run calls ``python -m relnotes.analysis.memory`` with the knobs
as JSON on stdin (``repro`` imports no other floor) and prints "estimated peak X MiB".
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import sys
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["Step", "StepEstimate", "estimate_step", "measure_step", "measure_step_capped",
           "OverCap", "MEASURE_CAP_MIB", "ESTIMATORS", "estimate_experiment", "main"]

MiB = 2**20

#: A loss of a model on a batch.
LossFn = Callable[[nn.Module, Any], Tensor]


@dataclass
class Step:
    """One training step to estimate: ``loss(build(), batch()).backward()``, then
    ``optimizer(parameters).step()``. ``what`` says which network, at which batch."""

    what: str
    build: Callable[[], nn.Module]
    batch: Callable[[], Any]
    loss: LossFn
    optimizer: Callable[[Any], torch.optim.Optimizer] = torch.optim.Adam
    #: False for a step fake tensors cannot run (sparse tensors, values that decide shapes): its
    #: peak is then *measured* by running it on the CPU (:func:`measure_step`), and ``what`` says so
    fake: bool = True
    #: the notebook's own training procedure, ``procedure(model, batch)``, run instead of one
    #: loss-backward-step (the peak of its largest step); only with ``fake=False``
    procedure: Callable[[nn.Module, Any], Any] | None = None

    def __post_init__(self) -> None:
        if self.procedure is not None and self.fake:
            raise ValueError(f"step {self.what!r}: a procedure runs only measured (fake=False)")


@dataclass
class StepEstimate:
    """The peak of one step: ``peak`` bytes, and its parts (bytes by kind) at that moment."""

    what: str
    peak: int
    parts: dict[str, int] = field(default_factory=dict)

    @property
    def peak_mib(self) -> float:
        return self.peak / MiB

    def as_dict(self) -> dict[str, Any]:
        return {"what": self.what, "peak_mib": round(self.peak_mib, 1),
                "parts_mib": {k: round(v / MiB, 1) for k, v in self.parts.items()}}


_KINDS = {"Parameter": "parameters", "Buffer": "buffers", "Gradient": "gradients",
          "Optstate": "optimizer", "Activation": "activations", "Temp": "temporary",
          "Other": "other"}


def _train_step(step: Step) -> None:
    model = step.build()
    if step.procedure is not None:
        step.procedure(model, step.batch())
        return
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = step.optimizer(params)
    step.loss(model, step.batch()).backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


@contextlib.contextmanager
def _fake_friendly_local_relation():
    """The local relation op as the GPU runs it, ``torch.ops.relnotes.local_relation`` (a custom
    op with a fake implementation: its output, and its inputs saved for the backward), instead of
    the fused CPU loop, which hands raw data pointers to C and so cannot take fake tensors."""
    import importlib

    import relnotes.ops.kernels  # noqa: F401  (registers the custom op)

    lr = importlib.import_module("relnotes.ops.local_relation")   # the module, not the function

    def custom_op(dtype: torch.dtype):
        return lambda *args: torch.ops.relnotes.local_relation(*args)

    saved, lr._cpu_backend = lr._cpu_backend, custom_op
    try:
        yield
    finally:
        lr._cpu_backend = saved


#: Input checks that read values (finite boxes, x1 <= x2): a fake tensor has none to read.
_VALUE_CHECKS = (("relnotes.ops.box_geometry", "check_boxes"),
                 ("relnotes.nn.object_relation", "check_boxes"),
                 ("relnotes.nn.duplicate_removal", "check_boxes"),
                 ("relnotes.ops.graph", "check_adjacency"))


@contextlib.contextmanager
def _no_value_checks():
    """The checks of :data:`_VALUE_CHECKS` skipped (they allocate nothing that lasts)."""
    import importlib

    saved = []
    for module, name in _VALUE_CHECKS:
        m = importlib.import_module(module)
        saved.append((m, name, getattr(m, name)))
        setattr(m, name, lambda *args, **kwargs: None)
    try:
        yield
    finally:
        for m, name, fn in saved:
            setattr(m, name, fn)


class _FalseScalars(TorchDispatchMode):
    """A fake tensor whose value is unknown, read as a Python number, is 0 (a bool: False): the
    models' own sanity checks, ``if bool((geometry < 0).any()): raise``, pass; no size depends
    on such a value in the steps estimated here. (Values a fake tensor knows, such as the
    optimizer's step count, are read as they are.)"""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        from torch._subclasses.fake_tensor import DataDependentOutputException

        try:
            return func(*args, **(kwargs or {}))
        except DataDependentOutputException:
            if func is not torch.ops.aten._local_scalar_dense.default:
                raise
            return False if args[0].dtype == torch.bool else 0


def estimate_step(step: Step) -> StepEstimate:
    """The peak memory of ``step`` on the CPU device, estimated with fake tensors: nothing of
    the model, the batch or the activations is allocated (module docstring)."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker

    with FakeTensorMode(allow_non_fake_inputs=True), _fake_friendly_local_relation(), \
            _no_value_checks(), _FalseScalars():
        tracker = MemTracker()
        with tracker:
            _train_step(step)
        snapshot = tracker.get_tracker_snapshot("peak")
    total = {k: 0 for k in _KINDS.values()}
    peak = 0
    for device_snapshot in snapshot.values():
        peak += device_snapshot["Total"]
        for kind, nbytes in device_snapshot.items():
            if kind != "Total":
                total[_KINDS[getattr(kind, "value", kind)]] += nbytes
    return StepEstimate(step.what, peak, {k: v for k, v in total.items() if v})


#: The most a step measured on the CPU may allocate (MiB) in :func:`estimate_experiment`: a dry
#: run must not take the machine's memory (a Planetoid graph held dense takes gigabytes).
MEASURE_CAP_MIB = 4096


class OverCap(Exception):
    """A measured step needed more than the cap."""


def measure_step_capped(step: Step, cap_mib: float | None = None) -> int:
    """:func:`measure_step` with this process's data segment limited to ``cap_mib`` MiB above
    what it holds at the start (the soft ``RLIMIT_DATA``, restored afterwards): over it, an
    allocation fails, the step is abandoned and :class:`OverCap` is raised, before the machine's
    memory is taken. The cap bounds *new* memory: heap the process has freed but kept can be
    reused under it, so a step somewhat over the cap may still finish (and its peak is then
    measured as usual). Default cap: :data:`MEASURE_CAP_MIB`."""
    import gc
    import resource

    cap_mib = MEASURE_CAP_MIB if cap_mib is None else cap_mib
    with open("/proc/self/statm") as f:
        held = int(f.read().split()[5]) * resource.getpagesize()     # data + stack now
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    limit = held + int(cap_mib * MiB)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    try:
        return measure_step(step)
    except (MemoryError, RuntimeError) as e:
        if isinstance(e, RuntimeError) and not any(
                m in str(e) for m in ("alloc", "Resource temporarily unavailable")):
            raise              # neither a failed allocation nor a thread's stack: a real error
        raise OverCap(f"{type(e).__name__}: {str(e)[:200]}") from None
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))
        gc.collect()


def measure_step(step: Step) -> int:
    """The peak bytes a real run of ``step`` on the CPU allocates, from the allocator's own
    events (``torch.profiler`` with ``profile_memory``): the measurement the estimate is tested
    against. It allocates everything: small models only."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        _train_step(step)
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                    key=lambda e: e.start_ns())
    live = peak = 0
    for e in events:
        live += e.nbytes()
        peak = max(peak, live)
    return peak


# --- what each notebook trains ------------------------------------------------------------------
def _ce(model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
    return F.cross_entropy(model(batch[0]), batch[1])


def _images(n: int, channels: int, size: int, classes: int) -> Callable[[], tuple[Tensor, Tensor]]:
    return lambda: (torch.rand(n, channels, size, size), torch.randint(0, classes, (n,)))


def _one_formula(S: SimpleNamespace) -> list[Step]:
    from relnotes.models.lookup import LookupAttention

    n = S.lookup_pairs + 1                               # the pairs and the query
    return [Step(f"LookupAttention (width {S.lookup_channels}), batch {S.lookup_batch} x {n} "
                 f"elements",
                 lambda: LookupAttention(S.lookup_keys, S.lookup_values,
                                         channels=S.lookup_channels),
                 lambda: (torch.randint(0, S.lookup_keys, (S.lookup_batch, n, 2)),
                          torch.randint(0, S.lookup_values, (S.lookup_batch,))),
                 _ce)]


def _gcnet_ablations(S: SimpleNamespace) -> list[Step]:
    from relnotes.models.context_classifier import ContextClassifier

    return [Step(f"ContextClassifier widths {tuple(S.widths)} (baseline), batch {S.batch_size} x "
                 f"3 x {S.size} x {S.size}",
                 lambda: ContextClassifier(4, in_channels=3, widths=S.widths),
                 _images(S.batch_size, 3, S.size, 4), _ce)]


def _gcnet_attention(S: SimpleNamespace) -> list[Step]:
    from relnotes.data.photo_crops import PHOTOS
    from relnotes.models.context_classifier import ContextClassifier
    from relnotes.nn import NonLocal2d

    steps = [Step(f"ContextClassifier widths {tuple(S.flag_widths)} + non-local block after stage "
                  f"{stage}, batch {S.flag_batch_size} x 3 x 32 x 32",
                  lambda stage=stage: ContextClassifier(
                      4, in_channels=3, widths=S.flag_widths, stage_block_after=stage,
                      stage_block=lambda c: NonLocal2d(c, zero_init_last=True,
                                                       sub_sample=stage in S.flag_sub_sample)),
                  _images(S.flag_batch_size, 3, 32, 4), _ce)
             for stage in S.flag_stages]
    steps += [Step(f"ContextClassifier widths {tuple(S.widths)} + non-local block ({mode}), "
                   f"batch {S.batch_size} x 1 x {S.crop} x {S.crop}",
                   lambda mode=mode: ContextClassifier(
                       len(PHOTOS), in_channels=1, widths=S.widths, stage_block_after=2,
                       stage_block=lambda c: NonLocal2d(c, mode=mode)),
                   _images(S.batch_size, 1, S.crop, len(PHOTOS)), _ce)
              for mode in S.modes]
    return steps


def _composition_nets(S: SimpleNamespace, kernels: Sequence[int], stem_stride: int
                      ) -> list[Step]:
    from relnotes.models.lrnet_mini import lrnet_mini, resnet_mini

    k = max(kernels)
    return [
        Step(f"LR-Net-26-mini k={k}, width {S.width}, stem stride {stem_stride}, batch "
             f"{S.batch_size} x 1 x 28 x 28",
             lambda: lrnet_mini(k, num_classes=4, width=S.width, position_units="pixel",
                                locality_sigma=S.sigma, stem_stride=stem_stride),
             _images(S.batch_size, 1, 28, 4), _ce),
        Step(f"ResNet-26-mini k={k}, width {S.width}, stem stride {stem_stride}, batch "
             f"{S.batch_size} x 1 x 28 x 28",
             lambda: resnet_mini(k, num_classes=4, width=S.width, stem_stride=stem_stride),
             _images(S.batch_size, 1, 28, 4), _ce),
    ]


def _lrnet_kernel_size(S: SimpleNamespace) -> list[Step]:
    larger = "locality prior, larger maps" in S.pilot_designs    # its stem has stride 1
    return _composition_nets(S, [*S.kernel_sizes, *S.pilot_kernels], 1 if larger else 2)


def _lrnet_robustness(S: SimpleNamespace) -> list[Step]:
    # adversarial training: each PGD step is a forward and backward on the input, freed before
    # the next; the training step on the perturbed batch is the peak
    steps = _composition_nets(S, [S.lr_kernel], S.stem_stride)
    from relnotes.models.lrnet_mini import resnet_mini

    steps[1] = Step(steps[1].what.replace(f"k={S.lr_kernel}", f"k={S.resnet_kernel}"),
                    lambda: resnet_mini(S.resnet_kernel, num_classes=4, width=S.width,
                                        stem_stride=S.stem_stride),
                    steps[1].batch, _ce)
    return steps


def _lrnet_benchmark(S: SimpleNamespace) -> list[Step]:
    # the network half of relnotes.analysis.lr_benchmark.network_benchmark (the op half is one
    # layer, much smaller): an SGD step of each network at net_batch x image_size
    from relnotes.models.lrnet import lrnet26
    from relnotes.models.resnet import resnet26

    B, size = S.net_batch, S.image_size
    sgd = lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9)  # noqa: E731
    return [Step(f"{name}, batch {B} x 3 x {size} x {size}", lambda build=build: build(
        num_classes=1000), _images(B, 3, size, 1000), _ce, sgd)
            for name, build in (("ResNet-26 (3x3)", resnet26), ("LR-Net-26 (7x7, m=8)", lrnet26))]


def _lrnet_figures(S: SimpleNamespace) -> list[Step]:
    from relnotes.models.lr_denoiser import LRDenoiser

    def mse(model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
        return F.mse_loss(model(batch[0]), batch[1])

    shape = (S.batch_size, 1, S.crop, S.crop)
    return [Step(f"LRDenoiser {S.channels} channels, k={S.kernel_size}, batch {S.batch_size} x 1 "
                 f"x {S.crop} x {S.crop}",
                 lambda: LRDenoiser(S.channels, S.kernel_size, S.m,
                                    geometry_channels=S.geometry_channels),
                 lambda: (torch.rand(shape), torch.rand(shape)), mse)]


def _region_deformable(S: SimpleNamespace) -> list[Step]:
    from relnotes.models.adaptive_net import VARIANTS, AdaptiveNet

    return [Step(f"AdaptiveNet {variant!r}, width {S.width}, batch {S.batch_size} x 1 x 28 x 28",
                 lambda variant=variant: AdaptiveNet(variant, width=S.width,
                                                     kernel_size=S.kernel_size,
                                                     channels_per_group=S.channels_per_group),
                 _images(S.batch_size, 1, 28, 10), _ce)
            for variant in VARIANTS]


def _transformer_numbers(S: SimpleNamespace) -> list[Step]:
    from relnotes.data.number_words import number_words
    from relnotes.models.transformer import Seq2SeqTransformer

    data, _ = number_words(lang=S.lang, max_number=S.max_number, train_size=1, test_size=1,
                           seed=0)
    src_len, tgt_len = data.src.shape[1], data.tgt.shape[1]
    V_src, V_tgt = len(data.src_vocab), len(data.tgt_vocab)

    def seq2seq(model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
        src, tgt = batch
        logits = model(src, tgt[:, :-1])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt[:, 1:].reshape(-1))

    return [Step(f"Seq2SeqTransformer d_model {S.d_model}, {S.layers}+{S.layers} layers, batch "
                 f"{S.batch_size} x {src_len} -> {tgt_len} tokens",
                 lambda: Seq2SeqTransformer(V_src, V_tgt, d_model=S.d_model,
                                            num_heads=S.num_heads, layers=S.layers, ff=S.ff),
                 lambda: (torch.randint(0, V_src, (S.batch_size, src_len)),
                          torch.randint(0, V_tgt, (S.batch_size, tgt_len))),
                 seq2seq)]


def detector_step_loss(model: nn.Module, images: Tensor, *, pool: bool = False) -> Tensor:
    """A training step's dense computation of a torchvision two-stage detector at fixed shapes:
    ``images`` (Tensor[B, 3, H, W], H and W multiples of 32 as the detector's transform pads
    them) through the backbone, the FPN and the RPN head; as many RoI features as the RoI
    sampler keeps (``batch_size_per_image`` per image) through the box head and predictor; the
    positive share of them (``positive_fraction``) through the mask head, when there is one. The
    RoI features are zeros of the pooled shape (RoIAlign, anchor matching and NMS need real
    boxes); the loss is the sum of the outputs' means. Used as :class:`Step`'s loss. ``pool``:
    the box RoI features come from the detector's own ``box_roi_pool`` on random boxes instead
    (for a notebook whose extractor is what it studies)."""
    heads, B = model.roi_heads, images.shape[0]
    features = model.backbone(images)
    features = [features] if isinstance(features, Tensor) else list(features.values())
    objectness, deltas = model.rpn.head(features)
    outputs = [*objectness, *deltas]
    sampler, channels = heads.fg_bg_sampler, model.backbone.out_channels
    # the sampler keeps at most batch_size_per_image of the RPN's proposals (all of them when
    # the setting puts every RoI in the loss, as RN's FPN setting does)
    per_image = min(sampler.batch_size_per_image, model.rpn._post_nms_top_n["training"])
    n_box = B * per_image
    H, W = images.shape[-2:]
    corner = torch.rand(n_box, 2) * torch.tensor([W / 2, H / 2])
    boxes = torch.cat([corner, corner + 1 + torch.rand(n_box, 2) * (W / 2)], dim=1)
    boxes = torch.minimum(boxes, torch.tensor([W, H, W, H], dtype=boxes.dtype))  # inside the image
    if pool:
        maps = dict(zip(map(str, range(len(features))), features))
        rois = heads.box_roi_pool(maps, list(boxes.split(per_image)), [(H, W)] * B)
    else:
        size = heads.box_roi_pool.output_size
        rois = torch.zeros(n_box, channels, *((size, size) if isinstance(size, int) else size))
    if "boxes" in inspect.signature(heads.box_head.forward).parameters:   # relation heads
        x = heads.box_head(rois, list(boxes.split(per_image)))
    else:
        x = heads.box_head(rois)
    outputs += list(heads.box_predictor(x))
    if heads.has_mask():
        n_mask = max(1, int(n_box * sampler.positive_fraction))
        rois = torch.zeros(n_mask, channels, *heads.mask_roi_pool.output_size)
        outputs.append(heads.mask_predictor(heads.mask_head(rois)))
    return sum(o.float().mean() for o in outputs)


def _pad32(n: int) -> int:
    return -(-n // 32) * 32


def _gcnet_coco_ap(S: SimpleNamespace) -> list[Step]:
    opt = (lambda p: torch.optim.SGD(p, lr=S.lr, momentum=0.9)) if S.optimizer == "sgd" \
        else torch.optim.Adam
    B = S.batch_size
    if S.coco is None:                     # the synthetic ContextMasks, tiny Mask R-CNN at 64 px
        from relnotes.data.context_masks import MASK_CATEGORIES
        from relnotes.models.tiny_mask_rcnn import TinyResNet, tiny_mask_rcnn

        t = S.tiny
        build = lambda: tiny_mask_rcnn(  # noqa: E731
            1 + len(MASK_CATEGORIES), body=TinyResNet(planes=t["planes"], layers=t["layers"]),
            fpn_channels=t["fpn_channels"], representation_size=t["representation_size"],
            mask_layers=t["mask_layers"], proposals=t["proposals"],
            box_batch_size_per_image=t["box_batch_size_per_image"], masks=S.masks)
        return [Step(f"tiny Mask R-CNN (baseline), batch {B} x 3 x 64 x 64", build,
                     lambda: torch.rand(B, 3, 64, 64), detector_step_loss, opt)]
    from relnotes.models.context_resnet import maskrcnn_r50_fpn

    H, W = _pad32(800), _pad32(1333)          # torchvision's COCO sizes, padded as it batches
    return [Step(f"Mask R-CNN R50-FPN (baseline), batch {B} x 3 x {H} x {W}",
                 lambda: maskrcnn_r50_fpn(81), lambda: torch.rand(B, 3, H, W),
                 detector_step_loss, opt)]


def _relation_detector(S: SimpleNamespace, what: str, relations: tuple[int, int],
                       n_relations: int, num_classes: int) -> list[Step]:
    """The tiny Faster R-CNN with a 2fc + relation-module head (synthetic profiles), or the
    R50-FPN one at the COCO setting (``coco`` knobs), as the relation-network notebooks train
    it: Adam on the synthetic data, the setting's SGD on COCO."""
    head = dict(representation_size=S.d_f, n_relations=n_relations, d_k=S.d_k, d_g=S.d_g,
                geometry_scale=S.geometry_scale, proposals=S.proposals, relations=relations)
    if S.coco is None:
        from relnotes.models import tiny_faster_rcnn

        B = S.batch_size
        return [Step(f"tiny Faster R-CNN, {what}, batch {B} x 3 x 64 x 64",
                     lambda: tiny_faster_rcnn(num_classes, box_batch_size_per_image=S.proposals,
                                              **head),
                     lambda: torch.rand(B, 3, 64, 64), detector_step_loss)]
    return _r50_fpn_steps(S.coco, what, **head)


def _r50_fpn_steps(C: Mapping[str, Any], what: str, **head: Any) -> list[Step]:
    """The R50-FPN Faster R-CNN (``head``: its head's keyword arguments) at RN's COCO setting
    ``C`` (batch, image sizes, SGD), as the relation-network notebooks train it on ``full``."""
    from relnotes.models import relation_fasterrcnn_r50_fpn

    B, H, W = C["batch_size"], _pad32(C["min_size"]), _pad32(C["max_size"])
    return [Step(f"Faster R-CNN R50-FPN, {what}, batch {B} x 3 x {H} x {W}",
                 lambda: relation_fasterrcnn_r50_fpn(81, min_size=C["min_size"],
                                                     max_size=C["max_size"], **head),
                 lambda: torch.rand(B, 3, H, W), detector_step_loss,
                 lambda p: torch.optim.SGD(p, lr=C["lr"], momentum=C["momentum"]))]


def _rn_figures(S: SimpleNamespace) -> list[Step]:
    return _relation_detector(S, "2fc + RM {1, 1} head", (1, 1), S.n_relations, 7)


def _rn_ablation_head(S: SimpleNamespace) -> list[Step]:
    # an upper bound of the rows' heads: the most modules and relations any row has
    relations = (2, 2) if "r22" in S.rows else (1, 1)
    n_relations = max([S.n_relations] + [int(r[2:]) for r in S.rows
                                         if r.startswith("nr") and r[2:].isdigit()])
    return _relation_detector(S, f"2fc + RM {{{relations[0]}, {relations[1]}}} head with "
                                 f"{n_relations} relations (the largest of the rows)",
                              relations, n_relations, 7)


def _region_extractors(S: SimpleNamespace) -> list[Step]:
    """Each extractor's detector, its RoI features pooled by the extractor itself (the learned
    form, whose loop over images depends on values, measured on the CPU): the body's training
    (RoIAlign) is the same network as the RoIAlign row."""
    from relnotes.models.region_rcnn import region_faster_rcnn

    rpn = dict(proposals=S.proposals, box_batch_size_per_image=S.proposals,
               representation_size=S.d_f)
    size, B = 64, S.batch_size
    if S.coco is not None:                           # COCO at image_size, as the notebook builds it
        size = _pad32(S.coco["image_size"])
        rpn.update(num_classes=81, image_size=S.coco["image_size"],
                   anchor_sizes=tuple(S.coco["anchor_sizes"]))
    return [Step(f"tiny Faster R-CNN with {kind} region features, batch {B} x 3 x {size} x {size}",
                 lambda kind=kind: region_faster_rcnn(
                     kind, learned=dict(S.learned) if kind == "learned" else None, **rpn),
                 lambda: torch.rand(B, 3, size, size),
                 lambda model, images: detector_step_loss(model, images, pool=True),
                 fake=kind != "learned")      # the learned form loops over the images it finds
            for kind in ("roi_pool", "roi_align", "learned")]


def _rn_duplicate_removal(S: SimpleNamespace) -> list[Step]:
    """The detector's training (the duplicate-removal network trains afterwards on its cached
    head outputs; that step is not estimated)."""
    if S.coco is None:
        from relnotes.models import tiny_faster_rcnn

        B = S.batch_size
        return [Step(f"tiny Faster R-CNN (2fc head), batch {B} x 3 x 64 x 64",
                     lambda: tiny_faster_rcnn(proposals=S.proposals),
                     lambda: torch.rand(B, 3, 64, 64), detector_step_loss)]
    return _r50_fpn_steps(S.coco, "2fc head", proposals=S.proposals)


def _rn_dedup_forest(S: SimpleNamespace) -> list[Step]:
    """The one-class tree-crown detector on the tiles (the duplicate-removal network trains
    afterwards on its cached head outputs; that step is not estimated)."""
    from relnotes.models import tiny_faster_rcnn

    B, size = S.batch_size, _pad32(S.tile)
    return [Step(f"tiny Faster R-CNN, channels {tuple(S.channels)}, batch {B} x 3 x {size} x "
                 f"{size}",
                 lambda: tiny_faster_rcnn(num_classes=2, image_size=S.tile,
                                          channels=tuple(S.channels),
                                          norm_layer=nn.BatchNorm2d if S.batch_norm else None,
                                          anchor_sizes=tuple(S.anchor_sizes), aspect_ratios=(1.0,),
                                          proposals=S.proposals),
                 lambda: torch.rand(B, 3, size, size), detector_step_loss)]


#: Nodes, features and classes of the Planetoid sets (GCN's Table 1; the notebook reads them
#: from data_root on ``full``), and sklearn's digits; edges: the mean degree is what matters.
_GRAPHS = {"cora": (2708, 1433, 7, 5429), "citeseer": (3327, 3703, 6, 4732),
           "pubmed": (19717, 500, 3, 44338), "digits": (1797, 64, 10, None)}


def _graph_batch(name: str, k: int) -> Callable[[], tuple[Tensor, Tensor, Tensor]]:
    """A random graph of ``name``'s size: features, a symmetric 0/1 adjacency (dense, as the
    notebooks hold it) of the set's edge count (digits: a k-NN graph's, k per node), labels."""
    n, f, c, edges = _GRAPHS[name]

    def batch():
        g = torch.Generator().manual_seed(0)
        m = edges if edges is not None else n * k
        i, j = torch.randint(0, n, (m,), generator=g), torch.randint(0, n, (m,), generator=g)
        a = torch.zeros(n, n)
        a[i, j] = 1.0
        a = torch.maximum(a, a.T).fill_diagonal_(0)
        return torch.rand(n, f, generator=g), a, torch.randint(0, c, (n,), generator=g)
    return batch


def _node_ce(model: nn.Module, batch: tuple[Tensor, Tensor, Tensor]) -> Tensor:
    x, a, y = batch
    return F.cross_entropy(model(x, a), y)


def _graph_steps(S: SimpleNamespace, gat: bool) -> list[Step]:
    """GCN (and GAT) on the largest graph the notebook reads, full batch as it trains them. The
    propagation is sparse, which fake tensors cannot hold: measured on the CPU."""
    from relnotes.models.graph_nets import GAT, GCN

    name = max(["digits", *getattr(S, "planetoid", ())], key=lambda g: _GRAPHS[g][0])
    n, f, c, _ = _GRAPHS[name]
    adam = lambda p: torch.optim.Adam(p, lr=S.lr, weight_decay=S.weight_decay)  # noqa: E731
    steps = [Step(f"GCN (hidden {S.hidden}) on a graph of {name}'s size ({n} nodes, {f} features)",
                  lambda: GCN(f, c, hidden=(S.hidden,)), _graph_batch(name, S.digits_k),
                  _node_ce, adam, fake=False)]
    if gat:
        steps.append(Step(f"GAT ({S.gat_heads} heads x {S.gat_hidden}) on a graph of {name}'s size "
                          f"({n} nodes, {f} features)",
                          lambda: GAT(f, c, hidden=S.gat_hidden, num_heads=S.gat_heads),
                          _graph_batch(name, S.digits_k), _node_ce, adam, fake=False))
    return steps


def _strn(S: SimpleNamespace) -> list[Step]:
    """One epoch of the relation tracker's training on one sequence of the profile's scene, as
    ``train_pair_scorer`` runs it (numpy decides which detections each step reads: measured on
    the CPU); the peak is that of its largest step. The other trackers train no more."""
    from relnotes.data.mot import synthetic_sequence
    from relnotes.engine.tracking import train_pair_scorer
    from relnotes.models.strn import STRN

    # a step reads the detections of max_age frames before its chunk and of the chunk: a
    # sequence of max_age + 2 chunks holds a step with a full history
    scene = {**dict(S.scene), "n_frames": min(S.scene["n_frames"], S.max_age + 2 * S.chunk)}
    return [Step(f"STRN-style relation model ({dict(S.strn)}), one epoch on one sequence of "
                 f"{scene}",
                 lambda: STRN(S.d, **dict(S.strn)),
                 lambda: synthetic_sequence(seed=0, d=S.d, **scene), _ce, fake=False,
                 procedure=lambda model, seq: train_pair_scorer(
                     model, [seq], epochs=1, lr=S.lr, max_age=S.max_age, chunk=S.chunk))]


def _counts_only(S: SimpleNamespace) -> list[Step]:
    """Notebooks that train nothing: they count parameters and MACs (on the ``meta`` device, or
    with one forward pass of one image)."""
    return []


#: Experiment id -> the training steps of its notebook, from the experiment's knobs.
ESTIMATORS: dict[str, Callable[[SimpleNamespace], list[Step]]] = {
    "one_formula": _one_formula,
    "gcnet_ablations": _gcnet_ablations,
    "gcnet_attention": _gcnet_attention,
    "lrnet_kernel_size": _lrnet_kernel_size,
    "lrnet_robustness": _lrnet_robustness,
    "lrnet_figures": _lrnet_figures,
    "lrnet_benchmark": _lrnet_benchmark,
    "region_deformable": _region_deformable,
    "transformer_numbers": _transformer_numbers,
    "gcnet_coco_ap": _gcnet_coco_ap,
    "rn_figures": _rn_figures,
    "rn_ablation_head": _rn_ablation_head,
    "region_extractors": _region_extractors,
    "rn_duplicate_removal": _rn_duplicate_removal,
    "rn_dedup_forest": _rn_dedup_forest,
    "graph_node_classification": lambda S: _graph_steps(S, gat=True),
    "gcn_propagation": lambda S: _graph_steps(S, gat=False),
    "strn_benchmark": _strn,
    "strn_ablation": _strn,
    "gcnet_coco_table": _counts_only,
    "lrnet_architecture": _counts_only,
    "rn_complexity": _counts_only,
}


def _namespace(knobs: Mapping[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(**{k: tuple(v) if isinstance(v, list) else v
                              for k, v in knobs.items()})


def estimate_experiment(experiment: str, knobs: Mapping[str, Any]) -> dict[str, Any]:
    """``{"peak_mib", "what", "parts_mib", "steps"}`` for the largest step of the experiment's
    notebook on these knobs, or ``{"not_estimated": why}``."""
    if experiment not in ESTIMATORS:
        return {"not_estimated": f"no estimator for {experiment} in relnotes/analysis/memory.py"}
    estimates = []
    for s in ESTIMATORS[experiment](_namespace(knobs)):
        if s.fake:
            estimates.append(estimate_step(s))
            continue
        try:
            estimates.append(StepEstimate(f"{s.what} (measured: run on the CPU, fake tensors "
                                          "cannot run it)", measure_step_capped(s)))
        except OverCap:
            return {"not_estimated": f"{s.what}: fake tensors cannot run it, and measured on "
                                     f"the CPU it needs more than {MEASURE_CAP_MIB:,} MiB (the "
                                     "measurement's cap)"}
    if not estimates:
        return {"not_estimated": f"{experiment} trains nothing: it counts parameters and MACs"}
    top = max(estimates, key=lambda e: e.peak)
    return {**top.as_dict(), "steps": len(estimates)}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m relnotes.analysis.memory < knobs.json``: stdin ``{experiment: knobs}``,
    stdout ``{experiment: estimate_experiment(...)}`` (a failing estimate: ``{"error": ...}``)."""
    parser = argparse.ArgumentParser(prog="python -m relnotes.analysis.memory",
                                     description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    torch.set_num_threads(1)
    out = {}
    for experiment, knobs in json.load(sys.stdin).items():
        try:
            out[experiment] = estimate_experiment(experiment, knobs)
        except Exception as e:              # one experiment's failure names it, the rest go on
            out[experiment] = {"error": f"{type(e).__name__}: {e}"}
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
