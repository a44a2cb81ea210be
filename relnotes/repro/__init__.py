"""Reproducibility: profiles, artifacts and the notebook runner.

- ``profiles``: ``get_profile(name)`` and every scale knob of every notebook (``Profile.scale``).
- ``artifacts``: ``Artifact`` (a table, paper beside ours, tolerances, environment), ``compare``.
- ``runner``: execute notebooks with papermill and check artifacts against references; the command
  line is ``python -m relnotes.repro``.
- ``sphinx_ext``: the ``artifact-table`` directive that renders artifacts in the book.
"""

from .artifacts import Artifact, Column, Diff, Source, compare, environment, format_diffs
from .profiles import PROFILES, Profile, UnknownProfileError, get_profile

__all__ = [
    "Artifact", "Column", "Diff", "Source", "compare", "environment", "format_diffs",
    "PROFILES", "Profile", "UnknownProfileError", "get_profile",
]
