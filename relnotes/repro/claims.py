"""Claims: the sentences of a chapter that interpret a result, computed from the artifact.

A chapter never says "the relative geometry helps" on its own authority. The notebook states it as
a *claim*, a comparison of two numbers of its artifact with an explicit margin, and stores the
claim in the artifact with its truth value and the numbers it used. The book renders the claim
from the artifact (the ``{claim}`` role), and the comparison with the reference requires the
same truth value, so prose and numbers cannot disagree without a test failing.

A claim is ``left op right`` with a margin ``m >= 0``:

==========  =============================  =======================================
op          holds when                     reads as
==========  =============================  =======================================
``'>'``     left - right > m               left is larger than right by more than m
``'<'``     right - left > m               left is smaller than right by more than m
``'~'``     abs(left - right) <= m         left equals right within m
==========  =============================  =======================================

An operand is a number (a chance level, a threshold) or a :class:`Cell`, our value of one row and
metric of the artifact (the mean over the seeds for a seeded column). The margin is a number or a
:class:`Spread`: ``Spread(k, at_least=a)`` is ``max(k * s_p, a)``, with ``s_p`` the pooled sample
standard deviation of the seeds of the cells the claim uses,

    s_p = sqrt( sum_i (n_i - 1) s_i^2 / sum_i (n_i - 1) )

over the cells with n_i >= 2 seeds (``s_p`` = 0 when no cell has two seeds: the margin is then
the floor ``a``, which is why a claim on a one-seed profile needs one).

Example::

    >>> from relnotes.repro import Artifact, Column
    >>> from relnotes.repro.claims import Cell, Spread
    >>> art = Artifact("demo", "Demo", profile="cpu", columns=[Column("acc", "top-1", seeds_k=2)])
    >>> _ = art.add_row("relative", acc=[71.0, 72.0, 73.0])
    >>> _ = art.add_row("2fc", acc=[66.0, 67.0, 68.0])
    >>> art.claim("rel-beats-2fc", "the relative geometry beats 2fc",
    ...           Cell("relative", "acc"), ">", Cell("2fc", "acc"), margin=Spread(2, at_least=1))
    True
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Cell", "Spread", "Claim", "ClaimError", "OPS", "pooled_sd"]

OPS = (">", "<", "~")
CLAIM_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class ClaimError(ValueError):
    """A claim that cannot be evaluated: unknown cell, bad operator, a claim defined twice."""


@dataclass(frozen=True)
class Cell:
    """Our value of ``metric`` in row ``row`` (the mean over the seeds), times ``times``.

    ``times`` states a fraction in the claim itself: "the loss falls below half its initial
    value" is ``Cell("epoch 3", "loss") < Cell("epoch 0", "loss", times=0.5)``.
    """

    row: str
    metric: str
    times: float = 1.0

    def describe(self) -> str:
        base = f"{self.row} / {self.metric}"
        return base if self.times == 1 else f"{self.times:g} x ({base})"

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "metric": self.metric, "times": self.times}


@dataclass(frozen=True)
class Spread:
    """A margin of ``k`` pooled standard deviations of the seeds, never below ``at_least``."""

    k: float
    at_least: float = 0.0

    def __post_init__(self) -> None:
        if not (self.k >= 0 and self.at_least >= 0):
            raise ClaimError(f"Spread needs k >= 0 and at_least >= 0; got k={self.k}, "
                             f"at_least={self.at_least}")

    def describe(self) -> str:
        return f"max({self.k:g} x pooled sd of the seeds, {self.at_least:g})"


class CellSource(Protocol):
    """What a claim reads: ``cell(row, metric)`` -> ``(mean, sd or None, n)``. An Artifact."""

    id: str

    def cell_stats(self, row: str, metric: str) -> tuple[float, float | None, int]: ...


def pooled_sd(stats: list[tuple[float, float | None, int]]) -> float:
    """s_p = sqrt(sum (n_i - 1) s_i^2 / sum (n_i - 1)) over cells with two seeds or more; else 0."""
    num = sum((n - 1) * sd ** 2 for _, sd, n in stats if sd is not None and n >= 2)
    den = sum(n - 1 for _, sd, n in stats if sd is not None and n >= 2)
    return math.sqrt(num / den) if den else 0.0


@dataclass(frozen=True)
class Claim:
    """``left op right`` with a margin, named ``id``, stated as ``statement``. See the module.

    Args:
        id (str): lower-case name cited by the book (``rn-relative-beats-2fc``): letters,
            digits, ``-``, ``_``, ``.``.
        statement (str): the sentence the chapter would write, as a positive statement; the book
            shows it with its truth value.
        left, right (Cell | float): the operands.
        op (str): ``'>'``, ``'<'`` or ``'~'``.
        margin (float | Spread): Default: 0.
    """

    id: str
    statement: str
    left: Cell | float
    op: str
    right: Cell | float
    margin: float | Spread = 0.0

    def __post_init__(self) -> None:
        if not CLAIM_ID.match(self.id or ""):
            raise ClaimError(f"claim id must be lower-case letters, digits, '-', '_' or '.', "
                             f"starting with a letter or digit; got {self.id!r}")
        if not self.statement.strip():
            raise ClaimError(f"claim {self.id!r}: the statement is empty")
        if self.op not in OPS:
            raise ClaimError(f"claim {self.id!r}: op must be one of {OPS}; got {self.op!r}")
        for side in (self.left, self.right):
            if not isinstance(side, (Cell, int, float)) or isinstance(side, bool):
                raise ClaimError(f"claim {self.id!r}: an operand is a Cell or a number; got "
                                 f"{side!r}")
        if isinstance(self.margin, (int, float)) and not self.margin >= 0:
            raise ClaimError(f"claim {self.id!r}: margin must be >= 0; got {self.margin}")

    def cells(self) -> list[Cell]:
        return [s for s in (self.left, self.right) if isinstance(s, Cell)]

    def evaluate(self, source: CellSource) -> tuple[bool, dict[str, Any]]:
        """The truth value and the numbers it used (left, right, difference, margin, per cell
        mean / sd / n)."""
        used: dict[str, Any] = {"cells": []}
        stats = []

        def value(side: Cell | float) -> float:
            if not isinstance(side, Cell):
                return float(side)
            try:
                mean, sd, n = source.cell_stats(side.row, side.metric)
            except KeyError as e:
                raise ClaimError(f"claim {self.id!r} of artifact {source.id!r}: "
                                 f"{e.args[0]}") from None
            stats.append((mean, sd, n))
            used["cells"].append({**side.to_dict(), "mean": mean, "sd": sd, "n": n})
            return side.times * mean

        left, right = value(self.left), value(self.right)
        if isinstance(self.margin, Spread):
            sp = pooled_sd(stats)
            margin = max(self.margin.k * sp, self.margin.at_least)
            used["pooled_sd"] = sp
        else:
            margin = float(self.margin)
        diff = left - right
        if self.op == ">":
            holds = diff > margin
        elif self.op == "<":
            holds = -diff > margin
        else:
            holds = abs(diff) <= margin
        used.update(left=left, right=right, difference=diff, margin=margin)
        return bool(holds), used

    def describe(self) -> str:
        """``relative / ap > 2fc / ap + max(2 x pooled sd of the seeds, 1)``, in words."""
        def side(s: Cell | float) -> str:
            return s.describe() if isinstance(s, Cell) else f"{s:g}"

        m = self.margin.describe() if isinstance(self.margin, Spread) else f"{self.margin:g}"
        if self.op == "~":
            return f"|{side(self.left)} - {side(self.right)}| <= {m}"
        return f"{side(self.left)} - {side(self.right)} {self.op} " + \
            (f"{m}" if self.op == ">" else f"-({m})")

    def to_dict(self) -> dict[str, Any]:
        def side(s: Cell | float) -> Any:
            return s.to_dict() if isinstance(s, Cell) else s

        margin = ({"k": self.margin.k, "at_least": self.margin.at_least}
                  if isinstance(self.margin, Spread) else self.margin)
        return {"id": self.id, "statement": self.statement, "left": side(self.left),
                "op": self.op, "right": side(self.right), "margin": margin}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Claim":
        def side(s: Any) -> Cell | float:
            return Cell(**s) if isinstance(s, dict) else s

        m = d.get("margin", 0.0)
        margin = Spread(**m) if isinstance(m, dict) else m
        return cls(d["id"], d["statement"], side(d["left"]), d["op"], side(d["right"]), margin)
