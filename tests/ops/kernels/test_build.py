import ctypes

import pytest

from relnotes.ops.kernels import build

SRC = b'extern "C" int answer() { return 42; }\n'


@pytest.mark.skipif(build.cxx() is None, reason="no C++ compiler")
def test_builds_once_per_content_and_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("RELNOTES_KERNEL_CACHE", str(tmp_path))
    flags = ("-O1", "-shared", "-fPIC")
    lib = build.build_library("t", {"a.cpp": SRC}, "a.cpp", flags, what="the test library")
    assert lib.parent == tmp_path and ctypes.CDLL(str(lib)).answer() == 42
    assert build.build_library("t", {"a.cpp": SRC}, "a.cpp", flags, what="x") == lib   # cached
    other = build.build_library("t", {"a.cpp": SRC + b"\n"}, "a.cpp", flags, what="x")
    assert other != lib                                                                   # rebuilt
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([lib.name, other.name])  # no leftovers


@pytest.mark.skipif(build.cxx() is None, reason="no C++ compiler")
def test_a_failed_build_names_what_and_the_error(tmp_path, monkeypatch):
    monkeypatch.setenv("RELNOTES_KERNEL_CACHE", str(tmp_path))
    with pytest.raises(RuntimeError, match="building the test library failed"):
        build.build_library("t", {"a.cpp": b"not c++"}, "a.cpp", ("-shared",), what="the test library")


def test_no_compiler_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(build, "cxx", lambda: None)
    with pytest.raises(RuntimeError, match="the test library needs a C\\+\\+ compiler"):
        build.build_library("t", {"a.cpp": SRC}, "a.cpp", (), what="the test library")
