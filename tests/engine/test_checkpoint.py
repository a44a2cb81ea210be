"""Tests for relnotes.engine.checkpoint: atomic writes, weights-only loads, clear errors."""

import os
import pickle

import pytest
import torch

import relnotes.engine.checkpoint as checkpoint
from relnotes.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


class NotAWeight:
    """A class that weights_only=True loading must refuse to rebuild."""


def test_round_trip(tmp_path):
    path = tmp_path / "sub" / "ckpt.pt"  # the parent directory is created
    state = {"weight": torch.arange(6.0).reshape(2, 3), "step": 5, "losses": [0.5, 0.25]}
    save_checkpoint(path, state)
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["weight"], state["weight"])
    assert loaded["step"] == 5
    assert loaded["losses"] == [0.5, 0.25]
    assert os.listdir(path.parent) == ["ckpt.pt"]  # no temporary file left behind


def test_save_fsyncs_before_replacing(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(checkpoint.os, "fsync", lambda fd: calls.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(checkpoint.os, "replace",
                        lambda a, b: calls.append("replace") or real_replace(a, b))
    save_checkpoint(tmp_path / "ckpt.pt", {"step": 1})
    assert calls[:2] == ["fsync", "replace"]


def test_interrupted_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"step": 1})

    def half_write(state, f):
        f.write(b"PK\x03\x04 half a zip file")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.torch, "save", half_write)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"step": 2})
    assert load_checkpoint(path)["step"] == 1
    assert os.listdir(tmp_path) == ["ckpt.pt"]


def test_save_rejects_non_dict(tmp_path):
    with pytest.raises(TypeError, match="state must be a dict; got list"):
        save_checkpoint(tmp_path / "ckpt.pt", [1, 2])


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(path)


def test_truncated_file_names_the_path(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"weight": torch.randn(100)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=f"cannot load checkpoint {path}"):
        load_checkpoint(path)


def test_garbage_file_names_the_path(tmp_path):
    path = tmp_path / "ckpt.pt"
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="ckpt.pt"):
        load_checkpoint(path)


def test_load_is_weights_only(tmp_path):
    path = tmp_path / "unsafe.pt"
    torch.save({"obj": NotAWeight()}, path)  # loadable only with weights_only=False
    with pytest.raises(CheckpointError, match="unsafe.pt") as error:
        load_checkpoint(path)
    assert isinstance(error.value.__cause__, pickle.UnpicklingError)


def test_load_rejects_non_dict(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([1, 2], path)
    with pytest.raises(CheckpointError, match="holds a list, not a dict"):
        load_checkpoint(path)
