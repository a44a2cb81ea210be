"""Dry runs of the gpu and full profiles: every notebook is ready, and each fault is named."""

import json
from pathlib import Path

import pytest

from relnotes.repro.__main__ import main
from relnotes.repro.dryrun import check_knobs, data_needs, dry_run, experiments_of
from relnotes.repro.runner import discover

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = discover(ROOT / "notebooks")
IDS = [p.stem for p in NOTEBOOKS]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """A tiny COCO 2017 (one image per split) and the Planetoid files, in their layouts."""
    root = tmp_path_factory.mktemp("data")
    (root / "annotations").mkdir()
    for split in ("train2017", "val2017"):
        (root / split).mkdir()
        (root / split / "000000000001.jpg").write_bytes(b"\xff\xd8jpeg")
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps({
            "images": [{"id": 1, "file_name": "000000000001.jpg", "width": 8, "height": 8}],
            "categories": [{"id": 1, "name": "a"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2]}]}))
    for name in ("cora", "citeseer", "pubmed"):
        for key in ("x", "y", "tx", "ty", "allx", "ally", "graph"):
            (root / f"ind.{name}.{key}").write_bytes(b"pickle")
        (root / f"ind.{name}.test.index").write_text("1\n2\n")
    return root


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_every_notebook_is_ready_for_the_gpu_profile(nb):
    result = dry_run(nb, "gpu")
    assert result.problems == []
    assert result.experiments  # it reads its knobs from the profiles


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_every_notebook_is_ready_for_the_full_profile(nb, data_root):
    result = dry_run(nb, "full", data_root=str(data_root))
    assert result.problems == []
    if result.data:  # the notebooks that read real data on full had it checked
        assert all(line.endswith(": ok") for line in result.data)


def test_full_without_data_root_names_the_notebook_and_the_option():
    nb = ROOT / "notebooks" / "gcnet" / "gcnet_coco_ap.ipynb"
    assert dry_run(nb, "full").problems == [
        "gcnet_coco_ap (full): reads coco on profile 'full': pass --data-root /path/to/data "
        "(python -m relnotes.data.check checks the folder)"]


def test_full_with_broken_data_names_the_missing_file(tmp_path):
    nb = ROOT / "notebooks" / "relation_networks" / "rn_figures.ipynb"
    (tmp_path / "val2017").mkdir()
    [problem] = dry_run(nb, "full", data_root=str(tmp_path)).problems
    assert problem.startswith(f"rn_figures (full): the coco data at {tmp_path} has problems")
    assert "coco: missing annotation file annotations/instances_train2017.json" in problem
    assert "coco: missing image folder train2017/" in problem


def test_a_bad_override_or_parameter_is_named(tmp_path):
    nb = ROOT / "notebooks" / "relation_networks" / "rn_ablation_head.ipynb"
    result = dry_run(nb, "gpu", parameters={"overrides": {"seeds": [0, 0], "batch_size": 0}})
    assert result.problems == [
        "rn_ablation_head (gpu): rn_ablation_head: knob batch_size = 0: must be an int >= 1",
        "rn_ablation_head (gpu): rn_ablation_head: knob seeds = [0, 0]: must be one or more "
        "distinct ints",
    ]
    result = dry_run(nb, "gpu", parameters={"overrides": {"epochz": 1}})
    assert result.problems == ["rn_ablation_head (gpu): rn_ablation_head has no knob 'epochz' to "
                               "override; its knobs: " + result.problems[0].split("knobs: ")[1]]
    result = dry_run(ROOT / "notebooks" / "one_formula" / "one_formula.ipynb", "gpu",
                     parameters={"device": "cuda:1"})
    assert result.problems[0].startswith("one_formula (gpu): no parameter(s) ['device'] to inject")


def test_runner_options_as_parameters_and_a_data_root_that_is_not_a_folder(tmp_path):
    nb = ROOT / "notebooks" / "one_formula" / "one_formula.ipynb"
    assert dry_run(nb, "gpu", parameters={"profile": "cpu", "artifact_dir": "x"}).problems == [
        "one_formula (gpu): set ['artifact_dir', 'profile'] with the runner's own options, not as "
        "parameters"]
    nb = ROOT / "notebooks" / "relation_networks" / "rn_figures.ipynb"
    assert dry_run(nb, "full", data_root=str(tmp_path / "nope")).problems == [
        f"rn_figures (full): data_root {tmp_path / 'nope'} is not a folder"]


