"""NVRTC compiles the exact ``local_relation.cu`` a GPU would run, for compute_75/80/90 (PTX)
and sm_75/80/90 (cubin), with the options CuPy compiles with (``-ftz=true`` included).

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


# --- the options CuPy compiles with (issue 19, item 5) --------------------------------------------
def test_compiles_with_the_options_cupy_adds(compiled):
    """CuPy appends -ftz=true: float32 arithmetic flushes denormals (add.ftz.f32, ...), which
    the default options only do for the exp2 approximation."""
    assert "-ftz=true" in compiled.options and "--std=c++17" in compiled.options
    assert re.search(r"\badd\.ftz\.f32\b", compiled.ptx)
    plain = nvrtc.compile_ptx(compiled.arch, options=launch.NVRTC_OPTIONS)
    assert plain.status == 0 and not re.search(r"\badd\.ftz\.f32\b", plain.ptx)


@pytest.mark.parametrize("arch", [a.replace("compute_", "sm_") for a in ARCHS])
def test_cubin_for_each_real_architecture(arch):
    """CuPy compiles a cubin for the device's own architecture (sm_XX): CI builds those too."""
    result = nvrtc.compile_ptx(arch)
    assert result.status == 0, result.log
    assert "warning" not in result.log.lower(), result.log
    assert result.cubin[:4] == b"\x7fELF" and result.ptx == ""
    assert set(result.lowered) == {f"{k}<{t}>" for k in launch.KERNELS
                                   for t in launch.CTYPES.values()}

