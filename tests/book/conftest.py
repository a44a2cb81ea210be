"""The smoke book, built once per test session and shared by the HTML and the browser tests.

Builds a copy of the repository on the smoke profile with the same command as `make book`, in
`_build/test-book/` of the checkout, under a file lock (`_build/test-book/lock`):

- **once per session**: the first test that asks for the book builds it and records the session
  in `_build/test-book/built.json`; every other test of the session, in any xdist worker, waits on
  the lock and reuses it (the tests that use it are also in one xdist group,
  `pytest.mark.xdist_group("book")`, run with `--dist loadgroup`, so that the other worker runs the
  rest of the suite meanwhile). `builds.log` lists every build, one line a session: a test checks
  that this session's line is there once;
- **with the runner's cache**: the copy keeps its `_build/repro` between sessions, so a notebook
  whose inputs did not change since the last `make test` (the notebook, the relnotes modules it
  imports, its knobs, the library versions: relnotes/repro/cache.py) is not executed again, as in
  `make book`. The smoke regression tests (tests/notebooks) still execute every notebook; a fresh
  clone (CI) builds everything. The HTML itself is always built afresh.
"""

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOK_DIR = ROOT / "_build" / "test-book"
IGNORE = shutil.ignore_patterns(".venv", "_build", ".git", "_generated", ".pytest_cache",
                                "__pycache__")
KEEP = "_build/repro"           # the copy's runner build folder: executed notebooks and the cache


def session_id(config) -> str:
    """One id per test session, the same in every xdist worker of it."""
    uid = getattr(config, "workerinput", {}).get("testrunuid")
    if uid is None:
        if not hasattr(config, "_relnotes_session"):
            config._relnotes_session = uuid.uuid4().hex
        uid = config._relnotes_session
    return uid


def build_once(folder: Path, session: str, build) -> Path:
    """``build(folder)`` (which returns the HTML folder) unless this ``session`` built it already:
    under an exclusive lock on ``folder/lock``, so that concurrent callers (xdist workers, two
    pytest runs in one checkout) wait for one build. Each build appends ``session`` to
    ``folder/builds.log``."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            marker = folder / "built.json"
            if marker.is_file():
                done = json.loads(marker.read_text())
                if done["session"] == session and (Path(done["html"]) / "index.html").is_file():
                    return Path(done["html"])
            marker.unlink(missing_ok=True)
            html = build(folder)
            with open(folder / "builds.log", "a") as log:
                log.write(f"{session} {time.strftime('%Y-%m-%dT%H:%M:%S')} pid {os.getpid()}\n")
            marker.write_text(json.dumps({"session": session, "html": str(html)}))
            return html
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build_smoke_book(folder: Path) -> Path:
    """The checkout copied to ``folder/repo`` (all but its ``_build/repro``, kept for the
    runner's cache, replaced), then ``python -m relnotes.repro book --profile smoke`` there."""
    work = folder / "repo"
    if work.exists():
        for entry in work.iterdir():
            if entry.name != "_build":
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() \
                    else entry.unlink()
        for entry in (work / "_build").iterdir() if (work / "_build").is_dir() else ():
            if entry != work / KEEP:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    shutil.copytree(ROOT, work, ignore=IGNORE, dirs_exist_ok=True)
    run = subprocess.run([sys.executable, "-m", "relnotes.repro", "book", "--profile", "smoke"],
                         cwd=work, capture_output=True, text=True, timeout=900)
    (folder / "last-build.log").write_text(run.stdout + run.stderr)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return work / "_build" / "html"


@pytest.fixture(scope="session")
def html(request):
    """The built smoke book's HTML folder; RELNOTES_BOOK_HTML=<folder> tests a book built before
    (e.g. `_build/html` after `make book PROFILE=smoke`) instead of building one."""
    if os.environ.get("RELNOTES_BOOK_HTML"):
        built = Path(os.environ["RELNOTES_BOOK_HTML"]).resolve()
        assert (built / "index.html").is_file(), f"RELNOTES_BOOK_HTML={built}: no index.html there"
        return built
    return build_once(BOOK_DIR, session_id(request.config), _build_smoke_book)
