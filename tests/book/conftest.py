"""The smoke book, built once per test session and shared by the HTML and the browser tests.

Builds a copy of the repository on the smoke profile with the same command as `make book`. The
tests that use it are in one xdist group (`pytest.mark.xdist_group("book")`, run with
`--dist loadgroup`), so that under `pytest -n 2` one worker builds it, not each.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IGNORE = shutil.ignore_patterns(".venv", "_build", ".git", "_generated", ".pytest_cache",
                                "__pycache__")


@pytest.fixture(scope="session")
def html(tmp_path_factory):
    """The built smoke book's HTML folder; RELNOTES_BOOK_HTML=<folder> tests a book built before
    (e.g. `_build/html` after `make book PROFILE=smoke`) instead of building one."""
    if os.environ.get("RELNOTES_BOOK_HTML"):
        built = Path(os.environ["RELNOTES_BOOK_HTML"]).resolve()
        assert (built / "index.html").is_file(), f"RELNOTES_BOOK_HTML={built}: no index.html there"
        return built
    work = tmp_path_factory.mktemp("book") / "repo"
    shutil.copytree(ROOT, work, ignore=IGNORE)
    run = subprocess.run([sys.executable, "-m", "relnotes.repro", "book", "--profile", "smoke"],
                         cwd=work, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return work / "_build" / "html"
