"""The notebook runner: execute notebooks with papermill, collect and check their artifacts.

``python -m relnotes.repro`` is a thin command line over these functions::

    python -m relnotes.repro run --profile smoke                 # every notebook
    python -m relnotes.repro run --profile cpu one_formula       # chosen notebooks (by name)
    python -m relnotes.repro run --profile smoke --update-references
    python -m relnotes.repro book --profile cpu                  # run all, then build the book

For one notebook ``notebooks/<chapter>/<name>.ipynb`` on profile ``P`` the runner writes

- ``<build>/P/notebooks/<chapter>/<name>.ipynb``: the executed notebook (kept, even partial,
  when a cell fails, so that the failure can be inspected);
- ``<build>/P/artifacts/<name>/<id>.json``: the artifacts the notebook wrote;

and compares every artifact with ``notebooks/reference/P/<id>.json``. A profile whose
references the repository does not keep (``gpu`` and ``full``) is run in *report-only* mode: nothing
is compared, and ``<build>/P/report.json`` lists what each notebook needed (wall and CPU seconds,
peak GPU memory), so that the book can publish it.

**What a notebook needs.** After a notebook's last cell the runner executes one more cell of its
own (a *probe*, removed again from the executed notebook) that reads
``torch.cuda.max_memory_allocated`` in the kernel when the notebook used CUDA, and the kernel's
peak resident memory (``getrusage``). Both peaks, with the wall and CPU seconds the runner
measures, go into every artifact's ``environment["time"]``.

Every notebook declares, in the cell tagged ``parameters``, at least ``profile`` and
``artifact_dir``; the runner injects both, and ``data_root`` when it is given and the notebook
declares it (notebooks that can read real COCO / ImageNet on the ``full`` profile).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import numerics as _numerics
from .cache import Cache, notebook_inputs
from .artifacts import Artifact, Diff, compare
from .profiles import get_profile
from .provenance import provenance

__all__ = [
    "NotebookError", "NotebookResult", "discover", "resolve", "check_parameters", "run_notebook",
    "check_artifacts", "explain_failures", "update_references", "DirtyTreeError", "write_report",
    "report_only", "REFERENCE_PROFILES",
]

REQUIRED_PARAMETERS = ("profile", "artifact_dir")


class NotebookError(RuntimeError):
    """A notebook could not be run or did not do what the runner expects of it."""


class DirtyTreeError(NotebookError):
    """References would be written from code that is not committed."""


@dataclass
class NotebookResult:
    """What running one notebook produced."""

    notebook: Path
    output: Path
    artifact_dir: Path
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    budget_s: float = float("inf")
    artifacts: list[Path] = field(default_factory=list)
    error: str | None = None
    numerics: str = "pinned"
    environment_notes: list[str] = field(default_factory=list)
    cached: bool = False
    cache_note: str | None = None
    gpu: dict[str, Any] | None = None  # {"gpu_peak_mib", "gpu_name"} when the kernel used CUDA
    host_peak_mib: float | None = None  # the kernel's largest resident set (MiB)

    @property
    def over_budget(self) -> bool:
        return self.seconds > self.budget_s

    def budget_warning(self) -> str | None:
        """A line for the log when the notebook ran longer than its profile's budget."""
        if not self.over_budget:
            return None
        return (f"warning: {self.name} took {self.seconds:.0f} s (CPU {self.cpu_seconds:.0f} s), "
                f"over the profile's budget of {self.budget_s:g} s per notebook")

    @property
    def name(self) -> str:
        return self.notebook.stem


def discover(root: str | os.PathLike = "notebooks") -> list[Path]:
    """Every notebook under ``root`` (references and checkpoints excluded), sorted."""
    root = Path(root)
    if not root.is_dir():
        raise NotebookError(f"notebook folder {root} does not exist (run from the repository "
                            f"root, or pass --notebooks)")
    found = [p for p in root.rglob("*.ipynb")
             if ".ipynb_checkpoints" not in p.parts and "reference" not in p.relative_to(root).parts]
    return sorted(found)


