"""The training log :func:`relnotes.engine.fit` writes next to its checkpoint: JSON lines.

A checkpoint ``run/ckpt.pt`` gets ``run/ckpt.log.jsonl``, one JSON object per line::

    {"event": "step", "epoch": 1, "batch": 3, "step": 3, "loss": 0.71, "lr": [0.01], "time": ...}
    {"event": "epoch", "epoch": 1, "step": 10, "loss": 0.69, "metrics": {"accuracy": 0.5}, ...}

(``scale``, the loss scale of float16 training, is added to a step when there is one.) Any tool
reads it (``pandas.read_json(path, lines=True)``), and it survives interruptions the way the
checkpoint does: a resumed run first drops the lines written after the checkpoint it resumes
from, so the log never shows a step twice. When the ``tensorboard`` package is installed, the
same scalars also go to ``run/ckpt.tb/`` (``tensorboard --logdir run``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Mapping

__all__ = ["TrainingLog", "log_path"]


def log_path(checkpoint_path: str | os.PathLike) -> Path:
    """``run/ckpt.pt`` -> ``run/ckpt.log.jsonl``: where the log of a checkpoint lives."""
    path = Path(checkpoint_path)
    return path.with_name(path.stem + ".log.jsonl")


def _tensorboard_available() -> bool:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


class TrainingLog:
    """Append-only JSON-lines log of one training run (and TensorBoard scalars when installed).

    Args:
        path (path): the ``.jsonl`` file; its folder is created.
        resume_step (int, optional): the run resumes after this many steps: lines of later
            steps or epochs (written before an interruption) are dropped. Default: None (a fresh
            run: an old log at ``path`` is replaced).
        resume_epochs (int): epochs finished at ``resume_step``. Default: 0.
        tensorboard (bool, optional): also write TensorBoard scalars; None: when the
            ``tensorboard`` package is installed. Default: None.
    """

    def __init__(self, path: str | os.PathLike, *, resume_step: int | None = None,
                 resume_epochs: int = 0, tensorboard: bool | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = []
        if resume_step is not None and self.path.is_file():
            for line in self.path.read_text().splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:  # a line cut by the interruption
                    continue
                if record.get("event") == "epoch" and record.get("epoch", 0) > resume_epochs:
                    continue
                if record.get("event") == "step" and record.get("step", 0) > resume_step:
                    continue
                kept.append(line)
        self.path.write_text("".join(line + "\n" for line in kept))
        self._file = open(self.path, "a")
        if tensorboard is None:
            tensorboard = _tensorboard_available()
        self._writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.path.with_name(
                self.path.name.removesuffix(".log.jsonl") + ".tb")))

    def write(self, event: str, **fields: Any) -> None:
        """Append one record ``{"event": event, **fields, "time": unix seconds}``."""
        record = {"event": event, **fields, "time": round(time.time(), 3)}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._writer is not None:
            step = fields.get("step", 0)
            for name, value in _scalars(fields).items():
                self._writer.add_scalar(f"{event}/{name}", value, step)

    def close(self) -> None:
        self._file.close()
        if self._writer is not None:
            self._writer.close()


def _scalars(fields: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The numbers in ``fields`` (nested dicts flattened with ``/``, lists by index)."""
    out: dict[str, float] = {}
    for key, value in fields.items():
        if key in ("epoch", "batch", "step"):
            continue
        if isinstance(value, Mapping):
            out.update(_scalars(value, f"{prefix}{key}/"))
        elif isinstance(value, (list, tuple)):
            out.update({f"{prefix}{key}/{i}": float(v) for i, v in enumerate(value)
                        if isinstance(v, (int, float)) and not isinstance(v, bool)})
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"{prefix}{key}"] = float(value)
    return out
