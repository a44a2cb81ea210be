"""The build cache: a notebook re-executes only when something it depends on changed.

``python -m relnotes.repro book`` runs every notebook before building the book; most of them train
for minutes. A notebook's result is a function of its *inputs*, so the runner keeps, per notebook
and profile, the inputs of its last successful run beside its outputs and runs it again only when
one differs. The inputs (:func:`notebook_inputs`) are:

- ``notebook``: the SHA-256 of the ``.ipynb`` file;
- ``sources``: the SHA-256 of every ``relnotes`` module the notebook imports, followed
  transitively through the imports of those modules (a static walk of their syntax trees, never
  an import), with the package ``__init__`` files on the way and the non-Python files beside
  them (the ``.cu`` kernels);
- ``knobs``: the profile (``Profile``: budget, threads, device, seeds) and the scale knobs of the
  experiments the notebook names (``P.scale("rn_figures")``): ``profiles.py`` enters as its code
  without the ``SCALES`` table, so that retuning one chapter re-runs only that chapter;
- ``libraries``: the versions of Python, torch, torchvision, numpy and the other libraries a
  notebook may use, and the processor;
- ``numerics``, ``parameters``, ``data_root``: the runner's settings of this run.

Entries live in ``<build>/cache/<profile>/``, one JSON file per notebook, with the hash of every
output file; an entry whose inputs differ, or whose outputs were changed or removed, is ignored
and the reason printed (``torch 2.14.0 -> 2.15.0``, ``relnotes/nn/context_block.py changed``).
"""

from __future__ import annotations

import ast
import hashlib
import json
import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping, Sequence

from .provenance import PACKAGE_ROOT

__all__ = ["notebook_inputs", "imported_modules", "module_closure", "Cache", "LIBRARIES",
           "stale_reason"]

#: Distributions whose version enters the cache key (None when not installed).
LIBRARIES = ("torch", "torchvision", "numpy", "scipy", "pycocotools", "matplotlib", "pillow",
             "deepforest", "cupy-cuda13x", "papermill", "nbclient", "ipykernel")

PACKAGE = "relnotes"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _notebook_code(notebook: Path) -> str:
    """The code cells of a notebook, magics and shell lines left out."""
    nb = json.loads(notebook.read_text())
    cells = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        cells.append("\n".join(line for line in src.splitlines()
                               if not line.lstrip().startswith(("%", "!"))))
    return "\n".join(cells)


def imported_modules(code: str, module: str | None = None, is_package: bool = False) -> set[str]:
    """Dotted names that ``code`` imports, relative imports resolved against ``module``.

    ``from a.b import c`` yields ``a.b`` and ``a.b.c`` (``c`` may be a submodule); the caller
    keeps those that exist.
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if module is None:
                    continue
                parts = module.split(".")
                base = parts if is_package else parts[:-1]
                base = base[:len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            if not prefix:
                continue
            names.add(prefix)
            names.update(f"{prefix}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _module_file(name: str, package_root: Path) -> Path | None:
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = package_root.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py") if parts[1:] else None, base / "__init__.py"):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def module_closure(names: set[str], package_root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """Every ``relnotes`` module reachable from ``names`` through imports, with its parent
    packages (importing ``relnotes.nn.x`` runs ``relnotes/__init__.py`` and
    ``relnotes/nn/__init__.py``)."""
    package_root = Path(package_root)
    todo = [n for n in names if n.split(".")[0] == PACKAGE]
    seen: dict[str, Path] = {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _module_file(name, package_root)
        if path is None:
            continue
        seen[name] = path
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        is_package = path.name == "__init__.py"
        todo += [n for n in imported_modules(path.read_text(), name, is_package)
                 if n.split(".")[0] == PACKAGE]
    return seen


def _profiles_code_hash(path: Path) -> str:
    """profiles.py without its SCALES table and the module-level constants it is built from
    (``_RN_COCO``...): the knobs a notebook reads enter the key separately."""
    tree = ast.parse(path.read_text())

    def is_table(node: ast.stmt) -> bool:
        targets = (node.targets if isinstance(node, ast.Assign) else
                   [node.target] if isinstance(node, ast.AnnAssign) else [])
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        return bool(names) and all(n == "SCALES" or (n.startswith("_") and n.isupper())
                                   for n in names)

    tree.body = [n for n in tree.body if not is_table(n)]
    return _sha(ast.dump(tree).encode())


def _data_files(directory: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted(directory.iterdir())
            if p.is_file() and p.suffix not in (".py", ".pyc")}


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=repr, sort_keys=True))


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = None
    from .numerics import _cpu_model

    out["processor"] = _cpu_model()
    return out


def notebook_inputs(notebook: str | Path, profile: str, *, numerics: str = "pinned",
                    parameters: Mapping[str, Any] | None = None, data_root: str | None = None,
                    package_root: Path = PACKAGE_ROOT,
                    libraries: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything a notebook's outputs depend on, as a JSON-able dict (see the module docstring).

    ``libraries`` replaces the detected versions (tests).
    """
    from .profiles import SCALES, get_profile

    notebook = Path(notebook)
    package_root = Path(package_root)
    code = _notebook_code(notebook)
    modules = module_closure(imported_modules(code), package_root)
    sources: dict[str, str] = {}
    for name, path in sorted(modules.items()):
        rel = path.relative_to(package_root.parent).as_posix()
        if name == f"{PACKAGE}.repro.profiles":
            sources[rel] = "code without SCALES " + _profiles_code_hash(path)
        else:
            sources[rel] = _sha(path.read_bytes())
        if path.name == "__init__.py":
            for fname, data in _data_files(path.parent).items():
                sources[(path.parent / fname).relative_to(package_root.parent).as_posix()] = \
                    _sha(data.read_bytes())
    named = sorted(e for e in SCALES if f'"{e}"' in code or f"'{e}'" in code)
    knobs = {"profile": repr(get_profile(profile)),
             "scales": {e: SCALES[e][profile] for e in (named or sorted(SCALES))}}
    return _plain({
        "notebook": _sha(notebook.read_bytes()),
        "sources": sources,
        "knobs": knobs,
        "libraries": dict(libraries) if libraries is not None else _versions(),
        "numerics": numerics,
        "parameters": dict(parameters or {}),
        "data_root": data_root,
    })


