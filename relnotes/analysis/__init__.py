"""Measurements on models.

- :mod:`.complexity`: parameters and multiply-accumulates.
- :mod:`.attention`: how much attention maps and features differ between query positions.
- :mod:`.adversarial`: FGSM / PGD attacks, robust accuracy, adversarial training losses.
- :mod:`.relation_weights` (imported by its path): what a trained relation head looks at (RN
  Figure 4, the co-occurrence slide).
- :mod:`.scene_accuracy` (by its path): does a detector tell the scene of an object (GCNet).
- :mod:`.scene_probe` (by its path): is the scene in its features at all (linear probes).
- :mod:`.lr_benchmark` (by its path): memory and speed of the local relation implementations.
- :mod:`.plots` (by its path): small figures shared by the notebooks.
"""

from .adversarial import (
    Attack, adversarial_loss_fn, fgsm, pgd, project, random_targets, recalibrate_batchnorm,
    robust_accuracy, robustness_metric_fn,
)
from .attention import (
    capture_input, cosine_distance_matrix, detector_non_local_distances, mean_cosine_distance,
    non_local_distances,
)
from .complexity import (
    LR_OP, UNITS, complexity_row, count_macs, count_macs_by_op, count_macs_with_local_relation,
    count_parameters, in_units, narrowest_width, register_mac_formula,
)

__all__ = [
    "Attack", "LR_OP", "UNITS", "adversarial_loss_fn", "capture_input", "complexity_row",
    "count_macs", "count_macs_by_op", "count_macs_with_local_relation", "count_parameters",
    "cosine_distance_matrix", "detector_non_local_distances", "fgsm", "in_units", "mean_cosine_distance", "narrowest_width", "non_local_distances", "pgd", "project", "random_targets",
    "recalibrate_batchnorm", "register_mac_formula", "robust_accuracy", "robustness_metric_fn",
]
