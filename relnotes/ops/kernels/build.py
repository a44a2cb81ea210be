"""Build a C++ shared library once per content hash, for the CPU paths of the local relation op.

Both the fused CPU backend (``cpu_backend``) and the CUDA emulation (``emulation``) compile C++
with g++ at first use and load it with ctypes. :func:`build_library` holds what they share: the
compiler (``$CXX`` or ``g++``), the cache folder (``$RELNOTES_KERNEL_CACHE`` or
``<tmp>/relnotes-kernels``), a file name that hashes the sources, flags and compiler version (so
a change rebuilds), and an atomic move into place (a concurrent builder finds a complete file or
none).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["cxx", "cache_dir", "build_library"]


def cxx() -> str | None:
    """The C++ compiler: ``$CXX``, else ``g++`` on the PATH, else None."""
    return os.environ.get("CXX") or shutil.which("g++")


def cache_dir() -> Path:
    """Where built libraries are kept: ``$RELNOTES_KERNEL_CACHE`` or ``<tmp>/relnotes-kernels``."""
    return Path(os.environ.get("RELNOTES_KERNEL_CACHE",
                               Path(tempfile.gettempdir()) / "relnotes-kernels"))


def build_library(stem: str, sources: dict[str, bytes], main: str, flags: tuple[str, ...], *,
                  what: str) -> Path:
    """Compile ``main`` (one of ``sources``, written side by side so that includes resolve) into
    ``lib<stem>_<hash>.so`` in :func:`cache_dir`, unless it is there already.

    Args:
        stem (str): library name, e.g. ``"lr_cpu"``.
        sources (dict[str, bytes]): file name -> content of every file the build reads.
        main (str): the file name given to the compiler.
        flags (tuple[str, ...]): compiler flags.
        what (str): what is built, for the error messages.

    Raises:
        RuntimeError: no compiler, or the build failed (the command and the compiler's stderr).
    """
    compiler = cxx()
    if compiler is None:
        raise RuntimeError(f"{what} needs a C++ compiler: install g++ or set $CXX")
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout
    digest = hashlib.sha256()
    for part in (*sources.values(), " ".join((compiler, *flags)).encode(), version.encode()):
        digest.update(part)
        digest.update(b"\0")
    out_dir = cache_dir()
    lib = out_dir / f"lib{stem}_{digest.hexdigest()[:16]}.so"
    if lib.exists():
        return lib
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        tmp = Path(tmp)
        for name, content in sources.items():
            (tmp / name).write_bytes(content)
        target = tmp / lib.name
        cmd = [compiler, *flags, str(tmp / main), "-o", str(target)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"building {what} failed ({' '.join(cmd)}):\n{result.stderr}")
        os.replace(target, lib)
    return lib