def resolve(names: Sequence[str], root: str | os.PathLike = "notebooks") -> list[Path]:
    """Notebooks named by stem (``one_formula``) or path; all of them when ``names`` is empty."""
    available = discover(root)
    if not names:
        return available
    by_stem: dict[str, list[Path]] = {}
    for p in available:
        by_stem.setdefault(p.stem, []).append(p)
    chosen = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb":
            if not path.is_file():
                raise NotebookError(f"unknown notebook {name}: no such file")
            chosen.append(path)
        elif len(by_stem.get(name, [])) == 1:
            chosen.append(by_stem[name][0])
        elif name in by_stem:
            raise NotebookError(f"notebook name {name!r} is ambiguous: "
                                f"{', '.join(map(str, by_stem[name]))}; pass the path")
        else:
            raise NotebookError(f"unknown notebook {name!r}; available: "
                                f"{', '.join(sorted(by_stem)) or '(none)'}")
    return chosen


def check_parameters(notebook: str | os.PathLike) -> dict:
    """Return the notebook's declared parameters; raise if a required one is missing."""
    import papermill

    notebook = Path(notebook)
    try:
        params = papermill.inspect_notebook(str(notebook))
    except Exception as e:  # malformed JSON, not a notebook
        raise NotebookError(f"{notebook}: cannot read the notebook ({e})") from e
    missing = [p for p in REQUIRED_PARAMETERS if p not in params]
    if missing:
        where = ("its parameters cell" if params else
                 "it has no cell tagged 'parameters'")
        raise NotebookError(
            f"{notebook}: {', '.join(missing)} missing from {where}; every notebook must declare "
            f"{' and '.join(REQUIRED_PARAMETERS)} in a cell tagged 'parameters'"
        )
    return params


def check_run_inputs(notebook: Path, profile: str, data_root: str | None,
                     parameters: Mapping[str, Any] | None) -> tuple[dict, dict[str, Any]]:
    """The notebook's declared parameters and the extra ``parameters`` of a run, checked: real data
    where the profile needs it, no runner-owned name, no name the notebook does not declare.

    Raises:
        NotebookError: naming the problem and the option that fixes it.
    """
    declared = check_parameters(notebook)
    if get_profile(profile).needs_data_root and "data_root" in declared and data_root is None:
        raise NotebookError(f"{notebook} reads real data on profile {profile!r}: pass "
                            f"--data-root /path/to/data")
    extra = dict(parameters or {})
    reserved = sorted({"profile", "artifact_dir", "data_root"} & set(extra))
    if reserved:
        raise NotebookError(f"set {reserved} with the runner's own options (--profile, "
                            f"--data-root), not as parameters")
    undeclared = sorted(set(extra) - set(declared))
    if undeclared:
        raise NotebookError(f"{notebook} has no parameter(s) {undeclared}; its parameters: "
                            f"{', '.join(declared)}")
    return declared, extra