def test_unknown_experiment_and_no_knobs_are_problems(write_nb, tmp_path):
    nb = write_nb(tmp_path / "x.ipynb", 'S = P.scale("no_such_experiment")')
    [problem] = dry_run(nb, "gpu").problems
    assert problem.startswith("x (gpu): no scale is defined for experiment 'no_such_experiment'")
    nb = write_nb(tmp_path / "y.ipynb", "n = 3")
    assert dry_run(nb, "gpu").problems[0].startswith('y (gpu): reads no knobs: no P.scale(')
    nb = write_nb(tmp_path / "z.ipynb", 'P.scale("one_formula")', parameters='artifact_dir = "a"')
    assert "profile missing from its parameters cell" in dry_run(nb, "gpu").problems[0]
    assert experiments_of(write_nb(tmp_path / "w.ipynb", 'a = P.scale("one_formula")\n'
                                   "b = P.scale('rn_figures', overrides)")) == [
        "one_formula", "rn_figures"]


def test_a_parameter_that_is_not_python_fails_in_the_dry_run(write_nb, tmp_path):
    nb = write_nb(tmp_path / "x.ipynb", 'P.scale("one_formula")',
                  parameters='profile = "cpu"\nartifact_dir = "a"\nn = undefined_name')
    [problem] = dry_run(nb, "gpu").problems
    assert problem == ("x (gpu): the parameters cell fails: NameError: name 'undefined_name' "
                       "is not defined")


def test_each_knob_range_can_fail():
    assert check_knobs({"epochs": 3, "lr": 0.02, "seeds": (0, 1), "kernel_sizes": (3, 5),
                        "init_kernel": 5, "lr_steps": (1, 2), "warmup_steps": 0,
                        "embedding_epochs": (0, 5), "rows": ("2fc",), "coco": None,
                        "weight_decay": 1e-4, "nms_thresholds": (0.3, 1.0),
                        "soft_sigmas": (0.2,), "flip": True, "tolerance": 1.0}) == []
    assert check_knobs({"epochs": 2, "lr": 2.0, "weight_decay": 1.0, "momentum": -0.1,
                        "nms_thresholds": (0.0, 0.5), "tolerance": 0, "seeds": (), "kernel_size": 4,
                        "kernel_sizes": (3, 6), "init_kernel": 7, "lr_steps": (1, 2),
                        "batch_size": 2.5, "num_workers": -1, "embedding_epochs": (5, 0),
                        "planetoid": ("cora", "reddit"), "rows": ()}) == [
        "knob lr = 2.0: a learning rate must be in (0, 1]",
        "knob weight_decay = 1.0: must be in [0, 1)",
        "knob momentum = -0.1: must be in [0, 1)",
        "knob nms_thresholds = (0.0, 0.5): a threshold must be in (0, 1]",
        "knob tolerance = 0: must be > 0",
        "knob seeds = (): must be one or more distinct ints",
        "knob kernel_size = 4: must be odd",
        "knob kernel_sizes = (3, 6): must all be odd",
        "knob lr_steps = (1, 2): a milestone at or after the last epoch (2) never takes effect",
        "knob batch_size = 2.5: must be an int >= 1",
        "knob num_workers = -1: must be an int >= 0",
        "knob embedding_epochs = (5, 0): epochs at which to look must be increasing ints >= 0",
        "knob planetoid = ('cora', 'reddit'): unknown Planetoid set(s) ['reddit']; known: cora, "
        "citeseer, pubmed",
        "knob rows = (): must be one or more names",
        "knob init_kernel = 7: must be one of kernel_sizes (3, 6)",
    ]
    assert check_knobs({"embed_dim": 30, "num_heads": 4, "tiny": {"planes": (8, 0)}}) == [
        "knob tiny.planes = (8, 0): must be ints >= 1",
        "knob embed_dim = 30: must be divisible by num_heads = 4",
    ]


def test_data_needs_follow_the_knobs():
    assert data_needs({"coco": None, "planetoid": ()}) == []
    assert data_needs({"coco": {"train_split": "train2017", "val_split": "val2017"},
                       "planetoid": ("cora",)}) == [("coco", ("train2017", "val2017")),
                                                    ("planetoid", ("cora",))]


