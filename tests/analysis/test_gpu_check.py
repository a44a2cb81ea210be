"""What of ``make gpu-check`` runs without a GPU: the no-CUDA exit, the report's format, one
section failing without stopping the others, and the sections that the CPU emulation of the
kernels can run at small sizes (the GPU runs them at full size)."""

import json
from pathlib import Path

import pytest
import torch

from relnotes.analysis import gpu_check
from relnotes.ops.kernels import emulation

ROOT = Path(__file__).resolve().parents[2]
needs_emulation = pytest.mark.skipif(not emulation.available(), reason="no C++ compiler (g++)")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_without_cuda_it_stops_at_once_with_a_clear_message(tmp_path, capsys):
    out = tmp_path / "gpu_check.json"
    assert gpu_check.main(["--out", str(out)]) == gpu_check.EXIT_NO_CUDA == 2
    assert "no CUDA device" in capsys.readouterr().err
    report = json.loads(out.read_text())
    assert report["sections"] == {} and report["passed"] is False
    assert "no CUDA device" in report["error"]
    assert report["versions"]["torch"] == torch.__version__
    assert report["versions"]["cuda_available"] is False
    assert report["versions"]["kernels_available"] is False
    assert report["versions"]["kernels_why_unavailable"]


def test_a_failing_section_is_recorded_and_the_others_still_run(monkeypatch):
    calls = []

    def good(device):
        calls.append("good")
        return {"passed": True, "max_rel_err": 0.0}

    def broken(device):
        calls.append("broken")
        raise RuntimeError("kernels unavailable: test")

    def silent(device):                     # a section that forgets "passed" fails
        calls.append("silent")
        return {"value": 1}

    monkeypatch.setattr(gpu_check, "SECTIONS", {"a": broken, "b": good, "c": silent})
    report = gpu_check.run(device="cpu", log=lambda line: None)
    assert calls == ["broken", "good", "silent"]
    a, b, c = (report["sections"][n] for n in "abc")
    assert a["passed"] is False and a["error"] == "RuntimeError: kernels unavailable: test"
    assert "Traceback" in a["traceback"]
    assert b == {"passed": True, "max_rel_err": 0.0, "seconds": pytest.approx(b["seconds"])}
    assert c["passed"] is False and c["value"] == 1
    assert all(r["seconds"] >= 0 for r in report["sections"].values())
    assert report["passed"] is False and report["failed_sections"] == ["a", "c"]
    json.dumps(report)                      # the report is plain JSON
    with pytest.raises(ValueError, match="unknown sections"):
        gpu_check.run(["nope"], device="cpu")


def test_the_sections_are_the_issues_list_and_the_readme_names_them():
    assert list(gpu_check.SECTIONS) == [
        "compile", "grid", "large", "backward_twice", "streams", "layouts", "half", "opcheck",
        "compile_inductor", "training", "benchmark"]
    readme = (ROOT / "README.md").read_text()
    assert "make gpu-check" in readme
    for name in gpu_check.SECTIONS:
        assert f"`{name}`" in readme, name
    assert "gpu-check:" in (ROOT / "Makefile").read_text()


def test_versions_are_plain_json():
    info = gpu_check.versions()
    assert json.loads(json.dumps(info)) == info
    for key in ("python", "torch", "torch_cuda", "cuda_available", "git_commit", "cupy",
                "kernels_available", "kernels_why_unavailable"):
        assert key in info


# --- sections on the CPU, through the emulation, at small sizes -----------------------------------
@needs_emulation
def test_grid_section_on_the_emulation():
    result = gpu_check.section_grid("cpu", grid=[gpu_check.GRID[0], gpu_check.GRID[4]],
                                    phis=("squared_difference", "abs_difference"))
    assert result["passed"], result
    assert len(result["cases"]) == 4
    assert result["max_rel_err_float64"] <= gpu_check.RTOL_FLOAT64
    assert 0 < result["max_rel_err_float32"] <= gpu_check.RTOL_FLOAT32
    assert set(result["cases"][0]["float64_vs_reference"]) == {
        "forward", "grad_query", "grad_key", "grad_value", "grad_prior"}


