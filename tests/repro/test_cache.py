"""The build cache: a notebook re-runs only when one of its inputs changed."""

import time
from types import MappingProxyType

import pytest

from relnotes.repro import cache as cache_mod
from relnotes.repro.cache import (Cache, imported_modules, module_closure, notebook_inputs,
                                  stale_reason)
from relnotes.repro.provenance import PACKAGE_ROOT
from relnotes.repro.runner import run_notebook

WRITE = """
from relnotes.repro import Artifact, Column, get_profile
S = get_profile(profile).scale("one_formula")
art = Artifact("tiny", "Tiny", profile=profile, columns=[Column("x", "x")])
art.add_row("row", x=VALUE)
art.write(artifact_dir)
"""


def test_imported_modules_resolve_relative_imports():
    code = "import a.b\nfrom c import d, e\nfrom . import f\nfrom ..g import h\n"
    assert imported_modules(code, "pkg.sub.mod") == {"a.b", "c", "c.d", "c.e", "pkg.sub",
                                                     "pkg.sub.f", "pkg.g", "pkg.g.h"}
    assert imported_modules("from . import x", "pkg.sub", is_package=True) == {"pkg.sub",
                                                                               "pkg.sub.x"}


def test_closure_follows_imports_transitively_with_parent_packages(tmp_path):
    root = tmp_path / "relnotes"
    for f, text in {"__init__.py": "", "a/__init__.py": "from .x import f\n",
                    "a/x.py": "from relnotes.b.y import g\n", "b/__init__.py": "",
                    "b/y.py": "import numpy\n", "b/z.py": "", "a/kern.cu": "//"}.items():
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_text(text)
    found = module_closure({"relnotes.a"}, root)
    assert set(found) == {"relnotes", "relnotes.a", "relnotes.a.x", "relnotes.b", "relnotes.b.y"}


def test_the_real_closure_of_the_repro_package_stays_inside_it():
    found = module_closure({"relnotes.repro.artifacts"}, PACKAGE_ROOT)
    assert "relnotes.repro.claims" in found and "relnotes.repro.provenance" in found
    assert not any(n.startswith("relnotes.nn") for n in found)


def inputs(nb, **kw):
    kw.setdefault("libraries", {"torch": "2.14.0", "numpy": "2.3.0"})
    return notebook_inputs(nb, "smoke", **kw)


def test_inputs_hold_only_the_knobs_the_notebook_names(write_nb, tmp_path, monkeypatch):
    nb = write_nb(tmp_path / "nb.ipynb", WRITE.replace("VALUE", "1"))
    a = inputs(nb)
    assert list(a["knobs"]["scales"]) == ["one_formula"]
    assert "relnotes/repro/profiles.py" in a["sources"]
    from relnotes.repro import profiles

    changed = {k: dict(v) for k, v in profiles.SCALES.items()}
    changed["rn_figures"] = {**changed["rn_figures"], "smoke": {"n_train": 1}}
    monkeypatch.setattr(profiles, "SCALES", MappingProxyType(changed))
    assert inputs(nb) == a                     # another chapter's knobs: no re-run
    changed["one_formula"] = {**changed["one_formula"], "smoke": {"n_tokens": 7}}
    assert stale_reason(a, inputs(nb)) == "the knobs of one_formula changed"


def test_stale_reasons_name_what_changed(write_nb, tmp_path):
    nb = write_nb(tmp_path / "nb.ipynb", WRITE.replace("VALUE", "1"))
    a = inputs(nb)
    assert stale_reason(a, inputs(nb)) is None
    assert stale_reason(a, inputs(nb, libraries={"torch": "2.15.0", "numpy": "2.3.0"})) == \
        "torch 2.14.0 -> 2.15.0"
    assert stale_reason(a, inputs(nb, numerics="native")) == "numerics 'pinned' -> 'native'"
    assert stale_reason(a, inputs(nb, parameters={"device": "cuda"})) == \
        "parameters {} -> {'device': 'cuda'}"
    b = dict(a, sources={**a["sources"], "relnotes/repro/artifacts.py": "edited"})
    assert stale_reason(a, b) == "relnotes/repro/artifacts.py changed"
    write_nb(nb, WRITE.replace("VALUE", "2"))
    assert stale_reason(a, inputs(nb)) == "the notebook changed"


def test_run_notebook_uses_the_cache_and_ignores_a_stale_entry(write_nb, tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod, "_versions", lambda: {"torch": "2.14.0"})
    nb = write_nb(tmp_path / "notebooks" / "ch" / "tiny.ipynb", WRITE.replace("VALUE", "1"))
    cache = Cache(tmp_path / "build" / "cache")
    kw = dict(build_dir=tmp_path / "build", notebooks_root=tmp_path / "notebooks", cache=cache)
    first = run_notebook(nb, "smoke", **kw)
    assert not first.cached and first.cache_note == "not run before"
    start = time.perf_counter()
    second = run_notebook(nb, "smoke", **kw)
    assert time.perf_counter() - start < 2.0       # no kernel started
    assert second.cached and second.artifacts == first.artifacts
    assert second.output == first.output and second.seconds == first.seconds
    # another torch: the entry is ignored, with the reason, and the notebook runs again
    monkeypatch.setattr(cache_mod, "_versions", lambda: {"torch": "2.15.0"})
    third = run_notebook(nb, "smoke", **kw)
    assert not third.cached
    assert third.cache_note == "stale cache entry ignored: torch 2.14.0 -> 2.15.0"
    # an output edited behind the cache's back is not trusted
    third.artifacts[0].write_text(third.artifacts[0].read_text().replace('"ours": 1', '"ours": 5'))
    fourth = run_notebook(nb, "smoke", **kw)
    assert not fourth.cached and "missing or changed" in fourth.cache_note
    assert run_notebook(nb, "smoke", **kw).cached


def test_cache_entries_are_per_profile(write_nb, tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod, "_versions", lambda: {})
    nb = write_nb(tmp_path / "notebooks" / "ch" / "tiny.ipynb", WRITE.replace("VALUE", "1"))
    cache = Cache(tmp_path / "build" / "cache")
    kw = dict(build_dir=tmp_path / "build", notebooks_root=tmp_path / "notebooks", cache=cache)
    run_notebook(nb, "smoke", **kw)
    assert not run_notebook(nb, "cpu", **kw).cached
    assert run_notebook(nb, "smoke", **kw).cached


def test_cli_book_has_a_no_cache_switch():
    from relnotes.repro.__main__ import _parser

    assert _parser().parse_args(["book"]).cache is True
    assert _parser().parse_args(["book", "--no-cache"]).cache is False
    with pytest.raises(SystemExit):
        _parser().parse_args(["run", "--no-cache"])
