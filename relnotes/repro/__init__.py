"""Reproducibility: profiles, artifacts and the notebook runner.

- ``profiles``: ``get_profile(name)`` and every scale knob of every notebook (``Profile.scale``).
- ``artifacts``: ``Artifact`` (a table, paper beside ours, seeds, tolerances, claims,
  environment), ``compare``.
- ``claims``: ``Cell``, ``Spread``, ``Claim``: the sentences a chapter reads off a table, computed.
- ``provenance``: commit, dirty tree and source hash recorded in every artifact.
- ``runner``: execute notebooks with papermill and check artifacts against references; the command
  line is ``python -m relnotes.repro``.
- ``sphinx_ext``: the ``artifact-table`` directive that renders artifacts in the book.
"""

from .artifacts import Artifact, Column, Diff, Source, compare, environment, format_diffs
from .claims import Cell, Claim, ClaimError, Spread
from .profiles import PROFILES, Profile, UnknownProfileError, get_profile

__all__ = [
    "Artifact", "Column", "Diff", "Source", "compare", "environment", "format_diffs",
    "Cell", "Claim", "ClaimError", "Spread",
    "PROFILES", "Profile", "UnknownProfileError", "get_profile",
]
