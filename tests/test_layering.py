"""The floors of relnotes (DESIGN.md, "Layout"), checked in a fresh interpreter per subpackage.

Bottom to top: ``ops`` and ``data``; ``nn``; ``models``; ``engine``; ``analysis``. A module may
import its own floor or a lower one; ``repro`` stands beside them and imports none of them.
Each subpackage and every module in it is imported in a new Python process (an import made
by an earlier test cannot hide an arrow), and ``sys.modules`` is read back.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Subpackage -> floor (higher imports lower). ``repro`` is outside the stack.
FLOORS = {"ops": 0, "data": 0, "nn": 1, "models": 2, "engine": 3, "analysis": 4}
SIDE = "repro"

#: Imports every module of ``relnotes.<sub>`` and prints the relnotes subpackages then loaded.
_PROBE = r"""
import importlib, json, pkgutil, sys
sub = sys.argv[1]
pkg = importlib.import_module("relnotes." + sub)
for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
    if info.name.rsplit(".", 1)[-1] != "__main__":   # __main__ runs a command line
        importlib.import_module(info.name)
print(json.dumps(sorted({m.split(".")[1] for m in sys.modules
                         if m.startswith("relnotes.") and m.count(".") >= 1})))
"""


def loaded_subpackages(sub: str, *, package_root: Path = ROOT) -> set[str]:
    """The relnotes subpackages in ``sys.modules`` after importing all of ``relnotes.<sub>`` in a
    fresh interpreter whose ``relnotes`` comes from ``package_root``."""
    result = subprocess.run([sys.executable, "-c", _PROBE, sub], cwd=package_root,
                            env={**os.environ, "PYTHONPATH": str(package_root)},
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"importing relnotes.{sub} failed:\n{result.stderr}")
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def upward_imports(sub: str, loaded: set[str]) -> set[str]:
    """The loaded subpackages that ``sub`` may not import: a higher floor, or for ``repro``
    (and for the floors, ``repro`` itself) anything across the side."""
    others = loaded - {sub}
    if sub == SIDE:
        return others
    return {o for o in others if o == SIDE or FLOORS.get(o, -1) > FLOORS[sub]}


@pytest.mark.parametrize("sub", [*FLOORS, SIDE])
def test_no_subpackage_loads_a_higher_floor(sub):
    loaded = loaded_subpackages(sub)
    assert sub in loaded
    assert upward_imports(sub, loaded) == set()


def test_the_check_flags_an_upward_import(tmp_path):
    """A copy of relnotes with one arrow added back (ops -> analysis) must be caught."""
    import shutil

    shutil.copytree(ROOT / "relnotes", tmp_path / "relnotes",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.o"))
    bad = tmp_path / "relnotes" / "ops" / "upward.py"
    bad.write_text("from relnotes.analysis import count_macs  # noqa: F401\n")
    loaded = loaded_subpackages("ops", package_root=tmp_path)
    assert "analysis" in upward_imports("ops", loaded)
    # and the pure rule, on made-up sets
    assert upward_imports("nn", {"nn", "ops", "models"}) == {"models"}
    assert upward_imports("repro", {"repro", "ops"}) == {"ops"}
    assert upward_imports("analysis", {"analysis", "engine", "models", "nn", "ops", "data"}) == set()
