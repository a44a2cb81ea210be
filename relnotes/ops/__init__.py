"""Functional ops: they hold no parameters (the modules in relnotes.nn do)."""

from .relation import relation, scaled_dot_product

__all__ = ["relation", "scaled_dot_product"]
