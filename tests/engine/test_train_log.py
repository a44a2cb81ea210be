"""The JSON-lines training log: records, resume truncation, TensorBoard when installed."""

import json

import pytest

from relnotes.engine.train_log import TrainingLog, _scalars, log_path


def test_log_path_sits_beside_the_checkpoint(tmp_path):
    assert log_path(tmp_path / "run" / "ckpt.pt") == tmp_path / "run" / "ckpt.log.jsonl"


def test_records_and_resume_drop_what_came_after_the_checkpoint(tmp_path):
    path = tmp_path / "run" / "ckpt.log.jsonl"
    log = TrainingLog(path, tensorboard=False)
    for step in (1, 2, 3):
        log.write("step", epoch=1, batch=step, step=step, loss=1.0 / step)
    log.write("epoch", epoch=1, step=3, loss=0.6, metrics={})
    log.write("step", epoch=2, batch=1, step=4, loss=0.2)
    log.close()
    with open(path, "a") as f:
        f.write('{"event": "step", "ste')  # a line cut by the interruption
    records = TrainingLog(path, resume_step=3, resume_epochs=1, tensorboard=False)
    records.close()
    kept = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["event"], r["step"]) for r in kept] == [("step", 1), ("step", 2), ("step", 3),
                                                       ("epoch", 3)]
    assert kept[0]["loss"] == 1.0 and "time" in kept[0]
    TrainingLog(path, resume_step=2, resume_epochs=0, tensorboard=False).close()
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2]
    TrainingLog(path, tensorboard=False).close()  # a fresh run replaces the log
    assert path.read_text() == ""


def test_scalars_flatten_the_numbers():
    assert _scalars({"epoch": 1, "step": 3, "loss": 0.5, "lr": [0.1, 0.2],
                     "metrics": {"acc": 1}, "flag": True}) == {
        "loss": 0.5, "lr/0": 0.1, "lr/1": 0.2, "metrics/acc": 1.0}


def test_tensorboard_scalars_when_installed(tmp_path):
    pytest.importorskip("tensorboard")
    log = TrainingLog(tmp_path / "ckpt.log.jsonl")
    log.write("step", step=1, loss=0.5)
    log.close()
    assert any((tmp_path / "ckpt.tb").iterdir())
