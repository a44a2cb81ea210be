"""Measurements on models: parameters and multiply-accumulates (:mod:`.complexity`)."""

from .complexity import (
    UNITS, complexity_row, count_macs, count_macs_by_op, count_parameters, in_units,
    register_mac_formula,
)

__all__ = ["UNITS", "complexity_row", "count_macs", "count_macs_by_op", "count_parameters",
           "in_units", "register_mac_formula"]
