import pytest
import torch

from relnotes.analysis.lr_benchmark import (
    OP_ROWS, SAVED_WEIGHTS_ROW, Measurement, equal_mac_conv_channels, exp_count, exp_throughput, format_table,
    k2_tensor_bytes, main, median_seconds, network_benchmark, op_benchmark, op_floor,
    peak_memory, speed_ratios,
)
from relnotes.ops.kernels import cpu_backend
from relnotes.ops import local_relation_macs


def test_peak_memory_counts_a_known_allocation_above_the_start():
    held = torch.ones(1 << 18)                        # allocated before: not counted

    def fn():
        a = torch.empty(1 << 20)                      # 4 MiB, freed before the next one
        del a
        b = torch.empty(1 << 19)                      # 2 MiB
        return b.sum() + held.sum()

    peak = peak_memory(fn)
    assert 4 * 2**20 <= peak < 4 * 2**20 + 4096
    with pytest.raises(ValueError, match="'cpu' or 'cuda'"):
        peak_memory(fn, "meta")


def test_median_seconds_checks_its_counts():
    assert median_seconds(lambda: None, repeats=3) >= 0
    with pytest.raises(ValueError, match="repeats >= 1"):
        median_seconds(lambda: None, repeats=0)


def test_equal_mac_conv_channels():
    # the shape: 49 (256 + 32) = 14,112 MACs per pixel; 9 * 40^2 = 14,400
    assert equal_mac_conv_channels(256, 32, 7) == 40
    assert equal_mac_conv_channels(1, 1, 1) == 1


def test_op_benchmark_rows_and_the_memory_claim_at_a_small_shape():
    # the k = 7 and m = 8 at a smaller B, C and size
    rows = {r.name: r for r in op_benchmark(2, 32, 12, 7, 8, repeats=1)}
    fused = [OP_ROWS["fused"], SAVED_WEIGHTS_ROW] if cpu_backend.available() else []
    assert list(rows) == ["reference (loop over offsets)", "unfold (naive)", *fused,
                          "3x3 conv, equal MACs (14 ch)", "3x3 conv, C -> C (32 ch)"]
    macs = local_relation_macs(2, 32, 4, 12, 12, 7)
    assert rows["reference (loop over offsets)"].macs == rows["unfold (naive)"].macs == macs
    assert rows["3x3 conv, C -> C (32 ch)"].macs == 2 * 144 * 9 * 32 * 32
    # the reference never builds the k²-unfolded value: well under 1/4 of the naive peak
    ref, unf = rows["reference (loop over offsets)"], rows["unfold (naive)"]
    assert 0 < ref.peak_bytes < unf.peak_bytes / 4
    assert unf.peak_bytes > 49 * 2 * 32 * 144 * 4     # at least the unfolded value, float32


def test_op_benchmark_bad_sizes():
    with pytest.raises(ValueError, match="odd kernel_size"):
        op_benchmark(1, 8, 8, 4, 2, repeats=1)


def test_network_benchmark_runs_a_step_of_both_networks():
    rows = network_benchmark(2, 32, num_classes=10, repeats=1)
    assert [r.name for r in rows] == ["ResNet-26 (3x3)", "LR-Net-26 (7x7, m=8)"]
    assert all(r.macs > 0 and r.seconds > 0 and r.peak_bytes > 0 and r.cpu_seconds > 0
               for r in rows)


def test_format_table_ratios_and_errors():
    rows = [Measurement("a", 10**9, 0.5, 2**20), Measurement("b", 2 * 10**9, 1.0, 2**21, 0.75)]
    text = format_table(rows, baseline="b")
    assert text.splitlines()[1].split() == ["a", "1.000", "500.0", "0.50", "-", "1.0", "0.500"]
    assert text.splitlines()[2].split() == ["b", "2.000", "1000.0", "1.00", "750.0", "2.0",
                                            "1.000"]
    with pytest.raises(ValueError, match="no row named 'c'"):
        format_table(rows, baseline="c")
    with pytest.raises(ValueError, match="no rows"):
        format_table([])


def test_main_prints_the_op_table(capsys):
    main(["--batch", "1", "--channels", "16", "--size", "8", "--kernel-size", "3", "--m", "4",
          "--repeats", "1"])
    out = capsys.readouterr().out
    assert "B=1, C=16, 8x8, k=3, m=4" in out and "unfold (naive)" in out
    assert "op / equal-MAC conv: " in out


def test_k2_tensors_from_the_shapes():
    # B=8, C=256, m=8 -> G=32 groups; 28x28, k=7: weights 8*32*49*784 floats, the unfold m times more
    assert k2_tensor_bytes("reference", 8, 256, 28, 7, 8) == 8 * 32 * 49 * 784 * 4
    assert k2_tensor_bytes("unfold", 8, 256, 28, 7, 8) == 8 * 256 * 49 * 784 * 4
    # C=10, m=4: G=3 groups of 4 channels (the last padded), stride 2 on 5x5 -> 3x3 outputs
    assert k2_tensor_bytes("unfold", 1, 10, 5, 3, 4, stride=2) == 3 * 4 * 9 * 9 * 4
    with pytest.raises(ValueError, match="'unfold' or 'reference'"):
        k2_tensor_bytes("cuda", 1, 1, 1, 1, 1)
    with pytest.raises(ValueError, match="positive sizes"):
        k2_tensor_bytes("unfold", 0, 1, 1, 1, 1)


