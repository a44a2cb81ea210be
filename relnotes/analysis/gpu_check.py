"""``make gpu-check``: the CUDA path of the local relation op, checked on one GPU in minutes.

Written and tested without a GPU (the sections that the CPU emulation can run are run by
``tests/analysis/test_gpu_check.py`` at small sizes); meant to finish in under 8 minutes on one.

The kernels (:mod:`relnotes.ops.kernels`) are verified on the CPU (host emulation, NVRTC
compile); this script runs what only a GPU can show, with whatever PyTorch and CuPy the machine
has (nothing is reinstalled), and writes one JSON report::

    python -m relnotes.analysis.gpu_check --out gpu_check.json     # or: make gpu-check

Sections (each a pass/fail, its numbers and its seconds; a failing section does not stop the
others):

- ``compile``: first compile of the float32 and float64 modules (in a fresh CuPy cache),
  timed, with any warnings;
- ``grid``: the emulation tests' grid (every Phi, strides, uneven groups, borders) on CUDA in
  float64, forward and the four gradients against the PyTorch reference; float32 against
  float64 (a tolerance: CuPy compiles with ``-ftz=true``);
- ``large``: value [5, 64, 256, 256], k = 7, G = 8, past the grid-stride loops' wrap;
- ``backward_twice``: query, key and value gradients bitwise equal, the prior's (atomicAdd)
  within a tolerance; the backward refuses ``torch.use_deterministic_algorithms(True)``;
- ``streams``: inputs produced on a side stream after a long matmul, the op called there
  without a synchronisation;
- ``layouts``: transposed, channels_last and storage-offset inputs, B = 0, k = 1, H = W = 1;
- ``half``: ``LocalRelation2d.half()`` and ``torch.autocast``;
- ``opcheck``: ``torch.library.opcheck`` of both ops on CUDA, channels_last included;
- ``compile_inductor``: ``torch.compile`` (Inductor) gradients against eager, and
  ``fullgraph=True`` through :func:`relnotes.ops.local_relation`;
- ``training``: one SGD step of a small LR-Net with the kernels and with the reference;
- ``benchmark``: :func:`relnotes.analysis.lr_benchmark.op_benchmark` on CUDA (reference,
  unfold, kernels, 3x3 convolutions of equal MACs), times and peak memory as ratios.

Exit status: 0 every section passed; 1 a section failed (the report says which and why);
2 no CUDA device (the report then holds the versions only; nothing else is run).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from unittest import mock

import torch

from ..ops import kernels  # registers torch.ops.relnotes.local_relation(_backward)

__all__ = ["SECTIONS", "versions", "run_section", "run", "main", "EXIT_OK", "EXIT_FAILED",
           "EXIT_NO_CUDA", "NO_CUDA_MESSAGE"]

EXIT_OK, EXIT_FAILED, EXIT_NO_CUDA = 0, 1, 2
NO_CUDA_MESSAGE = ("gpu-check: no CUDA device (torch.cuda.is_available() is False): nothing to "
                   "check on this machine; run it where PyTorch sees a GPU")

PHIS = ("squared_difference", "dot", "abs_difference")

#: (B, G, C, H, W, k, stride): the grid of tests/ops/kernels/test_lr_kernels_emulation.py.
GRID = [
    *[(2, 3, 10, 7, 6, k, s) for k in (3, 5) for s in (1, 2)],
    (1, 3, 10, 2, 3, 5, 1),    # H, W smaller than k: every window crosses the border
    (2, 3, 10, 3, 2, 5, 2),
    (1, 2, 5, 5, 5, 7, 2),     # k = 7, uneven groups 3 + 2
    (1, 4, 4, 4, 5, 3, 1),     # m = 1
    (2, 1, 3, 5, 4, 3, 2),     # G = 1
    (1, 3, 6, 7, 8, 3, 3),     # stride 3
    (1, 2, 4, 5, 5, 1, 2),     # k = 1
    (4, 8, 64, 20, 20, 7, 1),  # B*Ho*Wo = 1600 > 256: several blocks per prior entry
]

#: Tolerances (relative to the largest magnitude of the expected tensor).
RTOL_FLOAT64 = 1e-10
RTOL_FLOAT32 = 1e-4


# --- helpers -------------------------------------------------------------------------------------
def _rel_err(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max |actual - expected| / max |expected| (0 for empty tensors)."""
    if expected.numel() == 0:
        return 0.0
    actual, expected = actual.detach().double(), expected.detach().double()
    scale = expected.abs().max().item() or 1.0
    return (actual - expected).abs().max().item() / scale


