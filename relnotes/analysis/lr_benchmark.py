r"""Memory and speed of the local relation op, measured side by side in one run.

The LR paper's point about cost: a 7 x 7 local relation layer has about the FLOPs of a 3 x 3
convolution, yet a naive implementation is slow and memory-hungry, because it builds the
:math:`k^2`-times unfolded value. This module measures, on whatever device it runs on:

1. **the op**, forward + backward of one call at a given shape (the default is the issue's
   B = 8, C = 256, 28 x 28, k = 7, m = 8): the PyTorch reference (loop over the :math:`k^2`
   offsets, :func:`relnotes.ops.local_relation_reference`), the naive unfold implementation
   (:func:`relnotes.ops.local_relation_unfold`), the fused C++ loop on the CPU
   (:mod:`relnotes.ops.kernels.cpu_backend`, when a compiler is present), the CUDA kernels when
   CuPy and a GPU are present (:mod:`relnotes.ops.kernels`), and two 3 x 3 convolutions for
   scale: one with the op's MACs (C' -> C' channels, :math:`9 C'^2 \approx k^2 (C + G)`) and
   the C -> C one that a ResNet bottleneck at this width would use;
2. **the networks**, one SGD training step of ResNet-26 (3 x 3) and LR-Net-26 (7 x 7, m = 8)
   (:mod:`relnotes.models.lrnet`) at a given batch and image size; the LR-Net runs whichever
   implementation :func:`relnotes.ops.local_relation` picks on the device.

:func:`speed_ratios` turns the two tables into the two numbers the book's goal is stated in,
both measured side by side in one run: the op (the implementation ``local_relation`` picks)
against the 3 x 3 convolution of equal MACs, and LR-Net-26's step against ResNet-26's.

Each row gets its MACs (closed forms, :mod:`relnotes.analysis.complexity`), the median wall time
of ``repeats`` runs after one warm-up, and the **peak memory** allocated above what was allocated
before the run: on CUDA, ``torch.cuda.max_memory_allocated``; on the CPU, the allocation events
of :mod:`torch.profiler` (every tensor allocation and free, in order; the running sum's maximum).
The measured peak is exact for one machine, but not across machines: on the CPU, oneDNN and MKL
choose other kernels, with other workspaces, on other processors (an AVX2-only AMD EPYC measured
ResNet-26's step at 84 MiB where an AVX-512 one measured 62). So what a regression check can hold
on any machine is the algorithm's footprint, computed from the shapes (:func:`k2_tensor_bytes`:
the :math:`k^2`-sized tensor each implementation must hold); measured memory and times are shown
as this machine's and never compared.

Run it::

    python -m relnotes.analysis.lr_benchmark                 # the op at the default shape, CPU
    python -m relnotes.analysis.lr_benchmark --device cuda   # reference, unfold, kernels, cuDNN
    python -m relnotes.analysis.lr_benchmark --networks --image-size 224 --batch 8
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..ops.local_relation import (
    local_relation_macs, local_relation_reference, local_relation_unfold,
)

__all__ = ["Measurement", "peak_memory", "median_seconds", "op_benchmark", "network_benchmark",
           "equal_mac_conv_channels", "k2_tensor_bytes", "format_table", "speed_ratios",
           "OP_ROWS", "exp_count", "exp_throughput", "Floor", "op_floor", "op_phases",
           "MAC_PHASES", "EXP_PHASES", "format_phases", "plot_op_phases", "main",
           "SAVED_WEIGHTS_ROW"]

#: Names of the op's rows, in the order :func:`relnotes.ops.local_relation` prefers them.
OP_ROWS = {"cuda": "CUDA kernels", "fused": "fused CPU (one pass per plane)",
           "reference": "reference (loop over offsets)", "unfold": "unfold (naive)"}
#: The fused CPU loop's other design, measured beside it (never the op that local_relation runs):
#: the forward saves the weights, so that the backward computes no exponentials
#: (:func:`relnotes.ops.kernels.cpu_backend.local_relation_cpu` with ``save_weights=True``).
SAVED_WEIGHTS_ROW = "fused CPU, weights saved by the forward"


@dataclass(frozen=True)
class Measurement:
    """One row of a benchmark table.

    Attributes:
        name (str): what ran.
        macs (int): its multiply-accumulates (forward).
        seconds (float): median wall time of one forward + backward (or training step).
        peak_bytes (int): peak memory allocated during one run, above the memory held before it.
        cpu_seconds (float, optional): median CPU time of the process (all threads) during one
            run: on a machine shared with other work, the wall time grows with the load while
            this stays about the cost, so ratios are also given on it. Default: None.
    """

    name: str
    macs: int
    seconds: float
    peak_bytes: int
    cpu_seconds: float | None = None


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory(fn: Callable[[], object], device: str | torch.device = "cpu") -> int:
    """Peak bytes allocated while ``fn()`` runs, above the bytes allocated before it.

    CUDA: the caching allocator's ``max_memory_allocated``. CPU: the profiler's allocation events
    (``profile_memory=True``), summed in time order; this counts tensor memory exactly, whatever
    the machine's load, and ignores the Python heap. Blocks allocated before the call and freed
    during it are not seen (the profiler records no event for them): ``fn`` should start from a
    clean state, as the closures of this module do (no gradients held between runs). Python's
    garbage collector is run before and paused during the call, so that a reference cycle freed
    at a random moment cannot move the peak.
    """
    device = torch.device(device)
    gc.collect()
    gc.disable()
    try:
        return _peak_memory(fn, device)
    finally:
        gc.enable()


def _peak_memory(fn: Callable[[], object], device: torch.device) -> int:
    if device.type == "cuda":
        _synchronize(device)
        start = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        _synchronize(device)
        return torch.cuda.max_memory_allocated(device) - start
    if device.type != "cpu":
        raise ValueError(f"peak_memory measures 'cpu' or 'cuda' devices; got {device}")
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"
              and e.device_type() == torch.autograd.DeviceType.CPU]
    running = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        running += e.nbytes()
        peak = max(peak, running)
    return peak


def median_seconds(fn: Callable[[], object], device: str | torch.device = "cpu", *,
                   repeats: int = 3, warmup: int = 1) -> float:
    """Median wall time of ``repeats`` calls of ``fn`` after ``warmup`` calls (synchronised on
    CUDA)."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0; got {repeats}, {warmup}")
    device = torch.device(device)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _synchronize(device)
        start = time.perf_counter()
        fn()
        _synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _measure(name: str, macs: int, fn: Callable[[], object], device: torch.device,
             repeats: int) -> Measurement:
    cpu_times = []

    def timed() -> None:
        start = time.process_time()
        fn()
        _synchronize(device)
        cpu_times.append(time.process_time() - start)

    seconds = median_seconds(timed, device, repeats=repeats)
    cpu_seconds = statistics.median(cpu_times[-repeats:])      # the timed runs, not the warm-up
    return Measurement(name, macs, seconds, peak_memory(fn, device), cpu_seconds)


