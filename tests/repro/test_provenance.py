"""Provenance: commit, dirty flag and source hash; references refused from a dirty tree."""

import subprocess

import pytest

from relnotes.repro import Artifact, Column, environment
from relnotes.repro import runner
from relnotes.repro.provenance import provenance, sources_sha256
from relnotes.repro.runner import DirtyTreeError, update_references


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"})


@pytest.fixture
def repo(tmp_path):
    pkg = tmp_path / "relnotes"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "mod.py").write_text("x = 1\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "init")
    return pkg


def test_clean_then_modified_then_untracked(repo):
    p = provenance(repo)
    assert p["dirty"] is False and len(p["commit"]) == 40
    (repo / "sub" / "mod.py").write_text("x = 2\n")
    q = provenance(repo)
    assert q["dirty"] is True and q["commit"] == p["commit"]
    assert q["sources_sha256"] != p["sources_sha256"]
    git(repo.parent, "checkout", "-q", "--", ".")
    assert provenance(repo) == p
    (repo / "new_notebook_module.py").write_text("")    # never committed: counts as dirty
    assert provenance(repo)["dirty"] is True


def test_source_hash_covers_names_and_contents_of_python_files_only(repo):
    h = sources_sha256(repo)
    (repo / "sub" / "data.txt").write_text("not python")
    assert sources_sha256(repo) == h
    (repo / "sub" / "mod.py").rename(repo / "sub" / "mod2.py")
    assert sources_sha256(repo) != h


def test_outside_git_the_flags_are_unknown(tmp_path):
    (tmp_path / "a.py").write_text("")
    p = provenance(tmp_path)
    assert p["commit"] is None and p["dirty"] is None


def test_environment_records_provenance():
    env = environment(seed=0, device="cpu")
    assert {"git_commit", "git_dirty", "sources_sha256"} <= set(env)
    assert env["sources_sha256"] == sources_sha256()


def artifact(tmp_path, dirty):
    art = Artifact("t", "T", profile="smoke", columns=[Column("x", "x")],
                   environment={"git_dirty": dirty})
    art.add_row("r", x=1)
    return art.write(tmp_path / "build")


def state(dirty):
    return lambda: {"commit": "a" * 40, "dirty": dirty, "sources_sha256": "h"}


def test_update_references_refuses_a_dirty_tree_unless_allowed(tmp_path, monkeypatch):
    refs = tmp_path / "reference"
    monkeypatch.setattr(runner, "provenance", state(True))
    with pytest.raises(DirtyTreeError, match=r"refusing to write references from uncommitted "
                                             r"code: the working tree .* uncommitted changes.*"
                                             r"--allow-dirty"):
        update_references([artifact(tmp_path, False)], "smoke", refs)
    assert not (refs / "smoke" / "t.json").exists()
    [path] = update_references([artifact(tmp_path, False)], "smoke", refs, allow_dirty=True)
    assert Artifact.read(path).environment["written_from_dirty_tree"] is True


def test_an_artifact_made_from_a_dirty_tree_is_refused_even_on_a_clean_one(tmp_path, monkeypatch):
    refs = tmp_path / "reference"
    monkeypatch.setattr(runner, "provenance", state(False))
    with pytest.raises(DirtyTreeError, match=r"artifact\(s\) t were made from a dirty tree"):
        update_references([artifact(tmp_path, True)], "smoke", refs)
    [path] = update_references([artifact(tmp_path, False)], "smoke", refs)
    assert Artifact.read(path).environment["written_from_dirty_tree"] is False


def test_cli_refuses_with_a_clear_message_and_allow_dirty_overrides(write_nb, tmp_path,
                                                                   monkeypatch, capsys):
    from relnotes.repro.__main__ import main

    monkeypatch.chdir(tmp_path)
    write_nb(tmp_path / "notebooks" / "ch" / "tiny.ipynb",
             "from relnotes.repro import Artifact, Column\n"
             "art = Artifact('tiny', 'Tiny', profile=profile, columns=[Column('x', 'x')])\n"
             "art.add_row('row', x=1)\nart.write(artifact_dir)")
    monkeypatch.setattr(runner, "provenance", state(True))
    args = ["run", "--profile", "smoke", "--build-dir", str(tmp_path / "b"), "--no-progress",
            "--update-references"]
    assert main(args) == 2
    assert "error: refusing to write references from uncommitted code" in capsys.readouterr().err
    assert not (tmp_path / "notebooks" / "reference" / "smoke" / "tiny.json").exists()
    assert main(args + ["--allow-dirty"]) == 0
    ref = Artifact.read(tmp_path / "notebooks" / "reference" / "smoke" / "tiny.json")
    assert ref.environment["written_from_dirty_tree"] is True