def run_notebook(
    notebook: str | os.PathLike,
    profile: str,
    build_dir: str | os.PathLike = "_build/repro",
    *,
    notebooks_root: str | os.PathLike = "notebooks",
    data_root: str | None = None,
    progress: bool = False,
    cell_timeout: float | None = None,
    parameters: Mapping[str, Any] | None = None,
    numerics: str = "pinned",
    cache: Cache | None = None,
) -> NotebookResult:
    """Execute one notebook on ``profile`` and collect its artifacts.

    The notebook runs with its own folder as working directory and with the parameters
    ``profile``, ``artifact_dir`` (and ``data_root`` when given) injected, plus ``parameters``:
    other parameters the notebook declares (``checkpoint_dir``, ``overrides``, ``device``, ...).
    A run with changed knobs is still compared with the references.

    ``numerics="pinned"`` (the default) runs the kernel on the pinned numerical path of
    :mod:`relnotes.repro.numerics` (the AVX2 kernels of ATen, oneDNN and MKL), the path on which
    the references were made, whatever the processor and the caller's shell; ``"native"`` lets the
    libraries choose for this processor. With a ``cache`` (:mod:`relnotes.repro.cache`), a
    notebook whose inputs did not change since its last successful run is not executed again:
    the result points at the earlier outputs, ``cached`` is True, and ``cache_note`` says why
    it ran or did not. A failing cell does not
    raise: the result's ``error`` names the cell and the exception, and the partial output
    notebook stays at ``result.output``.

    Raises:
        NotebookError: the notebook lacks a required parameter or one of ``parameters``, or
            wrote no artifact.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    prof = get_profile(profile)  # an unknown profile fails here, early
    notebook = Path(notebook)
    declared, extra = check_run_inputs(notebook, profile, data_root, parameters)
    try:
        rel = notebook.resolve().relative_to(Path(notebooks_root).resolve())
    except ValueError:
        rel = Path(notebook.name)
    build = Path(build_dir) / profile
    output = build / "notebooks" / rel
    artifact_dir = build / "artifacts" / notebook.stem
    inputs = None
    if cache is not None:
        inputs = notebook_inputs(notebook, profile, numerics=numerics, parameters=extra,
                                 data_root=parameters_data_root(data_root, declared))
        hit, why = cache.lookup(notebook, profile, inputs)
        if hit is not None:
            return NotebookResult(notebook, hit.output, hit.artifact_dir, seconds=hit.seconds,
                                  cpu_seconds=hit.cpu_seconds, budget_s=prof.budget_s,
                                  artifacts=hit.artifacts, numerics=numerics, cached=True,
                                  cache_note="cached: inputs unchanged since the last run")
    output.parent.mkdir(parents=True, exist_ok=True)
    if artifact_dir.exists():
        shutil.rmtree(artifact_dir)  # stale artifacts of an earlier run must not count
    artifact_dir.mkdir(parents=True)

    parameters = {"profile": profile, "artifact_dir": str(artifact_dir.resolve()), **extra}
    if data_root is not None and "data_root" in declared:  # others use synthetic data only
        parameters["data_root"] = data_root
    result = NotebookResult(notebook, output, artifact_dir, numerics=numerics,
                            budget_s=prof.budget_s, cache_note=None if cache is None else why)
    probe_file = build / "probes" / f"{notebook.stem}.json"
    probe_file.parent.mkdir(parents=True, exist_ok=True)
    probe_file.unlink(missing_ok=True)
    start = time.perf_counter()
    cpu_start = _children_cpu()
    try:
        with _numerics.applied(numerics) as notes:  # the kernel inherits this environment
            result.environment_notes = notes
            papermill.execute_notebook(
                _with_probe(notebook, probe_file), str(output), parameters=parameters,
                kernel_name="python3", cwd=str(notebook.parent), progress_bar=progress,
                execution_timeout=cell_timeout,
            )
    except PapermillExecutionError as e:
        result.error = (
            f"{notebook} failed in cell {e.cell_index} (execution count {e.exec_count}): "
            f"{e.ename}: {e.evalue}\n  partial output notebook kept at {output}"
        )
    finally:
        result.seconds = time.perf_counter() - start
        result.cpu_seconds = _children_cpu() - cpu_start  # the kernel: a child, ended and reaped
        _strip_probe(output, notebook)
    if probe_file.is_file():
        probe = json.loads(probe_file.read_text())
        result.gpu, result.host_peak_mib = probe["gpu"], probe["host_peak_mib"]
    if result.error is None:
        result.artifacts = sorted(artifact_dir.glob("*.json"))
        if not result.artifacts:
            raise NotebookError(f"{notebook} ran on profile {profile!r} but wrote no artifact to "
                                f"artifact_dir ({artifact_dir}); end it with Artifact.write("
                                f"artifact_dir)")
        record_time(result)
        if cache is not None:
            cache.store(notebook, profile, inputs, output=output, artifact_dir=artifact_dir,
                        artifacts=result.artifacts, seconds=result.seconds,
                        cpu_seconds=result.cpu_seconds)
    return result


PROBE_TAG = "relnotes-runner-probe"

#: The runner's last cell: the kernel's peak host memory (its largest resident set so far,
#: ``getrusage``'s ``ru_maxrss``, KiB on Linux) and, when it used CUDA, its peak GPU memory, into
#: a JSON file. Only names starting with ``_relnotes`` are created, and deleted again.
_PROBE = """\
import json as _relnotes_json, resource as _relnotes_resource, sys as _relnotes_sys
_relnotes_torch = _relnotes_sys.modules.get("torch")
_relnotes_gpu = None
if _relnotes_torch is not None and _relnotes_torch.cuda.is_initialized():
    _relnotes_gpu = {
        "gpu_peak_mib": round(max(_relnotes_torch.cuda.max_memory_allocated(i)
                                  for i in range(_relnotes_torch.cuda.device_count())) / 2**20, 1),
        "gpu_name": _relnotes_torch.cuda.get_device_name(),
    }
