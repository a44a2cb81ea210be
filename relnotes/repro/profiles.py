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
    """

    name: str
    where: str
    budget_s: float
    threads: int | None
    device: str
    needs_data_root: bool = False
    seed: int = 0

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

    def scale(self, experiment: str) -> SimpleNamespace:
        """The knobs of ``experiment`` on this profile, as attributes (``P.scale("x").epochs``)."""
        if experiment not in SCALES:
            known = ", ".join(sorted(SCALES))
            raise KeyError(
                f"no scale is defined for experiment {experiment!r}; known experiments: {known}. "
                f"Add an entry to SCALES in relnotes/repro/profiles.py."
            )
        return SimpleNamespace(**SCALES[experiment][self.name])


PROFILES: Mapping[str, Profile] = MappingProxyType(
    {
        "smoke": Profile("smoke", where="CI, 2 CPU cores", budget_s=60, threads=1, device="cpu"),
        "cpu": Profile("cpu", where="a laptop, 2+ CPU cores", budget_s=600, threads=2, device="cpu"),
        "gpu": Profile("gpu", where="one CUDA GPU", budget_s=3600, threads=None, device="cuda"),
        "full": Profile(
            "full", where="GPUs + real COCO / ImageNet", budget_s=float("inf"), threads=None,
            device="cuda", needs_data_root=True,
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


# Every scale knob of every notebook. Keys: experiment id (= the notebook's artifact id).
SCALES: Mapping[str, Mapping[str, Mapping[str, Any]]] = MappingProxyType(
    {
        # book/one-formula.md: the relation formula reproduces three familiar networks.
        # Sizes of the random inputs on which the instances are compared (float64).
        "one_formula": _every_profile(
            smoke=dict(n_tokens=6, embed_dim=16, num_heads=4, batch=2, nl_channels=8, nl_size=5),
            cpu=dict(n_tokens=32, embed_dim=64, num_heads=8, batch=4, nl_channels=32, nl_size=14),
            gpu=dict(n_tokens=128, embed_dim=256, num_heads=8, batch=8, nl_channels=64, nl_size=28),
            full=dict(n_tokens=300, embed_dim=1024, num_heads=16, batch=8, nl_channels=256,
                      nl_size=56),
        ),
        # book/local-relation.md: ResNet-26/50 vs LR-Net-26/50, parameters and MACs. The counts
        # are at the paper's 224 x 224 on every profile (meta tensors, no compute); the only knob
        # is the image size of one real forward pass per network, which checks that they run.
        "lrnet_architecture": _every_profile(
            smoke=dict(image_size=224, forward_size=32),
            cpu=dict(image_size=224, forward_size=64),
            gpu=dict(image_size=224, forward_size=224),
            full=dict(image_size=224, forward_size=224),
        ),
        # book/gcnet.md: the talk's COCO table (Mask R-CNN R50-FPN + NL / SE / GC). Parameters
        # and MACs are counted at the paper's setting on every profile (meta tensors, seconds):
        # mmdetection's get_flops protocol, one (H, W) = (800, 1280) image, 1000 RoIs into the
        # box head and 100 into the mask head. No knob scales: the AP training is a later step.
        "gcnet_coco_table": _every_profile(
            smoke=dict(image_size=(800, 1280), num_box_rois=1000, num_mask_rois=100),
            cpu=dict(image_size=(800, 1280), num_box_rois=1000, num_mask_rois=100),
            gpu=dict(image_size=(800, 1280), num_box_rois=1000, num_mask_rois=100),
            full=dict(image_size=(800, 1280), num_box_rois=1000, num_mask_rois=100),
        ),
        # book/relation-networks.md: RN Table 5 complexity deltas (+2 relation modules, +duplicate
        # removal). Counted on the real modules at the paper's setting on every profile (one
        # forward pass each on CPU tensors, a few seconds): N RoIs per image in the 2fc head
        # (300 for Faster R-CNN / DCN, 1000 for FPN) and first_n detections per class in the
        # duplicate-removal network. No knob scales.
        "rn_complexity": _every_profile(
            smoke=dict(n_rois_c4=300, n_rois_fpn=1000, first_n=100),
            cpu=dict(n_rois_c4=300, n_rois_fpn=1000, first_n=100),
            gpu=dict(n_rois_c4=300, n_rois_fpn=1000, first_n=100),
            full=dict(n_rois_c4=300, n_rois_fpn=1000, first_n=100),
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
