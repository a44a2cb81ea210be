"""The numerical path of a run: which CPU kernels PyTorch's libraries choose, and how we pin it.

A trained number of the book (an AP after 8 epochs, an accuracy) is the end of millions of
floating-point operations, and on the CPU three libraries choose *how* to do them from the
processor they find:

- ATen, PyTorch's own kernels (element-wise ops, reductions, the softmax, pooling), compiled
  several times and dispatched by CPU capability: ``DEFAULT``, ``AVX2`` or ``AVX512``;
- oneDNN (MKL-DNN), which JIT-compiles convolutions for the widest instruction set it finds;
- MKL, the BLAS behind ``nn.Linear`` and matrix products, with its own code branches.

A wider instruction set adds partial sums in another order, so the same seed, the same code and
the same thread count give results that differ in the last bits on two processors; training
amplifies those bits into different networks. We measured it (``book/reproducing.md``): on one
AMD EPYC with AVX-512, the smoke notebooks under ``ATEN_CPU_CAPABILITY=avx2`` or ``=default`` give
other trained values than under its own AVX-512 path, and capping ATen *and* oneDNN at AVX2
reproduces, value for value, what an AVX2-only AMD EPYC computes by itself.

So reference runs use one **pinned path** that every x86-64 processor of the last decade can
take: the AVX2 kernels of all three libraries (:data:`PINNED`), set by the runner in the
environment of the notebook's kernel before PyTorch starts (they are read once, at import or first
use, so setting them inside a running notebook does nothing). ``numerics="native"`` leaves the
processor's own choice: faster on some machines, but its trained values are not the references'.

What the pinned path does not fix (so trained columns keep a tolerance): MKL documents
bit-for-bit results across *Intel* processors for a fixed branch and thread count; on AMD we saw
the branch honoured, but no Intel machine was available to compare with. A processor without AVX2
cannot take the path at all (:func:`describe` says so, and the runner warns).
"""

from __future__ import annotations

import os
import platform
import re
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

__all__ = ["PINNED", "WAITING", "NUMERICS", "kernel_environment", "applied", "describe", "cpu_flags",
           "differences"]

#: The environment of the pinned numerical path: the AVX2 kernels of ATen, oneDNN and MKL.
PINNED: Mapping[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",   # ATen's dispatch: DEFAULT / AVX2 / AVX512
    "ONEDNN_MAX_CPU_ISA": "AVX2",    # oneDNN's JIT kernels (convolutions) capped at AVX2
    "MKL_CBWR": "AVX2",              # MKL's conditional numerical reproducibility, AVX2 branch
}

#: How a kernel's idle OpenMP threads wait, set for both choices of ``numerics`` unless the
#: caller's shell sets it. By default they spin; on a machine whose cores other processes also
#: use (a laptop, a shared CI runner, several notebooks at once), a 2-thread step then spins
#: against them: a detector step of 0.1-0.2 s took 1-6 s under load, 0.2 s with ``PASSIVE``.
#: It does not decide which thread sums what, so it does not change a number.
WAITING: Mapping[str, str] = {"OMP_WAIT_POLICY": "PASSIVE"}

#: The choices of ``numerics``: the pinned path (references) or the processor's own.
NUMERICS = ("pinned", "native")


def _check(numerics: str) -> None:
    if numerics not in NUMERICS:
        raise ValueError(f"numerics must be one of {', '.join(NUMERICS)}; got {numerics!r}")


def kernel_environment(numerics: str, environ: Mapping[str, str] | None = None
                       ) -> tuple[dict[str, str], list[str]]:
    """The environment a notebook's kernel gets, and notes on what was replaced.

    Args:
        numerics (str): ``"pinned"`` sets every variable of :data:`PINNED`, replacing a value the
            caller's shell may have set (the path is the runner's, not the reader's shell's);
            ``"native"`` removes them, so the libraries choose for this processor.
        environ (Mapping, optional): the environment to start from. Default: ``os.environ``.

    Returns:
        (dict, list[str]): the new environment (with :data:`WAITING` where the caller did not
        set it), and one line per variable whose value from the caller was replaced or removed
        (empty when nothing was).
    """
    _check(numerics)
    env = dict(os.environ if environ is None else environ)
    notes = []
    for key, value in PINNED.items():
        old = env.get(key)
        new = value if numerics == "pinned" else None
        if old is not None and old != new:
            notes.append(f"{key}={old} from the environment is "
                         f"{'replaced by ' + new if new else 'removed'} (numerics {numerics!r})")
        if new is None:
            env.pop(key, None)
        else:
            env[key] = new
    for key, value in WAITING.items():
        env.setdefault(key, value)
    return env, notes


@contextmanager
def applied(numerics: str) -> Iterator[list[str]]:
    """Set ``os.environ`` for ``numerics`` while the block runs (child processes started in it,
    such as a notebook's kernel, inherit it), then restore it. Yields the notes of
    :func:`kernel_environment`."""
    env, notes = kernel_environment(numerics)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield notes
    finally:
        os.environ.clear()
        os.environ.update(saved)


def cpu_flags() -> set[str]:
    """The processor's feature flags from ``/proc/cpuinfo`` (empty where it does not exist)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _library_versions() -> dict[str, str | None]:
    import torch

    config = torch.__config__.show()
    mkl = re.search(r"Math Kernel Library Version ([\w.\-]+)", config)
    onednn = re.search(r"MKL-DNN v([\w.\-]+)", config)
    return {"mkl": mkl.group(1) if mkl else None, "onednn": onednn.group(1) if onednn else None}


def describe() -> dict[str, Any]:
    """What decides the numerical path of *this* process, for an artifact's environment.

    ``numerics`` is ``"pinned"`` when every variable of :data:`PINNED` has its value, ``"native"``
    when none is set, ``"custom"`` otherwise; ``cpu_capability`` is the ATen capability actually in
    use (AVX2 under the pinned path, unless the processor lacks AVX2).
    """
    import torch

    flags = cpu_flags()
    set_vars = {k: os.environ[k] for k in PINNED if k in os.environ}
    if set_vars == dict(PINNED):
        numerics = "pinned"
    elif not set_vars:
        numerics = "native"
    else:
        numerics = "custom"
    isa = [f for f in ("avx2", "avx512f") if f in flags]
    return {
        "numerics": numerics,
        "numerics_env": set_vars,
        "cpu": _cpu_model(),
        "cpu_isa": isa,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        **_library_versions(),
    }


# Keys of an artifact's environment that decide its numbers, in the order a report names them.
_DECIDING = ("numerics", "cpu_capability", "threads", "torch", "torchvision", "numpy", "mkl",
             "onednn", "cpu", "cpu_isa", "device", "python")


def differences(ours: Mapping[str, Any], reference: Mapping[str, Any]) -> list[str]:
    """Lines naming what differs between two artifacts' environments, among what decides their
    numbers (numerical path, CPU capability, threads, library versions, processor), so that a
    failed comparison reads as "another machine" or "a regression" at a glance."""
    lines = []
    for key in _DECIDING:
        a, b = ours.get(key), reference.get(key)
        if a != b:
            lines.append(f"{key}: reference {b if b is not None else '(not recorded)'}, "
                         f"this run {a if a is not None else '(not recorded)'}")
    return lines
