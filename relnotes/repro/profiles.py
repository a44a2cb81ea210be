"""Profiles: how big every experiment of the book is, in one place.

Each notebook has one papermill parameter, ``profile``, and reads every scale knob (image size,
dataset size, epochs, widths, threads) from here, never from numbers written in the notebook:

=========  ==========================================  ===============================  =====================
profile    where                                       budget                           purpose
=========  ==========================================  ===============================  =====================
``smoke``  CI, 2 CPU cores                              each notebook <= 60 s            the pipeline works
``cpu``    a laptop; the default of the book build     each notebook <= 10 min          the small-scale science
``gpu``    one GPU                                     about an hour per notebook       clearer effects
``full``   GPUs and real COCO / ImageNet (data_root)   the paper's schedule             the paper's setting
=========  ==========================================  ===============================  =====================

A notebook asks for its knobs by experiment id::

    >>> from relnotes.repro import get_profile
    >>> P = get_profile("smoke")
    >>> P.scale("one_formula").n_tokens
    6

Adding an experiment means adding one entry to ``SCALES`` with a value for every profile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType, SimpleNamespace
from typing import Any, Mapping

__all__ = ["Profile", "PROFILES", "SCALES", "get_profile", "UnknownProfileError"]


class UnknownProfileError(ValueError):
    """Raised for a profile name that is not one of ``PROFILES``."""


@dataclass(frozen=True)
class Profile:
    """One row of the profile table.

    Args:
        name (str): ``smoke``, ``cpu``, ``gpu`` or ``full``.
        where (str): the machine the profile is meant for.
        budget_s (float): wall-clock budget of one notebook, in seconds.
        threads (int | None): CPU threads a notebook uses (``torch.set_num_threads``). Fixed so that
            the same profile gives the same floating-point results on any machine with the same
            libraries. ``None``: leave torch's default.
        device (str): ``"cpu"`` or ``"cuda"``.
        needs_data_root (bool): the profile trains on real data found under ``data_root``.
        seed (int): the seed of every experiment on this profile.
        seeds (tuple[int, ...]): the seeds a trained comparison runs on this profile, one value
            per seed in the artifact (mean ± sd and n in the book). At least one, no duplicates.
            Default: ``(0,)``.
    """

    name: str
    where: str
    budget_s: float
    threads: int | None
    device: str
    needs_data_root: bool = False
    seed: int = 0
    seeds: tuple[int, ...] = (0,)

    def __post_init__(self) -> None:
        seeds = tuple(self.seeds)
        if len(seeds) < 1:
            raise ValueError(f"profile {self.name!r}: seeds must name at least 1 seed; got "
                             f"{self.seeds!r}")
        dup = sorted({s for s in seeds if seeds.count(s) > 1})
        if dup:
            raise ValueError(f"profile {self.name!r}: seeds must be distinct; {dup} repeated in "
                             f"{self.seeds!r}")
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise ValueError(f"profile {self.name!r}: seeds must be integers; got {self.seeds!r}")
        object.__setattr__(self, "seeds", seeds)

    def data_path(self, data_root: str | os.PathLike | None) -> Path | None:
        """Where a notebook that can read real data finds it on this profile.

        Returns None on the profiles that use synthetic data; on ``full`` the folder
        ``data_root``, which must exist.

        Raises:
            ValueError: the profile needs real data and ``data_root`` is None.
            FileNotFoundError: ``data_root`` does not exist.
        """
        if not self.needs_data_root:
            return None
        if data_root is None:
            raise ValueError(
                f"profile {self.name!r} trains on real COCO / ImageNet and needs data_root: pass "
                f"`-p data_root /path/to/data` to papermill or `--data-root /path/to/data` to "
                f"`python -m relnotes.repro`"
            )
        path = Path(data_root)
        if not path.is_dir():
            raise FileNotFoundError(f"data_root {path} is not a folder")
        return path

    def scale(self, experiment: str, overrides: Mapping[str, Any] | None = None) -> SimpleNamespace:
        """The knobs of ``experiment`` on this profile, as attributes (``P.scale("x").epochs``).

        ``overrides`` replaces some of them for one run (a short ``full`` run, a smaller batch
        for a smaller GPU): ``{"seeds": (0,), "coco": {"epochs": 1}}``. A knob whose value is a
        dict is updated key by key. An override changes the numbers the artifact reports: its
        notes must say so, and such a run is not compared with the references.

        Raises:
            KeyError: unknown experiment, or an override names a knob the experiment lacks.
        """
        if experiment not in SCALES:
            known = ", ".join(sorted(SCALES))
            raise KeyError(
                f"no scale is defined for experiment {experiment!r}; known experiments: {known}. "
                f"Add an entry to SCALES in relnotes/repro/profiles.py."
            )
        knobs = dict(SCALES[experiment][self.name])
        for key, value in (overrides or {}).items():
            if key not in knobs:
                raise KeyError(f"{experiment} has no knob {key!r} to override; its knobs: "
                               f"{', '.join(sorted(knobs))}")
            if isinstance(knobs[key], Mapping) and isinstance(value, Mapping):
                unknown = sorted(set(value) - set(knobs[key]))
                if unknown:
                    raise KeyError(f"{experiment}.{key} has no knob(s) {unknown} to override; its "
                                   f"knobs: {', '.join(sorted(knobs[key]))}")
                value = {**knobs[key], **value}
            knobs[key] = value
        return SimpleNamespace(**knobs)


PROFILES: Mapping[str, Profile] = MappingProxyType(
    {
        "smoke": Profile("smoke", where="CI, 2 CPU cores", budget_s=60, threads=1, device="cpu",
                         seeds=(0,)),
        "cpu": Profile("cpu", where="a laptop, 2+ CPU cores", budget_s=600, threads=2, device="cpu",
                       seeds=(0, 1, 2)),
        "gpu": Profile("gpu", where="one CUDA GPU", budget_s=3600, threads=None, device="cuda",
                       seeds=(0, 1, 2)),
        "full": Profile(
            "full", where="GPUs + real COCO / ImageNet", budget_s=float("inf"), threads=None,
            device="cuda", needs_data_root=True, seeds=(0,),
        ),
    }
)


def _every_profile(**values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Check that an experiment defines its knobs for every profile (caught at import time)."""
    missing = set(PROFILES) - set(values)
    extra = set(values) - set(PROFILES)
    if missing or extra:
        raise ValueError(f"scales must name exactly {sorted(PROFILES)}; missing {sorted(missing)}, "
                         f"unknown {sorted(extra)}")
    return {name: dict(knobs) for name, knobs in values.items()}


