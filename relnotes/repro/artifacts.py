"""Artifacts: a notebook's table as JSON, with the paper's numbers beside ours.

Every notebook ends by writing one artifact, ``<artifact_dir>/<id>.json``. The runner compares it
with the committed reference ``notebooks/reference/<profile>/<id>.json`` and the book renders it
as a table (paper | ours | difference). An artifact holds:

- ``id``, ``title``, ``source`` (which paper and table or figure), ``profile``;
- ``columns``: the metrics, each with a label and a tolerance (``exact`` for parameters and FLOPs,
  ``abs`` / ``rel`` for trained metrics);
- ``rows``: per row a label and, per metric, ``{"ours": ..., "paper": ...}``;
- ``environment``: versions, device, seed and threads of the run.

Example::

    >>> art = Artifact("demo", "A demo table", profile="smoke",
    ...                columns=[Column("params", "#params"), Column("acc", "top-1", abs=0.02)])
    >>> art.add_row("ResNet-50", params=25_557_032, acc=0.761, paper={"acc": 0.761})
    >>> art.rows[0].values["params"]
    {'ours': 25557032, 'paper': None}

A reference is a reviewed file: it changes only through ``python -m relnotes.repro
--update-references`` and a commit that says why.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

__all__ = ["Artifact", "Column", "Row", "Source", "Diff", "compare", "environment", "FORMAT"]

FORMAT = "relnotes-artifact/1"
Number = int | float


@dataclass(frozen=True)
class Source:
    """Where the paper's numbers come from, e.g. ``Source("GCNet", "Table 2", "arXiv:1904.11492")``."""

    paper: str
    item: str
    url: str | None = None


@dataclass(frozen=True)
class Column:
    """One metric of the table.

    Args:
        key (str): name used in rows and references (``params``, ``macs``, ``map50``...).
        label (str): column heading in the book.
        abs (float): absolute tolerance of the regression check. Default: 0.
        rel (float): relative tolerance of the regression check. Default: 0.
            With both 0 (the default) the value must match the reference exactly, as parameter
            and FLOP counts must.
        unit (str, optional): shown next to the label (``M``, ``GMac``, ``%``).
        checked (bool): compared with the reference. ``False`` only for values that depend on
            the machine, such as wall-clock times of a benchmark: they are shown in the book,
            marked as such, and never regression-checked. Default: True.
    """

    key: str
    label: str
    abs: float = 0.0
    rel: float = 0.0
    unit: str | None = None
    checked: bool = True

    def __post_init__(self) -> None:
        if self.abs < 0 or self.rel < 0 or math.isnan(self.abs) or math.isnan(self.rel):
            raise ValueError(f"column {self.key!r}: tolerances must be >= 0; got abs={self.abs}, "
                             f"rel={self.rel}")

    @property
    def exact(self) -> bool:
        return self.checked and self.abs == 0 and self.rel == 0

    def to_dict(self) -> dict[str, Any]:
        d = vars(self).copy()
        if self.checked:            # the default is left out: older references stay as they are
            del d["checked"]
        return d


@dataclass
class Row:
    label: str
    values: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Artifact:
    """A table written by a notebook. See the module docstring."""

    id: str
    title: str
    profile: str
    columns: list[Column]
    source: Source | None = None
    rows: list[Row] = field(default_factory=list)
    notes: str = ""
    environment: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id or not all(c.isalnum() or c in "_-" for c in self.id):
            raise ValueError(f"artifact id must be a non-empty name of letters, digits, '_' or "
                             f"'-' (it becomes a file name); got {self.id!r}")
        keys = [c.key for c in self.columns]
        if len(set(keys)) != len(keys):
            raise ValueError(f"artifact {self.id!r}: column keys must be unique; got {keys}")

    def column(self, key: str) -> Column:
        for c in self.columns:
            if c.key == key:
                return c
        raise KeyError(f"artifact {self.id!r} has no column {key!r}; columns: "
                       f"{[c.key for c in self.columns]}")

    def add_row(self, label: str, *, paper: dict[str, Any] | None = None, **ours: Any) -> Row:
        """Add a row: our value of each metric as a keyword, the paper's in ``paper``.

        A metric may be left out of a row (shown as a blank); ``None`` means "not measured".
        NaN and infinity are rejected, so a diverged run can never land in a table.
        """
        paper = dict(paper or {})
        if any(r.label == label for r in self.rows):
            raise ValueError(f"artifact {self.id!r} already has a row {label!r}")
        unknown = (set(ours) | set(paper)) - {c.key for c in self.columns}
        if unknown:
            raise ValueError(f"artifact {self.id!r}, row {label!r}: unknown metric(s) "
                             f"{sorted(unknown)}; columns: {[c.key for c in self.columns]}")
        row = Row(label)
        for c in self.columns:
            if c.key in ours or c.key in paper:
                for who, v in (("ours", ours.get(c.key)), ("paper", paper.get(c.key))):
                    _check_value(v, f"artifact {self.id!r}, row {label!r}, {who} {c.key!r}")
                row.values[c.key] = {"ours": _plain(ours.get(c.key)),
                                     "paper": _plain(paper.get(c.key))}
        self.rows.append(row)
        return row

    # --- JSON ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "id": self.id,
            "title": self.title,
            "source": None if self.source is None else vars(self.source).copy(),
            "profile": self.profile,
            "columns": [c.to_dict() for c in self.columns],
            "rows": [{"label": r.label, "values": r.values} for r in self.rows],
            "notes": self.notes,
            "environment": self.environment,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], origin: str = "<dict>") -> "Artifact":
        if d.get("format") != FORMAT:
            raise ValueError(f"{origin}: not a relnotes artifact (format {d.get('format')!r}, "
                             f"expected {FORMAT!r})")
        try:
            return cls(
                id=d["id"], title=d["title"], profile=d["profile"],
                columns=[Column(**c) for c in d["columns"]],
                source=None if d.get("source") is None else Source(**d["source"]),
                rows=[Row(r["label"], r["values"]) for r in d["rows"]],
                notes=d.get("notes", ""), environment=d.get("environment", {}),
            )
        except (KeyError, TypeError) as e:
            raise ValueError(f"{origin}: malformed artifact ({e!r})") from e

    def write(self, directory: str | os.PathLike) -> Path:
        """Write ``<directory>/<id>.json`` atomically and return its path."""
        if not self.rows:
            raise ValueError(f"artifact {self.id!r} has no rows; add_row() before write()")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.id}.json"
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{self.id}.", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
        return path

    @classmethod
    def read(cls, path: str | os.PathLike) -> "Artifact":
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"no artifact at {path}") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from e
        return cls.from_dict(d, origin=str(path))