def test_speed_ratios_take_the_op_that_local_relation_runs():
    conv = Measurement("3x3 conv, equal MACs (40 ch)", 1, 0.010, 1)
    ref = Measurement(OP_ROWS["reference"], 1, 0.400, 1)
    fused = Measurement(OP_ROWS["fused"], 1, 0.050, 1)
    nets = [Measurement("ResNet-26 (3x3)", 1, 0.2, 1), Measurement("LR-Net-26 (7x7, m=8)", 1,
                                                                    0.3, 1)]
    assert speed_ratios([ref, conv]) == {"op / equal-MAC conv": pytest.approx(40.0)}
    timed = [Measurement(OP_ROWS["fused"], 1, 0.05, 1, cpu_seconds=0.09),
             Measurement("3x3 conv, equal MACs (40 ch)", 1, 0.01, 1, cpu_seconds=0.02)]
    assert speed_ratios(timed) == {"op / equal-MAC conv": pytest.approx(5.0),
                                   "op / equal-MAC conv, CPU time": pytest.approx(4.5)}
    assert speed_ratios([ref, fused, conv], nets) == {
        "op / equal-MAC conv": pytest.approx(5.0),
        "LR-Net-26 / ResNet-26 step": pytest.approx(1.5)}
    with pytest.raises(ValueError, match="equal-MAC conv row"):
        speed_ratios([ref])


def test_exp_count_from_the_shapes():
    # the shape: B * ceil(C / m) * H' * W' * k^2 (about 9.8 M), and the fused loop's
    # padded flat plane: W' + ceil(r / s) columns per row
    assert exp_count(8, 256, 28, 7, 8) == 8 * 32 * 28 * 28 * 49 == 9_834_496
    assert exp_count(8, 256, 28, 7, 8, padded=True) == 8 * 32 * 28 * 31 * 49
    assert exp_count(2, 10, 9, 5, 4, stride=2) == 2 * 3 * 5 * 5 * 25
    assert exp_count(2, 10, 9, 5, 4, stride=2, padded=True) == 2 * 3 * 5 * (5 + 1) * 25
    with pytest.raises(ValueError, match="positive sizes"):
        exp_count(0, 256, 28, 7, 8)


def test_op_floor_adds_the_exponentials_and_the_macs_at_the_conv_rate():
    conv = Measurement("3x3 conv, equal MACs (40 ch)", macs=1000, seconds=0.002, peak_bytes=0)
    fl = op_floor(500, conv, exps=3000, exps_per_second=1e6)
    assert fl.exps == 3000
    assert fl.exp_seconds == pytest.approx(0.003)
    assert fl.mac_seconds == pytest.approx(0.001)
    assert fl.seconds == pytest.approx(0.004)
    with pytest.raises(ValueError, match="positive rate"):
        op_floor(500, conv, exps=3000, exps_per_second=0)


@pytest.mark.skipif(not cpu_backend.available(), reason="no fused CPU library here")
def test_exp_sums_computes_the_library_exponential_and_counts_it():
    x = -10 * torch.rand(300, generator=torch.Generator().manual_seed(0))
    count, sums = cpu_backend.exp_sums(x, reps=3, threads=2)
    assert count == 300 * 3 * 2
    # shifts of 0, -1e-6, -2e-6: the sum of 3 exp(x) to float32 rounding, on each thread
    expected = 3 * torch.exp(x.double()).sum().item()
    assert sums.tolist() == pytest.approx([expected, expected], rel=1e-5)
    with pytest.raises(ValueError, match="1-d float32"):
        cpu_backend.exp_sums(x.double(), reps=1)
    assert exp_throughput(1, n=64, reps=10, repeats=1) > 0


@pytest.mark.skipif(not cpu_backend.available(), reason="no fused CPU library here")
def test_op_phases_time_every_phase_and_leave_the_results_unchanged():
    from relnotes.analysis.lr_benchmark import (
        EXP_PHASES, MAC_PHASES, format_phases, op_phases, plot_op_phases)

    phases = op_phases(2, 16, 12, 5, 4, repeats=2)
    assert list(phases) == list(cpu_backend.PHASES)
    assert set(MAC_PHASES) | set(EXP_PHASES) < set(phases)
    assert all(seconds > 0 for seconds in phases.values())
    with pytest.raises(ValueError, match="odd kernel_size"):
        op_phases(2, 16, 12, 4, 4)
    text = format_phases({"forward: aggregation (Eq. 1)": 0.004, "backward: key": 0.002}, 2)
    assert text.splitlines() == [
        f"{'forward: aggregation (Eq. 1)':38s}    4.00 thread-ms  MACs",
        f"{'backward: key':38s}    2.00 thread-ms  ",
        "all phases / 2 threads: 3.0 ms"]
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    plot_op_phases(ax, phases, threads=2, conv_seconds=0.001)
    assert len(ax.patches) == len(phases)
    plt.close(fig)


@pytest.mark.skipif(not cpu_backend.available(), reason="no fused CPU library here")
def test_the_profiling_build_gives_the_op_s_results_bit_for_bit():
    g = torch.Generator().manual_seed(3)
    shapes = [(2, 3, 5, 6), (2, 3, 9, 11), (2, 10, 9, 11), (3, 5, 5)]
    inputs = [torch.randn(*s, generator=g).requires_grad_() for s in shapes]

    def results():
        out = cpu_backend.local_relation_cpu(*inputs, 5, 2, "dot")
        return [out.detach(), *torch.autograd.grad(out, inputs, torch.ones_like(out))]

    plain = results()
    with cpu_backend.phase_timer() as seconds:
        profiled = results()
    assert all(torch.equal(a, b) for a, b in zip(plain, profiled))
    assert seconds["backward: key"] > 0
    with cpu_backend.phase_timer(), pytest.raises(RuntimeError, match="not reentrant"):
        with cpu_backend.phase_timer():
            pass
