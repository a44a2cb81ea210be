import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from relnotes.analysis.plots import draw_detections, show_context_shapes  # noqa: E402
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