def _gpu_and_full(gpu: Mapping[str, Any], **full_changes: Any) -> dict[str, Mapping[str, Any]]:
    """The knobs of ``gpu``, and ``full`` as the same knobs with ``full_changes`` (one definition
    for the experiments whose full profile reads no real data and only trains longer)."""
    return {"gpu": gpu, "full": {**gpu, **full_changes}}


# The tiny Mask R-CNN of gcnet_coco_ap on the CPU profiles (smoke trains it less, not smaller).
_GCNET_TINY_CPU = dict(planes=(8, 16, 32, 64), layers=(1, 1, 2, 1), fpn_channels=32,
                       representation_size=256, mask_layers=(32, 32), proposals=64,
                       box_batch_size_per_image=32)

# RN's COCO setting for the full profile of the relation-network notebooks (Appendix A1, FPN):
# torchvision's R50-FPN (relation_fasterrcnn_r50_fpn) at shorter side 800, test NMS 0.6 (Table 1),
# trained end to end on flipped train2017 images with SGD, lr 5e-3 for 4 images per step,
# momentum 0.9, weight decay 1e-4, 6 epochs, x0.1 after 2/3 of them; evaluated on val2017
# (= minival). The 500-step warm-up is torchvision's habit, not RN's. max_train / max_test: None,
# all images (a number: the first ones, for a short run).
# lrnet_robustness's candidate adversarial trainings (relnotes.analysis.adversarial_designs), run
# on the first seed; the pilot keeps the one whose lower clean accuracy over the two networks is
# highest (pick_design).
ROBUSTNESS_DESIGNS = ("pgd-finetune", "pgd-finetune-frozen-bn", "fgsm-rs")

_RN_COCO = dict(train_split="train2017", val_split="val2017", max_train=None, max_test=None,
                pretrained_backbone=True, min_size=800, max_size=1333, nms_thresh=0.6, flip=True,
                epochs=6, batch_size=4, lr=5e-3, momentum=0.9, weight_decay=1e-4,
                warmup_steps=500, lr_steps=(4,), num_workers=8, eval_batch_size=8)

