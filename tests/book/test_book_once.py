"""The smoke book is built once per test session, however many tests and workers ask for it
(tests/book/conftest.py)."""

import importlib.util
import os
import threading
import time
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("book_conftest", Path(__file__).with_name(
    "conftest.py"))
book_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(book_conftest)


def test_concurrent_callers_of_one_session_share_one_build(tmp_path):
    builds = []

    def build(folder):
        builds.append(folder)
        time.sleep(0.3)                       # long enough for the others to reach the lock
        html = folder / f"html{len(builds)}"
        html.mkdir()
        (html / "index.html").write_text("x")
        return html

    got = []
    threads = [threading.Thread(target=lambda: got.append(
        book_conftest.build_once(tmp_path, "session-1", build))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and got == [tmp_path / "html1"] * 4
    # a later session builds again; a lost HTML folder is built again too
    assert book_conftest.build_once(tmp_path, "session-2", build) == tmp_path / "html2"
    (tmp_path / "html2" / "index.html").unlink()
    assert book_conftest.build_once(tmp_path, "session-2", build) == tmp_path / "html3"
    log = (tmp_path / "builds.log").read_text().splitlines()
    assert [line.split()[0] for line in log] == ["session-1", "session-2", "session-2"]


@pytest.mark.book
@pytest.mark.xdist_group("book")
@pytest.mark.timeout(1500)
def test_this_session_built_the_book_once(html, request):
    if os.environ.get("RELNOTES_BOOK_HTML"):
        pytest.skip("RELNOTES_BOOK_HTML: a book built before, not by this session")
    session = book_conftest.session_id(request.config)
    log = (book_conftest.BOOK_DIR / "builds.log").read_text().splitlines()
    assert [line.split()[0] for line in log].count(session) == 1
    assert html == book_conftest.BOOK_DIR / "repo" / "_build" / "html"
