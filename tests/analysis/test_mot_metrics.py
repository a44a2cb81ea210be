"""CLEAR MOT / IDF1 against py-motmetrics' published toy example and hand-made sequences."""

import numpy as np
import pytest

from relnotes.analysis.mot_metrics import (MOTAccumulator, assign_with_missing, evaluate_many,
                                           evaluate_mot, iou_distance, mot_metrics)

nan = np.nan


def readme_accumulator():
    """py-motmetrics README, "Populating the accumulator" (three frames)."""
    acc = MOTAccumulator()
    acc.update([1, 2], [1, 2, 3], [[0.1, nan, 0.3], [0.5, 0.2, 0.3]])
    acc.update([1, 2], [1], [[0.2], [0.4]])
    acc.update([1, 2], [1, 3], [[0.6, 0.2], [0.1, 0.6]])
    return acc


def test_readme_events():
    acc = readme_accumulator()
    kinds = [(f, k, o, h) for f, k, o, h, _ in acc.events]
    assert kinds == [(0, "MATCH", 1, 1), (0, "MATCH", 2, 2), (0, "FP", None, 3),
                     (1, "MATCH", 1, 1), (1, "MISS", 2, None),
                     (2, "MATCH", 1, 1), (2, "SWITCH", 2, 3)]


def test_readme_summary_full():
    # README: num_frames 3, mota 0.5, motp 0.34; MOTChallenge rendering of "full":
    # IDF1 83.3% IDP 83.3% IDR 83.3% Rcll 83.3% Prcn 83.3% GT 2 MT 1 PT 1 ML 0 FP 1 FN 1 IDs 1 FM 1
    m = mot_metrics(readme_accumulator())
    assert m["num_frames"] == 3
    assert m["mota"] == pytest.approx(0.5)
    assert m["motp"] == pytest.approx(0.34)
    for k in ("idf1", "idp", "idr", "recall", "precision"):
        assert m[k] == pytest.approx(5 / 6), k
    assert (m["num_unique_objects"], m["mostly_tracked"], m["partially_tracked"],
            m["mostly_lost"], m["num_false_positives"], m["num_misses"], m["num_switches"],
            m["num_fragmentations"]) == (2, 1, 1, 0, 1, 1, 1, 1)


def test_readme_summary_part():
    # README "part" = acc.events.loc[0:1]: num_frames 2, mota 0.5, motp 0.166667,
    # IDF1/IDP/IDR/Rcll/Prcn 75.0%, GT 2 MT 1 PT 1 ML 0 FP 1 FN 1 IDs 0 FM 0
    m = mot_metrics(readme_accumulator().upto(1))
    assert m["num_frames"] == 2
    assert m["mota"] == pytest.approx(0.5)
    assert m["motp"] == pytest.approx(0.5 / 3)
    for k in ("idf1", "idp", "idr", "recall", "precision"):
        assert m[k] == pytest.approx(0.75), k
    assert (m["num_unique_objects"], m["mostly_tracked"], m["partially_tracked"],
            m["mostly_lost"], m["num_false_positives"], m["num_misses"], m["num_switches"],
            m["num_fragmentations"]) == (2, 1, 1, 0, 1, 1, 0, 0)


# --- hand-made sequences: two objects, 4 frames, far apart ---------------------------------------
def gt_rows():
    rows = []
    for f in range(1, 5):
        rows += [[f, 1, 10 + 5 * f, 10, 20, 40], [f, 2, 200 - 5 * f, 100, 20, 40]]
    return np.array(rows, dtype=float)


def relabel(rows, mapping):
    """Tracker output: the ground truth with ids replaced per (frame, id) -> new id."""
    out = rows.copy()
    for k, (f, i) in enumerate(rows[:, :2].astype(int)):
        out[k, 1] = mapping.get((f, i), 10 * i)
    return out


def test_perfect_tracker():
    m = evaluate_mot(gt_rows(), relabel(gt_rows(), {}))
    assert (m["mota"], m["motp"], m["idf1"]) == (1.0, 0.0, 1.0)
    assert (m["num_switches"], m["num_false_positives"], m["num_misses"],
            m["num_fragmentations"], m["mostly_tracked"]) == (0, 0, 0, 0, 2)


