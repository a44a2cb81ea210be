"""The memory estimate of a training step (fake tensors, nothing allocated) against the peak a
real CPU step allocates (the allocator's own events), and every notebook estimator on the smoke
knobs."""

import importlib
import json
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from relnotes.analysis import memory
from relnotes.analysis.memory import (ESTIMATORS, Step, estimate_experiment, estimate_step,
                                      measure_step)
from relnotes.models.lookup import LookupAttention
from relnotes.repro import get_profile


def _ce(model, batch):
    return F.cross_entropy(model(batch[0]), batch[1])


def mlp_step(optimizer):
    return Step("MLP 256-1024-1024-10, batch 512",
                lambda: nn.Sequential(nn.Linear(256, 1024), nn.ReLU(), nn.Linear(1024, 1024),
                                      nn.GELU(), nn.LayerNorm(1024), nn.Linear(1024, 10)),
                lambda: (torch.randn(512, 256), torch.randint(0, 10, (512,))), _ce, optimizer)


@pytest.mark.parametrize("optimizer", [torch.optim.Adam,
                                       lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)],
                         ids=["adam", "sgd-momentum"])
def test_the_estimate_of_an_mlp_step_is_its_measured_cpu_peak(optimizer):
    step = mlp_step(optimizer)
    estimate = estimate_step(step)
    assert estimate.peak == pytest.approx(measure_step(step), rel=0.05)
    # the parts add up to the peak, and the parameters are the model's
    assert sum(estimate.parts.values()) == estimate.peak
    n = sum(p.numel() for p in step.build().parameters())
    assert estimate.parts["parameters"] == 4 * n


def test_the_estimate_of_an_attention_step_is_its_measured_cpu_peak():
    step = Step("LookupAttention", lambda: LookupAttention(64, 32, channels=64),
                lambda: (torch.randint(0, 32, (256, 17, 2)), torch.randint(0, 32, (256,))), _ce)
    assert estimate_step(step).peak == pytest.approx(measure_step(step), rel=0.05)


def test_a_convolution_step_is_underestimated_by_at_most_its_cpu_scratch_buffer():
    """The CPU convolution allocates about one activation-sized buffer inside the operator (and
    small copies of the weights), which a fake tensor cannot see: the estimate is a lower bound
    here, short by about that buffer (module docstring)."""
    step = Step("2 convs", lambda: nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
                                                 nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
                                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                                 nn.Linear(32, 10)),
                lambda: (torch.randn(16, 3, 48, 48), torch.randint(0, 10, (16,))), _ce)
    estimate, measured = estimate_step(step).peak, measure_step(step)
    activation = 16 * 32 * 48 * 48 * 4
    assert measured - 1.05 * activation <= estimate <= measured


def test_nothing_of_the_model_is_allocated_for_an_estimate():
    """A 4 GiB model and batch: estimated in a moment, without the memory."""
    step = Step("4 GiB", lambda: nn.Linear(32768, 32768, bias=False),
                lambda: (torch.randn(8, 32768), torch.randint(0, 10, (8,))), _ce)
    estimate = estimate_step(step)
    assert estimate.parts["parameters"] == 32768**2 * 4
    assert estimate.peak >= 3 * 32768**2 * 4          # parameters, gradients, Adam's two states


@pytest.mark.parametrize("experiment", sorted(ESTIMATORS))
def test_every_estimator_runs_on_the_smoke_knobs(experiment):
    knobs = json.loads(json.dumps(vars(get_profile("smoke").scale(experiment))))  # as the CLI
    if "batch_size" in knobs:                 # a batch of 2: the detectors' heads loop per image
        knobs["batch_size"] = 2
    out = estimate_experiment(experiment, knobs)
    if ESTIMATORS[experiment] is memory._counts_only:
        assert out == {"not_estimated": f"{experiment} trains nothing: it counts parameters and "
                                        "MACs"}
    else:
        assert out["peak_mib"] > 0 and out["steps"] >= 1 and out["what"]


def test_the_local_relation_runs_as_the_custom_op_only_while_estimating():
    lr = importlib.import_module("relnotes.ops.local_relation")
    before = lr._cpu_backend
    estimate_experiment("lrnet_figures", vars(get_profile("smoke").scale("lrnet_figures")))
    assert lr._cpu_backend is before