@needs_emulation
def test_layouts_section_on_the_emulation():
    result = gpu_check.section_layouts("cpu")
    assert result["passed"], result
    assert set(result["cases"]) == {"transposed", "channels_last", "storage_offset", "B=0",
                                    "k=1", "H=W=1", "H=W=1 k=7 s=2"}


@needs_emulation
def test_backward_twice_and_opcheck_sections_on_the_emulation():
    twice = gpu_check.section_backward_twice("cpu", case=(2, 2, 4, 12, 12, 3, 1))
    assert twice["passed"] and twice["prior_terms_per_entry"] == 288
    check = gpu_check.section_opcheck("cpu")
    assert check["passed"], check
    assert check["channels_last"]["backward"]["test_faketensor"] == "SUCCESS"


def test_cuda_only_sections_fail_cleanly_without_cuda(monkeypatch):
    """Without a working CuPy the compile section says why (not a crash of the script)."""
    from relnotes.ops.kernels import cupy_backend

    monkeypatch.setattr(cupy_backend, "_STATUS", (False, "CuPy is not installed (test)"))
    result = gpu_check.run_section("compile", lambda: gpu_check.section_compile("cpu"))
    assert result["passed"] is False
    assert result["error"] == "RuntimeError: kernels unavailable: CuPy is not installed (test)"


def test_half_and_large_sections_on_the_cpu():
    """On the CPU both run the reference (no kernels there): the code paths and the numbers."""
    half = gpu_check.section_half("cpu", size=8)
    assert half["passed"], half
    assert half["float16_model"]["dtype"] == "torch.float16"
    assert half["autocast"]["op_dtype"] == "torch.float32"
    large = gpu_check.section_large("cpu", shape=(1, 8, 12, 12), k=3, G=2)
    assert large["passed"] and large["grid_stride_wrap"] is False
    assert gpu_check.section_large.__defaults__[1:] == ((5, 64, 256, 256), 7, 8)
    assert 5 * 64 * 256 * 256 > 65535 * 256      # the GPU's default is past the wrap


def test_benchmark_section_without_kernels_reports_rows_and_fails():
    result = gpu_check.section_benchmark("cpu", repeats=1, batch=1, channels=8, size=6,
                                         kernel_size=3, m=4)
    assert result["passed"] is False                 # no CUDA kernels row on the CPU
    assert any(name.startswith("unfold") for name in result["rows"])
    assert result["shape"]["channels"] == 8 and result["unfold_over_kernels_time"] is None


def test_training_compares_updates_and_names_the_zero_gradients(monkeypatch):
    """On the CPU the section compares the fused C++ path with the reference. The geometry
    prior's last bias has a zero gradient in exact arithmetic (the softmax ignores a constant
    logit): its updates are noise, compared against the largest update, and named (on the
    first H200 check a per-parameter relative error of that noise read 2.0)."""
    result = gpu_check.section_training(device="cpu")      # 64 px: layer4's maps are 2x2
    assert result["passed"], result
    assert result["update_rel_err"] <= 1e-8
    zero = result["numerically_zero_updates"]
    assert len(zero) == 9 and all(n.endswith("geometry.2.bias") for n in zero)


def test_training_fails_when_the_fast_path_is_off_by_one_in_a_million(monkeypatch):
    from relnotes.ops.kernels import cpu_backend

    fused = cpu_backend.local_relation_cpu
    monkeypatch.setattr(cpu_backend, "local_relation_cpu",
                        lambda *args: fused(*args) * (1 + 1e-6))
    result = gpu_check.section_training(device="cpu", image_size=32)
    assert not result["passed"] and result["update_rel_err"] > 1e-8
