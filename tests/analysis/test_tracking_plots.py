import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from relnotes.analysis.mot_metrics import accumulate  # noqa: E402
from relnotes.analysis.tracking_plots import history_visibility, occluded_attention, plot_tracks  # noqa: E402
from relnotes.data.mot import synthetic_sequence  # noqa: E402


def test_plot_tracks_counts_the_switches():
    gt = np.array([[f, 1, 10.0 * f, 0, 10, 20, 1, 1, 1] for f in range(1, 5)])
    hyp = gt[:, :7].copy()
    hyp[2:, 1] = 7                                   # a new tracker id from frame 3: one switch
    fig, ax = plt.subplots()
    assert plot_tracks(ax, gt, hyp, accumulate(gt, hyp)) == 1
    plt.close(fig)


def test_history_visibility_and_occluded_attention():
    seq = synthetic_sequence(n_frames=30, n_groups=6, seed=2)
    rows = np.nonzero(seq.det_ids >= 0)[0][:3]
    vis = history_visibility(seq, np.r_[rows, -1])
    assert np.isnan(vis[-1]) and np.all((vis[:3] >= 0) & (vis[:3] <= 1))
    same = np.nonzero(seq.det_ids == seq.det_ids[rows[0]])[0]
    rec = (int(seq.det[same[5], 0]), 1, same[:5], np.full(5, 0.2), int(same[5]))
    picked = occluded_attention(seq, [rec])
    assert picked is None or picked is rec


def test_animate_tracks_writes_a_small_gif_with_every_frame(tmp_path):
    from PIL import Image

    from relnotes.analysis.mot_metrics import accumulate
    from relnotes.analysis.tracking_plots import animate_tracks
    from relnotes.data.mot import synthetic_sequence
    from relnotes.engine.tracking import track
    from relnotes.models.strn import IoUMotion

    seq = synthetic_sequence(n_frames=12, n_groups=2, seed=0)
    rows = track(IoUMotion(), seq, min_score=0.2).rows
    acc = accumulate(seq.gt, rows)
    n = animate_tracks(tmp_path / "a.gif", seq, rows, acc, title="IoU", dpi=40)
    assert n == sum(kind == "SWITCH" for _, kind, *_ in acc.events)
    with Image.open(tmp_path / "a.gif") as im:
        assert im.n_frames == 12 and im.size[0] == 240
    assert (tmp_path / "a.gif").stat().st_size < 1_000_000
    animate_tracks(tmp_path / "empty.gif", seq, np.zeros((0, 7)), accumulate(seq.gt, np.zeros((0, 7))))
    with pytest.raises(ValueError, match="hold and fps"):
        animate_tracks(tmp_path / "b.gif", seq, rows, acc, hold=0)
