"""The CuPy backend's parts that run without a GPU: the availability decision (issue 19,
item 3), with fake ``cupy`` packages on ``sys.path``."""

import sys
import types
import warnings

import pytest
import torch

from relnotes.ops.kernels import cupy_backend

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU answer")


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A clean availability decision and a folder for a fake ``cupy`` package; restored after."""
    monkeypatch.setattr(cupy_backend, "_STATUS", None)
    for name in [n for n in sys.modules if n == "cupy" or n.startswith("cupy.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(tmp_path))

    def fake_cupy(init_source):
        (tmp_path / "cupy").mkdir()
        (tmp_path / "cupy" / "__init__.py").write_text(init_source)

    yield fake_cupy
    for name in [n for n in sys.modules if n == "cupy" or n.startswith("cupy.")]:
        del sys.modules[name]


@pytest.mark.parametrize("error", [
    'ImportError("libnvrtc.so.12: cannot open shared object file")',
    'RuntimeError("CUDA driver version is insufficient for CUDA runtime version")',
    'OSError("libcuda.so.1: cannot open shared object file")',
])
def test_a_broken_cupy_is_unavailable_with_the_reason_and_one_warning(fresh, error):
    fresh(f"raise {error}\n")
    with pytest.warns(RuntimeWarning, match="runs the PyTorch reference: import cupy failed"):
        assert cupy_backend.available() is False
    message = error.split('"')[1]
    assert message in cupy_backend.why_unavailable()
    assert cupy_backend.why_unavailable().startswith("import cupy failed: " + error.split("(")[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # decided once: no second warning, no second import
        assert cupy_backend.available() is False


def test_cupy_not_installed(fresh, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)       # import cupy -> ModuleNotFoundError
    with warnings.catch_warnings():
        warnings.simplefilter("error")                     # the ordinary case does not warn
        assert cupy_backend.available() is False
    assert cupy_backend.why_unavailable() == ("CuPy is not installed "
                                              "(pip install 'relnotes[gpu]')")


@no_gpu
def test_an_importable_cupy_without_a_device(fresh):
    fresh("__version__ = '14.0.0'\n")
    assert cupy_backend.available() is False
    assert cupy_backend.why_unavailable() == "PyTorch sees no CUDA device"


def test_the_decision_is_made_once(fresh, monkeypatch):
    calls = []
    monkeypatch.setattr(cupy_backend, "_probe", lambda: calls.append(1) or (False, "no: test"))
    with pytest.warns(RuntimeWarning):
        assert [cupy_backend.available() for _ in range(3)] == [False] * 3
    assert cupy_backend.why_unavailable() == "no: test" and len(calls) == 1


def test_available_traces_under_fullgraph_compile():
    """Dynamo takes the answer as a constant: no graph break where local_relation asks."""
    cupy_backend.available()                        # decided outside the trace

    def f(x):
        return x + 1 if cupy_backend.available() else x - 1

    x = torch.zeros(3)
    expected = f(x)
    torch._dynamo.reset()
    assert torch.equal(torch.compile(f, backend="eager", fullgraph=True)(x), expected)


def test_the_cuda_op_names_the_reason(fresh, monkeypatch):
    from relnotes.ops.kernels import custom_op

    monkeypatch.setattr(cupy_backend, "_STATUS", (False, "import cupy failed: test reason"))
    cuda_tensor = types.SimpleNamespace(device=torch.device("cuda", 0))  # _backend reads .device
    with pytest.raises(RuntimeError, match="test reason"):
        custom_op._backend(cuda_tensor)


# --- streams (issue 19, item 4) -------------------------------------------------------------------
class FakeTorchStream:
    cuda_stream = 0xABC

    def __cuda_stream__(self):
        return (0, self.cuda_stream)


def test_cupy_14_wraps_the_torch_stream_with_from_external():
    seen = []

    class Stream:
        @staticmethod
        def from_external(obj):
            seen.append(obj.__cuda_stream__())
            return "cupy-stream"

    def deprecated(*args):
        raise AssertionError("ExternalStream is deprecated in CuPy 14")

    cupy = types.SimpleNamespace(cuda=types.SimpleNamespace(Stream=Stream,
                                                            ExternalStream=deprecated))
    assert cupy_backend._cupy_stream(cupy, FakeTorchStream(), 0) == "cupy-stream"

    class OldTorchStream:                       # a torch without __cuda_stream__
        cuda_stream = 0xDEF

    cupy_backend._cupy_stream(cupy, OldTorchStream(), 0)
    assert seen == [(0, 0xABC), (0, 0xDEF)]


def test_older_cupy_falls_back_to_external_stream():
    class Stream:                               # CuPy 13: no from_external
        pass

    cupy = types.SimpleNamespace(cuda=types.SimpleNamespace(
        Stream=Stream, ExternalStream=lambda ptr, device_id: ("external", ptr, device_id)))
    assert cupy_backend._cupy_stream(cupy, FakeTorchStream(), 1) == ("external", 0xABC, 1)
