"""Reproducibility: profiles, artifacts and the notebook runner.

- ``profiles``: ``get_profile(name)`` and every scale knob of every notebook (``Profile.scale``).
- ``artifacts``: ``Artifact`` (a table, paper beside ours, seeds, tolerances, claims,
  environment), ``compare``.
- ``claims``: ``Cell``, ``Spread``, ``Claim``: the sentences a chapter reads off a table, computed.
- ``provenance``: commit, dirty tree and source hash recorded in every artifact.
- ``runner``: execute notebooks with papermill and check artifacts against references; the command
  line is ``python -m relnotes.repro``.
- ``torchrun``: ``run --launcher torchrun``, a notebook's code in N processes, every ``fit`` with
  DistributedDataParallel.
- ``dryrun``: ``dry-run``, parameters, knobs, data and measured memory, without training.
- ``numerics``, ``cache``: the pinned numerical path of the references; the book build's cache.
- ``papers``: the papers' numbers, with their sources; ``earlier``: values of an earlier design's
  archived reference.
- ``scorecard``, ``needs``: what matched; what each notebook needs (time, memory).
- ``sphinx_ext``: the ``artifact-table``, ``scorecard`` and ``notebook-needs`` directives and the
  ``claim`` and ``earlier`` roles; ``sphinx_site``: the launch and repository links; ``book_copy``: the executed
  notebooks as the book shows them; ``launch``: the install cell of every notebook.
"""

from .artifacts import Artifact, Column, Diff, Source, compare, environment, format_diffs
from .claims import Cell, Claim, ClaimError, Spread
from .profiles import PROFILES, Profile, UnknownProfileError, get_profile

__all__ = [
    "Artifact", "Column", "Diff", "Source", "compare", "environment", "format_diffs",
    "Cell", "Claim", "ClaimError", "Spread",
    "PROFILES", "Profile", "UnknownProfileError", "get_profile",
]
