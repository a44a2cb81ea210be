"""Earlier designs' numbers, read from the references committed with their code.

A chapter that says "this notebook is the third design of the experiment" shows the earlier two
beside it. Their numbers come from the cpu references that were committed with those designs'
code, so they are not typed into the page: the reference of commit ``C`` is archived, byte for
byte as ``git show C:notebooks/reference/<profile>/<id>.json`` prints it, under
``notebooks/reference/<profile>/earlier/<id>@<C>.json`` (``tests/repro/test_earlier.py`` checks
every archived file against git where the history is there), and the book reads one value with
the ``{earlier}`` role::

    {earlier}`d5cb3a2 rn_duplicate_removal; NMS, N_t = 0.3; mAP`      -> 40.9
    {earlier}`d5cb3a2 rn_duplicate_removal; NMS, N_t = *; mAP`        -> 40.9 (0.3)

(semicolons, not bars, so that the role can stand in a Markdown table's cell).

A row ending in ``*`` is the best (largest) value of the rows whose label starts with what comes
before it, shown with the rest of that row's label (the first such row on a tie). A seeded value
is the mean over the seeds, as the reference stores it; ``mAP[0]`` is the value of the first seed.
Values are shown with one decimal.

The row ``claim`` with a claim's id as the metric shows that claim's truth value in the earlier
reference, so that a page can put an earlier design's verdict beside the current one's::

    {earlier}`845f32d rn_figures; claim; masking-deciding-drop-larger`   -> true

``python -m relnotes.repro.earlier COMMIT ID [--profile cpu]`` archives one reference.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["archive", "archived_path", "earlier_value", "main"]


def archived_path(root: str | Path, art_id: str, commit: str, profile: str = "cpu") -> Path:
    """Where the reference of ``art_id`` at ``commit`` is archived."""
    return Path(root) / "notebooks" / "reference" / profile / "earlier" / f"{art_id}@{commit}.json"


def archive(root: str | Path, art_id: str, commit: str, profile: str = "cpu") -> Path:
    """Copy ``git show commit:notebooks/reference/<profile>/<art_id>.json`` into the archive.

    Raises:
        ValueError: git does not know that file at that commit.
    """
    rel = f"notebooks/reference/{profile}/{art_id}.json"
    done = subprocess.run(["git", "show", f"{commit}:{rel}"], cwd=root, capture_output=True)
    if done.returncode != 0:
        raise ValueError(f"git has no {rel} at commit {commit!r}: "
                         f"{done.stderr.decode().strip()}")
    path = archived_path(root, art_id, commit, profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(done.stdout)
    return path


def _parse(spec: str) -> tuple[str, str, str, str]:
    parts = [p.strip() for p in spec.split(";")]
    head = parts[0].split()
    if len(parts) != 3 or len(head) != 2 or not all(parts[1:]):
        raise ValueError(f"earlier: write {{earlier}}`COMMIT ARTIFACT_ID; ROW LABEL; METRIC` "
                         f"(a row ending in * takes the best of the rows it starts); got {spec!r}")
    return head[0], head[1], parts[1], parts[2]


def _ours(row: dict[str, Any], metric: str) -> float | None:
    name, bracket, index = metric.partition("[")
    cell = row["values"].get(name, {})
    if not bracket:
        value = cell.get("ours")
    else:
        seeds = cell.get("seeds") or []
        i = int(index.rstrip("]"))
        value = seeds[i] if i < len(seeds) else None
    return None if value is None else float(value)


def earlier_value(root: str | Path, spec: str, profile: str = "cpu") -> str:
    """The text of one ``{earlier}`` value (see the module docstring for ``spec``).

    Raises:
        ValueError: a malformed spec.
        FileNotFoundError: no archived reference for that commit and artifact.
        KeyError: no such row or metric in it, or no value.
    """
    commit, art_id, label, metric = _parse(spec)
    path = archived_path(root, art_id, commit, profile)
    if not path.is_file():
        raise FileNotFoundError(f"no archived reference {path}; archive it with "
                                f"`python -m relnotes.repro.earlier {commit} {art_id}`")
    art = json.loads(path.read_text())
    if label == "claim":
        for c in art.get("claims", []):
            if c["id"] == metric:
                return "true" if c["holds"] else "false"
        raise KeyError(f"{path.name}: no claim {metric!r}; claims: "
                       f"{[c['id'] for c in art.get('claims', [])]}")
    rows = art["rows"]
    if label.endswith("*"):
        prefix = label[:-1]
        found = [(r, _ours(r, metric)) for r in rows if r["label"].startswith(prefix)]
        found = [(r, v) for r, v in found if v is not None]
        if not found:
            raise KeyError(f"{path.name}: no row starting with {prefix!r} has a value of "
                           f"{metric!r}; rows: {[r['label'] for r in rows]}")
        best, value = max(found, key=lambda rv: rv[1])      # max keeps the first on a tie
        return f"{value:.1f} ({best['label'][len(prefix):].strip()})"
    for r in rows:
        if r["label"] == label:
            value = _ours(r, metric)
            if value is None:
                raise KeyError(f"{path.name}: row {label!r} has no value of {metric!r}")
            return f"{value:.1f}"
    raise KeyError(f"{path.name}: no row {label!r}; rows: {[r['label'] for r in rows]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m relnotes.repro.earlier",
                                     description="archive the reference of an earlier commit")
    parser.add_argument("commit")
    parser.add_argument("artifact_id")
    parser.add_argument("--profile", default="cpu")
    args = parser.parse_args(argv)
    try:
        path = archive(".", args.artifact_id, args.commit, args.profile)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 1
    print(f"archived {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