# Every scale knob of every notebook. Keys: experiment id (= the notebook's artifact id).
SCALES: Mapping[str, Mapping[str, Mapping[str, Any]]] = MappingProxyType(
    {
        # book/one-formula.md. Three groups: the float64 checks of three instances (n_tokens ...
        # nl_size); the 1/sqrt(d_k) demonstration (scale_samples dot products per d_k, softmax over
        # scale_keys keys); the trained key-value lookup (lookup_*: memory pairs, vocabularies, width,
        # Adam with a cosine schedule, one run per seed).
        "one_formula": _every_profile(
            smoke=dict(n_tokens=6, embed_dim=16, num_heads=4, batch=2, nl_channels=8, nl_size=5,
                       d_k=(4, 16, 64, 256), scale_samples=2000, scale_keys=16,
                       lookup_pairs=4, lookup_keys=8, lookup_values=4, lookup_channels=16,
                       lookup_train=2048, lookup_test=500, lookup_steps=120, lookup_lr=1e-2,
                       lookup_batch=64),
            cpu=dict(n_tokens=32, embed_dim=64, num_heads=8, batch=4, nl_channels=32, nl_size=14,
                     d_k=(4, 16, 64, 256, 1024), scale_samples=20000, scale_keys=16,
                     lookup_pairs=8, lookup_keys=32, lookup_values=16, lookup_channels=32,
                     lookup_train=8192, lookup_test=2000, lookup_steps=800, lookup_lr=1e-2,
                     lookup_batch=64),
            **_gpu_and_full(
                dict(n_tokens=128, embed_dim=256, num_heads=8, batch=8, nl_channels=64, nl_size=28,
                     d_k=(4, 16, 64, 256, 1024), scale_samples=20000, scale_keys=16,
                     lookup_pairs=16, lookup_keys=64, lookup_values=32, lookup_channels=64,
                     lookup_train=32768, lookup_test=5000, lookup_steps=3000, lookup_lr=1e-2,
                     lookup_batch=128),
                n_tokens=300, embed_dim=1024, num_heads=16, nl_channels=256, nl_size=56),
        ),
        # book/local-relation.md, "The talk's table": counts at 224 x 224 on every profile (meta
        # tensors); forward_size: one real forward pass per network, which checks that they run.
        "lrnet_architecture": _every_profile(
            smoke=dict(image_size=224, forward_size=32),
            cpu=dict(image_size=224, forward_size=64),
            **_gpu_and_full(dict(image_size=224, forward_size=224)),
        ),
        # book/gcnet.md, "The COCO table": counted at the paper's setting on every profile (the get_flops
        # protocol: one (800, 1280) image, 1000 box RoIs, 100 mask RoIs). No knob scales.
        "gcnet_coco_table": _every_profile(
            smoke=dict(image_size=(800, 1280), num_box_rois=1000, num_mask_rois=100),
            cpu=dict(image_size=(800, 1280), num_box_rois=1000, num_mask_rois=100),
            **_gpu_and_full(dict(image_size=(800, 1280), num_box_rois=1000, num_mask_rois=100)),
        ),
        # book/relation-networks.md, "What it costs": RN Table 5's deltas on the real modules at the
        # paper's setting on every profile (RoIs per image: 300 C4 / DCN, 1000 FPN; first_n per class).
        "rn_complexity": _every_profile(
            smoke=dict(n_rois_c4=300, n_rois_fpn=1000, first_n=100),
            cpu=dict(n_rois_c4=300, n_rois_fpn=1000, first_n=100),
            **_gpu_and_full(dict(n_rois_c4=300, n_rois_fpn=1000, first_n=100)),
        ),
        # book/relation-networks.md, "Which head" (RN Tables 1-2): per seed, the tiny Faster R-CNN's body
        # trained body_epochs with 2fc and frozen, each head of `rows` trained head_epochs on it (module:
        # d_f, n_relations, d_k, d_g, geometry_scale). Rows: 2fc; none / unary / relative, relative_x1;
        # nr1 / nr2 / nr8 (N_r); r10 / r01 / r22 ({r1, r2}); wide2fc / 3fc / 4fc. Why these rows and
        # epochs on each profile: the chapter's "Settings" section. full: _RN_COCO.
        "rn_ablation_head": _every_profile(
            smoke=dict(n_train=48, n_test=24, body_epochs=4, head_epochs=1, batch_size=16,
                       lr=3e-3, proposals=32, d_f=64, n_relations=4, d_k=16, d_g=64,
                       geometry_scale=100.0, rows=("2fc", "none", "unary", "relative", "wide2fc"),
                       seeds=(0,), tolerance=10.0, coco=None),
            cpu=dict(n_train=960, n_test=200, body_epochs=4, head_epochs=5, batch_size=16,
                     lr=3e-3, proposals=32, d_f=256, n_relations=4, d_k=32, d_g=64,
                     geometry_scale=100.0,
                     rows=("2fc", "none", "unary", "relative", "wide2fc"),
                     seeds=(0, 1, 2), tolerance=5.0, coco=None),
            gpu=dict(n_train=8000, n_test=1000, body_epochs=12, head_epochs=8, batch_size=32,
                     lr=2e-3, proposals=64, d_f=256, n_relations=4, d_k=32, d_g=64,
                     geometry_scale=100.0,
                     rows=("2fc", "none", "unary", "relative", "relative_x1", "nr1", "nr2", "nr8",
                           "r10", "r01", "r22", "wide2fc", "3fc", "4fc"),
                     seeds=(0, 1, 2), tolerance=3.0, coco=None),
            full=dict(n_train=None, n_test=None, body_epochs=None, head_epochs=None,
                      batch_size=None, lr=None, proposals=1000, d_f=1024, n_relations=16, d_k=64,
                      d_g=64, geometry_scale=100.0,
                      rows=("2fc", "none", "unary", "relative", "nr1", "nr2", "nr4", "nr8",
                            "nr32", "r10", "r01", "r22", "r44", "wide2fc", "3fc"),
                      seeds=(0,), tolerance=1.0, coco=_RN_COCO),
        ),
        # book/relation-networks.md, "What the module looks at": a 2fc + RM {1, 1} head trained as in
        # rn_ablation_head, once per seed; readings on n_test images (RoIs at IoU >= 0.5), the causal
        # test (mask_overlap: a masked object's keys are every RoI of IoU above it with the object,
        # 0.0 = every RoI that touches it; None = the RoIs assigned to it, design 1) and the class
        # matrices; n_show reference objects drawn. Settings: the chapter. full: _RN_COCO, readings
        # on the first n_test val images.
        "rn_figures": _every_profile(
            smoke=dict(n_train=48, n_test=24, body_epochs=8, head_epochs=2, batch_size=16,
                       lr=3e-3, proposals=32, d_f=64, n_relations=4, d_k=16, d_g=64,
                       geometry_scale=100.0, mask_overlap=0.0, n_show=4, seeds=(0,),
                       tolerance=0.5, coco=None),
            cpu=dict(n_train=960, n_test=200, body_epochs=4, head_epochs=8, batch_size=16,
                     lr=3e-3, proposals=32, d_f=256, n_relations=4, d_k=32, d_g=64,
                     geometry_scale=100.0, mask_overlap=0.0, n_show=6, seeds=(0, 1, 2),
                     tolerance=0.3, coco=None),
            gpu=dict(n_train=8000, n_test=1000, body_epochs=12, head_epochs=8, batch_size=32,
                     lr=2e-3, proposals=64, d_f=256, n_relations=4, d_k=32, d_g=64,
                     geometry_scale=100.0, mask_overlap=0.0, n_show=6, seeds=(0, 1, 2),
                     tolerance=0.2, coco=None),
            full=dict(n_train=None, n_test=500, body_epochs=None, head_epochs=None,
                      batch_size=None, lr=None, proposals=1000, d_f=1024, n_relations=16, d_k=64,
                      d_g=64, geometry_scale=100.0, mask_overlap=0.0, n_show=6, seeds=(0,),
                      tolerance=0.2, coco=_RN_COCO),
        ),
        # book/local-relation.md, "Robustness": on lrnet_kernel_size's composition set and chosen
        # design, LR-Net-26-mini (lr_kernel) vs ResNet-26-mini (resnet_kernel), per seed trained `steps`
        # regularly, then adversarially at eps with the design the seed-0 pilot picks among
        # `designs` (PGD-train_steps fine-tuning for finetune_steps at finetune_lr, with BatchNorm
        # in train mode or frozen; FGSM-RS from scratch for `steps`); attacked with PGD-eval_steps
        # on n_attack test images; BatchNorm recalibrated on n_recal clean images. Settings: the
        # chapter.
        "lrnet_robustness": _every_profile(
            smoke=dict(train_size=480, test_size=200, n_attack=64, steps=40, batch_size=32,
                       lr=3e-3, eps=0.1, train_steps=1, eval_steps=2, width=8, lr_kernel=3,
                       resnet_kernel=3, sigma=1.0, stem_stride=2, n_recal=160, tolerance=10.0,
                       designs=ROBUSTNESS_DESIGNS, finetune_steps=20, finetune_lr=1e-3),
            cpu=dict(train_size=2000, test_size=500, n_attack=300, steps=100, batch_size=32,
                     lr=2e-3, eps=0.1, train_steps=2, eval_steps=5, width=8, lr_kernel=7,
                     resnet_kernel=3, sigma=1.0, stem_stride=1, n_recal=640, tolerance=5.0,
                     designs=ROBUSTNESS_DESIGNS, finetune_steps=50, finetune_lr=1e-3),
            **_gpu_and_full(
                dict(train_size=4000, test_size=1000, n_attack=1000, steps=3000, batch_size=64,
                     lr=2e-3, eps=0.1, train_steps=7, eval_steps=20, width=16, lr_kernel=7,
                     resnet_kernel=3, sigma=1.0, stem_stride=1, n_recal=1280, tolerance=5.0,
                     designs=ROBUSTNESS_DESIGNS, finetune_steps=1000, finetune_lr=1e-3)),
        ),
        # book/gcnet.md, "Attention maps": per seed, (1) flag_*: the ablations' classifier with one NL
        # block after each of flag_stages, keys pooled 2 x 2 after flag_sub_sample, trained with the
        # ablations' budget on cpu (design 2: until it solves the task); (2) a ContextClassifier of
        # `widths` with one NL block per mode, trained on crops of photographs; maps drawn on
        # vis_photos. Settings (why keys are pooled on cpu, the two designs): the chapter.
        "gcnet_attention": _every_profile(
            smoke=dict(flag_widths=(8, 16, 64), flag_stages=(1, 2, 3), flag_sub_sample=(1,),
                       flag_n_train=128, flag_n_test=64, flag_epochs=1, flag_lr=3e-3,
                       flag_batch_size=32, short_side=128, crop=32, n_train=160, n_test=64,
                       epochs=3, batch_size=32,
                       lr=2e-3, widths=(4, 8, 16), modes=("embedded_gaussian",),
                       vis_photos=("astronaut", "coffee"), vis_size=64),
            cpu=dict(flag_widths=(8, 16, 64), flag_stages=(1, 2, 3), flag_sub_sample=(1,),
                     flag_n_train=3600, flag_n_test=500, flag_epochs=4, flag_lr=3e-3,
                     flag_batch_size=16,
                     short_side=128, crop=32, n_train=1280, n_test=320, epochs=3, batch_size=32,
                     lr=2e-3, widths=(8, 16, 32), modes=("embedded_gaussian",),
                     vis_photos=("astronaut", "coffee", "chelsea"), vis_size=96),
            **_gpu_and_full(
                dict(flag_widths=(16, 32, 64), flag_stages=(1, 2, 3), flag_sub_sample=(),
                     flag_n_train=20000, flag_n_test=4000, flag_epochs=20, flag_lr=2e-3,
                     flag_batch_size=64, short_side=256, crop=64, n_train=20000, n_test=2000, epochs=20, batch_size=64,
                     lr=1e-3, widths=(32, 64, 128),
                     modes=("embedded_gaussian", "gaussian", "dot_product", "concatenation"),
                     vis_photos=("astronaut", "coffee", "chelsea"), vis_size=192)),
        ),
        # book/gcnet.md, "Ablations": ContextClassifier of `widths` with each block variant, trained
        # `epochs` (Adam, lr) on n_train ContextFlags images of `size` px, per seed; every SE / GC
        # bottleneck has at least rd_min channels (our choice). Settings: the chapter.
        "gcnet_ablations": _every_profile(
            smoke=dict(size=32, n_train=256, n_test=128, epochs=3, batch_size=32, lr=3e-3,
                       widths=(8, 16, 64), rd_min=8),
            cpu=dict(size=32, n_train=3600, n_test=500, epochs=4, batch_size=16, lr=3e-3,
                     widths=(8, 16, 64), rd_min=8),
            **_gpu_and_full(
                dict(size=32, n_train=20000, n_test=4000, epochs=20, batch_size=128, lr=2e-3,
                     widths=(16, 32, 64), rd_min=8),
                epochs=30),
        ),
        # book/gcnet.md, "AP of the four detectors": a tiny Mask R-CNN (`tiny`; box-only when `masks` is
        # False) on ContextMasks (a far flag of flag_size px decides half of every class), `epochs` with
        # `optimizer` ("sgd": momentum 0.9; "adam") at lr, warm-up and x0.1 at lr_steps, per seed.
        # MACs at macs_image_size with macs_*_rois. full: maskrcnn_resnet50_fpn on COCO, the 1x schedule
        # scaled to one device. Settings (box-only, flag size, Adam): the chapter.
        "gcnet_coco_ap": _every_profile(
            smoke=dict(n_train=32, n_test=24, flag_size=8, epochs=3, batch_size=8, optimizer="adam",
                       lr=2e-3, warmup_steps=2, lr_steps=(), weight_decay=0.0, masks=False,
                       eval_batch_size=24, tolerance=5.0, tiny=_GCNET_TINY_CPU,
                       coco=None, macs_image_size=(64, 64), macs_box_rois=64, macs_mask_rois=16),
            cpu=dict(n_train=900, n_test=200, flag_size=8, epochs=2, batch_size=8, optimizer="adam",
                     lr=2e-3, warmup_steps=30, lr_steps=(), weight_decay=0.0, masks=False,
                     eval_batch_size=50, tolerance=5.0, tiny=_GCNET_TINY_CPU,
                     coco=None, macs_image_size=(64, 64), macs_box_rois=64, macs_mask_rois=16),
            gpu=dict(n_train=20000, n_test=2000, flag_size=4, epochs=12, batch_size=16,
                     optimizer="sgd", lr=0.02,
                     warmup_steps=500, lr_steps=(8, 11), weight_decay=1e-4, masks=True,
                     eval_batch_size=100, tolerance=3.0,
                     tiny=dict(planes=(16, 32, 64, 128), layers=(2, 2, 3, 2), fpn_channels=64,
                               representation_size=256, mask_layers=(64, 64), proposals=128,
                               box_batch_size_per_image=64),
                     coco=None, macs_image_size=(64, 64), macs_box_rois=128, macs_mask_rois=32),
            full=dict(n_train=None, n_test=None, flag_size=None, epochs=12, batch_size=2,
                      optimizer="sgd", lr=0.0025,
                      warmup_steps=500, lr_steps=(8, 11), weight_decay=1e-4, masks=True,
                      eval_batch_size=8, tolerance=1.0, tiny=None,
                      coco=dict(train_split="train2017", val_split="val2017",
                                pretrained_backbone=True),
                      macs_image_size=(800, 1280), macs_box_rois=1000, macs_mask_rois=100),
        ),
        # book/gcnet.md, "Why the classifiers learn the flag": the budgets of gcnet_ablations and
        # gcnet_coco_ap swapped. (a) the ablations' GC classifier with gcnet_coco_ap's images, epochs and
        # batch size; (b) its baseline and GC detectors, every knob as gcnet_coco_ap's but long_epochs on
        # long_n_train images. `setting`: the profile whose gcnet_ablations / gcnet_coco_ap knobs are read
        # (full reads gpu's: the question is one of the synthetic set-up). Why these budgets: the chapter.
        "gcnet_budget": _every_profile(
            smoke=dict(setting="smoke", long_epochs=5, long_n_train=32),
            cpu=dict(setting="cpu", long_epochs=4, long_n_train=900),
            **_gpu_and_full(dict(setting="gpu", long_epochs=24, long_n_train=20000)),
        ),
        # book/local-relation.md, "Accuracy vs kernel size": a pilot of LR-Net designs (pilot_*), then
        # the chosen design and ResNet-26-mini at every kernel size, per seed, on the composition set;
        # sigma: the locality term in pixels (our choice). Settings: the chapter.
        "lrnet_kernel_size": _every_profile(
            smoke=dict(kernel_sizes=(3, 7), width=8, steps=40, batch_size=32, lr=2e-3,
                       train_size=480, test_size=200, sigma=1.0,
                       pilot_designs=("layer defaults", "locality prior",
                                      "locality prior, larger maps"),
                       pilot_kernels=(3, 7), pilot_seeds=(0,), pilot_steps=10),
            cpu=dict(kernel_sizes=(3, 5, 7, 9), width=8, steps=100, batch_size=32, lr=2e-3,
                     train_size=2000, test_size=500, sigma=1.0,
                     pilot_designs=("layer defaults", "locality prior",
                                    "locality prior, larger maps"),
                     pilot_kernels=(3, 7), pilot_seeds=(0,), pilot_steps=100),
            **_gpu_and_full(
                dict(kernel_sizes=(3, 5, 7, 9), width=16, steps=3000, batch_size=64, lr=2e-3,
                     train_size=4000, test_size=1000, sigma=1.0,
                     pilot_designs=("layer defaults", "locality prior",
                                    "locality prior, larger maps"),
                     pilot_kernels=(3, 7), pilot_seeds=(0, 1, 2), pilot_steps=1000)),
        ),
        # book/local-relation.md, "What it costs": forward + backward of one local relation op (cpu: the
        # issue's B=8, C=256, 28x28, k=7, m=8) by each implementation and 3x3 convs, and one SGD step of
        # ResNet-26 / LR-Net-26. Times are never checked, the claims' ratios are; smoke runs the cpu
        # shapes once (smaller shapes make the ratios noise).
        "lrnet_benchmark": _every_profile(
            smoke=dict(batch=8, channels=256, size=28, kernel_size=7, m=8, net_batch=8,
                       image_size=112, repeats=1),
            cpu=dict(batch=8, channels=256, size=28, kernel_size=7, m=8, net_batch=8,
                     image_size=112, repeats=3),
            **_gpu_and_full(
                dict(batch=8, channels=256, size=28, kernel_size=7, m=8, net_batch=32,
                     image_size=224, repeats=10)),
        ),
        # book/graphs-language.md: GCN vs MLP vs GAT vs label spreading on the karate club and a k-NN
        # graph of sklearn's digits (labels_per_class labelled nodes); embedding_epochs: snapshots of the
        # karate-club GCN's 2-d layer (GCN's appendix: 4-4-2 tanh, Adam 0.01, 300 iterations).
        # planetoid: the Planetoid sets read from data_root (full only).
        "graph_node_classification": _every_profile(
            smoke=dict(karate_epochs=200, digits_k=10, labels_per_class=10, epochs=100, hidden=16,
                       lr=0.01, weight_decay=5e-4, gat_epochs=20, gat_heads=2, gat_hidden=8,
                       embedding_epochs=(0, 25, 50, 100, 200, 300), planetoid=()),
            cpu=dict(karate_epochs=200, digits_k=10, labels_per_class=10, epochs=200, hidden=16,
                     lr=0.01, weight_decay=5e-4, gat_epochs=100, gat_heads=4, gat_hidden=8,
                     embedding_epochs=(0, 25, 50, 75, 100, 200, 300), planetoid=()),
            **_gpu_and_full(dict(karate_epochs=200, digits_k=10, labels_per_class=10, epochs=200,
                                 hidden=16, lr=0.01, weight_decay=5e-4, gat_epochs=200,
                                 gat_heads=8, gat_hidden=8,
                                 embedding_epochs=(0, 25, 50, 75, 100, 200, 300), planetoid=()),
                            planetoid=("cora", "citeseer", "pubmed")),
        ),
        # book/graphs-language.md: GCN Table 3's propagation models on the digits k-NN graph.
        "gcn_propagation": _every_profile(
            smoke=dict(digits_k=10, labels_per_class=10, hidden=16, lr=0.01, weight_decay=5e-4,
                       epochs=100),
            cpu=dict(digits_k=10, labels_per_class=10, hidden=16, lr=0.01, weight_decay=5e-4,
                     epochs=200),
            **_gpu_and_full(dict(digits_k=10, labels_per_class=10, hidden=16, lr=0.01,
                                 weight_decay=5e-4, epochs=200)),
        ),
        # book/graphs-language.md: digits -> German number words, the Transformer vs its no-relation
        # twin (uniform attention); split by number out of 0..max_number.
        "transformer_numbers": _every_profile(
            smoke=dict(lang="de", max_number=9999, train_size=2000, test_size=200, d_model=64,
                       num_heads=4, layers=2, ff=128, steps=100, batch_size=128, lr=3e-3),
            cpu=dict(lang="de", max_number=9999, train_size=8000, test_size=1000, d_model=64,
                     num_heads=4, layers=2, ff=128, steps=600, batch_size=128, lr=3e-3),
            **_gpu_and_full(dict(lang="de", max_number=9999, train_size=8000, test_size=1000,
                                 d_model=64, num_heads=4, layers=2, ff=128, steps=3000,
                                 batch_size=128, lr=3e-3)),
        ),
        # book/tracking.md: tracking by detection on relnotes.data.mot's synthetic crowd: the IoU /
        # motion baseline, the appearance embedding and the STRN-style relation model (strn), trained
        # `epochs` x `train_sequences` (one Adam step per `chunk` frames); tracker: max_age, centre gate
        # px per frame, min_score chosen from `thresholds` on the training sequences; pilot_seed: the
        # pilot of four relation-tracker designs. full: MOT17 training sequences from data_root.
        "strn_benchmark": _every_profile(
            smoke=dict(scene=dict(n_frames=40, n_groups=5), train_sequences=2, test_sequences=1,
                       epochs=6, lr=1e-2, chunk=20, max_age=30, gate=10.0,
                       thresholds=(0.2, 0.5), d=16,
                       strn=dict(d_f=32, n_relations=4, d_k=16, d_g=32, window=8, hidden=32),
                       mot17=(), pilot_seed=100),
            cpu=dict(scene=dict(n_frames=80, n_groups=6), train_sequences=4, test_sequences=3,
                     epochs=10, lr=1e-2, chunk=20, max_age=30, gate=10.0,
                     thresholds=(0.1, 0.2, 0.3, 0.5), d=16,
                     strn=dict(d_f=32, n_relations=4, d_k=16, d_g=32, window=8, hidden=32),
                     mot17=(), pilot_seed=100),
            **_gpu_and_full(dict(scene=dict(n_frames=150, n_groups=8), train_sequences=12,
                                 test_sequences=6, epochs=30, lr=1e-2, chunk=20, max_age=30,
                                 gate=10.0, thresholds=(0.1, 0.2, 0.3, 0.5), d=16,
                                 strn=dict(d_f=64, n_relations=8, d_k=16, d_g=32, window=8,
                                           hidden=64), mot17=(), pilot_seed=100),
                            mot17=("MOT17-02-DPM", "MOT17-04-DPM", "MOT17-05-DPM",
                                   "MOT17-09-DPM", "MOT17-10-DPM", "MOT17-11-DPM",
                                   "MOT17-13-DPM")),
        ),
        # book/tracking.md, ablation of the relation model: each cue dropped, the spatial relation off,
        # temporal attention uniform, the window lengths of `windows`. Knobs as strn_benchmark.
        "strn_ablation": _every_profile(
            smoke=dict(scene=dict(n_frames=40, n_groups=5), train_sequences=1, test_sequences=1,
                       epochs=6, lr=1e-2, chunk=20, max_age=30, gate=10.0, min_score=0.5, d=16,
                       strn=dict(d_f=32, n_relations=4, d_k=16, d_g=32, window=8, hidden=32),
                       windows=(1,)),
            cpu=dict(scene=dict(n_frames=80, n_groups=6), train_sequences=3, test_sequences=3,
                     epochs=8, lr=1e-2, chunk=20, max_age=30, gate=10.0, min_score=0.5, d=16,
                     strn=dict(d_f=32, n_relations=4, d_k=16, d_g=32, window=8, hidden=32),
                     windows=(1, 4)),
            **_gpu_and_full(dict(scene=dict(n_frames=150, n_groups=8), train_sequences=12,
                                 test_sequences=6, epochs=30, lr=1e-2, chunk=20, max_age=30,
                                 gate=10.0, min_score=0.5, d=16,
                                 strn=dict(d_f=64, n_relations=8, d_k=16, d_g=32, window=8,
                                           hidden=64), windows=(1, 2, 4, 16))),
        ),
        # book/local-relation.md, "What a trained local relation layer holds": one 7x7 LR layer (and a
        # 7x7 conv) trained to denoise crops of photographs; priors and weights drawn on the held-out
        # cameraman (short_side px).
        "lrnet_figures": _every_profile(
            smoke=dict(n_crops=1600, crop=24, sigma=0.1, short_side=128, kernel_size=7,
                       channels=8, m=4, geometry_channels=16, lr=3e-3, epochs=1, batch_size=16),
            cpu=dict(n_crops=8000, crop=24, sigma=0.1, short_side=256, kernel_size=7,
                     channels=8, m=4, geometry_channels=16, lr=3e-3, epochs=1, batch_size=16),
            **_gpu_and_full(
                dict(n_crops=50000, crop=32, sigma=0.1, short_side=256, kernel_size=7,
                     channels=16, m=8, geometry_channels=16, lr=2e-3, epochs=3, batch_size=64)),
        ),
        # book/relation-networks.md, "Learned duplicate removal" (RN Tables 3-4): the tiny Faster R-CNN
        # trained det_epochs on crowded ContextShapes, per seed; DuplicateRemoval on the first_n boxes
        # per class trained dedup_epochs on the frozen detector (per Table 3 input on the first
        # inputs_seeds seeds, per Table 4 threshold set on the first pilot_seeds), e2e jointly with the
        # box head; greedy NMS at nms_thresholds and Soft-NMS at soft_sigmas. Settings (dedup_lr,
        # epochs): the chapter. full: _RN_COCO, the network with SGD at the official rate.
        "rn_duplicate_removal": _every_profile(
            smoke=dict(n_train=128, n_test=32, det_epochs=4, det_lr=4e-3, batch_size=16,
                       proposals=64, first_n=32, d_f=32, n_relations=4, d_k=16, d_g=32,
                       rank_dim=32, dedup_epochs=3, dedup_lr=3e-4, dedup_batch=4,
                       e2e_epochs=1, e2e_lr=1e-3, nms_thresholds=(0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
                       soft_sigmas=(0.2, 0.4, 0.6, 0.8, 1.0), seeds=(0,), inputs_seeds=1,
                       pilot_seeds=1, tolerance=3.0, coco=None),
            cpu=dict(n_train=240, n_test=150, det_epochs=4, det_lr=2e-3, batch_size=16,
                     proposals=64, first_n=32, d_f=64, n_relations=4, d_k=16, d_g=32,
                     rank_dim=64, dedup_epochs=10, dedup_lr=3e-4, dedup_batch=4,
                     e2e_epochs=1, e2e_lr=1e-3, nms_thresholds=(0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
                     soft_sigmas=(0.2, 0.4, 0.6, 0.8, 1.0), seeds=(0, 1, 2), inputs_seeds=3,
                     pilot_seeds=1, tolerance=2.0, coco=None),
            gpu=dict(n_train=10000, n_test=1000, det_epochs=10, det_lr=2e-3, batch_size=32,
                     proposals=128, first_n=100, d_f=128, n_relations=16, d_k=64, d_g=64,
                     rank_dim=128, dedup_epochs=6, dedup_lr=3e-4, dedup_batch=16,
                     e2e_epochs=6, e2e_lr=5e-4, nms_thresholds=(0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
                     soft_sigmas=(0.2, 0.4, 0.6, 0.8, 1.0), seeds=(0, 1, 2), inputs_seeds=3,
                     pilot_seeds=3, tolerance=1.0, coco=None),
            full=dict(n_train=None, n_test=100, det_epochs=None, det_lr=None, batch_size=None,
                      proposals=1000, first_n=100, d_f=128, n_relations=16, d_k=64, d_g=64,
                      rank_dim=128, dedup_epochs=3, dedup_lr=2e-3, dedup_batch=4,
                      e2e_epochs=None, e2e_lr=None, nms_thresholds=(0.3, 0.4, 0.5, 0.6, 0.7),
                      soft_sigmas=(0.2, 0.4, 0.6, 0.8, 1.0), seeds=(0,), inputs_seeds=1,
                      pilot_seeds=1, tolerance=1.0, coco=_RN_COCO),
        ),
        # book/relation-networks.md, "Real data: tree crowns": deepforest's images downscaled by `scale`
        # and tiled; the tiny one-class Faster R-CNN (channels, anchor_sizes) trained det_epochs (Adam
        # det_lr, x0.1 at lr_steps) on the tiles and their symmetries; DuplicateRemoval trained alone at
        # dedup_lr per seed. Settings (rates, epochs, one detector): the chapter. gpu / full: no larger
        # data exists (the package has four images), they only train longer.
        "rn_dedup_forest": _every_profile(
            smoke=dict(scale=2, tile=128, train_images=("OSBS_029", "SOAP_061"),
                       test_images=("2019_YELL_2_541000_4977000_image_crop",),
                       flips=True, transpose=True, channels=(32, 64, 64), batch_norm=True,
                       anchor_sizes=(8, 16, 32), proposals=64, det_epochs=6, det_lr=2e-3,
                       lr_steps=(), batch_size=8, first_n=32, d_f=32, n_relations=4, d_k=16,
                       d_g=32, rank_dim=32, dedup_epochs=6, dedup_lr=3e-4, dedup_batch=4,
                       nms_thresholds=(0.3, 0.5, 0.7), soft_sigmas=(0.2, 0.6, 1.0),
                       seeds=(0,), tolerance=3.0),
            cpu=dict(scale=3, tile=96,
                     train_images=("OSBS_029", "SOAP_061", "2019_YELL_2_528000_4978000_image_crop2"),
                     test_images=("2019_YELL_2_541000_4977000_image_crop",),
                     flips=True, transpose=True, channels=(32, 64, 128), batch_norm=True,
                     anchor_sizes=(6, 8, 11, 16, 22), proposals=128, det_epochs=12, det_lr=1e-3,
                     lr_steps=(9,), batch_size=4, first_n=64, d_f=64, n_relations=4, d_k=16,
                     d_g=32, rank_dim=64, dedup_epochs=6, dedup_lr=3e-4, dedup_batch=4,
                     nms_thresholds=(0.3, 0.4, 0.5, 0.6, 0.7),
                     soft_sigmas=(0.2, 0.4, 0.6, 0.8, 1.0), seeds=(0, 1, 2), tolerance=2.0),
            **_gpu_and_full(
                dict(scale=3, tile=96,
                     train_images=("OSBS_029", "SOAP_061", "2019_YELL_2_528000_4978000_image_crop2"),
                     test_images=("2019_YELL_2_541000_4977000_image_crop",),
                     flips=True, transpose=True, channels=(64, 128, 256), batch_norm=True,
                     anchor_sizes=(6, 8, 11, 16, 22), proposals=128, det_epochs=48, det_lr=1e-3,
                     lr_steps=(36,), batch_size=8, first_n=100, d_f=128, n_relations=16, d_k=64,
                     d_g=64, rank_dim=128, dedup_epochs=20, dedup_lr=1e-3, dedup_batch=8,
                     nms_thresholds=(0.3, 0.4, 0.5, 0.6, 0.7),
                     soft_sigmas=(0.2, 0.4, 0.6, 0.8, 1.0), seeds=(0, 1, 2), tolerance=1.0)),
        ),
        # book/region-deformable.md: RoIPool vs RoIAlign vs learned region features as the box_roi_pool of
        # the tiny Faster R-CNN on ContextShapes: per seed the body trained body_epochs (RoIAlign + 2fc)
        # and frozen, each extractor's head head_epochs; memory_rois: RoIs at which lean vs dense peak
        # memory is measured. Settings: the chapter. full: real COCO from data_root (`coco`).
        "region_extractors": _every_profile(
            smoke=dict(n_train=48, n_test=24, body_epochs=1, head_epochs=1, batch_size=16,
                       lr=3e-3, proposals=32, d_f=64, learned=dict(support="enlarged", d_e=32, d_k=32),
                       memory_rois=32, n_show=3, tolerance=10.0, coco=None),
            cpu=dict(n_train=480, n_test=200, body_epochs=4, head_epochs=8, batch_size=16,
                     lr=3e-3, proposals=32, d_f=256, learned=dict(support="enlarged", d_e=32, d_k=32),
                     memory_rois=32, n_show=3, tolerance=5.0, coco=None),
            **_gpu_and_full(dict(n_train=8000, n_test=1000, body_epochs=12, head_epochs=12,
                                 batch_size=32, lr=2e-3, proposals=64, d_f=256,
                                 learned=dict(support="enlarged", d_e=32, d_k=32), memory_rois=64,
                                 n_show=3, tolerance=3.0, coco=None),
                            proposals=256, batch_size=8,
                            coco=dict(train_split="train2017", val_split="val2017", max_train=None,
                                      max_test=None, flip=True, image_size=512,
                                      anchor_sizes=(32, 64, 128, 256), eval_batch_size=16)),
        ),
        # book/region-deformable.md: DCN vs local relation vs both as the one adaptive block of
        # AdaptiveNet on affine digits (rotation up to max_rotation, scales in scale_range), trained
        # `steps` Adam steps, per seed; n_queries sampling points drawn on n_images test images.
        "region_deformable": _every_profile(
            smoke=dict(n_train=320, n_test=200, max_rotation=60.0, scale_range=(0.6, 1.1),
                       width=8, kernel_size=7, channels_per_group=8, steps=60, batch_size=32,
                       lr=3e-3, n_images=2, n_queries=3, tolerance=10.0),
            cpu=dict(n_train=4000, n_test=1000, max_rotation=60.0, scale_range=(0.6, 1.1),
                     width=16, kernel_size=7, channels_per_group=8, steps=300, batch_size=32,
                     lr=3e-3, n_images=2, n_queries=3, tolerance=3.0),
            **_gpu_and_full(dict(n_train=4000, n_test=1000, max_rotation=60.0,
                                 scale_range=(0.6, 1.1), width=32, kernel_size=7,
                                 channels_per_group=8, steps=4000, batch_size=64, lr=2e-3,
                                 n_images=2, n_queries=3, tolerance=2.0)),
        ),
    }
)


def get_profile(name: str) -> Profile:
    """Return the profile called ``name``.

    Args:
        name (str): one of ``smoke``, ``cpu``, ``gpu``, ``full``.

    Raises:
        UnknownProfileError: ``name`` is not a profile.
    """
    if name not in PROFILES:
        raise UnknownProfileError(
            f"unknown profile {name!r}; choose one of {', '.join(PROFILES)} "
            f"(see relnotes/repro/profiles.py)"
        )
    return PROFILES[name]
