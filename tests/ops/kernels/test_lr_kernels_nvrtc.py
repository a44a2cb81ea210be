"""NVRTC compiles the exact ``local_relation.cu`` a GPU would run, for compute_75/80/90.

No GPU, driver or CuPy is needed: libnvrtc comes with the CUDA build of torch (the
``nvidia-cuda-nvrtc`` wheel) and is called through ctypes (:mod:`relnotes.ops.kernels.nvrtc`).
Every kernel template is instantiated for float and double, as CuPy's RawModule asks for them.
"""

import re

import pytest

from relnotes.ops.kernels import emulation, launch, nvrtc

pytestmark = pytest.mark.skipif(nvrtc.find_library() is None,
                                reason="libnvrtc not found (CPU-only torch build?)")

ARCHS = ("compute_75", "compute_80", "compute_90")


@pytest.fixture(scope="module", params=ARCHS)
def compiled(request):
    return nvrtc.compile_ptx(request.param)


def test_compiles_without_errors_or_warnings(compiled):
    assert compiled.status == 0, compiled.log
    assert "error" not in compiled.log.lower(), compiled.log
    assert "warning" not in compiled.log.lower(), compiled.log


def test_ptx_targets_the_architecture_and_has_every_kernel(compiled):
    sm = compiled.arch.replace("compute_", "sm_")
    assert re.search(rf"^\.target {sm}\b", compiled.ptx, re.MULTILINE), compiled.ptx[:400]
    entries = set(re.findall(r"\.entry (\w+)\(", compiled.ptx))
    expected = {f"{k}<{t}>" for k in launch.KERNELS for t in launch.CTYPES.values()}
    assert set(compiled.lowered) == expected
    assert entries == set(compiled.lowered.values())


def test_prior_reduction_uses_shared_memory_barrier_and_atomic(compiled):
    assert ".shared" in compiled.ptx
    assert "bar.sync" in compiled.ptx or "barrier.sync" in compiled.ptx
    assert "atom.global.add.f64" in compiled.ptx or "red.global.add.f64" in compiled.ptx


def test_compile_errors_are_reported():
    broken = launch.SOURCE.read_text() + "\n__global__ void oops() { undefined_name = 1; }\n"
    result = nvrtc.compile_ptx("compute_80", source=broken, name_expressions=[])
    assert result.status != 0
    assert "undefined_name" in result.log and result.ptx == ""


def test_compute_70_is_rejected_by_cuda_13():
    if nvrtc.version()[0] < 13:
        pytest.skip(f"NVRTC {nvrtc.version()} still accepts compute_70")
    assert nvrtc.compile_ptx("compute_70").status != 0


def test_source_has_no_includes_and_emulation_exports_every_kernel():
    """NVRTC has no host headers: the .cu includes nothing; the emulation adds its header."""
    source = launch.SOURCE.read_text()
    assert "#include" not in source
    driver = emulation.driver_source()
    for k in launch.KERNELS:
        for t in launch.CTYPES.values():
            assert f"EMU_EXPORT(emu_{k}_{t}, {k}<{t}>)" in driver