_relnotes_host = _relnotes_resource.getrusage(_relnotes_resource.RUSAGE_SELF).ru_maxrss
with open(PATH, "w") as _relnotes_f:
    _relnotes_json.dump({"host_peak_mib": round(_relnotes_host / 1024, 1), "gpu": _relnotes_gpu},
                        _relnotes_f)
del _relnotes_json, _relnotes_resource, _relnotes_sys, _relnotes_torch, _relnotes_gpu
del _relnotes_host, _relnotes_f
"""


def _with_probe(notebook: Path, probe_file: Path):
    """The notebook with the runner's probe cell appended (in memory; the file is not touched)."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    cell = nbformat.v4.new_code_cell(_PROBE.replace("PATH", repr(str(probe_file.resolve()))))
    cell.metadata["tags"] = [PROBE_TAG, "remove-cell"]
    nb.cells.append(cell)
    return nb


def _strip_probe(output: Path, notebook: Path) -> None:
    """Remove the probe cell from the executed notebook, so that it reads as the source does,
    and put back papermill's ``input_path`` (given a notebook object instead of a path, papermill
    stores the whole object there)."""
    import nbformat

    if not output.is_file():
        return
    nb = nbformat.read(output, as_version=4)
    nb.cells = [c for c in nb.cells if PROBE_TAG not in c.get("metadata", {}).get("tags", [])]
    if "papermill" in nb.metadata:
        nb.metadata["papermill"]["input_path"] = str(notebook)
    nbformat.write(nb, output)


def parameters_data_root(data_root: str | None, declared: Mapping[str, Any]) -> str | None:
    """The data_root the notebook receives: only notebooks that declare it get it."""
    return data_root if data_root is not None and "data_root" in declared else None


