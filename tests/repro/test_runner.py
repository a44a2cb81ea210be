"""The runner's contract, on tiny notebooks written into tmp_path."""

import nbformat
import pytest

from relnotes.repro import Artifact
from relnotes.repro.__main__ import main
from relnotes.repro.numerics import cpu_flags
from relnotes.repro.runner import NotebookError, check_parameters, resolve, run_notebook

WRITE_ARTIFACT = """
from relnotes.repro import Artifact, Column
art = Artifact("tiny", "Tiny", profile=profile, columns=[Column("x", "x")])
art.add_row("row", x=VALUE)
art.write(artifact_dir)
"""


@pytest.fixture(autouse=True)
def clean_tree(monkeypatch):
    """Writing references checks that the relnotes tree is committed (tests/repro/
    test_provenance.py); these tests are about the runner, on a developer's tree too."""
    monkeypatch.setattr("relnotes.repro.runner.provenance",
                        lambda: {"commit": "0" * 40, "dirty": False, "sources_sha256": "x"})


@pytest.fixture
def tree(write_nb, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "notebooks"
    write_nb(root / "ch" / "good.ipynb", WRITE_ARTIFACT.replace("VALUE", "1"))
    return root


def test_resolve_by_name_and_unknown_name_lists_the_available(tree):
    assert resolve(["good"], tree) == [tree / "ch" / "good.ipynb"]
    assert resolve([], tree) == [tree / "ch" / "good.ipynb"]
    with pytest.raises(NotebookError, match=r"unknown notebook 'nope'; available: good"):
        resolve(["nope"], tree)
    with pytest.raises(NotebookError, match=r"unknown notebook missing.ipynb: no such file"):
        resolve(["missing.ipynb"], tree)


def test_missing_profile_parameter_names_the_file(write_nb, tree):
    nb = write_nb(tree / "ch" / "noprof.ipynb", "1", parameters='artifact_dir = "a"')
    with pytest.raises(NotebookError, match=rf"{nb}: profile missing from its parameters cell"):
        check_parameters(nb)
    nb = write_nb(tree / "ch" / "nocell.ipynb", "1", parameters=None)
    with pytest.raises(NotebookError, match=rf"{nb}: profile, artifact_dir missing from it has no "
                                            r"cell tagged 'parameters'"):
        check_parameters(nb)


def test_run_collects_the_artifact_with_the_injected_profile(tree, tmp_path):
    result = run_notebook(tree / "ch" / "good.ipynb", "cpu", tmp_path / "build",
                          notebooks_root=tree)
    assert result.error is None
    assert result.output == tmp_path / "build" / "cpu" / "notebooks" / "ch" / "good.ipynb"
    assert result.output.is_file()
    [path] = result.artifacts
    assert Artifact.read(path).profile == "cpu"


def test_a_notebook_without_artifact_is_an_error_naming_it(write_nb, tree, tmp_path):
    nb = write_nb(tree / "ch" / "silent.ipynb", "x = 1")
    with pytest.raises(NotebookError, match=rf"{nb} ran on profile 'smoke' but wrote no artifact"):
        run_notebook(nb, "smoke", tmp_path / "build", notebooks_root=tree)


def test_failing_cell_is_reported_and_partial_output_kept(write_nb, tree, tmp_path):
    nb = write_nb(tree / "ch" / "broken.ipynb", "x = 1", "1 / 0", "print('never')")
    result = run_notebook(nb, "smoke", tmp_path / "build", notebooks_root=tree)
    assert "failed in cell 3" in result.error  # cell 0 parameters, 1 injected, 2 'x = 1', 3 '1/0'
    assert "ZeroDivisionError: division by zero" in result.error
    assert f"partial output notebook kept at {result.output}" in result.error
    executed = nbformat.read(result.output, as_version=4)
    assert any(o.get("ename") == "ZeroDivisionError" for c in executed.cells
               for o in c.get("outputs", []))


def test_full_profile_needs_data_root_for_notebooks_that_read_real_data(write_nb, tree, tmp_path):
    nb = write_nb(tree / "ch" / "coco.ipynb", "1",
                  parameters='profile = "cpu"\nartifact_dir = "a"\ndata_root = None')
    with pytest.raises(NotebookError, match=rf"{nb} reads real data on profile 'full': pass "
                                            r"--data-root"):
        run_notebook(nb, "full", tmp_path / "build", notebooks_root=tree)


def test_unknown_profile_is_rejected_before_running(tree, tmp_path):
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        run_notebook(tree / "ch" / "good.ipynb", "huge", tmp_path / "build")


def test_cli_update_then_check_then_detect_a_change(write_nb, tree, tmp_path, capsys):
    args = ["run", "--profile", "smoke", "--build-dir", str(tmp_path / "b"), "--notebooks", str(tree)]
    assert main(args) == 1  # no reference yet
    assert "no reference" in capsys.readouterr().out
    assert main(args + ["--update-references"]) == 0
    assert (tree / "reference" / "smoke" / "tiny.json").is_file()
    assert main(args) == 0
    # x and the notes
    assert "2 value(s) match the references, 0 differ" in capsys.readouterr().out
    write_nb(tree / "ch" / "good.ipynb", WRITE_ARTIFACT.replace("VALUE", "2"))
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "FAIL: outside tolerance" in out and "1 value(s) match the references, 1 differ" in out


def test_cli_usage_errors_exit_2_with_a_message(tree, capsys):
    assert main(["run", "--profile", "laptop", "--notebooks", str(tree)]) == 2
    assert "error: unknown profile 'laptop'" in capsys.readouterr().err
    assert main(["run", "nope", "--notebooks", str(tree)]) == 2
    assert "error: unknown notebook 'nope'" in capsys.readouterr().err
    assert main(["run", "--list", "--notebooks", str(tree)]) == 0
    assert "good.ipynb" in capsys.readouterr().out


def test_cli_passes_declared_parameters_as_yaml_and_rejects_others(write_nb, tree, tmp_path,
                                                                   capsys):
    write_nb(tree / "ch" / "knobs.ipynb", WRITE_ARTIFACT.replace("VALUE", "overrides['x'] + len(tags)"),
             parameters='profile = "smoke"\nartifact_dir = "a"\noverrides = None\ntags = []')
    args = ["run", "knobs", "--build-dir", str(tmp_path / "b"), "--notebooks", str(tree),
            "--update-references"]
    assert main(args + ["-p", "overrides={x: 40}", "--param", "tags=[a, b]"]) == 0
    assert Artifact.read(tree / "reference" / "smoke" / "tiny.json").rows[0].values["x"]["ours"] == 42
    assert main(args + ["-p", "colour=red"]) == 2
    assert "has no parameter(s) ['colour']" in capsys.readouterr().err
    assert main(args + ["-p", "profile=cpu"]) == 2
    assert "runner's own options" in capsys.readouterr().err
    assert main(args + ["-p", "overrides"]) == 2
    assert "--param takes NAME=VALUE" in capsys.readouterr().err


CAPABILITY = """
import torch
from relnotes.repro import Artifact, Column, environment
art = Artifact("cap", "Capability", profile=profile, columns=[Column("x", "x")])
art.add_row("row", x=torch.backends.cpu.get_cpu_capability())
art.environment = environment()
art.write(artifact_dir)
"""


@pytest.mark.skipif("avx2" not in cpu_flags(), reason="the processor has no AVX2")
def test_the_kernel_runs_on_the_pinned_path_whatever_the_shell_says(write_nb, tree, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    nb = write_nb(tree / "ch" / "cap.ipynb", CAPABILITY)
    result = run_notebook(nb, "smoke", tmp_path / "b", notebooks_root=tree)
    art = Artifact.read(result.artifacts[0])
    assert art.rows[0].values["x"]["ours"] == "AVX2"
    assert art.environment["numerics"] == "pinned"
    assert result.environment_notes == ["ATEN_CPU_CAPABILITY=default from the environment is "
                                        "replaced by avx2 (numerics 'pinned')"]
    native = run_notebook(nb, "smoke", tmp_path / "n", notebooks_root=tree, numerics="native")
    art = Artifact.read(native.artifacts[0])
    assert art.environment["numerics"] == "native"   # the shell's variable is removed too


def test_a_failed_comparison_names_the_environment_difference(write_nb, tree, tmp_path, capsys):
    nb = write_nb(tree / "ch" / "cap.ipynb", CAPABILITY.replace(
        "torch.backends.cpu.get_cpu_capability()", "VALUE"))
    args = ["run", "cap", "--profile", "smoke", "--build-dir", str(tmp_path / "b"),
            "--notebooks", str(tree)]
    write_nb(nb, CAPABILITY.replace("torch.backends.cpu.get_cpu_capability()", "1"))
    # environment() in the kernel records whether this checkout is dirty (a developer's often
    # is); this test is about the numerical environment, so the reference is written anyway
    assert main(args + ["--update-references", "--allow-dirty"]) == 0
    write_nb(nb, CAPABILITY.replace("torch.backends.cpu.get_cpu_capability()", "2"))
    capsys.readouterr()
    assert main(args) == 1
    assert "same numerical environment as its reference: a value that differs comes from the code" \
        in capsys.readouterr().out
    assert main(args + ["--numerics", "native"]) == 1
    out = capsys.readouterr().out
    assert "numerics: native" in out and "numerics: reference pinned, this run native" in out


BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5:\n    pass"


def test_wall_and_cpu_time_go_into_the_artifact_environment(write_nb, tree, tmp_path):
    nb = write_nb(tree / "ch" / "burn.ipynb", BURN, WRITE_ARTIFACT.replace("VALUE", "1"))
    result = run_notebook(nb, "smoke", tmp_path / "build", notebooks_root=tree)
    assert result.cpu_seconds >= 0.5          # the kernel's CPU time, a child of the runner
    assert result.seconds >= 0.5
    timing = Artifact.read(result.artifacts[0]).environment["time"]
    assert timing == {"wall_s": round(result.seconds, 2), "cpu_s": round(result.cpu_seconds, 2),
                      "budget_s": 60, "over_budget": False,
                      "host_peak_mib": result.host_peak_mib}
    assert result.budget_warning() is None


def test_a_notebook_over_its_budget_is_warned_about(tree, tmp_path, monkeypatch, capsys):
    from relnotes.repro import Profile

    tight = Profile("smoke", where="test", budget_s=0.01, threads=1, device="cpu")
    monkeypatch.setattr("relnotes.repro.runner.get_profile", lambda name: tight)
    result = run_notebook(tree / "ch" / "good.ipynb", "smoke", tmp_path / "build",
                          notebooks_root=tree)
    assert result.over_budget
    assert Artifact.read(result.artifacts[0]).environment["time"]["over_budget"] is True
    assert result.budget_warning().startswith("warning: good took ")
    assert "over the profile's budget of 0.01 s per notebook" in result.budget_warning()
    args = ["run", "--profile", "smoke", "--build-dir", str(tmp_path / "b"), "--notebooks",
            str(tree), "--no-progress"]
    main(args)
    assert "over the profile's budget" in capsys.readouterr().err


FAKE_CUDA = """
import sys, types
cuda = types.SimpleNamespace(is_initialized=lambda: True, device_count=lambda: 2,
                             max_memory_allocated=lambda i: [3 * 2**20, 5 * 2**20][i],
                             get_device_name=lambda: "Fake GPU")
sys.modules["torch"] = types.SimpleNamespace(cuda=cuda)  # after the artifact: the probe reads it
"""


def test_peak_gpu_memory_goes_into_the_artifact_when_the_kernel_used_cuda(write_nb, tree, tmp_path):
    nb = write_nb(tree / "ch" / "cuda.ipynb", WRITE_ARTIFACT.replace("VALUE", "1"), FAKE_CUDA)
    result = run_notebook(nb, "gpu", tmp_path / "build", notebooks_root=tree)
    assert result.error is None
    assert result.gpu == {"gpu_peak_mib": 5.0, "gpu_name": "Fake GPU"}  # the larger device
    timing = Artifact.read(result.artifacts[0]).environment["time"]
    assert timing["gpu_peak_mib"] == 5.0 and timing["gpu_name"] == "Fake GPU"
    assert timing["wall_s"] == round(result.seconds, 2) and timing["budget_s"] == 3600


def test_the_probe_cell_leaves_no_trace_in_the_executed_notebook(tree, tmp_path):
    result = run_notebook(tree / "ch" / "good.ipynb", "smoke", tmp_path / "build",
                          notebooks_root=tree)
    assert result.gpu is None  # torch imported, CUDA never initialised: absent, not zero
    timing = Artifact.read(result.artifacts[0]).environment["time"]
    assert "gpu_peak_mib" not in timing
    # the kernel's peak resident memory: a Python with torch imported holds well over 50 MiB
    assert timing["host_peak_mib"] == result.host_peak_mib and 50 < result.host_peak_mib < 1e5
    executed = nbformat.read(result.output, as_version=4)
    # the parameters cell, papermill's injected parameters, the artifact cell; no probe
    assert len(executed.cells) == 3
    assert "_relnotes" not in result.output.read_text()  # nor in papermill's metadata
    assert executed.metadata.papermill.input_path == str(tree / "ch" / "good.ipynb")


def test_a_profile_without_kept_references_runs_report_only(write_nb, tree, tmp_path, capsys):
    import json

    args = ["run", "--profile", "gpu", "--build-dir", str(tmp_path / "b"), "--notebooks",
            str(tree), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "report only (the repository keeps no gpu references): nothing compared" in out
    assert "no reference" not in out and "- (CUDA not used)" in out
    report = json.loads((tmp_path / "b" / "gpu" / "report.json").read_text())
    assert report["profile"] == "gpu"
    [row] = report["notebooks"]
    assert row["artifacts"] == ["tiny"] and row["error"] is None
    assert row["gpu_peak_mib"] is None and row["budget_s"] == 3600 and row["wall_s"] > 0
    assert row["host_peak_mib"] > 50
    # a failing notebook still fails the report-only run
    write_nb(tree / "ch" / "broken.ipynb", "1 / 0")
    assert main(args) == 1
    assert "broken" in capsys.readouterr().out


def test_report_only_on_a_profile_with_references_compares_nothing(tree, tmp_path, capsys):
    args = ["run", "--profile", "smoke", "--build-dir", str(tmp_path / "b"), "--notebooks",
            str(tree), "--no-progress"]
    assert main(args) == 1  # smoke keeps references: a missing one fails
    assert "no reference" in capsys.readouterr().out
    assert main(args + ["--report-only"]) == 0
    assert "report only (--report-only): nothing compared" in capsys.readouterr().out
