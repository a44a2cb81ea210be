"""The pinned numerical path: what the runner sets for a notebook's kernel, and what it records."""

import os
import subprocess
import sys

import pytest

from relnotes.repro import numerics
from relnotes.repro.numerics import PINNED, WAITING, applied, describe, differences, kernel_environment


def test_pinned_sets_every_variable_and_names_what_it_replaced():
    env, notes = kernel_environment("pinned", {"ATEN_CPU_CAPABILITY": "default", "HOME": "/h"})
    assert {k: env[k] for k in PINNED} == dict(PINNED) and env["HOME"] == "/h"
    assert notes == ["ATEN_CPU_CAPABILITY=default from the environment is replaced by avx2 "
                     "(numerics 'pinned')"]
    assert kernel_environment("pinned", dict(PINNED))[1] == []


def test_native_removes_them():
    env, notes = kernel_environment("native", {"MKL_CBWR": "AVX2", "HOME": "/h"})
    assert env == {"HOME": "/h", "OMP_WAIT_POLICY": "PASSIVE"}
    assert notes == ["MKL_CBWR=AVX2 from the environment is removed (numerics 'native')"]


@pytest.mark.parametrize("numerics", ["pinned", "native"])
def test_idle_threads_sleep_unless_the_caller_says_otherwise(numerics):
    assert kernel_environment(numerics, {})[0]["OMP_WAIT_POLICY"] == "PASSIVE" == WAITING["OMP_WAIT_POLICY"]
    env, notes = kernel_environment(numerics, {"OMP_WAIT_POLICY": "ACTIVE"})
    assert env["OMP_WAIT_POLICY"] == "ACTIVE" and notes == []


def test_unknown_numerics_is_an_error():
    with pytest.raises(ValueError, match="numerics must be one of pinned, native; got 'fast'"):
        kernel_environment("fast")


def test_applied_sets_the_environment_for_children_and_restores_it(monkeypatch):
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    with applied("pinned"):
        out = subprocess.run([sys.executable, "-c", "import os; print(os.environ['MKL_CBWR'], "
                              "os.environ['ATEN_CPU_CAPABILITY'])"],
                             capture_output=True, text=True, check=True).stdout.split()
    assert out == ["AVX2", "avx2"]
    assert os.environ["ATEN_CPU_CAPABILITY"] == "default" and "MKL_CBWR" not in os.environ


@pytest.mark.skipif("avx2" not in numerics.cpu_flags(), reason="the processor has no AVX2")
def test_a_child_on_the_pinned_path_uses_avx2_and_records_it():
    code = ("import json, torch; from relnotes.repro.numerics import describe; "
            "print(json.dumps(describe()))")
    with applied("pinned"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout
    import json

    d = json.loads(out)
    assert d["numerics"] == "pinned" and d["cpu_capability"] == "AVX2"
    assert d["numerics_env"] == dict(PINNED) and "avx2" in d["cpu_isa"]


def test_describe_names_a_partial_setting_custom(monkeypatch):
    for k in PINNED:
        monkeypatch.delenv(k, raising=False)
    assert describe()["numerics"] == "native"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert describe()["numerics"] == "custom"


def test_differences_name_what_decides_the_numbers():
    ref = {"numerics": "pinned", "cpu_capability": "AVX2", "threads": 2, "torch": "2.14.1",
           "git": "abc"}
    ours = dict(ref, numerics="native", cpu_capability="AVX512", git="def")
    assert differences(ours, ref) == ["numerics: reference pinned, this run native",
                                      "cpu_capability: reference AVX2, this run AVX512"]
    assert differences(ref, ref) == []
    assert differences({"threads": 2}, {}) == ["threads: reference (not recorded), this run 2"]
