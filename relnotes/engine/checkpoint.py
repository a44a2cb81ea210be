"""Checkpoints that survive interruptions and load without running foreign code.

Two rules, both learned the hard way by anyone who has trained for a day:

1. **Write atomically.** ``torch.save(state, path)`` straight onto the old checkpoint leaves a
   half-written file if the process dies mid-write (a Ctrl-C, a killed job, a full disk), and the
   last good checkpoint is gone with it. :func:`save_checkpoint` writes to a temporary file in the
   same directory, flushes it to disk (``os.fsync``) and then renames it over the old file with
   ``os.replace``, which is atomic: a reader sees the old checkpoint or the new one, never a mix.
2. **Load with** ``weights_only=True``. A checkpoint is a pickle, and unpickling can run arbitrary
   code. ``torch.load(..., weights_only=True)`` only rebuilds tensors and plain containers
   (dict, list, tuple, str, int, float, bool, None), which is all a training state needs.
   Keep non-tensor data in those types (``relnotes.engine.seed.rng_state`` does, for example).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint"]


class CheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be read (truncated, corrupted or not weights-only)."""


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically: the file at ``path`` is always complete.

    Args:
        path (str or PathLike): where to write; missing parent directories are created.
        state (dict): tensors and plain Python containers (see the module docstring).
    """
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict; got {type(state).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the rename makes them visible
        os.replace(tmp, path)
    except BaseException:  # also KeyboardInterrupt: never leave the temporary file behind
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX only; Windows cannot open a directory)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (or any weights-only ``torch.save``).

    Args:
        path (str or PathLike): the checkpoint file.
        map_location: where tensors go, as in ``torch.load``. Default: ``"cpu"``.

    Returns:
        dict: the saved state.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is truncated, corrupted, not a dict, or needs more than
            ``weights_only=True`` allows. The message names the path.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several types for damaged or unsafe files
        raise CheckpointError(f"cannot load checkpoint {path}: {error}") from error
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a dict")
    return state