def _children_cpu() -> float:
    """User + system CPU seconds of this process's ended children (the notebook kernels)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def record_time(result: NotebookResult) -> None:
    """Write what the notebook needed into each of its artifacts' environment, under ``time``
    (never compared: it depends on the machine): wall and CPU seconds, the profile's budget, and
    when the kernel used CUDA its peak GPU memory (``gpu_peak_mib``, MiB = 2**20 bytes, the
    largest ``torch.cuda.max_memory_allocated`` over the devices) and the GPU's name; and the
    kernel's peak host memory (``host_peak_mib``: its largest resident set, libraries included),
    when the probe read it."""
    timing = {"wall_s": round(result.seconds, 2), "cpu_s": round(result.cpu_seconds, 2),
              "budget_s": None if result.budget_s == float("inf") else result.budget_s,
              "over_budget": result.over_budget, **(result.gpu or {})}
    if result.host_peak_mib is not None:
        timing["host_peak_mib"] = result.host_peak_mib
    for path in result.artifacts:
        art = Artifact.read(path)
        art.environment = {**art.environment, "time": timing}
        art.write(path.parent)


#: The profiles whose references the repository keeps; a run on another profile (``gpu``,
#: ``full``: no machine of the project runs them) is report-only unless references exist.
REFERENCE_PROFILES = ("smoke", "cpu")


def report_only(profile: str, reference_root: str | os.PathLike) -> bool:
    """Whether a run on ``profile`` only reports: the profile is not one whose references the
    repository keeps (``REFERENCE_PROFILES``) and ``<reference_root>/<profile>/`` has none.
    (A smoke or cpu run with a missing reference still fails: that reference is owed.)"""
    return profile not in REFERENCE_PROFILES and not any(
        (Path(reference_root) / profile).glob("*.json"))


def write_report(results: Sequence[NotebookResult], profile: str,
                 path: str | os.PathLike) -> Path:
    """Write what each notebook needed on ``profile`` (the report-only mode's product) as JSON:
    ``{"profile", "notebooks": [{"notebook", "wall_s", "cpu_s", "budget_s", "over_budget",
    "host_peak_mib", "gpu_peak_mib", "gpu_name", "artifacts", "error"}]}``; the GPU entries are None when the
    notebook did not use CUDA. Returns ``path``."""
    rows = []
    for r in results:
        gpu = r.gpu or {}
        rows.append({"notebook": str(r.notebook), "wall_s": round(r.seconds, 2),
                     "cpu_s": round(r.cpu_seconds, 2),
                     "budget_s": None if r.budget_s == float("inf") else r.budget_s,
                     "over_budget": r.over_budget, "host_peak_mib": r.host_peak_mib,
                     "gpu_peak_mib": gpu.get("gpu_peak_mib"),
                     "gpu_name": gpu.get("gpu_name"), "cached": r.cached,
                     "artifacts": [p.stem for p in r.artifacts], "error": r.error})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"profile": profile, "notebooks": rows}, indent=2) + "\n")
    return path


def check_artifacts(
    artifacts: Sequence[Path], profile: str, reference_root: str | os.PathLike
) -> list[Diff]:
    """Compare artifacts with ``<reference_root>/<profile>/<id>.json``; a missing reference fails."""
    diffs: list[Diff] = []
    for path in artifacts:
        ours = Artifact.read(path)
        ref_path = Path(reference_root) / profile / f"{ours.id}.json"
        if not ref_path.is_file():
            diffs.append(Diff(ours.id, "-", "-", None, "artifact", "-", False,
                              f"no reference {ref_path} (review the artifact, then "
                              f"--update-references)"))
            continue
        diffs.extend(compare(ours, Artifact.read(ref_path)))
    return diffs


def explain_failures(diffs: Sequence[Diff], artifacts: Sequence[Path], profile: str,
                     reference_root: str | os.PathLike) -> str:
    """For every artifact with a failed comparison, what differs between the environment of its
    reference and this run's (numerical path, CPU capability, threads, library versions,
    processor); empty when nothing failed. A failure with no difference named is a change of the
    code or the data, not of the machine."""
    failed = {d.artifact for d in diffs if not d.ok}
    lines = []
    for path in artifacts:
        ours = Artifact.read(path)
        ref_path = Path(reference_root) / profile / f"{ours.id}.json"
        if ours.id not in failed or not ref_path.is_file():
            continue
        diff = _numerics.differences(ours.environment, Artifact.read(ref_path).environment)
        if diff:
            lines.append(f"{ours.id}: this run's environment differs from its reference's "
                         f"(values may differ because of the machine, not the code):")
            lines += [f"    {d}" for d in diff]
        else:
            lines.append(f"{ours.id}: same numerical environment as its reference: a value that "
                         f"differs comes from the code or the data")
    return "\n".join(lines)


def update_references(
    artifacts: Sequence[Path], profile: str, reference_root: str | os.PathLike, *,
    allow_dirty: bool = False,
) -> list[Path]:
    """Copy artifacts over the references (a reviewed change: commit it with the reason).

    A reference must come from committed code: the call is refused when the working tree of the
    ``relnotes`` package has uncommitted changes now, or when an artifact records that it was
    made from a dirty tree (``environment["git_dirty"]``). ``allow_dirty=True`` (the command
    line's ``--allow-dirty``) writes them anyway and records ``written_from_dirty_tree: true``
    in each reference's environment, so the reference says so.

    Raises:
        DirtyTreeError: the tree is dirty and ``allow_dirty`` is False.
    """
    arts = [Artifact.read(path) for path in artifacts]
    now = provenance()
    dirty_now = bool(now["dirty"])
    dirty_made = [a.id for a in arts if a.environment.get("git_dirty")]
    dirty = dirty_now or bool(dirty_made)
    if dirty and not allow_dirty:
        why = []
        if dirty_now:
            why.append(f"the working tree of {Path(__file__).resolve().parents[2]} has "
                       f"uncommitted changes (git status --porcelain is not empty)")
        if dirty_made:
            why.append(f"artifact(s) {', '.join(dirty_made)} were made from a dirty tree")
        raise DirtyTreeError(
            "refusing to write references from uncommitted code: " + "; ".join(why) + ". "
            "Commit (or stash) the changes and run again, so that the reference records a "
            "commit that produces it; --allow-dirty writes them anyway and records "
            "written_from_dirty_tree in each reference")
    target = Path(reference_root) / profile
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for art in arts:
        art.environment = {**art.environment, "written_from_dirty_tree": dirty}
        written.append(art.write(target))
    return written
