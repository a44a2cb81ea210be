"""Dry runs: what a ``gpu`` or ``full`` run checks before it trains, in seconds, on any machine.

``python -m relnotes.repro dry-run --profile full --data-root /data/coco`` does, for every
notebook, what the runner does up to the first cell that computes, and then checks what the
notebook will read:

1. **Parameters.** The notebook declares ``profile`` and ``artifact_dir``; the runner's parameters
   (and ``-p NAME=VALUE`` ones) are injected by papermill exactly as in a run, and the parameters
   cell with the injected cell is executed (plain assignments) so that a value which is not valid
   Python fails here.
2. **Knobs.** Every experiment the notebook reads (each ``P.scale("<id>", ...)`` in its code)
   gets its knobs from :mod:`relnotes.repro.profiles` on the profile, with the notebook's
   ``overrides``, and each knob is checked against its range by name (:func:`check_knobs`): counts
   (epochs, steps, batch sizes, widths, sizes) are ints >= 1, learning rates in (0, 1], weight
   decay and momentum in [0, 1), thresholds in (0, 1], tolerances > 0, seeds distinct ints, kernel
   sizes odd, learning-rate milestones increasing and inside the schedule, a width divisible by
   its number of heads or groups.
3. **Data.** On a profile that reads real data (``full``), a notebook that declares ``data_root``
   needs ``--data-root``; the folder is checked by the dataset checker,
   ``python -m relnotes.data.check`` (run as a command: ``repro`` imports no other floor), for
   the dataset the knobs name (``coco`` knobs: COCO 2017 with their splits; ``planetoid``: the
   Planetoid files).
4. **Memory.** Two numbers, each said for what it is:

   - an *estimate*, made here without the memory: the notebook's model and a batch of the
     profile's shape are built with fake tensors and one training step (forward, backward,
     optimizer step) is measured by ``python -m relnotes.analysis.memory``
     (:mod:`relnotes.analysis.memory`, run as a command: ``repro`` imports no other floor), for
     the notebooks it has an estimator for: "estimated peak X MiB", the largest step of the
     notebook, and what that step is. On a CUDA profile an estimate over the GPU's memory
     (``--gpu-memory-gib``, default: this machine's first GPU) is a problem. It leaves out the
     CUDA context and the kernels' workspaces, so a measured peak is the better number once
     there is one;
   - a *measurement*: the peak a run of the notebook on the same profile, with the same knobs,
     recorded (``environment["time"]`` of the profile's references, or a ``report.json`` of an
     earlier run given with ``--measured``): ``gpu_peak_mib``, checked against the memory of the
     GPU, and ``host_peak_mib``, shown. The repository keeps no ``gpu`` or ``full`` references,
     so on those profiles only ``--measured`` gives one.

Nothing is trained and no kernel is started. Each problem names the notebook, and the knob.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from .profiles import get_profile
from .runner import NotebookError, check_parameters

__all__ = ["DryRun", "dry_run", "check_knobs", "experiments_of", "data_needs", "measured_peaks",
           "estimate_memory"]

_SCALE_CALL = re.compile(r"""\.scale\(\s*["']([A-Za-z0-9_]+)["']""")

# --- knob ranges, by name ----------------------------------------------------------------------
#: Ints >= 1: counts and sizes. Matched against the knob's own name (the last part of a path).
_COUNT = re.compile(r"(epochs|steps|batch|size|channels|width|hidden|heads|layers|planes|^d_|^n_|"
                    r"_dim$|^ff$|^m$|repeats|proposals|first_n|rois|crop|tile|side|number|_k$|"
                    r"per_class|^k$|kernel|tokens|relations)")
#: Ints >= 0 even though the name looks like a count.
_MAY_BE_ZERO = re.compile(r"^(warmup|num_workers)")
_LR = re.compile(r"(^|_)lr$")
_UNIT_OPEN = re.compile(r"^(weight_decay|momentum)$")          # [0, 1)
_THRESH = re.compile(r"(thresh|thresholds)$")                 # (0, 1]
_POSITIVE = re.compile(r"(tolerance|sigma|sigmas|scale)$")     # > 0
_ODD = re.compile(r"^(kernel_size|kernel_sizes|init_kernel)$")
#: (width, groups): the width must be a multiple of the groups (heads, relations, m).
_DIVISIBLE = (("embed_dim", "num_heads"), ("d_model", "num_heads"), ("channels", "m"),
              ("d_f", "n_relations"))
PLANETOID = ("cora", "citeseer", "pubmed")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_knobs(knobs: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Problems with the ranges of ``knobs`` (one experiment on one profile), each starting
    ``knob <name> = <value>:``. ``None`` is always allowed (the knobs' comments say what it means:
    all images, the COCO schedule, ...). Nested mappings (``coco``, ``tiny``) are checked with
    dotted names.

    Examples:
        >>> check_knobs({"epochs": 0, "lr": 0.1, "kernel_size": 4})
        ['knob epochs = 0: must be an int >= 1', 'knob kernel_size = 4: must be odd']
    """
    problems = []

    def bad(name: str, value: Any, why: str) -> None:
        problems.append(f"knob {prefix}{name} = {value!r}: {why}")

    for name, value in knobs.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            problems += check_knobs(value, prefix=f"{prefix}{name}.")
            continue
        items = list(value) if isinstance(value, (tuple, list)) else [value]
        if name == "seeds":
            if not items or not all(_is_int(s) for s in items) or len(set(items)) != len(items):
                bad(name, value, "must be one or more distinct ints")
            continue
        if name.endswith("epochs") and isinstance(value, (tuple, list)):  # snapshot epochs
            if not all(_is_int(s) and s >= 0 for s in items) or items != sorted(set(items)):
                bad(name, value, "epochs at which to look must be increasing ints >= 0")
            continue
        if name == "lr_steps":
            if not all(_is_int(s) and s >= 1 for s in items) or items != sorted(set(items)):
                bad(name, value, "must be increasing ints >= 1")
            else:
                epochs = [v for k, v in knobs.items() if k.endswith("epochs") and _is_int(v)]
                if epochs and items and items[-1] >= max(epochs):
                    bad(name, value, f"a milestone at or after the last epoch ({max(epochs)}) "
                                     "never takes effect")
            continue
        if name == "planetoid":
            unknown = [n for n in items if n not in PLANETOID]
            if unknown:
                bad(name, value, f"unknown Planetoid set(s) {unknown}; known: "
                                 f"{', '.join(PLANETOID)}")
            continue
        # a list of names: "rows" must name at least one; another list may be empty ("none",
        # e.g. no real MOT17 sequences on a profile without data_root)
        if name == "rows" or (items and all(isinstance(v, str) for v in items)):
            if not items or not all(isinstance(v, str) and v for v in items):
                bad(name, value, "must be one or more names")
            continue
        if not all(_is_number(v) for v in items):
            continue  # booleans, strings mixed with numbers: no range to check
        if _LR.search(name):
            if not all(0 < v <= 1 for v in items):
                bad(name, value, "a learning rate must be in (0, 1]")
        elif _UNIT_OPEN.search(name):
            if not all(0 <= v < 1 for v in items):
                bad(name, value, "must be in [0, 1)")
        elif _THRESH.search(name):
            if not all(0 < v <= 1 for v in items):
                bad(name, value, "a threshold must be in (0, 1]")
        elif _POSITIVE.search(name):
            if not all(v > 0 for v in items):
                bad(name, value, "must be > 0")
        elif _MAY_BE_ZERO.search(name):
            if not all(_is_int(v) and v >= 0 for v in items):
                bad(name, value, "must be an int >= 0")
        elif _COUNT.search(name):
            if not all(_is_int(v) and v >= 1 for v in items):
                bad(name, value, "must be an int >= 1" if len(items) == 1 and
                    not isinstance(value, (tuple, list)) else "must be ints >= 1")
                continue
        if _ODD.search(name) and all(_is_int(v) for v in items) and not all(v % 2 for v in items):
            bad(name, value, "must be odd" if not isinstance(value, (tuple, list))
                else "must all be odd")
    for width, groups in _DIVISIBLE:
        w, g = knobs.get(width), knobs.get(groups)
        if _is_int(w) and _is_int(g) and g >= 1 and w % g:
            problems.append(f"knob {prefix}{width} = {w}: must be divisible by {prefix}{groups} "
                            f"= {g}")
    init, sizes = knobs.get("init_kernel"), knobs.get("kernel_sizes")
    if _is_int(init) and isinstance(sizes, (tuple, list)) and init not in sizes:
        problems.append(f"knob {prefix}init_kernel = {init}: must be one of "
                        f"{prefix}kernel_sizes {tuple(sizes)}")
    return problems


# --- what a notebook reads -----------------------------------------------------------------------
def _code(notebook: Path) -> list[str]:
    import nbformat

    return [c.source for c in nbformat.read(notebook, as_version=4).cells
            if c.cell_type == "code"]


def experiments_of(notebook: str | os.PathLike) -> list[str]:
    """The experiment ids the notebook reads knobs of: each ``.scale("<id>"`` in its code,
    in order, once."""
    found = []
    for source in _code(Path(notebook)):
        for exp in _SCALE_CALL.findall(source):
            if exp not in found:
                found.append(exp)
    return found


def data_needs(knobs: Mapping[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
    """The real datasets an experiment's knobs name: ``[("coco", splits)]`` when it has ``coco``
    knobs (splits ``train_split`` / ``val_split``, default train2017 / val2017),
    ``[("planetoid", names)]`` for a non-empty ``planetoid``."""
    needs = []
    coco = knobs.get("coco")
    if isinstance(coco, Mapping):
        needs.append(("coco", (coco.get("train_split", "train2017"),
                               coco.get("val_split", "val2017"))))
    planetoid = knobs.get("planetoid")
    if planetoid:
        needs.append(("planetoid", tuple(planetoid)))
    return needs


def measured_peaks(profile: str, reference_root: str | os.PathLike,
                   reports: Sequence[str | os.PathLike] = (), kind: str = "gpu"
                   ) -> dict[str, tuple[float, str]]:
    """{notebook or artifact name: (peak MiB, where it was measured)} from the profile's
    references and from earlier runs' ``report.json`` files (later ones win): the peak GPU
    memory (``kind="gpu"``, with the GPU's name) or the kernel's peak host memory
    (``kind="host"``)."""
    if kind not in ("gpu", "host"):
        raise ValueError(f"kind must be 'gpu' or 'host'; got {kind!r}")
    key = f"{kind}_peak_mib"

    def where(source: str, entry: Mapping[str, Any]) -> str:
        return f"{source}, {entry.get('gpu_name')}" if kind == "gpu" else source

    peaks: dict[str, tuple[float, str]] = {}
    for path in sorted((Path(reference_root) / profile).glob("*.json")):
        timing = json.loads(path.read_text()).get("environment", {}).get("time", {})
        if timing.get(key) is not None:
            peaks[path.stem] = (timing[key], where(f"reference {path.name}", timing))
    for report in reports:
        data = json.loads(Path(report).read_text())
        if data.get("profile") != profile:
            continue
        for row in data.get("notebooks", []):
            if row.get(key) is not None:
                peaks[Path(row["notebook"]).stem] = (row[key], where(str(report), row))
    return peaks


def _gpu_memory_mib() -> float | None:
    """Total memory of this machine's first GPU, when torch sees one."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_properties(0).total_memory / 2**20


# --- the dry run -------------------------------------------------------------------------------
@dataclass
class DryRun:
    """What the dry run of one notebook found."""

    notebook: Path
    profile: str
    experiments: list[str] = field(default_factory=list)
    data: list[str] = field(default_factory=list)
    memory: str = "not checked"
    problems: list[str] = field(default_factory=list)
    #: {experiment: its knobs on the profile}, as the notebook reads them
    knobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the memory estimate of the notebook's largest training step (:func:`estimate_memory`)
    estimate: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.notebook.stem

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, message: str) -> None:
        self.problems.append(f"{self.name} ({self.profile}): {message}")


_DATA_CHECKS: dict[tuple[str, str, tuple[str, ...]], tuple[int, str]] = {}


def _check_data(kind: str, path: str, names: tuple[str, ...]) -> tuple[int, str]:
    """``python -m relnotes.data.check`` on ``path`` (once per folder and dataset)."""
    key = (kind, str(Path(path).resolve()), names)
    if key not in _DATA_CHECKS:
        flag = "--splits" if kind == "coco" else "--names"
        done = subprocess.run([sys.executable, "-m", "relnotes.data.check", kind, path, flag,
                               *names, "--max-lines", "10"], capture_output=True, text=True)
        _DATA_CHECKS[key] = (done.returncode, (done.stdout + done.stderr).strip())
    return _DATA_CHECKS[key]


def dry_run(
    notebook: str | os.PathLike,
    profile: str,
    *,
    data_root: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    peaks: Mapping[str, tuple[float, str]] | None = None,
    gpu_memory_mib: float | None = None,
    host_peaks: Mapping[str, tuple[float, str]] | None = None,
) -> DryRun:
    """Dry-run one notebook on ``profile``: parameters, knobs, data, memory (module docstring).

    Args:
        notebook (path): the source notebook.
        profile (str): a profile name.
        data_root (str, optional): the real data folder (``--data-root``).
        parameters (dict, optional): other declared parameters, as ``-p NAME=VALUE``.
        peaks (dict, optional): :func:`measured_peaks` (GPU).
        gpu_memory_mib (float, optional): the GPU's memory, to compare a measured peak with.
        host_peaks (dict, optional): :func:`measured_peaks` with ``kind="host"``.

    Returns:
        DryRun: ``problems`` empty when the notebook is ready to run on ``profile``.

    Raises:
        UnknownProfileError: ``profile`` is not a profile.
    """
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    prof = get_profile(profile)
    notebook = Path(notebook)
    result = DryRun(notebook, profile)
    try:
        declared = check_parameters(notebook)
    except NotebookError as e:
        result.problem(str(e))
        return result
    extra = dict(parameters or {})
    reserved = sorted({"profile", "artifact_dir", "data_root"} & set(extra))
    undeclared = sorted(set(extra) - set(declared) - set(reserved))
    if reserved:
        result.problem(f"set {reserved} with the runner's own options, not as parameters")
    if undeclared:
        result.problem(f"no parameter(s) {undeclared} to inject; its parameters: "
                       f"{', '.join(declared)}")
    injected = {"profile": profile, "artifact_dir": "/dry-run/artifacts",
                **{k: v for k, v in extra.items() if k in declared and k not in reserved}}
    if data_root is not None and "data_root" in declared:
        injected["data_root"] = data_root

    # 1. the parameters, injected as papermill does, then executed (assignments only)
    nb = parameterize_notebook(load_notebook_node(str(notebook)), injected)
    namespace: dict[str, Any] = {}
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "parameters" in tags or "injected-parameters" in tags:
            try:
                exec(compile(cell.source, f"{notebook.name}:{tags[0]}", "exec"), namespace)
            except Exception as e:  # a value that is not valid Python
                result.problem(f"the {tags[0]} cell fails: {type(e).__name__}: {e}")
                return result
    if namespace.get("profile") != profile:
        result.problem(f"profile is {namespace.get('profile')!r} after injection, not "
                       f"{profile!r}")

    # 2. the knobs of every experiment the notebook reads
    result.experiments = experiments_of(notebook)
    if not result.experiments:
        result.problem('reads no knobs: no P.scale("<experiment id>") in its code (every scale '
                       "knob comes from relnotes/repro/profiles.py)")
    overrides = namespace.get("overrides") if "overrides" in declared else None
    needs: list[tuple[str, tuple[str, ...]]] = []
    for exp in result.experiments:
        try:
            knobs = vars(prof.scale(exp, overrides))
        except KeyError as e:
            result.problem(str(e.args[0]) if e.args else repr(e))
            continue
        result.knobs[exp] = knobs
        result.problems += [f"{result.name} ({profile}): {exp}: {p}" for p in check_knobs(knobs)]
        needs += [n for n in data_needs(knobs) if n not in needs]

    # 3. the real data
    if prof.needs_data_root and "data_root" in declared:
        if data_root is None:
            what = ", ".join(kind for kind, _ in needs) or "real data"
            result.problem(f"reads {what} on profile {profile!r}: pass --data-root "
                           f"/path/to/data (python -m relnotes.data.check checks the folder)")
        elif not Path(data_root).is_dir():
            result.problem(f"data_root {data_root} is not a folder")
        else:
            for kind, names in needs:
                status, text = _check_data(kind, data_root, names)
                result.data.append(f"{kind} {' '.join(names)} at {data_root}: "
                                   f"{'ok' if status == 0 else 'problems'}")
                if status != 0:
                    result.problem(f"the {kind} data at {data_root} has problems "
                                   f"(python -m relnotes.data.check {kind} {data_root}):\n"
                                   + "\n".join(f"    {line}" for line in text.splitlines()))

    # 4. memory: the peaks an earlier run on this profile measured (the estimate: estimate_memory)
    def peak(table: Mapping[str, tuple[float, str]] | None) -> tuple[float, str] | None:
        found = [table[k] for k in [result.name, *result.experiments] if k in (table or {})]
        return max(found) if found else None

    gpu, host = peak(peaks), peak(host_peaks)
    if prof.device != "cuda" and gpu is None:
        parts = ["GPU not used"]
    elif gpu is None:
        parts = [f"GPU not measured on {profile} (--measured REPORT of an earlier run "
                 "gives a measurement)"]
    else:
        parts = [f"GPU {gpu[0]:,.0f} MiB peak, measured ({gpu[1]})"]
        if gpu_memory_mib is not None and gpu[0] > gpu_memory_mib:
            result.problem(f"needed {gpu[0]:,.0f} MiB of GPU memory ({gpu[1]}); this GPU has "
                           f"{gpu_memory_mib:,.0f} MiB: lower the batch size with overrides")
    parts.append(f"host not measured on {profile}" if host is None else
                 f"host {host[0]:,.0f} MiB peak, measured ({host[1]})")
    result.memory = "; ".join(parts)
    return result


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def estimate_memory(results: Sequence[DryRun], gpu_memory_mib: float | None = None,
                    timeout: float = 900) -> None:
    """Add to each dry run the estimated peak of its notebook's largest training step, from one
    ``python -m relnotes.analysis.memory`` over every experiment read (module docstring, 4.):
    ``estimate`` set, "estimated peak X MiB (...)" first in ``memory``; on a CUDA profile, an
    estimate over ``gpu_memory_mib`` is a problem."""
    knobs: dict[str, Any] = {}
    for r in results:
        knobs.update({exp: _plain(k) for exp, k in r.knobs.items()})
    if not knobs:
        return
    done = subprocess.run([sys.executable, "-m", "relnotes.analysis.memory"],
                          input=json.dumps(knobs), capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["no output"])[-1]
        for r in results:
            r.memory = f"no estimate (python -m relnotes.analysis.memory failed: {why}); " \
                       + r.memory
        return
    estimates = json.loads(done.stdout)
    for r in results:
        found = {exp: estimates.get(exp, {}) for exp in r.experiments if exp in r.knobs}
        made = {exp: e for exp, e in found.items() if "peak_mib" in e}
        errors = [f"{exp}: {e['error']}" for exp, e in found.items() if "error" in e]
        if errors:
            r.problem("the memory estimate failed: " + "; ".join(errors))
        if not made:
            why = [e["not_estimated"] for e in found.values() if "not_estimated" in e]
            r.memory = (f"no estimate ({'; '.join(why)}); " if why else "no estimate; ") + r.memory
            continue
        r.estimate = max(made.values(), key=lambda e: e["peak_mib"])
        mib = r.estimate["peak_mib"]
        r.memory = (f"estimated peak {mib:,.0f} MiB (one training step of {r.estimate['what']}); "
                    + r.memory)
        if get_profile(r.profile).device == "cuda" and gpu_memory_mib is not None \
                and mib > gpu_memory_mib:
            r.problem(f"one training step needs about {mib:,.0f} MiB (estimated: "
                      f"{r.estimate['what']}); this GPU has {gpu_memory_mib:,.0f} MiB: lower the "
                      "batch size with overrides")


def format_dry_runs(results: Sequence[DryRun]) -> str:
    """One block per notebook: its experiments, data, memory; then the problems."""
    lines = []
    for r in results:
        lines.append(f"{r.name}: {'ok' if r.ok else 'PROBLEMS'}; experiments "
                     f"{', '.join(r.experiments) or '-'}; memory: {r.memory}")
        lines += [f"    data: {d}" for d in r.data]
        lines += [f"    {p}" for p in r.problems]
    bad = sum(not r.ok for r in results)
    lines.append(f"\n{len(results) - bad} notebook(s) ready, {bad} with problems "
                 "(dry run: nothing trained)")
    return "\n".join(lines)


def gpu_memory_mib(value_gib: float | None) -> float | None:
    """``--gpu-memory-gib`` in MiB, or this machine's GPU when not given."""
    if value_gib is not None:
        if not (value_gib > 0 and math.isfinite(value_gib)):
            raise ValueError(f"--gpu-memory-gib must be > 0; got {value_gib}")
        return value_gib * 1024
    return _gpu_memory_mib()
