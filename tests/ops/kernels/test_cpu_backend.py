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
    # the inputs and the softmax's statistics (max and 1 / sum per position of the padded
    # 16 x 19 layout, W + r columns: 2 numbers per position and group), not the k^2 weights
    assert saved[:4] == [t.numel() for t in inputs]
    assert saved[4:] == [2 * 1 * 8 * 16 * (16 + 3)]
    assert sum(saved) - sum(t.numel() for t in inputs) < inputs[0].numel() * 7**2 / 8


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("B,C,G,H,W,k,stride,composability",
                         [(2, 16, 2, 9, 11, 5, 1, "squared_difference"),
                          (2, 25, 4, 14, 14, 7, 2, "dot"), (1, 12, 3, 10, 8, 5, 3, "abs_difference"),
                          (1, 100, 13, 4, 4, 9, 1, "squared_difference")])
def test_saved_weights_give_the_same_results_bit_for_bit(dtype, B, C, G, H, W, k, stride,
                                                         composability):
    """The other design (the forward saves the weights, the backward reads them) computes the
    same weights by the same operations: the output and every gradient are the default's."""
    inputs = make_inputs(B, C, G, H, W, k, stride, dtype, seed=4)
    default = forward_backward(lambda *t: cpu_backend.local_relation_cpu(*t, composability),
                               inputs, k, stride)
    saved = forward_backward(lambda *t: cpu_backend.local_relation_cpu(
        *t, composability, save_weights=True), inputs, k, stride)
    assert all(torch.equal(a, b) for a, b in zip(default, saved))


def test_saved_weights_are_the_k2_sized_tensor_and_the_backward_reads_them():
    inputs = make_inputs(1, 64, 8, 16, 16, 7, 1)
    out = cpu_backend.local_relation_cpu(*inputs, 7, save_weights=True)
    weights = out.grad_fn.saved_tensors[5]
    # k^2 weights per position of the padded 16 x 19 layout and group, and 2 margins of
    # centre = 3 * 19 + 3 zeros per plane: about k^2 / m times the output
    assert weights.numel() == 8 * (49 * 16 * 19 + 2 * 60)
    before = torch.autograd.grad(out, inputs, torch.ones_like(out), retain_graph=True)
    weights.data.mul_(2)                # behind autograd's version counter
    after = torch.autograd.grad(out, inputs, torch.ones_like(out))
    assert not torch.equal(before[2], after[2])
    assert cpu_backend.local_relation_cpu(*inputs, 7).grad_fn.saved_tensors[5] is None


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


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("B,C,G,H,W,k", [(2, 16, 2, 9, 11, 5), (2, 25, 4, 14, 14, 7),
                                         (1, 100, 13, 4, 4, 9)])
def test_backward_writes_every_gradient_number(monkeypatch, B, C, G, H, W, k, stride):
    """The backward gets uninitialised gradient buffers (torch.empty_like), at every stride
    (strides > 1 gather through phase planes): filled with NaN here, the gradients must still
    match the reference's."""
    empty_like = torch.empty_like
    monkeypatch.setattr(cpu_backend.torch, "empty_like",
                        lambda t: empty_like(t).fill_(float("nan")))
    inputs = make_inputs(B, C, G, H, W, k, stride)
    ours = forward_backward(cpu_backend.local_relation_cpu, inputs, k, stride)
    exact = forward_backward(local_relation_reference, inputs, k, stride)
    for a, b in zip(ours, exact):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


# odd and even sizes, so that the s x s phase planes of a stride-s call differ in size, windows
# larger than the map, k = 1
@pytest.mark.parametrize("H,W,k,stride", [(7, 6, 3, 2), (6, 7, 7, 2), (5, 5, 9, 2), (1, 4, 3, 2),
                                          (10, 8, 5, 3), (4, 11, 7, 3), (9, 9, 1, 2),
                                          (2, 2, 5, 4)])
@pytest.mark.parametrize("composability", ["squared_difference", "dot", "abs_difference"])
def test_strided_phase_planes_agree_with_the_reference(H, W, k, stride, composability):
    inputs = make_inputs(2, 12, 3, H, W, k, stride, seed=3)
    ours = forward_backward(lambda *t: cpu_backend.local_relation_cpu(*t, composability), inputs,
                            k, stride)
    exact = forward_backward(lambda *t: local_relation_reference(*t, composability), inputs,
                             k, stride)
    for a, b in zip(ours, exact):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_the_backward_uses_the_saved_softmax_statistics():
    """The backward pass reads the maximum and 1 / sum the forward saved: changing them changes
    the gradients (a backward that recomputed them would not see it)."""
    inputs = make_inputs(1, 8, 2, 6, 6, 3, 1)
    out = cpu_backend.local_relation_cpu(*inputs, 3)
    stats = out.grad_fn.saved_tensors[4]
    before = torch.autograd.grad(out, inputs, torch.ones_like(out), retain_graph=True)
    stats.data.mul_(2)                  # behind autograd's version counter
    after = torch.autograd.grad(out, inputs, torch.ones_like(out))
    assert not torch.equal(before[2], after[2])