def test_one_identity_switch():
    # object 1 is hypothesis 10 in frames 1-2 and hypothesis 30 in frames 3-4.
    hyp = relabel(gt_rows(), {(3, 1): 30, (4, 1): 30})
    m = evaluate_mot(gt_rows(), hyp)
    assert m["num_switches"] == 1                       # once, at frame 3; frame 4 keeps 30
    assert m["mota"] == pytest.approx(1 - 1 / 8)
    # best identity matching: 1<->10 (2 frames), 2<->20 (4): IDTP 6 of 8 objects, 8 predictions
    assert (m["idtp"], m["idfn"], m["idfp"]) == (6, 2, 2)
    assert m["idf1"] == pytest.approx(2 * 6 / 16)
    assert (m["num_misses"], m["num_false_positives"], m["num_fragmentations"]) == (0, 0, 0)


def test_one_missed_object():
    gt = gt_rows()
    hyp = relabel(gt, {})
    hyp = hyp[~((hyp[:, 0] == 3) & (hyp[:, 1] == 10))]     # object 1 not reported in frame 3
    m = evaluate_mot(gt, hyp)
    assert (m["num_misses"], m["num_switches"], m["num_false_positives"]) == (1, 0, 0)
    assert m["num_fragmentations"] == 1                    # tracked, lost, tracked again
    assert m["mota"] == pytest.approx(1 - 1 / 8)
    assert m["recall"] == pytest.approx(7 / 8)
    assert m["idf1"] == pytest.approx(2 * 7 / (8 + 7))
    # object 1 is tracked in 3 of 4 frames (0.75 < 0.8): partially tracked
    assert (m["mostly_tracked"], m["partially_tracked"], m["mostly_lost"]) == (1, 1, 0)


def test_one_false_positive():
    gt = gt_rows()
    hyp = np.concatenate([relabel(gt, {})[:3], [[2, 99, 400, 300, 20, 40]],
                          relabel(gt, {})[3:]])
    m = evaluate_mot(gt, hyp)
    assert (m["num_false_positives"], m["num_misses"], m["num_switches"]) == (1, 0, 0)
    assert m["mota"] == pytest.approx(1 - 1 / 8)
    assert m["precision"] == pytest.approx(8 / 9)
    assert m["idf1"] == pytest.approx(2 * 8 / (8 + 9))


def test_previous_match_kept_before_assignment():
    # A lower-cost pair exists, but the previous match stays valid: no switch (README frame 3).
    acc = MOTAccumulator()
    acc.update([1], [7], [[0.4]])
    acc.update([1], [7, 8], [[0.45, 0.01]])
    assert [e[1:4] for e in acc.events] == [("MATCH", 1, 7), ("MATCH", 1, 7), ("FP", None, 8)]


def test_switch_is_counted_after_a_miss():
    # matched to 7, missed, then matched to 8: a switch (the last partner is remembered).
    acc = MOTAccumulator()
    acc.update([1], [7], [[0.1]])
    acc.update([1], [], np.zeros((1, 0)))
    acc.update([1], [8], [[0.1]])
    assert mot_metrics(acc)["num_switches"] == 1


def test_assignment_prefers_more_pairs():
    # one cheap pair (0, 0) vs two dearer pairs (0, 1) + (1, 0): py-motmetrics takes two.
    rows, cols = assign_with_missing(np.array([[0.0, 0.4], [0.4, nan]]))
    assert sorted(zip(rows.tolist(), cols.tolist())) == [(0, 1), (1, 0)]


def test_iou_distance():
    d = iou_distance([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 10, 10], [0, 0, 10, 20]])
    assert d[0, 0] == pytest.approx(0.0)
    assert np.isnan(d[0, 1])                               # IoU 1/3 < 0.5
    assert d[0, 2] == pytest.approx(0.5)                   # IoU 0.5 is still a pair


def test_evaluate_many_sums_sequences():
    gt = gt_rows()
    one_switch = relabel(gt, {(3, 1): 30, (4, 1): 30})
    m = evaluate_many([(gt, relabel(gt, {})), (gt, one_switch)])
    # 16 objects, one switch; identities: 8 + 6 true positives of 16 objects and 16 predictions
    assert m["num_objects"] == 16 and m["num_switches"] == 1
    assert m["mota"] == pytest.approx(1 - 1 / 16)
    assert m["idf1"] == pytest.approx(2 * 14 / 32)
    assert m["num_frames"] == 8