def equal_mac_conv_channels(channels: int, groups: int, kernel_size: int) -> int:
    """C' of the C' -> C' 3 x 3 convolution with (about) the op's MACs per pixel:
    :math:`9 C'^2 \\approx k^2 (C + G)`, rounded."""
    return max(1, round(math.sqrt(kernel_size**2 * (channels + groups) / 9)))


def k2_tensor_bytes(implementation: str, batch: int, channels: int, size: int,
                    kernel_size: int, m: int, *, stride: int = 1, element_size: int = 4) -> int:
    """Bytes of the :math:`k^2`-sized tensor an implementation of the op must hold for the
    backward pass, from the shapes alone (the point of the memory comparison).

    - ``"unfold"``: the unfolded value, Tensor[B, G m, k², H', W'] (every channel of every window);
    - ``"reference"``: the aggregation weights, Tensor[B, G, k², H', W'] (one per channel group:
      m times fewer).

    With G = ceil(C / m) groups and H' = ceil(size / stride). The ratio is 1 / m.
    """
    if min(batch, channels, size, kernel_size, m, stride, element_size) < 1:
        raise ValueError(f"need positive sizes; got batch={batch}, channels={channels}, "
                         f"size={size}, kernel_size={kernel_size}, m={m}, stride={stride}")
    groups = -(-channels // m)
    out = -(-size // stride)
    per_group = batch * groups * kernel_size**2 * out * out * element_size
    if implementation == "unfold":
        return per_group * m
    if implementation == "reference":
        return per_group
    raise ValueError(f"implementation must be 'unfold' or 'reference'; got {implementation!r}")


def _forward_backward(fn: Callable[..., Tensor], inputs: Sequence[Tensor]) -> Callable[[], None]:
    """A closure that runs fn(*inputs), backpropagates a fixed upstream gradient and drops the
    gradients (so that every run starts from the same memory)."""
    def run() -> None:
        out = fn(*inputs)
        out.backward(torch.ones_like(out))
        for t in inputs:
            t.grad = None
    return run


def op_benchmark(batch: int = 8, channels: int = 256, size: int = 28, kernel_size: int = 7,
                 m: int = 8, *, stride: int = 1, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, repeats: int = 3,
                 seed: int = 0) -> list[Measurement]:
    """Forward + backward of one local relation call by each implementation, and the two
    3 x 3 convolutions (see the module docstring). Rows: ``reference``, ``unfold``, the fused
    CPU loop and :data:`SAVED_WEIGHTS_ROW` (float CPU tensors, where the library builds), ``CUDA
    kernels`` (CUDA with CuPy only), ``3x3 conv, equal MACs``, ``3x3 conv, C -> C``."""
    device = torch.device(device)
    if kernel_size % 2 == 0 or min(batch, channels, size, kernel_size, m, stride) < 1:
        raise ValueError(f"need positive sizes and an odd kernel_size; got batch={batch}, "
                         f"channels={channels}, size={size}, kernel_size={kernel_size}, m={m}, "
                         f"stride={stride}")
    groups = -(-channels // m)
    out_size = -(-size // stride)
    g = torch.Generator(device="cpu").manual_seed(seed)

    def tensor(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=g, dtype=dtype).to(device).requires_grad_(True)

    inputs = [tensor(batch, groups, out_size, out_size), tensor(batch, groups, size, size),
              tensor(batch, channels, size, size), tensor(groups, kernel_size, kernel_size)]
    macs = local_relation_macs(batch, channels, groups, out_size, out_size, kernel_size)
    args = (kernel_size, stride)
    rows = [
        _measure(OP_ROWS["reference"], macs,
                 _forward_backward(lambda *t: local_relation_reference(*t, *args), inputs),
                 device, repeats),
        _measure(OP_ROWS["unfold"], macs,
                 _forward_backward(lambda *t: local_relation_unfold(*t, *args), inputs),
                 device, repeats),
    ]
    if device.type == "cpu" and dtype in (torch.float32, torch.float64):
        from ..ops.kernels import cpu_backend

        if cpu_backend.available():
            rows.append(_measure(
                OP_ROWS["fused"], macs,
                _forward_backward(lambda *t: cpu_backend.local_relation_cpu(*t, *args), inputs),
                device, repeats))
            rows.append(_measure(
                SAVED_WEIGHTS_ROW, macs,
                _forward_backward(lambda *t: cpu_backend.local_relation_cpu(
                    *t, *args, save_weights=True), inputs),
                device, repeats))
    if device.type == "cuda":
        from ..ops import kernels

        if kernels.available():
            rows.append(_measure(
                OP_ROWS["cuda"], macs,
                _forward_backward(lambda *t: kernels.local_relation_cuda(*t, *args), inputs),
                device, repeats))
    for name, c in (("3x3 conv, equal MACs", equal_mac_conv_channels(channels, groups,
                                                                     kernel_size)),
                    ("3x3 conv, C -> C", channels)):
        x = tensor(batch, c, size, size)
        w = tensor(c, c, 3, 3)
        conv_macs = batch * out_size * out_size * 9 * c * c
        rows.append(_measure(f"{name} ({c} ch)", conv_macs, _forward_backward(
            lambda x, w: F.conv2d(x, w, stride=stride, padding=1), [x, w]), device, repeats))
    return rows


def network_benchmark(batch: int = 8, image_size: int = 224, *, num_classes: int = 1000,
                      device: str | torch.device = "cpu", repeats: int = 3,
                      seed: int = 0) -> list[Measurement]:
    """One SGD training step (forward, cross-entropy, backward, update) of ResNet-26 (3 x 3)
    and LR-Net-26 (7 x 7, m = 8) on random images. Rows ``ResNet-26``, ``LR-Net-26``."""
    from ..models.lrnet import lrnet26
    from ..models.resnet import resnet26
    from .complexity import count_macs_with_local_relation

    device = torch.device(device)
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(batch, 3, image_size, image_size, generator=g).to(device)
    labels = torch.randint(num_classes, (batch,), generator=g).to(device)
    rows = []
    for name, build in (("ResNet-26 (3x3)", resnet26), ("LR-Net-26 (7x7, m=8)", lrnet26)):
        torch.manual_seed(seed)
        model = build(num_classes=num_classes).to(device)
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        macs = sum(count_macs_with_local_relation(model, images[:1]).values())

        def step(model: nn.Module = model, optimizer=optimizer) -> None:
            F.cross_entropy(model(images), labels).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)   # every run starts without gradients

        rows.append(_measure(name, macs * batch, step, device, repeats))
        del model, optimizer
    return rows


def format_table(rows: Sequence[Measurement], baseline: str | None = None) -> str:
    """A text table of ``rows``, with time and memory as ratios to the row named ``baseline``
    (default: the first row)."""
    if not rows:
        raise ValueError("no rows to format")
    base = next((r for r in rows if r.name == baseline), None) if baseline else rows[0]
    if base is None:
        raise ValueError(f"no row named {baseline!r}; rows: {[r.name for r in rows]}")
    width = max(len(r.name) for r in rows)
    lines = [f"{'':{width}}  {'GMAC':>8}  {'ms':>9}  {'x time':>7}  {'CPU ms':>9}  "
             f"{'MiB':>9}  {'x memory':>8}"]
    for r in rows:
        cpu = f"{r.cpu_seconds * 1e3:9.1f}" if r.cpu_seconds is not None else f"{'-':>9}"
        lines.append(f"{r.name:{width}}  {r.macs / 1e9:8.3f}  {r.seconds * 1e3:9.1f}  "
                     f"{r.seconds / base.seconds:7.2f}  {cpu}  {r.peak_bytes / 2**20:9.1f}  "
                     f"{r.peak_bytes / max(base.peak_bytes, 1):8.3f}")
    return "\n".join(lines)


def speed_ratios(op_rows: Sequence[Measurement],
                 net_rows: Sequence[Measurement] = ()) -> dict[str, float]:
    """The two ratios of the goal, from rows measured in one run (times, so this machine's):

    - ``"op / equal-MAC conv"``: the op as :func:`relnotes.ops.local_relation` runs it on the
      device (the CUDA kernels, else the fused CPU loop, else the reference: the first of those
      rows present) over the 3 x 3 convolution of equal MACs (forward + backward);
    - ``"LR-Net-26 / ResNet-26 step"``: one training step, when ``net_rows`` are given;

    each also as ``"<name>, CPU time"`` from the rows' CPU seconds when they have them.
    """
    by_name = {r.name: r for r in op_rows}
    op = next((by_name[OP_ROWS[k]] for k in ("cuda", "fused", "reference")
               if OP_ROWS[k] in by_name), None)
    conv = next((r for r in op_rows if r.name.startswith("3x3 conv, equal MACs")), None)
    if op is None or conv is None:
        raise ValueError(f"need an op row and the equal-MAC conv row; got "
                         f"{[r.name for r in op_rows]}")
    pairs = {"op / equal-MAC conv": (op, conv)}
    if net_rows:
        nets = {r.name.split(" ")[0]: r for r in net_rows}
        pairs["LR-Net-26 / ResNet-26 step"] = (nets["LR-Net-26"], nets["ResNet-26"])
    ratios = {name: a.seconds / b.seconds for name, (a, b) in pairs.items()}
    for name, (a, b) in pairs.items():
        if a.cpu_seconds and b.cpu_seconds:
            ratios[f"{name}, CPU time"] = a.cpu_seconds / b.cpu_seconds
    return ratios


def exp_count(batch: int, channels: int, size: int, kernel_size: int, m: int, *,
              stride: int = 1, padded: bool = False) -> int:
    """Exponentials in one softmax pass of the op: one per aggregation weight,
    :math:`B \\lceil C/m \\rceil H' W' k^2`. With ``padded``, the count the fused CPU loop
    computes: it runs over the phase plane's flat outputs, :math:`H' (W' + R)` per plane with
    :math:`R = \\lceil r / s \\rceil`, :math:`r = (k - 1) / 2` (the extra columns' weights are
    computed and thrown away, so that each loop is one shift of a flat array)."""
    if min(batch, channels, size, kernel_size, m, stride) < 1:
        raise ValueError(f"need positive sizes; got batch={batch}, channels={channels}, "
                         f"size={size}, kernel_size={kernel_size}, m={m}, stride={stride}")
    groups = -(-channels // m)
    out = -(-size // stride)
    width = out + -(-((kernel_size - 1) // 2) // stride) if padded else out
    return batch * groups * out * width * kernel_size**2


def exp_throughput(threads: int | None = None, *, n: int = 2048, reps: int = 5000,
                   repeats: int = 3, seed: int = 0) -> float:
    """Exponentials per second of the fused CPU library's float32 exponential (the one its
    softmax calls), on ``threads`` threads (default: ``torch.get_num_threads()``), each
    computing ``reps`` passes over ``n`` cache-resident arguments in [-10, 0]: the median of
    ``repeats`` timed runs after one warm-up. The rate the op's exponentials cannot beat on this
    build (they also read and write memory). Raises RuntimeError where the library is
    unavailable."""
    from ..ops.kernels import cpu_backend

    g = torch.Generator().manual_seed(seed)
    x = -10 * torch.rand(n, generator=g)
    count = 0

    def run() -> None:
        nonlocal count
        count, _ = cpu_backend.exp_sums(x, reps, threads)

    seconds = median_seconds(run, "cpu", repeats=repeats)
    return count / seconds


@dataclass(frozen=True)
class Floor:
    """Where the op's time cannot go below on this machine, from rates measured in one run.

    Attributes:
        exps (int): exponentials counted (forward + backward).
        exp_seconds (float): their time at the measured exponential throughput.
        mac_seconds (float): the op's forward MACs at the equal-MAC convolution's achieved rate
            (forward MACs per second of its forward + backward), i.e. the conv's time scaled by
            the MAC ratio.
        seconds (float): the floor, ``exp_seconds + mac_seconds``.
    """

    exps: int
    exp_seconds: float
    mac_seconds: float

    @property
    def seconds(self) -> float:
        return self.exp_seconds + self.mac_seconds


#: The fused op's phases (:data:`relnotes.ops.kernels.cpu_backend.PHASES`) that do its MACs:
#: LR Eq. (1) forward and its two backward products, each B C k^2 H' W' multiply-adds (the
#: dL/dw phase also sums the softmax backward's w dL/dw over the window: 1/m more).
MAC_PHASES = ("forward: aggregation (Eq. 1)", "backward: dL/dw (Eq. 1)", "backward: value (Eq. 1)")
#: The phases that compute its exponentials (the softmax weights, forward and again backward).
EXP_PHASES = ("forward: weights (logits, softmax)", "backward: weights again")


def op_phases(batch: int = 8, channels: int = 256, size: int = 28, kernel_size: int = 7,
              m: int = 8, *, stride: int = 1, repeats: int = 3, seed: int = 0) -> dict[str, float]:
    """Where the fused CPU op's forward + backward time goes: each phase's thread-seconds per
    call (summed over the threads, so divide by their number to compare with a wall time), from
    the library's profiling build (:func:`relnotes.ops.kernels.cpu_backend.phase_timer`), the mean
    of ``repeats`` calls after one warm-up, float32, the inputs of :func:`op_benchmark`. Raises
    RuntimeError where the fused library is unavailable."""
    from ..ops.kernels import cpu_backend

    if kernel_size % 2 == 0 or min(batch, channels, size, kernel_size, m, stride, repeats) < 1:
        raise ValueError(f"need positive sizes and an odd kernel_size; got batch={batch}, "
                         f"channels={channels}, size={size}, kernel_size={kernel_size}, m={m}, "
                         f"stride={stride}, repeats={repeats}")
    groups, out_size = -(-channels // m), -(-size // stride)
    g = torch.Generator().manual_seed(seed)
    shapes = [(batch, groups, out_size, out_size), (batch, groups, size, size),
              (batch, channels, size, size), (groups, kernel_size, kernel_size)]
    inputs = [torch.randn(*s, generator=g).requires_grad_(True) for s in shapes]
    run = _forward_backward(
        lambda *t: cpu_backend.local_relation_cpu(*t, kernel_size, stride), inputs)
    with cpu_backend.phase_timer():
        run()                                            # warm-up (buffers, the first call)
    with cpu_backend.phase_timer() as seconds:
        for _ in range(repeats):
            run()
    return {name: total / repeats for name, total in seconds.items()}


def format_phases(phases: dict[str, float], threads: int) -> str:
    """:func:`op_phases`' result as lines: each phase's thread-ms and kind (MACs, exps), then
    the total per thread."""
    lines = [f"{name:38s} {1e3 * sec:7.2f} thread-ms  "
             f"{'MACs' if name in MAC_PHASES else 'exps' if name in EXP_PHASES else ''}"
             for name, sec in phases.items()]
    lines.append(f"all phases / {threads} threads: {1e3 * sum(phases.values()) / threads:.1f} ms")
    return "\n".join(lines)


def plot_op_phases(ax, phases: dict[str, float], *, threads: int, conv_seconds: float) -> None:
    """Bars of :func:`op_phases`' result per thread (ms), MAC phases red, weight phases purple,
    and a dashed line at the equal-MAC convolution's whole forward + backward."""
    colours = ["tab:red" if n in MAC_PHASES else "tab:purple" if n in EXP_PHASES else "tab:gray"
               for n in phases]
    ax.barh(list(phases), [1e3 * v / threads for v in phases.values()], color=colours)
    ax.axvline(1e3 * conv_seconds, color="black", ls="--", lw=1)
    ax.text(1e3 * conv_seconds, len(phases) - 0.5, " equal-MAC conv,\n whole fwd + bwd",
            fontsize=8, va="top")
    ax.set_xlabel(f"ms per call (thread-ms / {threads} threads)")
    ax.set_title("fused op, forward + backward: red Eq. (1) MACs, purple softmax weights",
                 fontsize=9)
    ax.invert_yaxis()


def op_floor(op_macs: int, conv: Measurement, exps: int, exps_per_second: float) -> Floor:
    """The floor of an op with ``op_macs`` forward MACs and ``exps`` exponentials (forward +
    backward): the exponentials at ``exps_per_second`` plus the MACs at the rate ``conv`` (a row
    of :func:`op_benchmark`) achieved, as if nothing else cost time and nothing overlapped."""
    if exps < 0 or exps_per_second <= 0 or op_macs < 0 or conv.macs <= 0:
        raise ValueError(f"need exps >= 0, op_macs >= 0, a positive rate and conv MACs; got "
                         f"{exps}, {op_macs}, {exps_per_second}, {conv.macs}")
    return Floor(exps, exps / exps_per_second, conv.seconds * op_macs / conv.macs)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m relnotes.analysis.lr_benchmark",
        description="Memory and speed of the local relation op (reference, unfold, CUDA "
                    "kernels) against 3x3 convolutions, and LR-Net-26 vs ResNet-26 steps.")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--kernel-size", type=int, default=7)
    parser.add_argument("--m", type=int, default=8)
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--networks", action="store_true",
                        help="also time one training step of ResNet-26 and LR-Net-26")
    parser.add_argument("--image-size", type=int, default=224)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"local relation op, forward + backward: B={args.batch}, C={args.channels}, "
          f"{args.size}x{args.size}, k={args.kernel_size}, m={args.m}, stride={args.stride}, "
          f"{args.device}, {torch.get_num_threads()} threads")
    rows = op_benchmark(args.batch, args.channels, args.size, args.kernel_size, args.m,
                        stride=args.stride, device=args.device, repeats=args.repeats)
    print(format_table(rows, baseline="unfold (naive)"))
    net_rows = []
    if args.networks:
        print(f"\none SGD step, batch {args.batch}, {args.image_size}x{args.image_size}")
        net_rows = network_benchmark(args.batch, args.image_size, device=args.device,
                                     repeats=args.repeats)
        print(format_table(net_rows))
    print()
    for name, value in speed_ratios(rows, net_rows).items():
        print(f"{name}: {value:.2f}x (measured side by side in this run)")


if __name__ == "__main__":
    main()
