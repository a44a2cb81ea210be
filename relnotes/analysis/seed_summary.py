"""One row of a table from the results of several seeds: the mean of each AP, in %, and the
spread of the mAP."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

__all__ = ["detection_summary"]


def detection_summary(results: Sequence[Mapping[str, float]], *, group: bool = True) -> dict:
    """Mean over seeds of the COCO APs of :func:`relnotes.engine.detection.evaluate_detector`.

    Args:
        results (sequence of dict): one per seed, with ``mAP``, ``mAP50``, ``mAP75`` and, when
            ``group``, ``ap_group`` and ``ap_rest`` (fractions in [0, 1]).
        group (bool): report the group's AP as ``ap_context`` and the rest as ``ap_other``;
            False: both None (e.g. COCO, which has no such group). Default: True.

    Returns:
        dict: ``map``, ``map50``, ``map75``, ``map_std`` (population standard deviation of the
        mAP over the seeds; None for one seed), ``ap_context``, ``ap_other``; in %.

    Examples::

        >>> r = detection_summary([dict(mAP=0.2, mAP50=0.4, mAP75=0.1),
        ...                        dict(mAP=0.4, mAP50=0.6, mAP75=0.3)], group=False)
        >>> round(r["map"], 6), round(r["map_std"], 6), r["ap_context"]
        (30.0, 10.0, None)
    """
    if not results:
        raise ValueError("results must hold at least one seed; got none")
    mean = lambda name: 100 * statistics.mean(r[name] for r in results)
    spread = statistics.pstdev([100 * r["mAP"] for r in results]) if len(results) > 1 else None
    return dict(map=mean("mAP"), map50=mean("mAP50"), map75=mean("mAP75"), map_std=spread,
                ap_context=mean("ap_group") if group else None,
                ap_other=mean("ap_rest") if group else None)
