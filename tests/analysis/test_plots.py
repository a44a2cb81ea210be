import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from relnotes.analysis.plots import (  # noqa: E402
    draw_detections, plot_seed_bars, show_context_masks, show_context_shapes,
)
import pytest  # noqa: E402
from relnotes.data.context_shapes import make_context_shapes  # noqa: E402


def test_show_context_shapes_draws_every_box():
    data = make_context_shapes(3, seed=0)
    fig = show_context_shapes(data, 3)
    assert [len(ax.patches) for ax in fig.axes] == [len(b) for b in data.boxes[:3]]
    plt.close(fig)


def test_draw_detections_keeps_the_confident_boxes():
    fig, ax = plt.subplots()
    det = dict(boxes=torch.tensor([[1.0, 1, 5, 5], [2, 2, 6, 6]]), scores=torch.tensor([0.9, 0.05]))
    n = draw_detections(ax, np.zeros((8, 8, 3)), np.array([[1.0, 1, 4, 4]]), det, min_score=0.1,
                        title="x")
    assert n == 1 and len(ax.patches) == 2 and ax.get_title() == "x: 1 boxes"
    plt.close(fig)


def test_plot_loss_curves_averages_windows():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from relnotes.analysis.plots import plot_loss_curves

    fig, ax = plt.subplots()
    w = plot_loss_curves(ax, {"a": [float(i) for i in range(45)]}, points=20, title="t")
    assert w == 2 and ax.get_xlabel() == "step / 2" and ax.get_title() == "t"
    y = ax.lines[0].get_ydata()
    assert len(y) == 22 and y[0] == 0.5 and y[-1] == 42.5      # steps 44 left out
    plt.close(fig)


def test_show_relation_pairs_draws_query_top_keys_and_deciding_box():
    from relnotes.analysis.plots import show_relation_pairs

    rois = np.array([[0, 0, 4, 4], [10, 10, 14, 14], [20, 20, 24, 24], [0, 20, 4, 24]], float)
    w = np.full((4, 4), 0.1)
    w[0, 1], w[0, 2] = 0.5, 0.3
    roi_gt = np.array([0, 1, -1, 2])                        # RoI 2 lies on background
    target = {"boxes": torch.tensor(rois, dtype=torch.float32), "labels": torch.tensor([4, 1, 2])}
    fig = show_relation_pairs([(0, rois, w, roi_gt, 0, 1, target)], lambda i: np.zeros((30, 30, 3)),
                              ["player", "table", "tree", "glove"], top=2, title="t")
    ax = fig.axes[0]
    assert len(ax.patches) == 4                              # deciding box, 2 keys, the query
    assert sorted(t.get_text() for t in ax.texts) == ["0.30", "0.50"] and ax.get_title() == "glove"
    assert [p.get_linestyle() for p in ax.patches[1:3]] == ["-", "--"]   # key on background dashed
    plt.close(fig)


def test_show_relation_pairs_fills_rows_of_readable_panels():
    from relnotes.analysis.plots import show_relation_pairs

    rois = np.array([[0, 0, 4, 4], [10, 10, 14, 14]], float)
    target = {"boxes": torch.tensor(rois, dtype=torch.float32), "labels": torch.tensor([1, 2])}
    item = (0, rois, np.full((2, 2), 0.5), np.array([0, 1]), 0, 1, target)
    fig = show_relation_pairs([item] * 6, lambda i: np.zeros((20, 20, 3)), ["a", "b"])
    width, height = fig.get_size_inches()
    assert len(fig.axes) == 6 and (width, height) == (3 * 3.6, 2 * 3.8)   # 2 rows of 3
    fig = show_relation_pairs([item] * 4, lambda i: np.zeros((20, 20, 3)), ["a", "b"], ncols=3)
    assert len(fig.axes) == 6 and sum(bool(ax.images) for ax in fig.axes) == 4   # 2 left blank
    plt.close("all")


def test_show_class_matrices_row_normalises_each_panel():
    from relnotes.analysis.plots import show_class_matrices

    fig = show_class_matrices({"a": np.array([[1.0, 3.0], [0.0, 0.0]]), "b": np.eye(2)}, ["x", "y"])
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    shown = fig.axes[0].images[0].get_array()
    assert np.allclose(shown, [[0.25, 0.75], [0.0, 0.0]])    # an empty row stays 0
    plt.close(fig)


def test_plot_seed_bars_puts_bars_at_the_means_and_a_dot_per_value():
    fig, ax = plt.subplots()
    means = plot_seed_bars(ax, {"a": [1.0, 3.0], "b": [5.0]}, line=2.5, title="t")
    assert means == [2.0, 5.0]
    assert [p.get_height() for p in ax.patches] == [2.0, 5.0]
    dots = [list(l.get_ydata()) for l in ax.lines if l.get_marker() == "."]
    assert dots == [[1.0, 3.0], [5.0]]
    assert any(l.get_linestyle() == "--" and list(l.get_ydata()) == [2.5, 2.5] for l in ax.lines)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"] and ax.get_title() == "t"
    with pytest.raises(ValueError, match=r"values\['c'\] must hold at least one number"):
        plot_seed_bars(ax, {"c": []})
    plt.close(fig)


def test_show_context_masks_outlines_every_mask_and_names_the_classes():
    from relnotes.data.context_masks import MASK_CATEGORIES, make_context_masks
    data = make_context_masks(3, seed=0)
    fig = show_context_masks(data, 3)
    assert len(fig.axes) == 3
    for ax, masks, labels in zip(fig.axes, data.masks, data.labels):
        assert len(ax.collections) >= len(masks)                   # one contour set per mask
        assert ax.get_title().split("\n") == sorted({MASK_CATEGORIES[c - 1]["name"] for c in labels})
    plt.close(fig)
