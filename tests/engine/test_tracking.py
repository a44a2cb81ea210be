import numpy as np
import torch

from relnotes.data.mot import MOTSequence, synthetic_sequence
from relnotes.engine.tracking import oracle_pairs, track, train_pair_scorer
from relnotes.models.strn import STRN, IoUMotion


def two_walkers(n_frames=6, gap_frame=None):
    """Two far-apart boxes walking right, detected every frame (one frame missing if gap_frame)."""
    det, ids = [], []
    for f in range(1, n_frames + 1):
        for i, y in ((1, 10.0), (2, 200.0)):
            if f == gap_frame and i == 1:
                continue
            det.append([f, -1, 10 + 3 * f, y, 20, 40, 0.9])
            ids.append(i)
    det = np.array(det)
    gt = np.array([[r[0], i, *r[2:6], 1, 1, 1] for r, i in zip(det, ids)])
    return MOTSequence("toy", 300, 300, n_frames, gt, det, np.zeros((len(det), 4)),
                       np.array(ids))


def test_iou_tracker_keeps_identities():
    seq = two_walkers()
    rows = track(IoUMotion(), seq, min_score=0.3).rows
    assert rows.shape == (12, 7)
    for gt_id in (1, 2):
        ours = rows[seq.det_ids == gt_id, 1]
        assert len(set(ours)) == 1
    assert len(set(rows[:, 1])) == 2


def test_tracklet_survives_a_missed_frame_and_dies_after_max_age():
    seq = two_walkers(gap_frame=3)
    rows = track(IoUMotion(), seq, min_score=0.3, max_age=5).rows
    assert len(set(rows[:, 1])) == 2                       # constant velocity bridges the gap
    rows = track(IoUMotion(), seq, min_score=0.3, max_age=0).rows
    assert len(set(rows[:, 1])) == 3                       # max_age 0: a new id after the gap


def test_birth_threshold():
    seq = two_walkers()
    seq.det[seq.det_ids == 2, 6] = 0.1
    rows = track(IoUMotion(), seq, min_score=0.3, birth_conf=0.5).rows
    assert set(rows[:, 1]) == {1}


def test_oracle_pairs_labels():
    seq = two_walkers(n_frames=3)
    pairs = oracle_pairs(seq, history=2, max_age=5)
    p = pairs[-1]                                          # frame 3: two tracklets, two dets
    assert p.frame == 3 and p.hist.shape == (2, 2)
    np.testing.assert_array_equal(p.labels, np.eye(2))
    np.testing.assert_array_equal(p.ages, [[2, 1], [2, 1]])


def test_training_lowers_the_loss_and_tracks():
    seqs = [synthetic_sequence(n_frames=25, n_groups=3, seed=s) for s in (0, 1)]
    torch.manual_seed(0)
    model = STRN(16, d_f=8, n_relations=2, d_k=4, d_g=8, window=3)
    losses = train_pair_scorer(model, seqs, epochs=4, lr=1e-2, seed=0)
    assert losses[-1] < losses[0]
    out = track(model, seqs[0], return_attention=True)
    assert out.rows.shape[1] == 7 and len(out.rows) > 0
    assert all(abs(w.sum() - 1) < 1e-5 for *_, w, _ in out.attention)


def test_gate_mask_by_hand():
    """Centre distance <= gate * frames since + the last box's height."""
    from relnotes.engine.tracking import gate_mask

    last = torch.tensor([[0.0, 0.0, 10.0, 20.0]])            # centre (5, 10), height 20
    det = torch.tensor([[30.0, 0.0, 40.0, 20.0],              # centre (35, 10): 30 px away
                        [31.0, 0.0, 41.0, 20.0]])             # 31 px away
    np.testing.assert_array_equal(gate_mask(last, np.array([2]), det, 5.0), [[True, False]])
    np.testing.assert_array_equal(gate_mask(last, np.array([1]), det, 5.0), [[False, False]])


def test_gated_training_keeps_the_pairs_inside_the_gate():
    """Two walkers 190 px apart: with a 5 px/frame gate only the same-identity pairs (and no
    cross pair) are in the loss; a gate wider than the image changes nothing."""
    from relnotes.engine.tracking import _gate_pairs, xywh_to_xyxy

    seq = two_walkers(n_frames=4)
    pairs = oracle_pairs(seq, history=2, max_age=5)
    inside = _gate_pairs(pairs, xywh_to_xyxy(seq.det[:, 2:6]), 5.0)
    for p, g in zip(pairs, inside):
        np.testing.assert_array_equal(g.numpy(), p.labels)
    assert _gate_pairs(pairs, xywh_to_xyxy(seq.det[:, 2:6]), None) == [None] * len(pairs)
    seqs = [synthetic_sequence(n_frames=15, n_groups=2, seed=0)]
    runs = []
    for gate in (None, 1e6, 5.0):
        torch.manual_seed(0)
        model = STRN(16, d_f=8, n_relations=2, d_k=4, d_g=8, window=3)
        runs.append(train_pair_scorer(model, seqs, epochs=2, lr=1e-2, seed=0, gate=gate))
    assert runs[0] == runs[1] and runs[2] != runs[0]
