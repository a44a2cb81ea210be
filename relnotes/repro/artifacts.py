"""Artifacts: a notebook's table as JSON, with the paper's numbers beside ours.

Every notebook ends by writing one artifact, ``<artifact_dir>/<id>.json``. The runner compares it
with the committed reference ``notebooks/reference/<profile>/<id>.json`` and the book renders it
as a table (paper | ours | difference). An artifact holds:

- ``id``, ``title``, ``source`` (which paper and table or figure), ``profile``;
- ``columns``: the metrics, each with a label and a tolerance (``exact`` for parameters and FLOPs,
  ``abs`` / ``rel`` for trained metrics, ``seeds_k`` for a trained metric run on several seeds);
- ``rows``: per row a label and, per metric, ``{"ours": ..., "paper": ...}``; a seeded metric also
  keeps ``seeds`` (every seed's value), ``sd`` (their sample standard deviation, None below two
  seeds) and ``tolerance`` (derived, see :meth:`Artifact.tolerance_rule`), and ``ours`` is the mean;
- ``claims``: the sentences the chapter reads off the table, each with its truth value and the
  numbers it used (:mod:`relnotes.repro.claims`);
- ``environment``: versions, device, seed and threads of the run, its provenance (commit, dirty
  tree, hash of the sources) and, added by the runner, its wall and CPU time.

Format 2 (this one) adds seeds, claims, ``baseline`` and the column flags ``seeds_k`` and
``comparable``; format 1 references are still read.

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

from .claims import Cell, Claim, ClaimError, Spread

__all__ = ["Artifact", "Column", "Row", "Source", "Diff", "compare", "machine_dependent", "environment",
           "FORMAT"]

FORMAT = "relnotes-artifact/2"
READABLE_FORMATS = ("relnotes-artifact/1", FORMAT)
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
        seeds_k (float, optional): the metric is trained on several seeds: ``add_row`` takes one
            value per seed, and a cell's regression tolerance is ``seeds_k`` x the sample standard
            deviation of its seeds (``abs`` / ``rel`` below two seeds), cut to the smallest
            difference any claim reads on this column. Default: None (one value per row).
        comparable (bool): our value and the paper's measure the same thing at comparable
            scale, so "ours - paper" means something. ``False`` (a synthetic task beside COCO
            AP): the book shows the paper's difference to the artifact's ``baseline`` row beside
            ours instead. Default: True.
    """

    key: str
    label: str
    abs: float = 0.0
    rel: float = 0.0
    unit: str | None = None
    checked: bool = True
    seeds_k: float | None = None
    comparable: bool = True

    def __post_init__(self) -> None:
        if self.abs < 0 or self.rel < 0 or math.isnan(self.abs) or math.isnan(self.rel):
            raise ValueError(f"column {self.key!r}: tolerances must be >= 0; got abs={self.abs}, "
                             f"rel={self.rel}")
        if self.seeds_k is not None and not self.seeds_k > 0:
            raise ValueError(f"column {self.key!r}: seeds_k must be > 0; got {self.seeds_k}")

    @property
    def seeded(self) -> bool:
        return self.seeds_k is not None

    @property
    def exact(self) -> bool:
        return self.checked and self.abs == 0 and self.rel == 0

    def to_dict(self) -> dict[str, Any]:
        d = vars(self).copy()
        # defaults are left out: older references stay as they are
        for key, default in (("checked", True), ("seeds_k", None), ("comparable", True)):
            if d[key] == default:
                del d[key]
        return d