def _check_value(v: Any, where: str) -> None:
    if v is None or isinstance(v, (str, bool)):
        return
    if isinstance(v, (int, float)) or hasattr(v, "item"):
        if not math.isfinite(float(v)):
            raise ValueError(f"{where} is {v}: a non-finite value cannot go into a table")
        return
    raise TypeError(f"{where}: values must be numbers, strings or None; got {type(v).__name__}")


def _plain(v: Any) -> Any:
    """numpy / torch scalars to Python numbers, so that JSON and comparisons see plain values."""
    if hasattr(v, "item") and not isinstance(v, (int, float)):
        v = v.item()
    return v


# --- comparison ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Diff:
    """One compared cell. ``ok`` is False for a value outside tolerance or a missing cell."""

    artifact: str
    row: str
    metric: str
    reference: Any
    ours: Any
    tolerance: str
    ok: bool
    reason: str = ""


def _within(ours: Any, ref: Any, col: Column) -> bool:
    if not col.checked:
        return True
    if isinstance(ref, (int, float)) and isinstance(ours, (int, float)) \
            and not isinstance(ref, bool) and not isinstance(ours, bool):
        return abs(ours - ref) <= max(col.abs, col.rel * abs(ref))
    return ours == ref


def _tol_text(col: Column) -> str:
    if not col.checked:
        return "not checked (machine-dependent)"
    if col.exact:
        return "exact"
    return " ".join(p for p in (f"abs {col.abs:g}" if col.abs else "",
                                f"rel {col.rel:g}" if col.rel else "") if p)


def compare(ours: Artifact, reference: Artifact) -> list[Diff]:
    """Compare our artifact with the committed reference, cell by cell.

    The reference's tolerances are used (they are the reviewed ones). Rows and metrics missing on
    either side are reported as failures, as is a profile mismatch.
    """
    diffs: list[Diff] = []
    aid = reference.id
    if ours.profile != reference.profile:
        diffs.append(Diff(aid, "-", "profile", reference.profile, ours.profile, "exact", False,
                          "profile differs"))
    ours_rows = {r.label: r for r in ours.rows}
    for ref_row in reference.rows:
        row = ours_rows.pop(ref_row.label, None)
        if row is None:
            diffs.append(Diff(aid, ref_row.label, "-", "row", None, "-", False, "row missing"))
            continue
        for key, ref_cell in ref_row.values.items():
            col = reference.column(key)
            if key not in row.values:
                diffs.append(Diff(aid, ref_row.label, key, ref_cell["ours"], None, _tol_text(col),
                                  False, "metric missing"))
                continue
            got = row.values[key]["ours"]
            ok = _within(got, ref_cell["ours"], col)
            diffs.append(Diff(aid, ref_row.label, key, ref_cell["ours"], got, _tol_text(col), ok,
                              "" if ok else "outside tolerance"))
        for key in row.values.keys() - ref_row.values.keys():
            diffs.append(Diff(aid, ref_row.label, key, None, row.values[key]["ours"], "-", False,
                              "metric not in reference"))
    for label in ours_rows:
        diffs.append(Diff(aid, label, "-", None, "row", "-", False, "row not in reference"))
    return diffs


def format_diffs(diffs: Iterable[Diff]) -> str:
    """A plain-text table of compared cells, failures marked with ``FAIL``."""
    header = ("artifact", "row", "metric", "reference", "ours", "difference", "tolerance", "status")
    lines = [header]
    for d in diffs:
        if isinstance(d.reference, (int, float)) and isinstance(d.ours, (int, float)):
            delta = _fmt(d.ours - d.reference)
        else:
            delta = ""
        status = "ok" if d.ok else f"FAIL: {d.reason}"
        lines.append((d.artifact, d.row, d.metric, _fmt(d.reference), _fmt(d.ours), delta,
                      d.tolerance, status))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool) or isinstance(v, str):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e6):
            return f"{v:.3e}"
        return f"{v:.4g}"
    return str(v)


# --- environment -----------------------------------------------------------------------------
def environment(seed: int | None = None, device: str | None = None) -> dict[str, Any]:
    """Versions and settings of this run, stored in every artifact."""
    import numpy
    import torch
    import torchvision

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
        "platform": f"{platform.system()} {platform.machine()}",
        "threads": torch.get_num_threads(),
        "seed": seed,
        "device": device,
    }
    if device and device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name()
        env["cuda"] = torch.version.cuda
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, cwd=Path(__file__).resolve().parent)
        env["git"] = sha.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        env["git"] = None
    env["executable"] = Path(sys.executable).name
    from .numerics import describe

    env.update(describe())  # numerical path, CPU capability, processor, MKL / oneDNN versions
    return env