def test_a_measured_peak_over_the_gpu_memory_is_a_problem(tmp_path, capsys):
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"profile": "gpu", "notebooks": [
        {"notebook": "notebooks/one_formula/one_formula.ipynb", "gpu_peak_mib": 30000.0,
         "gpu_name": "Some GPU", "host_peak_mib": 2500.0}]}))
    args = ["dry-run", "--profile", "gpu", "--notebooks", str(ROOT / "notebooks"),
            "--measured", str(report), "one_formula", "lrnet_architecture"]
    assert main(args + ["--gpu-memory-gib", "80"]) == 0
    out = capsys.readouterr().out
    assert ("one_formula: ok; experiments one_formula; memory: estimated peak 4 MiB (one "
            "training step of LookupAttention (width 64), batch 128 x 17 elements); GPU 30,000 "
            f"MiB peak, measured ({report}, Some GPU); host 2,500 MiB peak, measured ({report})"
            ) in out
    # no estimator (it trains nothing) and never run on the profile: the dry run says so
    assert ("lrnet_architecture: ok; experiments lrnet_architecture; memory: no estimate "
            "(lrnet_architecture trains nothing: it counts parameters and MACs); GPU not "
            "measured on gpu (--measured REPORT of an earlier run gives a measurement); host not "
            "measured on gpu") in out
    assert main(args + ["--gpu-memory-gib", "16"]) == 1
    assert ("one_formula (gpu): needed 30,000 MiB of GPU memory" in capsys.readouterr().out)


def test_on_a_cpu_profile_the_host_peak_of_the_reference_is_shown(tmp_path, capsys):
    from relnotes.repro.dryrun import measured_peaks
    refs = tmp_path / "refs"
    (refs / "cpu").mkdir(parents=True)
    (refs / "cpu" / "one_formula.json").write_text(json.dumps(
        {"environment": {"time": {"wall_s": 1.0, "host_peak_mib": 900.4}}}))
    assert measured_peaks("cpu", refs, kind="host") == {
        "one_formula": (900.4, "reference one_formula.json")}
    assert measured_peaks("cpu", refs) == {}
    with pytest.raises(ValueError, match="kind must be 'gpu' or 'host'; got 'disk'"):
        measured_peaks("cpu", refs, kind="disk")
    assert main(["dry-run", "--profile", "cpu", "--notebooks", str(ROOT / "notebooks"),
                 "--references", str(refs), "--no-estimate", "one_formula"]) == 0
    assert ("memory: GPU not used; host 900 MiB peak, measured (reference one_formula.json)"
            in capsys.readouterr().out)


def test_an_empty_list_of_names_means_none_except_for_rows():
    from relnotes.repro.dryrun import check_knobs
    assert check_knobs({"mot17": ()}) == []
    assert check_knobs({"mot17": ("MOT17-02-DPM",)}) == []
    assert any("one or more names" in p for p in check_knobs({"rows": ()}))
    assert any("one or more names" in p for p in check_knobs({"mot17": ("", "x")}))


@pytest.mark.parametrize("profile", ["gpu"])
def test_the_dry_run_estimates_the_memory_of_every_notebook_with_an_estimator(profile, data_root):
    from relnotes.analysis.memory import ESTIMATORS, _counts_only
    from relnotes.repro.dryrun import estimate_memory

    results = [dry_run(nb, profile, data_root=str(data_root)) for nb in NOTEBOOKS]
    estimate_memory(results, gpu_memory_mib=80 * 1024)
    assert [r.problems for r in results if r.problems] == []
    estimated = {r.name for r in results if r.memory.startswith("estimated peak ")}
    trains = {e for e, f in ESTIMATORS.items() if f is not _counts_only}
    expected = {r.name for r in results if set(r.experiments) & trains}
    assert estimated == expected and len(estimated) >= 19
    # every notebook reads an experiment with an estimator (or one that says it trains nothing);
    # gcnet_budget trains gcnet_ablations' classifier and gcnet_coco_ap's detectors, whose
    # estimators it reads
    assert [r.name for r in results if not set(r.experiments) & set(ESTIMATORS)] == []
    assert all(r.estimate["peak_mib"] > 0 for r in results if r.name in estimated)
    assert all(r.memory.startswith("no estimate (") for r in results if r.name not in estimated)


def test_an_estimate_over_the_gpu_memory_is_a_problem(data_root, capsys):
    """On full, gcnet_coco_ap trains Mask R-CNN R50-FPN at 2 images of 800 x 1344: about 5 GiB,
    which a 4 GiB GPU has not."""
    args = ["dry-run", "--profile", "full", "--notebooks", str(ROOT / "notebooks"),
            "--data-root", str(data_root), "gcnet_coco_ap"]
    assert main(args + ["--gpu-memory-gib", "80"]) == 0
    assert "estimated peak 5,1" in capsys.readouterr().out
    assert main(args + ["--gpu-memory-gib", "4"]) == 1
    out = capsys.readouterr().out
    assert "gcnet_coco_ap (full): one training step needs about 5,1" in out
    assert "this GPU has 4,096 MiB: lower the batch size with overrides" in out
    assert main(args + ["--gpu-memory-gib", "4", "--no-estimate"]) == 0