@dataclass
class Row:
    label: str
    values: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Artifact:
    """A table written by a notebook. See the module docstring.

    ``baseline`` names the row against which the paper's deltas are shown for columns whose
    values are not comparable with ours (``Column(comparable=False)``).
    """

    id: str
    title: str
    profile: str
    columns: list[Column]
    source: Source | None = None
    rows: list[Row] = field(default_factory=list)
    notes: str = ""
    environment: dict[str, Any] = field(default_factory=dict)
    baseline: str | None = None
    claims: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.id or not all(c.isalnum() or c in "_-" for c in self.id):
            raise ValueError(f"artifact id must be a non-empty name of letters, digits, '_' or "
                             f"'-' (it becomes a file name); got {self.id!r}")
        keys = [c.key for c in self.columns]
        if len(set(keys)) != len(keys):
            raise ValueError(f"artifact {self.id!r}: column keys must be unique; got {keys}")
        ids = [c["id"] for c in self.claims]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ClaimError(f"artifact {self.id!r}: claim(s) {dup} defined twice")

    def column(self, key: str) -> Column:
        for c in self.columns:
            if c.key == key:
                return c
        raise KeyError(f"artifact {self.id!r} has no column {key!r}; columns: "
                       f"{[c.key for c in self.columns]}")

    def add_row(self, label: str, *, paper: dict[str, Any] | None = None, **ours: Any) -> Row:
        """Add a row: our value of each metric as a keyword, the paper's in ``paper``.

        A metric may be left out of a row (shown as a blank); ``None`` means "not measured".
        NaN and infinity are rejected, so a diverged run can never land in a table. A seeded
        column (``Column(seeds_k=...)``) takes a list with one value per seed; the row keeps
        them all, their mean as ``ours`` and their sample standard deviation as ``sd``.
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
                where = f"artifact {self.id!r}, row {label!r}"
                _check_value(paper.get(c.key), f"{where}, paper {c.key!r}")
                v = ours.get(c.key)
                if c.seeded and v is not None:
                    if not isinstance(v, (list, tuple)) or not v:
                        raise TypeError(f"{where}: column {c.key!r} is seeded (seeds_k="
                                        f"{c.seeds_k:g}); give one value per seed as a non-empty "
                                        f"list; got {v!r}")
                    seeds = [_plain(x) for x in v]
                    for i, x in enumerate(seeds):
                        _check_value(x, f"{where}, ours {c.key!r} seed #{i}")
                        if not isinstance(x, (int, float)) or isinstance(x, bool):
                            raise TypeError(f"{where}, ours {c.key!r}: seed values must be "
                                            f"numbers; got {x!r}")
                    n = len(seeds)
                    mean = sum(seeds) / n
                    sd = (math.sqrt(sum((x - mean) ** 2 for x in seeds) / (n - 1))
                          if n >= 2 else None)
                    row.values[c.key] = {"ours": mean, "paper": _plain(paper.get(c.key)),
                                         "seeds": seeds, "sd": sd}
                    continue
                if isinstance(v, (list, tuple)):
                    raise TypeError(f"{where}: column {c.key!r} takes one value; declare it "
                                    f"Column(..., seeds_k=...) to give one value per seed")
                _check_value(v, f"{where}, ours {c.key!r}")
                row.values[c.key] = {"ours": _plain(v), "paper": _plain(paper.get(c.key))}
        self.rows.append(row)
        return row

    # --- claims ----------------------------------------------------------------------------
    def cell_stats(self, row: str, metric: str) -> tuple[float, float | None, int]:
        """Our ``(mean, sd or None, number of seeds)`` of one cell, as claims read it."""
        self.column(metric)  # KeyError naming the columns
        for r in self.rows:
            if r.label == row:
                break
        else:
            raise KeyError(f"no row {row!r}; rows: {[r.label for r in self.rows]}")
        cell = r.values.get(metric)
        if cell is None or not isinstance(cell.get("ours"), (int, float)) \
                or isinstance(cell.get("ours"), bool):
            raise KeyError(f"row {row!r} has no number for {metric!r} (got "
                           f"{None if cell is None else cell.get('ours')!r})")
        seeds = cell.get("seeds")
        return float(cell["ours"]), cell.get("sd"), (len(seeds) if seeds else 1)

    def claim(self, id: str, statement: str, left: Cell | float, op: str, right: Cell | float,
              margin: float | Spread = 0.0, *, effect: bool = False) -> bool:
        """Evaluate a claim on this artifact's numbers, store it, and return its truth value.

        See :mod:`relnotes.repro.claims`. The artifact keeps the claim (statement, operands,
        margin), whether it holds and the numbers it used; the reference must agree on it
        exactly. A false claim is kept and shown as false. ``effect=True`` marks a claim that
        states the paper's effect (the scorecard's "effect shown" reads those), as opposed to a
        check such as "the loss fell".

        Raises:
            ClaimError: the id is already defined in this artifact, or a cell does not exist.
        """
        c = Claim(id, statement, left, op, right, margin)
        if any(d["id"] == id for d in self.claims):
            raise ClaimError(f"artifact {self.id!r}: claim {id!r} defined twice")
        holds, numbers = c.evaluate(self)
        rec = {**c.to_dict(), "holds": holds, "numbers": numbers}
        if effect:
            rec["effect"] = True
        self.claims.append(rec)
        return holds

    def claim_record(self, id: str) -> dict[str, Any]:
        for d in self.claims:
            if d["id"] == id:
                return d
        raise KeyError(f"artifact {self.id!r} defines no claim {id!r}; its claims: "
                       f"{[d['id'] for d in self.claims]}")

    # --- tolerances ------------------------------------------------------------------------
    TOLERANCE_RULE = (
        "A seeded column's tolerance is seeds_k x the sample sd of the cell's seeds (the "
        "column's abs / rel below two seeds); any tolerant column is then cut to the smallest "
        "difference a claim of this artifact reads on it (|left - right| for '>' and '<', the "
        "margin for '~'), so that no value can move across what the text interprets unseen."
    )

    def claim_caps(self) -> dict[str, float]:
        """Per column key, the smallest difference any claim reads on it."""
        caps: dict[str, float] = {}
        for d in self.claims:
            n = d["numbers"]
            read = n["margin"] if d["op"] == "~" else abs(n["difference"])
            for cell in n["cells"]:
                caps[cell["metric"]] = min(caps.get(cell["metric"], math.inf), read)
        return caps

    def _derived_tolerances(self) -> None:
        """Write ``tolerance`` into the cells of seeded or claim-read columns."""
        caps = self.claim_caps()
        for col in self.columns:
            if not col.checked or col.exact and not col.seeded:
                continue
            cap = caps.get(col.key, math.inf)
            if not col.seeded and cap == math.inf:
                continue
            for r in self.rows:
                cell = r.values.get(col.key)
                if cell is None or not isinstance(cell.get("ours"), (int, float)):
                    continue
                if col.seeded and cell.get("sd") is not None:
                    tol = col.seeds_k * cell["sd"]
                else:
                    tol = max(col.abs, col.rel * abs(cell["ours"]))
                cell["tolerance"] = min(tol, cap)

    # --- JSON ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        self._derived_tolerances()
        d = {
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
        if self.baseline is not None:
            d["baseline"] = self.baseline
        if self.claims or any(c.seeded for c in self.columns):
            d["claims"] = self.claims
            d["tolerance_rule"] = self.TOLERANCE_RULE
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], origin: str = "<dict>") -> "Artifact":
        if d.get("format") not in READABLE_FORMATS:
            raise ValueError(f"{origin}: not a relnotes artifact (format {d.get('format')!r}, "
                             f"expected one of {READABLE_FORMATS})")
        try:
            return cls(
                id=d["id"], title=d["title"], profile=d["profile"],
                columns=[Column(**c) for c in d["columns"]],
                source=None if d.get("source") is None else Source(**d["source"]),
                rows=[Row(r["label"], r["values"]) for r in d["rows"]],
                notes=d.get("notes", ""), environment=d.get("environment", {}),
                baseline=d.get("baseline"), claims=list(d.get("claims", [])),
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


def _within(ours: Any, ref: Any, col: Column, tolerance: float | None = None) -> bool:
    if not col.checked:
        return True
    if isinstance(ref, (int, float)) and isinstance(ours, (int, float)) \
            and not isinstance(ref, bool) and not isinstance(ours, bool):
        tol = max(col.abs, col.rel * abs(ref)) if tolerance is None else tolerance
        return abs(ours - ref) <= tol
    return ours == ref


def _tol_text(col: Column, tolerance: float | None = None) -> str:
    if not col.checked:
        return "not checked (machine-dependent)"
    if tolerance is not None:
        return f"abs {tolerance:.3g} (derived)" if tolerance else "exact (derived)"
    if col.exact:
        return "exact"
    return " ".join(p for p in (f"abs {col.abs:g}" if col.abs else "",
                                f"rel {col.rel:g}" if col.rel else "") if p)


def _first_difference(a: str, b: str, width: int = 30) -> tuple[str, str]:
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    lo = max(0, i - width)
    return f"...{a[lo:i + width]}...", f"...{b[lo:i + width]}..."


def compare(ours: Artifact, reference: Artifact) -> list[Diff]:
    """Compare our artifact with the committed reference, cell by cell.

    The reference's tolerances are used (they are the reviewed ones): a cell's derived
    ``tolerance`` when it has one, else its column's. Rows and metrics missing on either side are
    reported as failures, as is a profile mismatch. Also compared, exactly: the number of seeds
    of a seeded cell, the paper's values (a changed paper value is a reviewed change), the notes,
    and every claim's truth value and statement (a failure names the claim).

    A claim that reads only columns which are not compared (``Column(checked=False)``: times and
    memory on the CPU, which depend on the machine and its load) is *machine-dependent*: its truth
    value is still re-computed from our numbers, but it is not required to equal the reference's
    (a row reports both, marked as not compared), since a time cannot promise the same verdict on
    another machine when it cannot promise the same number.
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
            cell = row.values[key]
            got = cell["ours"]
            tol = ref_cell.get("tolerance")
            ok = _within(got, ref_cell["ours"], col, tol)
            diffs.append(Diff(aid, ref_row.label, key, ref_cell["ours"], got, _tol_text(col, tol),
                              ok, "" if ok else "outside tolerance"))
            if "seeds" in ref_cell or "seeds" in cell:
                n_ref, n = len(ref_cell.get("seeds") or []), len(cell.get("seeds") or [])
                if n_ref != n:
                    diffs.append(Diff(aid, ref_row.label, f"{key} (seeds)", n_ref, n, "exact",
                                      False, "number of seeds differs"))
            ref_paper, paper = ref_cell.get("paper"), cell.get("paper")
            if ref_paper is not None or paper is not None:
                ok = ref_paper == paper
                diffs.append(Diff(aid, ref_row.label, f"{key} (paper)", ref_paper, paper, "exact",
                                  ok, "" if ok else "paper value changed (a reviewed change: "
                                                    "update the reference)"))
        for key in row.values.keys() - ref_row.values.keys():
            diffs.append(Diff(aid, ref_row.label, key, None, row.values[key]["ours"], "-", False,
                              "metric not in reference"))
    for label in ours_rows:
        diffs.append(Diff(aid, label, "-", None, "row", "-", False, "row not in reference"))
    if ours.notes != reference.notes:
        a, b = _first_difference(reference.notes, ours.notes)
        diffs.append(Diff(aid, "-", "notes", a, b, "exact", False, "notes differ"))
    else:
        diffs.append(Diff(aid, "-", "notes", "(same)", "(same)", "exact", True))
    our_claims = {c["id"]: c for c in ours.claims}
    for cid, mine in our_claims.items():
        # the truth value is re-computed from our numbers: an artifact whose numbers were
        # edited after the notebook wrote it cannot keep a stale verdict
        try:
            holds, _ = Claim.from_dict(mine).evaluate(ours)
        except (ClaimError, KeyError, TypeError) as e:
            diffs.append(Diff(aid, "claim", cid, None, None, "exact", False,
                              f"claim {cid!r} ({mine.get('statement')!r}) cannot be "
                              f"re-computed from the artifact's numbers: {e}"))
            continue
        if holds != mine["holds"]:
            diffs.append(Diff(aid, "claim", cid, mine["holds"], holds, "exact", False,
                              f"claim {cid!r} ({mine['statement']!r}) is recorded as "
                              f"{_truth(mine['holds'])} but the artifact's numbers make it "
                              f"{_truth(holds)}"))
            our_claims[cid] = {**mine, "holds": holds}
    for ref_claim in reference.claims:
        cid, statement = ref_claim["id"], ref_claim["statement"]
        mine = our_claims.pop(cid, None)
        if mine is None:
            diffs.append(Diff(aid, "claim", cid, ref_claim["holds"], None, "exact", False,
                              f"claim {cid!r} ({statement!r}) missing"))
            continue
        ok = mine["holds"] == ref_claim["holds"] or machine_dependent(ref_claim, reference)
        reason = "" if ok else (f"claim {cid!r} ({statement!r}) is now "
                                f"{_truth(mine['holds'])}, the reference says "
                                f"{_truth(ref_claim['holds'])}")
        if mine["holds"] != ref_claim["holds"] and ok:
            reason = "machine-dependent (reads only columns that are not compared): not compared"
        if ok and mine["statement"] != statement:
            ok, reason = False, (f"claim {cid!r}: statement changed from {statement!r} to "
                                 f"{mine['statement']!r}")
        diffs.append(Diff(aid, "claim", cid, ref_claim["holds"], mine["holds"], "exact", ok,
                          reason))
    for cid, mine in our_claims.items():
        diffs.append(Diff(aid, "claim", cid, None, mine["holds"], "-", False,
                          f"claim {cid!r} ({mine['statement']!r}) not in reference"))
    return diffs


def machine_dependent(claim: dict[str, Any], art: Artifact) -> bool:
    """Whether ``claim`` (a stored claim of ``art``) reads cells only, all in columns that are
    not compared (``checked=False``); a claim against a plain number is not machine-dependent."""
    cells = claim.get("numbers", {}).get("cells", [])
    if not cells or not all(isinstance(claim.get(side), dict) for side in ("left", "right")):
        return False
    try:
        return all(not art.column(c["metric"]).checked for c in cells)
    except KeyError:
        return False


def _truth(holds: bool) -> str:
    return "true" if holds else "false"


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
    from .provenance import provenance

    prov = provenance()  # full commit, dirty tree, hash of relnotes/**/*.py
    env["git_commit"], env["git_dirty"] = prov["commit"], prov["dirty"]
    env["sources_sha256"] = prov["sources_sha256"]
    env["executable"] = Path(sys.executable).name
    from .numerics import describe

    env.update(describe())  # numerical path, CPU capability, processor, MKL / oneDNN versions
    return env
