"""What each notebook needs, per profile: its time and memory, read from the committed references.

The runner writes into every artifact's environment, under ``time``, the notebook's wall-clock
and CPU seconds, the profile's budget, the kernel's peak host memory (references made before the
runner measured it lack it), and the peak GPU memory when the notebook used CUDA
(:func:`relnotes.repro.runner.record_time`). The references in ``notebooks/reference/<profile>/``
keep them, so the book can publish them without running anything: :func:`needs_rows` gives one
row per notebook and profile, and the ``{notebook-needs}`` directive of
:mod:`relnotes.repro.sphinx_ext` renders them (``book/needs.md``).

A notebook writes one or more artifacts (``Artifact("<id>", ...)`` in its code); they share one
``time`` entry, since the runner measures the notebook, not the artifact. The notebook's row takes
it from the first of its artifacts that has a reference on the profile. A profile with no
references in the repository (``gpu``, ``full``) gives no rows: nothing was measured there.
Times depend on the machine and its load; each row names the processor and the commit of the run.

Examples:
    >>> artifact_ids_of_source('art = Artifact("rn_figures", "Figure 4", profile=profile)')
    ['rn_figures']
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterable

from .profiles import PROFILES
from .runner import discover

__all__ = ["artifact_ids_of_source", "artifact_ids", "needs_rows", "reference_profiles"]

_ARTIFACT = re.compile(r"""\bArtifact\(\s*(?:id\s*=\s*)?["']([A-Za-z0-9_\-]+)["']""")


def artifact_ids_of_source(source: str) -> list[str]:
    """The artifact ids a piece of code creates (each ``Artifact("<id>"``), in order, once."""
    out: list[str] = []
    for art_id in _ARTIFACT.findall(source):
        if art_id not in out:
            out.append(art_id)
    return out


def artifact_ids(notebook: str | os.PathLike) -> list[str]:
    """The artifact ids the notebook's code cells create; the notebook's own name when none is
    found (a notebook whose artifact id is computed)."""
    import nbformat

    nb = nbformat.read(Path(notebook), as_version=4)
    ids = artifact_ids_of_source("\n".join(c.source for c in nb.cells if c.cell_type == "code"))
    return ids or [Path(notebook).stem]


def reference_profiles(reference_root: str | os.PathLike) -> list[str]:
    """The profiles, in :data:`~relnotes.repro.profiles.PROFILES` order, with at least one
    reference in ``reference_root``."""
    root = Path(reference_root)
    return [p for p in PROFILES if any((root / p).glob("*.json"))]


def needs_rows(reference_root: str | os.PathLike = "notebooks/reference",
               notebooks_root: str | os.PathLike = "notebooks",
               profiles: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """One dict per notebook and profile with references: ``notebook``, ``profile``,
    ``artifact`` (the reference read, None when the notebook has none on the profile),
    ``wall_s``, ``cpu_s``, ``budget_s``, ``over_budget``, ``host_peak_mib``, ``gpu_peak_mib``,
    ``gpu_name``,
    ``processor``, ``threads``, ``commit`` (None where the reference does not record them).
    Notebooks in :func:`~relnotes.repro.runner.discover` order, then profiles.

    Args:
        reference_root (path): the folder of ``<profile>/<artifact id>.json``.
        notebooks_root (path): the notebooks.
        profiles (iterable of str, optional): default: :func:`reference_profiles`.
    """
    root = Path(reference_root)
    profiles = list(profiles) if profiles is not None else reference_profiles(root)
    rows = []
    for notebook in discover(notebooks_root):
        ids = artifact_ids(notebook)
        for profile in profiles:
            row: dict[str, Any] = {"notebook": notebook.stem, "profile": profile,
                                   "artifact": None, "wall_s": None, "cpu_s": None,
                                   "budget_s": None, "over_budget": None,
                                   "host_peak_mib": None, "gpu_peak_mib": None,
                                   "gpu_name": None, "processor": None, "threads": None,
                                   "commit": None}
            for art_id in ids:
                path = root / profile / f"{art_id}.json"
                if not path.is_file():
                    continue
                env = json.loads(path.read_text()).get("environment", {})
                timing = env.get("time") or {}
                row.update(artifact=art_id, processor=env.get("cpu"),
                           threads=env.get("threads"), commit=env.get("git"),
                           **{k: timing.get(k) for k in ("wall_s", "cpu_s", "budget_s",
                                                         "over_budget", "host_peak_mib",
                                                         "gpu_peak_mib", "gpu_name")})
                break
            rows.append(row)
    return rows
