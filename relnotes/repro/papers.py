"""Numbers printed in the papers, with where they are printed: the ``paper`` side of artifacts.

Each table is a dict from the notebook's row key to the paper's values, in the units the paper
prints (AP in %, parameters in M or Mi as the paper says, FLOPs in G). Nothing here is computed.
"""

from __future__ import annotations

__all__ = ["GCNET_COCO", "RN_TABLES_1_2", "RN_TABLES_1_2_COCO_NR", "RN_TABLE_3", "RN_TABLE_4"]

#: Han Hu's talk, the COCO table slide (R50-FPN Mask R-CNN, 1x, COCO val, SyncBN backbone):
#: box / mask AP, detector parameters (M, 10^6) and FLOPs (G). Baseline and GC AP are also in the
#: GCNet README; NL's AP is also on the authors' statistics slide. SE's AP (38.2 / 34.7) and GC's
#: FLOPs (279.6 G) are the talk's table's numbers only: the GCNet paper's Table 2, where SE's AP
#: would be, could not be checked (shared/reference: global-context.md §2, datasets.md §4.5).
GCNET_COCO = {
    "baseline": dict(ap_box=37.2, ap_mask=33.8, coco_params_m=44.4, coco_gmac=279.4),
    "+NL (c4, 1 block)": dict(ap_box=38.0, ap_mask=34.7, coco_params_m=46.5, coco_gmac=288.7),
    "+SE (r16, c3-c5)": dict(ap_box=38.2, ap_mask=34.7, coco_params_m=46.9, coco_gmac=279.5),
    "+GC (r16, c3-c5)": dict(ap_box=39.4, ap_mask=35.7, coco_params_m=46.9, coco_gmac=279.6),
}

#: RN (arXiv:1711.11575v2) Table 1 (mAP) and Table 2 (mAP, mAP50, mAP75, #params of the detector
#: printed in M, which is 2^20), ResNet-50, COCO minival. Row keys of ``rn_ablation_head``; the
#: N_r rows are the paper's N_r = 4, 8, 32 beside ours 1, 2, 8 (same d_f / N_r).
RN_TABLES_1_2 = {
    "2fc": dict(map=29.6, map50=50.9, map75=30.1, params_mi=38.0),
    "none": dict(map=30.3), "unary": dict(map=31.1),
    "relative": dict(map=31.9, map50=53.7, map75=33.1, params_mi=44.0),
    "nr1": dict(map=31.3), "nr2": dict(map=31.7), "nr8": dict(map=31.7),
    "r10": dict(map=31.7), "r01": dict(map=31.4),
    "r22": dict(map=32.5, map50=54.0, map75=33.8, params_mi=50.0),
    "wide2fc": dict(map=29.7, map50=50.3, map75=30.2, params_mi=44.1),
    "3fc": dict(map=29.0, map50=49.4, map75=29.6, params_mi=39.0),
}

#: RN Table 1 (b), (c) with the paper's own N_r (d_f = 1024 on COCO): the same N_r side by side.
RN_TABLES_1_2_COCO_NR = dict(nr1=dict(map=30.5), nr2=dict(map=30.6), nr4=dict(map=31.3),
                             nr8=dict(map=31.7), nr32=dict(map=31.7), r44=dict(map=32.8))

#: RN Table 3 (mAP), inputs of the duplicate-removal network. Row keys of
#: ``rn_duplicate_removal_inputs``.
RN_TABLE_3 = {"nms": 29.6, "eta 0.5-0.9": 30.3, "rank: none": 26.6, "rank: s0": 28.3,
              "appearance: none": 29.9, "geometry: none": 28.1, "geometry: unary": 28.2}

#: RN Table 4 (mAP, mAP50, mAP75): NMS (N_t), Soft-NMS (sigma) and the learned network.
RN_TABLE_4 = {("nms", 0.3): (29.0, 51.4, 29.4), ("nms", 0.4): (29.4, 52.1, 29.5),
              ("nms", 0.5): (29.6, 51.9, 29.7), ("nms", 0.6): (29.6, 50.9, 30.1),
              ("nms", 0.7): (28.4, 46.6, 30.7), ("soft", 0.2): (30.0, 52.3, 30.5),
              ("soft", 0.4): (30.2, 51.7, 31.3), ("soft", 0.6): (30.2, 50.9, 31.6),
              ("soft", 0.8): (29.9, 49.9, 31.6), ("soft", 1.0): (29.7, 49.7, 31.6),
              "eta 0.5": (30.3, 51.9, 31.5), "eta 0.75": (30.1, 49.0, 32.7),
              "eta 0.5-0.9": (30.5, 50.2, 32.4), "e2e": (31.0, 51.4, 32.8)}