def _inputs(B, G, C, H, W, k, stride, *, device, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    Ho, Wo = -(-H // stride), -(-W // stride)
    shapes = [(B, G, Ho, Wo), (B, G, H, W), (B, C, H, W), (G, k, k)]
    return [torch.randn(s, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)
            for s in shapes]


def _forward_backward(fn, inputs, k, stride, composability, seed=1):
    """fn's output and the four gradients, for one fixed upstream gradient. The inputs are
    used as they are (detach keeps their strides and storage offset; a clone would not)."""
    xs = [t.detach().requires_grad_() for t in inputs]
    out = fn(*xs, k, stride, composability)
    g = torch.Generator().manual_seed(seed)
    grad = torch.randn(out.shape, generator=g, dtype=torch.float64).to(out)
    out.backward(grad)
    return out.detach(), [x.grad for x in xs]


def _kernels(*args):
    return torch.ops.relnotes.local_relation(*args)


def _reference(*args):
    from ..ops.local_relation import local_relation_reference

    return local_relation_reference(*args)


def _compare(fn_a, fn_b, inputs_a, inputs_b, k, stride, composability) -> dict:
    """Relative errors of fn_a against fn_b: forward and each gradient."""
    out_a, grads_a = _forward_backward(fn_a, inputs_a, k, stride, composability)
    out_b, grads_b = _forward_backward(fn_b, inputs_b, k, stride, composability)
    errs = {"forward": _rel_err(out_a, out_b)}
    for name, ga, gb in zip(("query", "key", "value", "prior"), grads_a, grads_b):
        errs[f"grad_{name}"] = _rel_err(ga, gb)
    return errs


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def _reference_only():
    """local_relation() runs the PyTorch reference, even on CUDA with CuPy (and on the CPU
    with the fused C++ path, so that the sections run on the CPU compare something too)."""
    # the module, not the function that relnotes.ops exports under the same name
    lr_module = importlib.import_module("relnotes.ops.local_relation")
    with (mock.patch.object(lr_module, "_cuda_backend", lambda: None),
          mock.patch.object(lr_module, "_cpu_backend", lambda dtype: None)):
        yield


# --- sections ------------------------------------------------------------------------------------
def section_compile(device="cuda") -> dict:
    """First compile of both modules, timed, in a fresh CuPy kernel cache; warnings recorded."""
    from ..ops.kernels import cupy_backend

    if not cupy_backend.available():
        raise RuntimeError(f"kernels unavailable: {cupy_backend.why_unavailable()}")
    index = torch.device(device).index or torch.cuda.current_device()
    result = {"cupy_cache_dir": os.environ.get("CUPY_CACHE_DIR")}
    cupy_backend._module.cache_clear()
    for dtype in (torch.float32, torch.float64):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            cupy_backend._module(index, dtype)
            seconds = time.perf_counter() - start
        result[str(dtype).removeprefix("torch.")] = {
            "seconds": seconds, "warnings": [f"{w.category.__name__}: {w.message}"
                                             for w in caught]}
    # one forward and backward (7 launches), warnings recorded: CuPy 14 deprecated
    # ExternalStream with a DeprecationWarning per launch (issue 19, item 4)
    inputs = _inputs(1, 2, 4, 5, 5, 3, 1, device=device, dtype=torch.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _forward_backward(_kernels, inputs, 3, 1, "dot")
        _sync(device)
    result["launch_warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]
    result["passed"] = not any(issubclass(w.category, (DeprecationWarning, FutureWarning))
                               for w in caught)
    return result


def section_grid(device="cuda", grid=GRID, phis=PHIS) -> dict:
    """Every case in float64 against the reference; float32 kernels against float64 kernels."""
    cases, worst64, worst32 = [], 0.0, 0.0
    for case in grid:
        for phi in phis:
            B, G, C, H, W, k, s = case
            x64 = _inputs(*case, device=device, dtype=torch.float64, seed=sum(case))
            e64 = _compare(_kernels, _reference, x64, x64, k, s, phi)
            x32 = [t.float() for t in x64]
            e32 = _compare(_kernels, _kernels, x32, x64, k, s, phi)
            worst64 = max(worst64, *e64.values())
            worst32 = max(worst32, *e32.values())
            cases.append({"case": "B{}G{}C{}H{}W{}k{}s{}".format(*case), "phi": phi,
                          "float64_vs_reference": e64, "float32_vs_float64": e32})
    return {"passed": worst64 <= RTOL_FLOAT64 and worst32 <= RTOL_FLOAT32,
            "max_rel_err_float64": worst64, "max_rel_err_float32": worst32,
            "rtol_float64": RTOL_FLOAT64, "rtol_float32": RTOL_FLOAT32, "cases": cases}


def section_large(device="cuda", shape=(5, 64, 256, 256), k=7, G=8) -> dict:
    """One case past the grid-stride wrap (B*C*H*W > 65535 * 256): float32 kernels against the
    float64 reference."""
    B, C, H, W = shape
    x64 = _inputs(B, G, C, H, W, k, 1, device=device, dtype=torch.float64, seed=3)
    start = time.perf_counter()
    errs = _compare(_kernels, _reference, [t.float() for t in x64], x64, k, 1,
                    "squared_difference")
    _sync(device)
    return {"passed": max(errs.values()) <= RTOL_FLOAT32, "shape": list(shape), "k": k, "G": G,
            "elements": B * C * H * W, "grid_stride_wrap": B * C * H * W > 65535 * 256,
            "rel_err": errs, "rtol": RTOL_FLOAT32, "seconds": time.perf_counter() - start}


def section_backward_twice(device="cuda", case=(4, 8, 64, 32, 32, 7, 1)) -> dict:
    """Two identical backward passes: gathers bitwise equal, the atomicAdd prior within tol."""
    B, G, C, H, W, k, s = case
    x = _inputs(*case, device=device, dtype=torch.float32, seed=5)
    runs = [_forward_backward(_kernels, x, k, s, "squared_difference") for _ in range(2)]
    (out1, g1), (out2, g2) = runs
    equal = {name: bool(torch.equal(a, b)) for name, a, b in
             zip(("query", "key", "value", "prior"), g1, g2)}
    prior_err = _rel_err(g1[3], g2[3])
    # under torch.use_deterministic_algorithms(True) the CUDA backward must refuse (item 7)
    before = (torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled())
    torch.use_deterministic_algorithms(True)
    try:
        _forward_backward(_kernels, x, k, s, "squared_difference")
        raised = False
    except RuntimeError as e:
        raised = "does not have a deterministic implementation" in str(e)
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
    expect_raise = torch.device(device).type == "cuda"
    return {"passed": bool(torch.equal(out1, out2)) and all(equal[n] for n in
                                                            ("query", "key", "value"))
            and prior_err <= 1e-5 and raised == expect_raise,
            "deterministic_mode_raises": raised,
            "forward_equal": bool(torch.equal(out1, out2)), "grads_bitwise_equal": equal,
            "prior_rel_diff": prior_err, "prior_rtol": 1e-5,
            "prior_terms_per_entry": B * (-(-H // s)) * (-(-W // s))}


def section_streams(device="cuda", n=8192, matmuls=8) -> dict:
    """Inputs made on a side stream after a long matmul; the op called there, unsynchronised.
    If the kernels ran on another stream they would read the inputs before the copies."""
    x = _inputs(2, 8, 64, 56, 56, 7, 1, device=device, dtype=torch.float32, seed=7)
    ref, ref_grads = _forward_backward(_kernels, x, 7, 1, "dot")
    torch.cuda.synchronize()
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        ys = [torch.full_like(t, float("nan")) for t in x]
        a = torch.full((n, n), 1.0 / n, device=device)
        for _ in range(matmuls):
            a = a @ a                      # keeps the side stream busy for a while
        for y, t in zip(ys, x):
            y.copy_(t)                     # ready only after the matmuls
        out, grads = _forward_backward(_kernels, ys, 7, 1, "dot")
    side.synchronize()
    equal = bool(torch.equal(out, ref)) and all(
        torch.equal(a, b) for a, b in zip(grads[:3], ref_grads[:3]))
    prior = _rel_err(grads[3], ref_grads[3])
    return {"passed": equal and prior <= 1e-5, "forward_and_gathers_equal": equal,
            "prior_rel_diff": prior}


def section_layouts(device="cuda") -> dict:
    """Non-contiguous inputs and edge sizes, float64, against the reference."""
    results = {}

    def check(name, inputs, k, s, phi="dot"):
        errs = _compare(_kernels, _reference, inputs, [t.contiguous() for t in inputs], k, s,
                        phi)
        results[name] = errs
        return max(errs.values(), default=0.0)

    q, kk, v, p = _inputs(2, 3, 10, 9, 8, 3, 1, device=device, dtype=torch.float64, seed=9)
    worst = check("transposed", [q, kk, v.transpose(2, 3).contiguous().transpose(2, 3), p], 3, 1)
    worst = max(worst, check("channels_last", [t.to(memory_format=torch.channels_last)
                                                for t in (q, kk, v)] + [p], 3, 1))
    base = torch.randn(v.numel() + 7, dtype=torch.float64, device=device)
    offset = base[7:].view(v.shape).copy_(v)
    assert offset.storage_offset() == 7
    worst = max(worst, check("storage_offset", [q, kk, offset, p], 3, 1))
    for name, case in (("B=0", (0, 3, 10, 9, 8, 3, 1)), ("k=1", (2, 3, 10, 9, 8, 1, 1)),
                       ("H=W=1", (2, 3, 10, 1, 1, 3, 1)), ("H=W=1 k=7 s=2", (1, 2, 4, 1, 1, 7, 2))):
        B, G, C, H, W, k, s = case
        worst = max(worst, check(name, _inputs(*case, device=device, dtype=torch.float64,
                                               seed=11), k, s))
    return {"passed": worst <= RTOL_FLOAT64, "max_rel_err": worst, "cases": results}


def section_half(device="cuda", size=28) -> dict:
    """LocalRelation2d after .half() and under autocast, against float32 (issue 19, item 2)."""
    from ..nn import LocalRelation2d

    torch.manual_seed(0)
    layer = LocalRelation2d(64, kernel_size=7).to(device)
    x = torch.randn(2, 64, size, size, device=device)
    ref = layer(x).detach()
    result = {}
    for name, dtype in (("float16", torch.float16), ("bfloat16", torch.bfloat16)):
        half = LocalRelation2d(64, kernel_size=7).to(device)
        half.load_state_dict(layer.state_dict())
        half = half.to(dtype)
        xh = x.to(dtype).requires_grad_()
        out = half(xh)
        out.float().sum().backward()
        result[f"{name}_model"] = {"dtype": str(out.dtype), "rel_err": _rel_err(out, ref),
                                   "grad_finite": bool(torch.isfinite(xh.grad).all())}
    device_type = torch.device(device).type
    with torch.autocast(device_type, dtype=torch.float16 if device_type == "cuda" else
                        torch.bfloat16):
        out = layer(x)
        q = x[:, :8].half()
        op_out = torch.ops.relnotes.local_relation(q, q, x, torch.zeros(8, 3, 3, device=device),
                                                   3, 1, "dot")
    result["autocast"] = {"layer_dtype": str(out.dtype), "rel_err": _rel_err(out, ref),
                          "op_dtype": str(op_out.dtype)}
    passed = (all(r["rel_err"] <= 5e-2 and r["grad_finite"] for k, r in result.items()
                  if k.endswith("_model"))
              and result["autocast"]["rel_err"] <= 5e-2
              and result["autocast"]["op_dtype"] == "torch.float32")
    return {"passed": passed, **result}


def section_opcheck(device="cuda") -> dict:
    """torch.library.opcheck of both ops on CUDA, contiguous and channels_last."""
    result = {}
    for layout in ("contiguous", "channels_last"):
        x = _inputs(2, 2, 4, 6, 5, 3, 2, device=device, dtype=torch.float64, seed=13)
        if layout == "channels_last":
            x = [t.to(memory_format=torch.channels_last) for t in x[:3]] + [x[3]]
        fwd = torch.library.opcheck(torch.ops.relnotes.local_relation.default,
                                    (*[t.detach().requires_grad_() for t in x], 3, 2, "dot"))
        grad_out = torch.randn(2, 4, 3, 3, dtype=torch.float64, device=device)
        if layout == "channels_last":
            grad_out = grad_out.to(memory_format=torch.channels_last)
        bwd = torch.library.opcheck(torch.ops.relnotes.local_relation_backward.default,
                                    (grad_out, *[t.detach() for t in x], 3, 2, "dot"))
        result[layout] = {"forward": fwd, "backward": bwd}
    passed = all(v == "SUCCESS" for r in result.values() for d in r.values() for v in d.values())
    return {"passed": passed, **result}


def section_compile_inductor(device="cuda", case=(2, 8, 64, 28, 28, 7, 1)) -> dict:
    """torch.compile with Inductor: gradients against eager; fullgraph through local_relation."""
    from ..ops import local_relation

    x = _inputs(*case, device=device, dtype=torch.float32, seed=15)
    x = [t.to(memory_format=torch.channels_last) for t in x[:3]] + [x[3]]
    K = case[5]

    def loss(q, k, v, p):
        return torch.ops.relnotes.local_relation(q, k, v, p, K, 1, "squared_difference").sum()

    def loss_dispatch(q, k, v, p):
        return local_relation(q, k, v, p, K, 1).sum()

    result = {}
    eager = None
    for name, fn in (("eager", loss), ("inductor", torch.compile(loss)),
                     ("inductor_fullgraph_local_relation",
                      torch.compile(loss_dispatch, fullgraph=True))):
        xs = [t.detach().clone().requires_grad_() for t in x]
        start = time.perf_counter()
        value = fn(*xs)
        value.backward()
        _sync(device)
        grads = [t.grad for t in xs]
        if eager is None:
            eager = (value.detach(), grads)
            result[name] = {"seconds": time.perf_counter() - start}
            continue
        result[name] = {"seconds": time.perf_counter() - start,
                        "loss_rel_err": _rel_err(value, eager[0]),
                        "grads_equal": [bool(torch.equal(a, b)) for a, b in zip(grads, eager[1])],
                        "grads_rel_err": [_rel_err(a, b) for a, b in zip(grads, eager[1])]}
    passed = all(max(r["grads_rel_err"]) <= 1e-5 and r["loss_rel_err"] <= 1e-5
                 for n, r in result.items() if n != "eager")
    return {"passed": passed, **result}


def section_training(device="cuda", image_size=64) -> dict:
    """One SGD step of a small LR-Net (float64), with the kernels and with the reference.

    The step's updates are compared parameter by parameter, each relative to its own largest
    update. Some gradients are zero in exact arithmetic: the geometry prior's last bias adds one
    constant to every logit of a window, which the softmax ignores. Their updates are rounding
    noise (about 1e-15) whose relative difference means nothing (the first GPU check, on an H200,
    reported 2.0 there while every other parameter agreed), so a parameter whose reference update
    is below 1e-9 of the model's largest is compared against that largest update, and named.
    """
    from ..models.lrnet import lrnet26

    g = torch.Generator().manual_seed(17)
    images = torch.randn(4, 3, image_size, image_size, generator=g, dtype=torch.float64)
    images = images.to(device)
    labels = torch.randint(10, (4,), generator=g).to(device)
    runs, steps = {}, {}
    for name, ctx in (("kernels", contextlib.nullcontext), ("reference", _reference_only)):
        torch.manual_seed(0)
        model = lrnet26(num_classes=10).to(device=device, dtype=torch.float64)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        with ctx():
            start = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            after = torch.nn.functional.cross_entropy(model(images), labels)
            _sync(device)
        runs[name] = {"loss": loss.item(), "loss_after_step": after.item(),
                      "seconds": time.perf_counter() - start}
        steps[name] = {n: p.detach() - before[n] for n, p in model.named_parameters()}
    largest = max(u.abs().max().item() for u in steps["reference"].values())
    errors, zero = {}, []
    for n, ref in steps["reference"].items():
        scale = ref.abs().max().item()
        if scale < 1e-9 * largest:          # zero in exact arithmetic: rounding noise
            zero.append(n)
            scale = largest
        errors[n] = (steps["kernels"][n] - ref).abs().max().item() / scale
    worst = max(errors, key=errors.get)
    k, r = runs["kernels"], runs["reference"]
    loss_err = abs(k["loss"] - r["loss"]) / abs(r["loss"])
    after_err = abs(k["loss_after_step"] - r["loss_after_step"]) / abs(r["loss_after_step"])
    # the loss after the step is reported, not judged: the forward of the stepped model can
    # amplify update differences of 1e-12 to 1e-7 (on the CPU at 32 px, BatchNorm over 4 values)
    return {"passed": errors[worst] <= 1e-8 and loss_err <= 1e-10,
            "update_rel_err": errors[worst], "worst_parameter": worst,
            "numerically_zero_updates": zero, "loss_rel_err": loss_err,
            "loss_after_step_rel_err": after_err, **runs}


def section_benchmark(device="cuda", repeats=5, **shape) -> dict:
    """lr_benchmark.op_benchmark on CUDA (its default shape, or ``shape``: batch, channels,
    size, kernel_size, m): time and peak memory, and ratios to the kernels."""
    from .lr_benchmark import format_table, op_benchmark

    rows = op_benchmark(device=device, repeats=repeats, **shape)
    table = {r.name: {"gmac": r.macs / 1e9, "ms": r.seconds * 1e3,
                      "peak_mib": r.peak_bytes / 2**20} for r in rows}
    kernels = next((r for r in rows if r.name == "CUDA kernels"), None)
    unfold = next(r for r in rows if r.name.startswith("unfold"))
    ratios = {}
    if kernels is not None:
        for r in rows:
            ratios[r.name] = {"time_vs_kernels": r.seconds / kernels.seconds,
                              "memory_vs_kernels": r.peak_bytes / max(kernels.peak_bytes, 1)}
    shape = {"batch": 8, "channels": 256, "size": 28, "kernel_size": 7, "m": 8, **shape}
    return {"passed": kernels is not None, "shape": shape, "rows": table,
            "ratios": ratios, "unfold_over_kernels_time": (unfold.seconds / kernels.seconds
                                                           if kernels else None),
            "paper_anchor": "LR paper: its kernels 4-16x faster than unfold on a V100 "
                            "(a paper number, not measured here)",
            "table": format_table(rows, baseline="CUDA kernels" if kernels else None)}


#: name -> section function, in the order they run.
SECTIONS: dict[str, Callable[..., dict]] = {
    "compile": section_compile,
    "grid": section_grid,
    "large": section_large,
    "backward_twice": section_backward_twice,
    "streams": section_streams,
    "layouts": section_layouts,
    "half": section_half,
    "opcheck": section_opcheck,
    "compile_inductor": section_compile_inductor,
    "training": section_training,
    "benchmark": section_benchmark,
}


# --- driver --------------------------------------------------------------------------------------
def versions() -> dict:
    """Python, PyTorch, CUDA, CuPy, NVRTC, the device and the source tree's commit."""
    info = {"python": platform.python_version(), "platform": platform.platform(),
            "torch": torch.__version__, "torch_cuda": torch.version.cuda,
            "cuda_available": torch.cuda.is_available()}
    try:
        root = Path(__file__).resolve().parents[2]
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
            timeout=10).stdout.strip() or None
        info["git_dirty"] = bool(subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
            capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = info["git_dirty"] = None
    if torch.cuda.is_available():
        index = torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        info["device"] = {"name": props.name, "capability": list(torch.cuda.get_device_capability(index)),
                          "memory_gib": props.total_memory / 2**30,
                          "cudnn": torch.backends.cudnn.version()}
    try:
        import cupy

        info["cupy"] = cupy.__version__
        with contextlib.suppress(Exception):
            info["cupy_cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
            info["cuda_driver"] = cupy.cuda.runtime.driverGetVersion()
            info["nvrtc"] = list(cupy.cuda.nvrtc.getVersion())
    except Exception as e:  # missing or broken: say which
        info["cupy"] = None
        info["cupy_error"] = f"{type(e).__name__}: {e}"
    info["kernels_available"] = kernels.available()
    info["kernels_why_unavailable"] = kernels.why_unavailable()
    return info


def run_section(name: str, fn: Callable[[], dict]) -> dict:
    """Run one section: its dict plus ``seconds``; an exception becomes a failed section with
    the error and its traceback, so the next sections still run."""
    start = time.perf_counter()
    try:
        result = dict(fn())
        result.setdefault("passed", False)
    except Exception as e:
        result = {"passed": False, "error": f"{type(e).__name__}: {e}",
                  "traceback": traceback.format_exc()}
    result["seconds"] = time.perf_counter() - start
    return result


def run(sections: Sequence[str] | None = None, device: str = "cuda",
        log: Callable[[str], None] = print) -> dict:
    """The report: versions, then each section in :data:`SECTIONS` order (or ``sections``)."""
    names = list(SECTIONS) if sections is None else list(sections)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown sections {unknown}; choose from {list(SECTIONS)}")
    report = {"versions": versions(), "sections": {}}
    for name in names:
        log(f"gpu-check: {name} ...")
        result = run_section(name, lambda: SECTIONS[name](device=device))
        report["sections"][name] = result
        log(f"gpu-check: {name}: {'pass' if result['passed'] else 'FAIL'} "
            f"({result['seconds']:.1f} s){'  ' + result['error'] if 'error' in result else ''}")
    report["passed"] = all(r["passed"] for r in report["sections"].values())
    report["failed_sections"] = [n for n, r in report["sections"].items() if not r["passed"]]
    return report


def _json_default(obj):
    return str(obj)          # anything json cannot write (a dtype, a device) as its str


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m relnotes.analysis.gpu_check",
        description="Check the CUDA path of the local relation op on this machine's GPU and "
                    "write one JSON report. Exit status: 0 all passed, 1 a section failed, "
                    "2 no CUDA device.")
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    parser.add_argument("--sections", nargs="*", default=None, choices=list(SECTIONS),
                        help="run only these (default: all)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(NO_CUDA_MESSAGE, file=sys.stderr)
        report = {"versions": versions(), "sections": {}, "passed": False,
                  "error": NO_CUDA_MESSAGE}
        args.out.write_text(json.dumps(report, indent=1, default=_json_default) + "\n")
        return EXIT_NO_CUDA
    # a fresh CuPy kernel cache, so that "compile" times a real first compile
    os.environ.setdefault("CUPY_CACHE_DIR", tempfile.mkdtemp(prefix="relnotes-gpu-check-"))
    info = versions()
    print("gpu-check: " + json.dumps({k: info.get(k) for k in (
        "torch", "torch_cuda", "cupy", "cupy_cuda_runtime", "cuda_driver", "nvrtc", "device",
        "kernels_available", "kernels_why_unavailable", "git_commit")}, default=str))
    report = run(args.sections)
    args.out.write_text(json.dumps(report, indent=1, default=_json_default) + "\n")
    print(f"gpu-check: {'all sections passed' if report['passed'] else 'FAILED: ' + ', '.join(report['failed_sections'])}; report in {args.out}")
    return EXIT_OK if report["passed"] else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