def stale_reason(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """Why an entry with inputs ``old`` cannot stand for a run with inputs ``new``; None if it
    can. Names the first differences found (at most three)."""
    reasons: list[str] = []
    for key in ("notebook", "sources", "knobs", "libraries", "numerics", "parameters",
                "data_root"):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if key == "notebook":
            reasons.append("the notebook changed")
        elif key == "sources":
            a, b = a or {}, b or {}
            changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            reasons += [f"{k} {'changed' if k in a and k in b else 'added' if k in b else 'no longer imported'}"
                        for k in changed]
        elif key == "knobs":
            a, b = a or {}, b or {}
            if a.get("profile") != b.get("profile"):
                reasons.append("the profile changed")
            sa, sb = a.get("scales", {}), b.get("scales", {})
            reasons += [f"the knobs of {e} changed" for e in sorted(set(sa) | set(sb))
                        if sa.get(e) != sb.get(e)]
        elif key == "libraries":
            a, b = a or {}, b or {}
            reasons += [f"{lib} {a.get(lib)} -> {b.get(lib)}" for lib in sorted(set(a) | set(b))
                        if a.get(lib) != b.get(lib)]
        else:
            reasons.append(f"{key} {a!r} -> {b!r}")
    if not reasons:
        return None
    more = f" (and {len(reasons) - 3} more)" if len(reasons) > 3 else ""
    return ", ".join(reasons[:3]) + more


@dataclass
class Hit:
    """A usable cache entry: the outputs of the earlier run, still in place."""

    output: Path
    artifact_dir: Path
    artifacts: list[Path]
    seconds: float
    cpu_seconds: float


class Cache:
    """Entries under ``<root>/<profile>/<notebook>.json``. See the module docstring."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _entry(self, notebook: Path, profile: str) -> Path:
        key = notebook.resolve().as_posix().strip("/").replace("/", "__")
        return self.root / profile / f"{key}.json"

    def lookup(self, notebook: Path, profile: str, inputs: Mapping[str, Any]
               ) -> tuple[Hit | None, str]:
        """``(hit, why)``: a hit and "unchanged", or None and the reason to run it."""
        path = self._entry(notebook, profile)
        if not path.is_file():
            return None, "not run before"
        try:
            entry = json.loads(path.read_text())
        except json.JSONDecodeError:
            return None, f"unreadable cache entry {path}"
        reason = stale_reason(entry.get("inputs", {}), inputs)
        if reason:
            return None, f"stale cache entry ignored: {reason}"
        output, artifact_dir = Path(entry["output"]), Path(entry["artifact_dir"])
        for name, digest in entry["files"].items():
            f = Path(name)
            if not f.is_file() or _sha(f.read_bytes()) != digest:
                return None, f"cache entry ignored: output {f} missing or changed"
        current = {str(p) for p in artifact_dir.iterdir() if p.is_file()} \
            if artifact_dir.is_dir() else set()
        if current - set(entry["files"]):
            return None, f"cache entry ignored: new files in {artifact_dir}"
        return Hit(output, artifact_dir, [Path(a) for a in entry["artifacts"]],
                   entry.get("seconds", 0.0), entry.get("cpu_seconds", 0.0)), "unchanged"

    def store(self, notebook: Path, profile: str, inputs: Mapping[str, Any], *, output: Path,
              artifact_dir: Path, artifacts: Sequence[Path], seconds: float,
              cpu_seconds: float) -> Path:
        files = [output, *sorted(p for p in artifact_dir.iterdir() if p.is_file())]
        entry = {"notebook": str(notebook), "inputs": dict(inputs), "output": str(output),
                 "artifact_dir": str(artifact_dir), "artifacts": [str(a) for a in artifacts],
                 "files": {str(f): _sha(f.read_bytes()) for f in files},
                 "seconds": seconds, "cpu_seconds": cpu_seconds}
        path = self._entry(notebook, profile)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(entry, indent=1, sort_keys=True) + "\n")
        return path
