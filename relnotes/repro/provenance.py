"""Provenance: which code produced an artifact.

Every artifact records the commit it was made from, whether the working tree had uncommitted
changes (modified, staged or untracked files: a new notebook or module that was never committed
counts), and a SHA-256 over the ``relnotes`` sources, so that a reference can be traced to code
that exists. A reference once came from uncommitted code and recorded a commit from before its
notebook existed; the ``dirty`` flag and the source hash make that visible, and
:func:`relnotes.repro.runner.update_references` refuses a dirty tree unless told otherwise.

Example::

    >>> p = provenance()
    >>> sorted(p)
    ['commit', 'dirty', 'sources_sha256']
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["provenance", "sources_sha256", "PACKAGE_ROOT"]

PACKAGE_ROOT = Path(__file__).resolve().parents[1]   # .../relnotes


def sources_sha256(package_root: str | Path = PACKAGE_ROOT) -> str:
    """SHA-256 over ``relnotes/**/*.py``: each file's path (relative, '/'-separated) and bytes,
    in sorted order, so that a renamed file changes it too."""
    root = Path(package_root)
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py"), key=lambda p: p.relative_to(root).as_posix()):
        if "__pycache__" in path.parts:
            continue
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, cwd=cwd)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def provenance(package_root: str | Path = PACKAGE_ROOT) -> dict[str, Any]:
    """``{"commit": full sha or None, "dirty": bool or None, "sources_sha256": hex}``.

    ``dirty`` is True when ``git status --porcelain`` lists anything (ignored files aside) in the
    repository that holds ``package_root``; None outside a git checkout (an installed package).
    """
    root = Path(package_root)
    commit = _git(["rev-parse", "HEAD"], root)
    status = _git(["status", "--porcelain"], root)
    return {
        "commit": commit.strip() or None if commit is not None else None,
        "dirty": None if status is None else bool(status.strip()),
        "sources_sha256": sources_sha256(root),
    }
