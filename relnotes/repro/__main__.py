"""``python -m relnotes.repro``: run notebooks, check them against references, build the book.

See ``relnotes/repro/runner.py`` for what is written where. Exit status: 0 when every notebook ran
and every artifact matched its reference, 1 otherwise, 2 for a usage error (unknown profile or
notebook, a notebook without the required parameters or without an artifact).

A profile whose references the repository does not keep (``gpu``, ``full``) runs in report-only mode
(``--report-only`` asks for it on any profile): nothing is compared, the exit status is 0 when
every notebook ran, and ``<build>/<profile>/report.json`` says what each one needed (wall and CPU
seconds, peak GPU memory).

``run --launcher torchrun --nproc N`` runs each notebook's code as a script in N processes
started by torchrun, every ``fit`` with DistributedDataParallel (:mod:`relnotes.repro.torchrun`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .artifacts import format_diffs
from .book_copy import write_book_copy
from .profiles import PROFILES, UnknownProfileError, get_profile
from .numerics import NUMERICS, PINNED, cpu_flags
from .cache import Cache
from .runner import (
    NotebookError, check_artifacts, explain_failures, report_only, resolve, run_notebook,
    update_references, write_report,
)

BOOK_GENERATED = Path("book/_generated")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m relnotes.repro", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name, default, help_ in (
        ("run", "smoke", "execute notebooks and compare their artifacts with the references"),
        ("book", "cpu", "execute every notebook, then build the Jupyter Book into _build/html"),
    ):
        s = sub.add_parser(name, help=help_)
        s.add_argument("--profile", default=default,
                       help=f"one of {', '.join(PROFILES)} (default: {default})")
        s.add_argument("--build-dir", default="_build/repro", help="default: _build/repro")
        s.add_argument("--notebooks", default="notebooks", help="notebook folder (default: notebooks)")
        s.add_argument("--references", default=None,
                       help="reference folder (default: <notebooks>/reference)")
        s.add_argument("--data-root", default=None, help="real COCO / ImageNet (profile full)")
        s.add_argument("--cell-timeout", type=float, default=None, help="seconds per cell")
        s.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="per-cell progress bar (default: when stderr is a terminal)")
        s.add_argument("--numerics", choices=NUMERICS, default="pinned",
                       help="pinned: the AVX2 kernels of ATen, oneDNN and MKL, the path of the "
                            "references, on any x86-64 processor (default); native: the "
                            "processor's own (its trained values differ from the references')")
        if name == "book":
            s.add_argument("--cache", action=argparse.BooleanOptionalAction, default=True,
                           help="run only the notebooks whose inputs changed since their last "
                                "run (the notebook, the relnotes modules it imports, its knobs, "
                                "the library versions); --no-cache runs them all (default: cache)")
        if name == "run":
            s.add_argument("names", nargs="*", help="notebook names or paths (default: all)")
            s.add_argument("--update-references", action="store_true",
                           help="overwrite the references with this run's artifacts (review and "
                                "commit the change with its reason)")
            s.add_argument("--allow-dirty", action="store_true",
                           help="with --update-references: write them even from a tree with "
                                "uncommitted changes (recorded in each reference)")
            s.add_argument("--report-only", action="store_true",
                           help="compare nothing; report what each notebook needed (wall, CPU, "
                                "peak GPU memory) in <build-dir>/<profile>/report.json. The "
                                "default on a profile without references (gpu, full)")
            s.add_argument("--launcher", choices=("papermill", "torchrun"), default="papermill",
                           help="papermill: one kernel, the executed notebook kept (default); "
                                "torchrun: the notebook's code as a script in --nproc processes, "
                                "every fit() with DistributedDataParallel "
                                "(relnotes/repro/torchrun.py)")
            s.add_argument("--nproc", type=int, default=None,
                           help="with --launcher torchrun: processes on this machine (default: "
                                "the number of GPUs torch sees, else 1)")
            s.add_argument("--list", action="store_true", help="list the notebooks and exit")
            s.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                           help="another parameter the notebooks declare, VALUE in YAML (e.g. "
                                "-p checkpoint_dir=/ckpt -p 'overrides={coco: {epochs: 1}}' "
                                "-p device=cuda:1); repeatable")
    d = sub.add_parser("dry-run", help="check every notebook's parameters, knobs and data on "
                                       "a profile, estimate its memory and show what "
                                       "an earlier run measured, without training")
    d.add_argument("--profile", default="gpu", help=f"one of {', '.join(PROFILES)} (default: gpu)")
    d.add_argument("--notebooks", default="notebooks", help="notebook folder (default: notebooks)")
    d.add_argument("--references", default=None,
                   help="reference folder (default: <notebooks>/reference)")
    d.add_argument("--data-root", default=None, help="real COCO / ImageNet (profile full)")
    d.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="another parameter the notebooks declare, as for run; repeatable")
    d.add_argument("--measured", action="append", default=[], metavar="REPORT",
                   help="report.json of an earlier run on the profile: its peak GPU and host "
                        "memory, shown beside the estimate")
    d.add_argument("--gpu-memory-gib", type=float, default=None,
                   help="memory of the GPU to run on (default: this machine's first GPU)")
    d.add_argument("--estimate", action=argparse.BooleanOptionalAction, default=True,
                   help="estimate each notebook's peak memory from one training step on fake "
                        "tensors (python -m relnotes.analysis.memory; default: on)")
    d.add_argument("names", nargs="*", help="notebook names or paths (default: all)")
    return p


def _dry_run(args: argparse.Namespace) -> int:
    from .dryrun import dry_run, estimate_memory, format_dry_runs, gpu_memory_mib, measured_peaks

    notebooks = resolve(args.names, args.notebooks)
    references = Path(args.references or Path(args.notebooks) / "reference")
    peaks = measured_peaks(args.profile, references, args.measured)
    host = measured_peaks(args.profile, references, args.measured, kind="host")
    memory = gpu_memory_mib(args.gpu_memory_gib)
    params = _parameters(args.param)
    print(f"dry run, profile {args.profile}: {len(notebooks)} notebook(s)", flush=True)
    results = [dry_run(nb, args.profile, data_root=args.data_root, parameters=params,
                       peaks=peaks, gpu_memory_mib=memory, host_peaks=host)
               for nb in notebooks]
    if args.estimate:
        estimate_memory(results, memory)
    print(format_dry_runs(results))
    return 0 if all(r.ok for r in results) else 1


def _parameters(pairs: list[str]) -> dict:
    """``["a=1", "b={c: 2}"]`` -> ``{"a": 1, "b": {"c": 2}}`` (values parsed as YAML)."""
    import yaml

    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise NotebookError(f"--param takes NAME=VALUE; got {pair!r}")
        out[name.strip()] = yaml.safe_load(value)
    return out


def _run(args: argparse.Namespace, names: list[str]) -> tuple[int, list]:
    notebooks = resolve(names, args.notebooks)
    references = Path(args.references or Path(args.notebooks) / "reference")
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    results, failed = [], 0
    print(f"profile {args.profile}: {len(notebooks)} notebook(s) -> {args.build_dir}/{args.profile}")
    if args.numerics == "pinned":
        print("numerics: pinned (" + ", ".join(f"{k}={v}" for k, v in PINNED.items()) + ")")
        flags = cpu_flags()
        if flags and "avx2" not in flags:
            print("warning: this processor has no AVX2, so it cannot take the pinned numerical "
                  "path of the references: trained values may differ from them", file=sys.stderr)
    else:
        print("numerics: native (this processor's own kernels; trained values may differ from "
              "the references, which were made on the pinned path)")
    cache = Cache(Path(args.build_dir) / "cache") if getattr(args, "cache", False) else None
    launcher, nproc = getattr(args, "launcher", "papermill"), getattr(args, "nproc", None)
    if launcher != "torchrun" and nproc is not None:
        raise ValueError("--nproc goes with --launcher torchrun")
    if launcher == "torchrun":
        from .torchrun import run_notebook_torchrun

        if args.update_references:
            raise ValueError("--update-references takes a one-process run (the references are "
                             "papermill's); --launcher torchrun only compares or reports")
        if nproc is None:
            import torch
            nproc = max(torch.cuda.device_count(), 1)
        if nproc < 1:
            raise ValueError(f"--nproc must be >= 1; got {nproc}")
        print(f"launcher: torchrun, {nproc} process(es) per notebook")
    noted = False
    for i, nb in enumerate(notebooks, 1):
        print(f"[{i}/{len(notebooks)}] {nb} ...", flush=True)
        if launcher == "torchrun":
            result = run_notebook_torchrun(nb, args.profile, args.build_dir, nproc=nproc,
                                           notebooks_root=args.notebooks,
                                           data_root=args.data_root,
                                           parameters=_parameters(args.param),
                                           numerics=args.numerics)
        else:
            result = run_notebook(nb, args.profile, args.build_dir,
                                  notebooks_root=args.notebooks, data_root=args.data_root,
                                  progress=progress, cell_timeout=args.cell_timeout,
                                  parameters=_parameters(getattr(args, "param", [])),
                                  numerics=args.numerics, cache=cache)
        if result.environment_notes and not noted:
            noted = True
            for note in result.environment_notes:
                print(f"    note: {note}")
        results.append(result)
        if result.cache_note and not result.cached:
            print(f"    run: {result.cache_note}", flush=True)
        if result.cached:
            print(f"    {result.cache_note} ({result.seconds:.1f} s when it ran), artifacts: "
                  f"{', '.join(p.stem for p in result.artifacts)}", flush=True)
        elif result.error:
            failed += 1
            print(f"    FAILED after {result.seconds:.1f} s\n    {result.error}", flush=True)
        else:
            print(f"    ok in {result.seconds:.1f} s (CPU {result.cpu_seconds:.1f} s), artifacts: "
                  f"{', '.join(p.stem for p in result.artifacts)}", flush=True)
        if not result.cached and result.budget_warning():
            print(f"    {result.budget_warning()}", flush=True)
            print(result.budget_warning(), file=sys.stderr)
    artifacts = [p for r in results for p in r.artifacts]
    report = write_report(results, args.profile, Path(args.build_dir) / args.profile / "report.json")
    if getattr(args, "update_references", False):
        for path in update_references(artifacts, args.profile, references,
                                      allow_dirty=args.allow_dirty):
            print(f"reference written: {path}")
        return (1 if failed else 0), results
    if getattr(args, "report_only", False) or report_only(args.profile, references):
        why = ("--report-only" if getattr(args, "report_only", False) else
               f"the repository keeps no {args.profile} references")
        print(f"\nreport only ({why}): nothing compared")
        print(_format_report(results))
        print(f"\n{len(results) - failed} notebook(s) ran, {failed} failed; report: {report}")
        return (1 if failed else 0), results
    diffs = check_artifacts(artifacts, args.profile, references)
    if diffs:
        print(f"\ncomparison with {references / args.profile}:")
        print(format_diffs(diffs))
    bad = sum(not d.ok for d in diffs)
    if bad:
        print("\n" + explain_failures(diffs, artifacts, args.profile, references))
    print(f"\n{len(results) - failed} notebook(s) ran, {failed} failed; "
          f"{len(diffs) - bad} value(s) match the references, {bad} differ")
    return (1 if failed or bad else 0), results


def _format_report(results: list) -> str:
    """One line per notebook: wall and CPU seconds, peak host memory, peak GPU memory (or that
    CUDA was not used)."""
    lines = [f"{'notebook':<28} {'wall s':>8} {'CPU s':>8} {'host MiB':>9}  peak GPU memory"]
    for r in results:
        gpu = (f"{r.gpu['gpu_peak_mib']:,.0f} MiB on {r.gpu['gpu_name']}" if r.gpu
               else "- (CUDA not used)")
        host = "-" if r.host_peak_mib is None else f"{r.host_peak_mib:,.0f}"
        status = "  FAILED" if r.error else ("  (cached)" if r.cached else "")
        lines.append(f"{r.name:<28} {r.seconds:>8.1f} {r.cpu_seconds:>8.1f} {host:>9}  "
                     f"{gpu}{status}")
    return "\n".join(lines)


def _stage_book(results: list, build_dir: str | Path) -> None:
    """Copy executed notebooks (their book versions: :mod:`.book_copy`) and artifacts to
    book/_generated, where the book pages find them."""
    if BOOK_GENERATED.exists():
        shutil.rmtree(BOOK_GENERATED)
    (BOOK_GENERATED / "notebooks").mkdir(parents=True)
    (BOOK_GENERATED / "artifacts").mkdir(parents=True)
    for r in results:
        write_book_copy(r.output, BOOK_GENERATED / "notebooks" / r.output.name,
                        Path(build_dir).resolve())
        for a in r.artifact_dir.iterdir():  # the JSON artifacts and any figures beside them
            if a.is_file():
                shutil.copy(a, BOOK_GENERATED / "artifacts" / a.name)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        get_profile(args.profile)
        if args.command == "run" and args.list:
            for nb in resolve([], args.notebooks):
                print(nb)
            return 0
        if args.command == "dry-run":
            return _dry_run(args)
        status, results = _run(args, args.names if args.command == "run" else [])
    except (UnknownProfileError, NotebookError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.command == "book":
        if any(r.error for r in results):
            print("error: a notebook failed; the book is not built", file=sys.stderr)
            return 1
        if status:
            print("warning: some values differ from the references (see above); the book shows "
                  "this run's values", file=sys.stderr)
        _stage_book(results, args.build_dir)
        jb = Path(sys.executable).with_name("jupyter-book")
        cmd = [str(jb) if jb.exists() else "jupyter-book", "build", ".", "-W", "--keep-going"]
        print("$ " + " ".join(cmd), flush=True)
        env = dict(os.environ, RELNOTES_BOOK_PROFILE=args.profile)
        built = subprocess.run(cmd, env=env).returncode
        if built == 0:
            print(f"book built: {Path('_build/html/index.html').resolve()}")
        return built
    return status


if __name__ == "__main__":
    sys.exit(main())
