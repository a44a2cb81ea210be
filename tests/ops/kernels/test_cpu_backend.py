"""Tests of the fused CPU local relation (relnotes.ops.kernels.cpu_backend) beyond the oracle
tests of tests/ops/test_local_relation.py, which run it through ``IMPLEMENTATIONS``: float32
against the float64 reference on the mini networks' shapes, thread-count independence, errors,
and the ``RELNOTES_LR_CPU`` switch."""

import math
import subprocess
import sys

import pytest
import torch

from relnotes.ops import local_relation_reference
from relnotes.ops.kernels import cpu_backend

pytestmark = pytest.mark.skipif(not cpu_backend.available(),
                                reason=f"{cpu_backend.why_unavailable()}")


def make_inputs(B, C, G, H, W, k, stride, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    Ho, Wo = math.ceil(H / stride), math.ceil(W / stride)
    return [torch.randn(*s, generator=g, dtype=torch.float64).to(dtype).requires_grad_()
            for s in [(B, G, Ho, Wo), (B, G, H, W), (B, C, H, W), (G, k, k)]]


def forward_backward(fn, inputs, k, stride):
    out = fn(*inputs, k, stride)
    grads = torch.autograd.grad(out, inputs, torch.ones_like(out) + out.detach())
    return [out.detach(), *grads]


# LR-Net-26-mini's layers (stem 16 ch, stages 25/50/100 ch, m = 8) on 28 x 28 inputs, and a
# window as large as the map (k = 9 on 4 x 4)
MINI_SHAPES = [(4, 16, 2, 28, 28, 7, 2), (4, 25, 4, 14, 14, 7, 1), (4, 50, 7, 14, 14, 9, 2),
               (4, 100, 13, 4, 4, 9, 1), (4, 100, 13, 7, 7, 3, 1)]


@pytest.mark.parametrize("B,C,G,H,W,k,stride", MINI_SHAPES)
def test_float32_agrees_with_the_float64_reference(B, C, G, H, W, k, stride):
    exact = forward_backward(local_relation_reference, make_inputs(B, C, G, H, W, k, stride),
                             k, stride)
    ours = forward_backward(cpu_backend.local_relation_cpu,
                            make_inputs(B, C, G, H, W, k, stride, torch.float32), k, stride)
    for a, b in zip(ours, exact):
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-4 * float(b.abs().max()))


@pytest.mark.parametrize("stride", [1, 2])
def test_results_do_not_depend_on_the_number_of_threads(stride):
    inputs = make_inputs(3, 24, 3, 11, 10, 5, stride, torch.float32, seed=1)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = forward_backward(cpu_backend.local_relation_cpu, inputs, 5, stride)
        torch.set_num_threads(max(2, threads))
        many = forward_backward(cpu_backend.local_relation_cpu, inputs, 5, stride)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(one, many):
        assert torch.equal(a, b)


def test_saves_no_k2_sized_tensor():
    inputs = make_inputs(1, 64, 8, 16, 16, 7, 1)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t,
                                                  lambda t: t):
        cpu_backend.local_relation_cpu(*inputs, 7)
    assert sum(saved) == sum(t.numel() for t in inputs)   # the inputs only: weights recomputed


def test_errors_and_the_reference_switch():
    q, k, v, p = make_inputs(1, 4, 2, 5, 5, 3, 1, torch.float16)
    with pytest.raises(ValueError, match="float32 or float64 CPU tensors; query is "
                                         "torch.float16 on cpu"):
        cpu_backend.local_relation_cpu(q, k, v, p, 3)
    code = ("from relnotes.ops.kernels import cpu_backend as c; "
            "print(c.available(), c.why_unavailable())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**__import__("os").environ, "RELNOTES_LR_CPU": "reference"})
    assert out.stdout.strip() == "False RELNOTES_LR_CPU=reference", out.stderr


def test_compile_flags_do_not_follow_aten_cpu_capability(monkeypatch):
    flags = cpu_backend.compile_flags()
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    assert cpu_backend.compile_flags() == flags
    assert "-fopenmp" in flags and "-O3" in flags


@pytest.mark.parametrize("B,C,G,H,W,k", [(2, 16, 2, 9, 11, 5), (2, 25, 4, 14, 14, 7),
                                         (1, 100, 13, 4, 4, 9)])
def test_stride_1_backward_writes_every_gradient_number(monkeypatch, B, C, G, H, W, k):
    """The stride-1 backward gets uninitialised gradient buffers (torch.empty_like): filled with
    NaN here, the gradients must still match the reference's."""
    empty_like = torch.empty_like
    monkeypatch.setattr(cpu_backend.torch, "empty_like",
                        lambda t: empty_like(t).fill_(float("nan")))
    inputs = make_inputs(B, C, G, H, W, k, 1)
    ours = forward_backward(cpu_backend.local_relation_cpu, inputs, k, 1)
    exact = forward_backward(local_relation_reference, inputs, k, 1)
    for a, b in zip(ours, exact):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
