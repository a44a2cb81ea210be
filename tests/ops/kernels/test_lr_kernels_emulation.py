"""The CUDA kernels of the local relation op, run on the CPU under the host emulation.

``local_relation.cu`` is compiled by g++ after ``cuda_emulation.h`` (one std::thread per CUDA
thread, a std::barrier behind __syncthreads, a mutex-guarded atomicAdd) and compared in float64
with PyTorch: the forward and the four gradients, against (a) the direct oracle below, written
for this file, and (b) ``relnotes.ops.local_relation.local_relation_reference`` when present.
The launch plan (grid, block, argument lists) is the one the CuPy backend uses.
"""

import re

import pytest
import torch
from torch import nn

from relnotes.ops.kernels import emulation, launch
from relnotes.ops.kernels.launch import Geometry, LaunchConfig

pytestmark = pytest.mark.skipif(not emulation.available(), reason="no C++ compiler (g++)")

PHIS = ("squared_difference", "dot", "abs_difference")
RTOL = 1e-10


# --- the oracle ---------------------------------------------------------------------------------
def phi(q, k, composability):
    if composability == "squared_difference":
        return -(q - k) ** 2
    if composability == "dot":
        return q * k
    return -(q - k).abs()


def oracle(query, key, value, prior, kernel_size, stride, composability):
    """The op's contract, written directly: for each offset (dy, dx), gather the neighbour of
    every output pixel by index (clamped inside the image), mask the ones outside, softmax over
    the offsets, then sum weight * value with each channel reading its group's weights."""
    B, G, Ho, Wo = query.shape
    C, H, W = value.shape[1:]
    m = -(-C // G)
    r = kernel_size // 2
    group_of = torch.arange(C) // m                                   # channel -> group
    ys, xs = torch.arange(Ho) * stride, torch.arange(Wo) * stride     # window centres
    logits, neighbours = [], []
    for dy in range(kernel_size):
        for dx in range(kernel_size):
            y, x = ys + dy - r, xs + dx - r
            inside = ((y >= 0) & (y < H))[:, None] & ((x >= 0) & (x < W))[None, :]  # [Ho, Wo]
            yc, xc = y.clamp(0, H - 1), x.clamp(0, W - 1)
            k_n = key[:, :, yc][:, :, :, xc]                          # [B, G, Ho, Wo]
            logit = phi(query, k_n, composability) + prior[:, dy, dx].view(1, G, 1, 1)
            logits.append(logit.masked_fill(~inside, float("-inf")))
            neighbours.append(value[:, :, yc][:, :, :, xc])           # [B, C, Ho, Wo]
    weights = torch.softmax(torch.stack(logits, 2), dim=2)           # [B, G, k*k, Ho, Wo]
    return (weights[:, group_of] * torch.stack(neighbours, 2)).sum(2)  # [B, C, Ho, Wo]


def scalar_oracle(query, key, value, prior, kernel_size, stride, composability):
    """The same with Python scalars and loops only (tiny shapes): it checks the oracle."""
    import math
    B, G, Ho, Wo = query.shape
    C, H, W = value.shape[1:]
    m, r = -(-C // G), kernel_size // 2
    out = torch.zeros(B, C, Ho, Wo, dtype=torch.float64)
    for b in range(B):
        for c in range(C):
            g = c // m
            for i in range(Ho):
                for j in range(Wo):
                    terms = []
                    for dy in range(kernel_size):
                        for dx in range(kernel_size):
                            y, x = i * stride + dy - r, j * stride + dx - r
                            if 0 <= y < H and 0 <= x < W:
                                q, k = float(query[b, g, i, j]), float(key[b, g, y, x])
                                lg = {"squared_difference": -(q - k) ** 2, "dot": q * k,
                                      "abs_difference": -abs(q - k)}[composability]
                                terms.append((lg + float(prior[g, dy, dx]),
                                              float(value[b, c, y, x])))
                    top = max(t[0] for t in terms)
                    z = sum(math.exp(t[0] - top) for t in terms)
                    out[b, c, i, j] = sum(math.exp(lg - top) * v for lg, v in terms) / z
    return out


def make_inputs(B, G, C, H, W, k, stride, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    Ho, Wo = -(-H // stride), -(-W // stride)
    shapes = [(B, G, Ho, Wo), (B, G, H, W), (B, C, H, W), (G, k, k)]
    return [torch.randn(s, generator=g, dtype=dtype) for s in shapes]


def assert_rel(actual, expected, rtol=RTOL):
    """max |actual - expected| <= rtol * max |expected| (a relative error of the tensor)."""
    assert actual.shape == expected.shape
    err = (actual - expected).abs().max().item()
    scale = expected.abs().max().item()
    assert err <= rtol * scale, f"max error {err:.3g} vs scale {scale:.3g} (rtol {rtol})"


def run_both(inputs, k, stride, composability, grad_seed=1):
    """Forward and the four gradients from the emulated kernels (through the custom op) and
    from the oracle (through torch.autograd)."""
    results = []
    for fn in (torch.ops.relnotes.local_relation, oracle):
        xs = [t.detach().clone().requires_grad_() for t in inputs]
        out = fn(*xs, k, stride, composability)
        grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(grad_seed),
                           dtype=out.dtype)
        out.backward(grad)
        results.append((out.detach(), [x.grad for x in xs]))
    return results


# --- cases --------------------------------------------------------------------------------------
# (B, G, C, H, W, k, stride): C = 10, G = 3 -> m = 4, groups of 4, 4 and 2 channels.
CASES = [
    *[(2, 3, 10, 7, 6, k, s) for k in (3, 5) for s in (1, 2)],
    (1, 3, 10, 2, 3, 5, 1),    # H, W smaller than k: every window crosses the border
    (2, 3, 10, 3, 2, 5, 2),    # ... with stride 2
    (1, 2, 5, 5, 5, 7, 2),     # k = 7 (the paper's), uneven groups 3 + 2
    (1, 4, 4, 4, 5, 3, 1),     # m = 1: one channel per group
    (2, 1, 3, 5, 4, 3, 2),     # G = 1: all channels share one weight map
    (1, 3, 6, 7, 8, 3, 3),     # a stride other than 1 and 2
    (1, 2, 4, 5, 5, 1, 2),     # k = 1: out = value at the strided centres
]


@pytest.mark.parametrize("composability", PHIS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: "B{}G{}C{}H{}W{}k{}s{}".format(*c))
def test_kernels_match_the_oracle_forward_and_backward(case, composability):
    B, G, C, H, W, k, stride = case
    inputs = make_inputs(B, G, C, H, W, k, stride, seed=sum(case))
    (out, grads), (ref, ref_grads) = run_both(inputs, k, stride, composability)
    assert_rel(out, ref)
    for name, g, rg in zip(("query", "key", "value", "prior"), grads, ref_grads):
        assert g is not None, name
        assert_rel(g, rg)


def test_the_oracle_matches_scalar_loops():
    inputs = make_inputs(1, 2, 3, 4, 3, 3, 2, seed=3)
    for composability in PHIS:
        assert_rel(oracle(*inputs, 3, 2, composability),
                   scalar_oracle(*inputs, 3, 2, composability), rtol=1e-12)


@pytest.mark.parametrize("composability", PHIS)
def test_kernels_match_the_package_reference(composability):
    ref_module = pytest.importorskip("relnotes.ops.local_relation")
    reference = getattr(ref_module, "local_relation_reference", None)
    if reference is None:
        pytest.skip("relnotes.ops.local_relation has no local_relation_reference yet")
    for B, G, C, H, W, k, stride in [(2, 3, 10, 7, 6, 3, 1), (2, 3, 10, 6, 7, 5, 2),
                                     (1, 3, 10, 2, 3, 5, 2)]:
        inputs = make_inputs(B, G, C, H, W, k, stride, seed=7)
        results = []
        for fn in (torch.ops.relnotes.local_relation, reference):
            xs = [t.detach().clone().requires_grad_() for t in inputs]
            out = fn(*xs, k, stride, composability)
            out.backward(torch.ones_like(out) + torch.linspace(0, 1, out.numel()).view(out.shape))
            results.append((out.detach(), [x.grad for x in xs]))
        (out, grads), (ref, ref_grads) = results
        assert_rel(out, ref)
        for g, rg in zip(grads, ref_grads):
            assert_rel(g, rg)


def test_float32_instances_agree_with_float64():
    inputs = make_inputs(2, 3, 10, 7, 6, 5, 2, seed=11)
    (out, grads), (ref, ref_grads) = run_both([t.float() for t in inputs], 5, 2, "dot")
    assert out.dtype == torch.float32
    assert_rel(out.double(), oracle(*inputs, 5, 2, "dot"), rtol=1e-5)
    for g, rg in zip(grads, ref_grads):
        assert_rel(g.double(), rg.double(), rtol=1e-4)


@pytest.mark.parametrize("config", [LaunchConfig(threads=1, max_blocks=1, max_prior_chunks=1),
                                    LaunchConfig(threads=32, max_blocks=1, max_prior_chunks=3),
                                    LaunchConfig(threads=128, max_blocks=100)],
                         ids=["one-thread", "grid-stride", "one-pass"])
def test_results_do_not_depend_on_grid_and_block(config):
    """Grid-stride loops cover any grid; the prior's block reduction and atomics any chunking."""
    inputs = make_inputs(2, 3, 10, 7, 6, 3, 2, seed=5)
    geo = Geometry.of(*inputs, 3, 2, "squared_difference")
    out = launch.forward(emulation.launch, *inputs, geo, config)
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(2),
                           dtype=torch.float64)
    grads = launch.backward(emulation.launch, grad_out, *inputs, geo, config)
    xs = [t.clone().requires_grad_() for t in inputs]
    ref = oracle(*xs, 3, 2, "squared_difference")
    ref.backward(grad_out)
    assert_rel(out, ref.detach())
    for g, x in zip(grads, xs):
        assert_rel(g, x.grad)


def test_prior_gradient_uses_several_blocks_per_entry_by_default():
    """With the emulation's default config the stride-1 cases above (B*Ho*Wo = 2*7*6 terms per
    prior entry) end with two blocks per entry, so they exercise the atomicAdd path."""
    (rows, chunks, _), _ = launch.grid_prior(3 * 9, 1 * 4 * 5, emulation.DEFAULT_CONFIG)
    assert (rows, chunks) == (27, 1)
    (rows, chunks, _), block = launch.grid_prior(3 * 9, 2 * 7 * 6, emulation.DEFAULT_CONFIG)
    assert (rows, chunks, block) == (27, 2, (32, 1, 1))


def test_non_contiguous_inputs():
    q, k, v, p = make_inputs(2, 3, 10, 6, 6, 3, 1, seed=9)
    v_t = v.transpose(2, 3).contiguous().transpose(2, 3)  # same values, other strides
    assert not v_t.is_contiguous()
    out = torch.ops.relnotes.local_relation(q, k, v_t, p, 3, 1, "dot")
    assert_rel(out, oracle(q, k, v, p, 3, 1, "dot"))


# --- the shared launch plan ---------------------------------------------------------------------
def kernel_signatures():
    """{kernel: ["ptr" | "int", ...]} parsed from the __global__ templates of the .cu."""
    src = launch.SOURCE.read_text()
    sigs = {}
    for name, params in re.findall(r"__global__ void (\w+)\(([^)]*)\)", src):
        sigs[name] = ["ptr" if "*" in p else "int" for p in params.split(",")]
    return sigs


def test_argument_lists_match_the_cuda_signatures():
    """Every Launch built by forward/backward passes what the kernel declares, in order."""
    sigs = kernel_signatures()
    assert set(sigs) == set(launch.KERNELS)
    seen = []

    def record(spec):
        seen.append(spec.kernel)
        kinds = ["ptr" if isinstance(a, torch.Tensor) else "int" for a in spec.args]
        assert kinds == sigs[spec.kernel], spec.kernel
        emulation.launch(spec)

    inputs = make_inputs(1, 2, 4, 4, 4, 3, 1)
    geo = Geometry.of(*inputs, 3, 1, "dot")
    out = launch.forward(record, *inputs, geo, emulation.DEFAULT_CONFIG)
    launch.backward(record, torch.ones_like(out), *inputs, geo, emulation.DEFAULT_CONFIG)
    assert seen == ["lr_weights", "lr_aggregate", "lr_weights", "lr_grad_logits", "lr_grad_key",
                    "lr_grad_value", "lr_grad_prior"]


def test_grid_1d_caps_the_grid_and_covers_small_tensors():
    config = LaunchConfig(threads=256, max_blocks=65535)
    assert launch.grid_1d(1, config) == ((1, 1, 1), (256, 1, 1))
    assert launch.grid_1d(257, config) == ((2, 1, 1), (256, 1, 1))
    assert launch.grid_1d(10**9, config) == ((65535, 1, 1), (256, 1, 1))


@pytest.mark.parametrize("threads", [0, 3, 512])
def test_launch_config_rejects_bad_blocks(threads):
    with pytest.raises(ValueError, match="threads must be a power of two"):
        LaunchConfig(threads=threads)


def test_geometry_checks_name_the_argument():
    q, k, v, p = make_inputs(2, 3, 10, 7, 6, 3, 2)
    geo = Geometry.of(q, k, v, p, 3, 2, "dot")
    assert (geo.Ho, geo.Wo, geo.m, geo.mode) == (4, 3, 4, 1)
    with pytest.raises(ValueError, match="query must be"):
        Geometry.of(q, k, v, p, 3, 1, "dot")
    with pytest.raises(ValueError, match="geometry_prior must be"):
        Geometry.of(q, k, v, p, 5, 2, "dot")
    with pytest.raises(ValueError, match="composability must be one of"):
        Geometry.of(q, k, v, p, 3, 2, "cosine")
    with pytest.raises(ValueError, match="kernel_size must be a positive odd int"):
        Geometry.of(q, k, v, p, 4, 2, "dot")


# --- the custom op ------------------------------------------------------------------------------
def test_custom_op_registration_passes_opcheck():
    inputs = make_inputs(1, 2, 4, 5, 4, 3, 2, seed=4)
    inputs = [t.requires_grad_() for t in inputs]
    torch.library.opcheck(torch.ops.relnotes.local_relation.default,
                          (*inputs, 3, 2, "squared_difference"),
                          test_utils=("test_schema", "test_autograd_registration",
                                      "test_faketensor"))


def _channels_last_inputs(G):
    """Inputs in channels_last (query, key, value) and a permuted prior; G = 1 makes the key
    and query [B, 1, H, W] tensors that report is_contiguous() with channels_last strides."""
    q, k, v, p = make_inputs(2, G, 4, 5, 4, 3, 2, seed=4)
    q, k, v = (t.to(memory_format=torch.channels_last) for t in (q, k, v))
    p = p.transpose(1, 2).contiguous().transpose(1, 2)
    assert not v.is_contiguous() and not p.is_contiguous()
    return [q, k, v, p]


@pytest.mark.parametrize("G", [1, 2])
def test_opcheck_with_channels_last_inputs(G):
    """Both ops, on inputs whose strides are not the default ones: the fake implementations
    must give the sizes and strides the real ones return (issue 19, item 1)."""
    inputs = [t.requires_grad_() for t in _channels_last_inputs(G)]
    torch.library.opcheck(torch.ops.relnotes.local_relation.default,
                          (*inputs, 3, 2, "squared_difference"),
                          test_utils=("test_schema", "test_autograd_registration",
                                      "test_faketensor"))
    grad_out = torch.randn(2, 4, 3, 2, dtype=torch.float64).to(memory_format=torch.channels_last)
    inputs = [t.detach() for t in inputs]
    torch.library.opcheck(torch.ops.relnotes.local_relation_backward.default,
                          (grad_out, *inputs, 3, 2, "squared_difference"),
                          test_utils=("test_schema", "test_faketensor"))


@pytest.mark.parametrize("G", [1, 2])
def test_real_and_fake_backward_strides_agree(G):
    from torch._subclasses.fake_tensor import FakeTensorMode

    inputs = _channels_last_inputs(G)
    grad_out = torch.randn(2, 4, 3, 2, dtype=torch.float64).to(memory_format=torch.channels_last)
    real = torch.ops.relnotes.local_relation_backward(grad_out, *inputs, 3, 2, "dot")
    with FakeTensorMode() as mode:
        fakes = [mode.from_tensor(t) for t in (grad_out, *inputs)]
        fake = torch.ops.relnotes.local_relation_backward(*fakes, 3, 2, "dot")
    for r, f, x in zip(real, fake, inputs):
        assert r.shape == x.shape and r.is_contiguous()
        assert (r.shape, r.stride()) == (f.shape, f.stride())


def test_fake_tensor_shape_and_mac_formula_on_meta():
    from relnotes.analysis import count_macs

    class Op(nn.Module):
        def forward(self, q, k, v, p):
            return torch.ops.relnotes.local_relation(q, k, v, p, 7, 2, "squared_difference")

    B, G, C, H, W, K = 2, 13, 100, 56, 56, 7
    meta = [torch.empty(s, device="meta") for s in
            [(B, G, 28, 28), (B, G, H, W), (B, C, H, W), (G, K, K)]]
    assert Op()(*meta).shape == (B, C, 28, 28)
    assert count_macs(Op(), *meta) == B * 28 * 28 * K * K * (G + C)
    ref_module = pytest.importorskip("relnotes.ops.local_relation")
    if hasattr(ref_module, "local_relation_macs"):  # the op module's count, same convention
        assert count_macs(Op(), *meta) == ref_module.local_relation_macs(B, C, G, 28, 28, K)


def test_concurrent_calls_from_python_threads():
    """ctypes releases the GIL; the emulation serialises launches (static __shared__ arrays)."""
    from concurrent.futures import ThreadPoolExecutor

    inputs = make_inputs(2, 3, 10, 7, 6, 3, 2, seed=13)

    def grad_prior(_):
        p = inputs[3].clone().requires_grad_()
        torch.ops.relnotes.local_relation(*inputs[:3], p, 3, 2, "dot").sum().backward()
        return p.grad

    with ThreadPoolExecutor(4) as pool:
        grads = list(pool.map(grad_prior, range(4)))
    p = inputs[3].clone().requires_grad_()
    oracle(*inputs[:3], p, 3, 2, "dot").sum().backward()
    for g in grads:
        assert_rel(g, p.grad)


def test_cuda_entry_point_refuses_cpu_tensors():
    from relnotes.ops import kernels

    assert kernels.available is kernels.cupy_backend.available  # one check, one definition
    with pytest.raises(ValueError, match="needs CUDA tensors; query is on cpu"):
        kernels.local_relation_cuda(*make_inputs(1, 2, 4, 4, 4, 3, 1), 3)


def test_torch_compile_traces_forward_and_backward_ops():
    """fullgraph tracing needs the fake implementations of both ops (aot_eager: no codegen)."""
    inputs = make_inputs(1, 2, 4, 5, 5, 3, 2, seed=17)

    def loss(q, k, v, p):
        return torch.ops.relnotes.local_relation(q, k, v, p, 3, 2, "dot").square().sum()

    grads = []
    for fn in (torch.compile(loss, backend="aot_eager", fullgraph=True), loss):
        xs = [t.clone().requires_grad_() for t in inputs]
        fn(*xs).backward()
        grads.append([x.grad for x in xs])
    for g, ref in zip(*grads):
        assert torch.equal(g, ref)


# --- half precision and autocast (issue 19, item 2) ----------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_are_computed_in_float32_and_cast_back(dtype):
    """What local_relation_cuda does for a model.half(), run on CPU through the emulation."""
    from relnotes.ops.kernels import _in_kernel_dtype

    inputs = [t.to(dtype) for t in make_inputs(2, 3, 10, 7, 6, 3, 2, seed=23)]
    xs = [t.clone().requires_grad_() for t in inputs]
    out = _in_kernel_dtype(*xs, 3, 2, "dot")
    out.backward(torch.ones_like(out))
    assert out.dtype == dtype and all(x.grad.dtype == dtype for x in xs)
    ys = [t.float().requires_grad_() for t in inputs]
    ref = oracle(*ys, 3, 2, "dot")
    ref.backward(torch.ones_like(ref))
    # float32 results rounded once to the half dtype: at most one rounding step apart
    assert_rel(out.detach().float(), ref.detach().to(dtype).float(), rtol=1e-2)
    for x, y in zip(xs, ys):
        assert_rel(x.grad.float(), y.grad.to(dtype).float(), rtol=2e-2)


def test_the_op_runs_in_float32_under_autocast():
    q, k, v, p = make_inputs(1, 2, 4, 5, 4, 3, 2, seed=24)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = torch.ops.relnotes.local_relation(q.bfloat16(), k.bfloat16(), v.float(),
                                                p.float(), 3, 2, "dot")
    assert out.dtype == torch.float32
    expected = torch.ops.relnotes.local_relation(q.bfloat16().float(), k.bfloat16().float(),
                                                 v.float(), p.float(), 3, 2, "dot")
    assert torch.equal(out, expected)


def test_the_op_itself_refuses_half():
    inputs = [t.half() for t in make_inputs(1, 2, 4, 5, 4, 3, 2)]
    with pytest.raises(TypeError, match="support float32 and float64"):
        torch.ops.relnotes.local_relation(*inputs, 3, 2, "dot")


# --- int32 indexing (issue 19, item 6) ------------------------------------------------------------
@pytest.mark.parametrize("H, W, stride, name", [(2**16, 2**16, 2, "H\\*W"),
                                                (2**16, 2**15, 1, "H\\*W")])
def test_geometry_refuses_planes_past_int32(H, W, stride, name):
    """The kernels index a plane with y * W + x in int: H * W must fit, even when the output
    plane Ho * Wo does (stride 2)."""
    Ho, Wo = -(-H // stride), -(-W // stride)
    shapes = [(1, 1, Ho, Wo), (1, 1, H, W), (1, 1, H, W), (1, 3, 3)]
    meta = [torch.empty(s, device="meta") for s in shapes]
    with pytest.raises(ValueError, match=f"{name} = {H * W} does not fit"):
        Geometry.of(*meta, 3, stride, "dot")
    H, W = 2**15, 2**16 - 2                       # H * W = 2**31 - 2**16: fits
    fits = [torch.empty(s, device="meta") for s in
            [(1, 1, H // 2, W // 2), (1, 1, H, W), (1, 1, H, W), (1, 3, 3)]]
    assert Geometry.of(*fits, 3, 2, "dot").W == W


# --- determinism (issue 19, item 7) ---------------------------------------------------------------
@pytest.fixture
def deterministic():
    """Restores PyTorch's deterministic-algorithms setting after the test."""
    before = (torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled())
    yield torch.use_deterministic_algorithms
    torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def test_cuda_backward_refuses_deterministic_mode_past_one_block(deterministic):
    from relnotes.ops.kernels import cupy_backend
    from relnotes.ops.kernels.custom_op import _check_deterministic

    config = cupy_backend.DEFAULT_CONFIG                      # 256 threads per block
    big = Geometry.of(*make_inputs(2, 2, 4, 12, 12, 3, 1), 3, 1, "dot")   # 288 terms: 2 blocks
    small = Geometry.of(*make_inputs(1, 2, 4, 16, 16, 3, 1), 3, 1, "dot")  # 256 terms: 1 block
    _check_deterministic("cuda", big, config)                  # not asked: no error
    deterministic(True)
    with pytest.raises(RuntimeError, match="does not have a deterministic implementation"):
        _check_deterministic("cuda", big, config)
    _check_deterministic("cuda", small, config)                # one atomicAdd into 0: exact
    _check_deterministic("cpu", big, config)                   # the emulation is not checked
    deterministic(True, warn_only=True)
    with pytest.warns(UserWarning, match="does not have a deterministic implementation"):
        _check_deterministic("cuda", big, config)


def test_deterministic_mode_leaves_the_cpu_op_alone(deterministic):
    deterministic(True)
    xs = [t.requires_grad_() for t in make_inputs(2, 2, 4, 12, 12, 3, 1)]
    torch.ops.relnotes.local_relation(*xs, 3, 1, "dot").sum().backward()
    assert xs[3].grad is not None


def test_the_dispatch_to_the_kernels_traces_with_fullgraph(monkeypatch):
    """local_relation()'s CUDA branch (import of the kernels, available(), the dtype round
    trip, the op) under torch.compile(fullgraph=True), run here on CPU tensors (issue 19,
    item 3: no graph break in every LR layer)."""
    import importlib

    from relnotes.ops import kernels
    from relnotes.ops.kernels import cupy_backend

    lr_module = importlib.import_module("relnotes.ops.local_relation")
    monkeypatch.setattr(cupy_backend, "_STATUS", (True, None))

    def f(q, k, v, p):
        backend = lr_module._cuda_backend()
        assert backend is kernels.local_relation_cuda
        return kernels._in_kernel_dtype(q, k, v, p, 3, 1, "dot")

    inputs = [t.half() for t in make_inputs(1, 2, 4, 5, 5, 3, 1, seed=25)]
    torch._dynamo.reset()
    out = torch.compile(f, backend="eager", fullgraph=True)(*inputs)
    assert out.dtype == torch.float16
    assert torch.equal(out, f(*inputs))