def test_an_unknown_experiment_is_not_estimated_and_the_cli_reads_json():
    assert "no estimator" in estimate_experiment("no_such", {})["not_estimated"]
    knobs = json.dumps({"lrnet_figures": vars(get_profile("smoke").scale("lrnet_figures")),
                        "no_such": {}}, default=list)
    done = subprocess.run([sys.executable, "-m", "relnotes.analysis.memory"], input=knobs,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["lrnet_figures"]["peak_mib"] > 0 and "not_estimated" in out["no_such"]


def test_a_detector_step_counts_the_rois_the_sampler_keeps():
    """RN's FPN setting puts every RoI in the loss (a sampler of 2^20 per image): the head sees
    the RPN's proposals, not 2^20 RoIs."""
    from relnotes.models import tiny_faster_rcnn

    def step(per_image):
        return Step("tiny", lambda: tiny_faster_rcnn(7, proposals=256,
                                                     box_batch_size_per_image=per_image),
                    lambda: torch.rand(8, 3, 64, 64), memory.detector_step_loss,
                    lambda p: torch.optim.SGD(p, lr=0.1))

    assert estimate_step(step(2**20)).peak == estimate_step(step(256)).peak
    assert estimate_step(step(128)).peak < estimate_step(step(256)).peak


def test_a_step_fake_tensors_cannot_run_is_measured_and_says_so():
    """GCN's propagation is sparse, which fake tensors cannot hold: the estimate is the peak of
    the step run on the CPU, and ``what`` says it was measured."""
    knobs = json.loads(json.dumps(vars(get_profile("smoke").scale("gcn_propagation"))))
    out = estimate_experiment("gcn_propagation", knobs)
    step = memory.ESTIMATORS["gcn_propagation"](memory._namespace(knobs))[0]
    assert not step.fake and "(measured: run on the CPU" in out["what"]
    assert out["peak_mib"] == pytest.approx(measure_step(step) / 2**20, rel=0.02)


def test_a_measured_step_over_the_cap_is_stopped_and_named():
    """A 1 GiB layer (parameters, gradients, Adam's two states: 4 GiB) against a 256 MiB cap:
    the measurement stops at the cap, and the limit is restored afterwards."""
    import resource

    before = resource.getrlimit(resource.RLIMIT_DATA)
    big = Step("1 GiB layer", lambda: nn.Linear(16384, 16384, bias=False),
               lambda: (torch.randn(4, 16384), torch.randint(0, 10, (4,))), _ce, fake=False)
    with pytest.raises(memory.OverCap):
        memory.measure_step_capped(big, cap_mib=256)
    assert resource.getrlimit(resource.RLIMIT_DATA) == before
    small = Step("MLP", lambda: nn.Linear(64, 10), lambda: (torch.randn(8, 64),
                                                            torch.randint(0, 10, (8,))), _ce)
    assert memory.measure_step_capped(small, cap_mib=256) == measure_step(small)


def test_an_experiment_whose_measured_step_is_over_the_cap_is_not_estimated(monkeypatch):
    """A measured 1 GiB layer (4 GiB with its gradient and Adam's states) against a 256 MiB cap:
    far above what a test process may hold freed and reuse (the cap bounds new memory only)."""
    monkeypatch.setattr(memory, "MEASURE_CAP_MIB", 256)
    monkeypatch.setitem(memory.ESTIMATORS, "big", lambda S: [Step(
        "1 GiB layer", lambda: nn.Linear(16384, 16384, bias=False),
        lambda: (torch.randn(4, 16384), torch.randint(0, 10, (4,))), _ce, fake=False)])
    out = estimate_experiment("big", {})
    assert out == {"not_estimated": "1 GiB layer: fake tensors cannot run it, and measured on the "
                                    "CPU it needs more than 256 MiB (the measurement's cap)"}


def test_the_strn_estimate_runs_the_notebooks_training_procedure(monkeypatch):
    """The tracker's step is the notebook's own ``train_pair_scorer``, one epoch on a sequence
    long enough for one step with a full history."""
    calls = []
    import relnotes.engine.tracking as tracking
    real = tracking.train_pair_scorer
    monkeypatch.setattr(tracking, "train_pair_scorer",
                        lambda *a, **k: calls.append(k) or real(*a, **k))
    knobs = json.loads(json.dumps(vars(get_profile("smoke").scale("strn_ablation"))))
    out = estimate_experiment("strn_ablation", knobs)
    assert out["peak_mib"] > 0 and calls and calls[0]["epochs"] == 1
    assert calls[0]["chunk"] == knobs["chunk"] and calls[0]["max_age"] == knobs["max_age"]


def test_a_procedure_needs_a_measured_step():
    with pytest.raises(ValueError, match="runs only measured"):
        Step("x", lambda: nn.Linear(2, 2), lambda: None, _ce, procedure=lambda m, b: None)
