"""Small figures shared by the chapters' notebooks."""

from __future__ import annotations

__all__ = ["show_context_shapes", "show_context_masks", "draw_detections", "plot_seed_bars", "show_relation_pairs",
           "show_class_matrices"]


def show_context_shapes(data, n: int = 6, *, figsize=(12, 2.2)):
    """The first ``n`` images of a :class:`relnotes.data.context_shapes.ContextShapes` set with
    their boxes: the large objects in black, the small (context-decided) ones in white with
    their class name. Returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    from ..data.context_shapes import LARGE_KINDS, SMALL_CLASSES

    fig, axes = plt.subplots(1, n, figsize=figsize)
    for ax, i in zip(axes, range(n)):
        ax.imshow(data.images[i])
        for b, c in zip(data.boxes[i], data.labels[i]):
            name = (LARGE_KINDS + SMALL_CLASSES)[c - 1]
            ax.add_patch(plt.Rectangle(b[:2], b[2] - b[0], b[3] - b[1], fill=False,
                                       color="k" if c <= 3 else "w", lw=0.8))
            if c > 3:
                ax.text(b[0], b[1] - 1, name, fontsize=6, color="w")
        ax.axis("off")
    fig.tight_layout()
    return fig


def show_context_masks(data, n: int = 8, *, figsize=(13, 2.1)):
    """The first ``n`` images of a :class:`relnotes.data.context_masks.ContextMasks` set with the
    outline of every object's mask (orange) and the names of the classes present as the title.
    Returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    from ..data.context_masks import MASK_CATEGORIES

    fig, axes = plt.subplots(1, n, figsize=figsize, squeeze=False)
    for ax, i in zip(axes[0], range(n)):
        ax.imshow(data.images[i])
        for m in data.masks[i]:
            ax.contour(m, levels=[0.5], colors="orange", linewidths=0.8)
        ax.set_title("\n".join(sorted({MASK_CATEGORIES[c - 1]["name"] for c in data.labels[i]})), fontsize=7)
        ax.axis("off")
    fig.tight_layout()
    return fig


def draw_detections(ax, image, gt_boxes, detections: dict, *, min_score: float = 0.1,
                    title: str | None = None, weighted: bool = True, color: str = "k") -> int:
    """Draw ``image``, its ground-truth boxes (white, dashed) and the detections scoring at least
    ``min_score`` on ``ax``; with ``weighted`` the line width and opacity grow with the score.
    The title gets ``": K boxes"`` appended. Returns K, the number of boxes drawn.

    Args:
        gt_boxes (array [G, 4]): (x1, y1, x2, y2).
        detections (dict): ``boxes`` Tensor[D, 4], ``scores`` Tensor[D] (as from
            :func:`relnotes.engine.dedup.rule_detections`).
    """
    import matplotlib.pyplot as plt

    ax.imshow(image)
    for b in gt_boxes:
        ax.add_patch(plt.Rectangle(b[:2], *(b[2:] - b[:2]), fill=False, ls="--", ec="w", lw=1))
    keep = detections["scores"] >= min_score
    for b, s in zip(detections["boxes"][keep], detections["scores"][keep]):
        style = (dict(lw=0.5 + 2 * float(s), alpha=0.4 + 0.6 * float(s)) if weighted
                 else dict(lw=1.2))
        ax.add_patch(plt.Rectangle(b[:2], *(b[2:] - b[:2]), fill=False, ec=color, **style))
    if title is not None:
        ax.set_title(f"{title}: {int(keep.sum())} boxes")
    ax.axis("off")
    return int(keep.sum())


def plot_loss_curves(ax, curves: dict, *, points: int = 20, title: str | None = None) -> int:
    """Training losses on ``ax``, each averaged over windows of ``w`` steps so that about
    ``points`` points remain (the steps past the last whole window are left out). Returns ``w``,
    also written in the x label.

    Args:
        curves (dict): label -> the loss of every step (one curve per label, same length).
    """
    import torch

    w = 1
    for label, c in curves.items():
        c = torch.as_tensor(c, dtype=torch.float64)
        w = max(1, len(c) // points)
        ax.plot(c[: len(c) // w * w].reshape(-1, w).mean(1), label=label)
    ax.set_xlabel(f"step / {w}")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7)
    return w


def plot_seed_bars(ax, values: dict, *, line: float | None = None, title: str | None = None) -> list[float]:
    """One bar per label at the mean of its values, one black dot per value (e.g. per seed), and
    an optional dashed horizontal line (e.g. chance). Returns the means, in the labels' order.

    Args:
        values (dict): label -> the values of that label (one or more numbers).
        line (float, optional): height of the dashed line. Default: None (no line).
        title (str, optional): the panel's title. Default: None.
    """
    values = {label: [float(v) for v in vs] for label, vs in values.items()}
    for label, vs in values.items():
        if not vs:
            raise ValueError(f"values[{label!r}] must hold at least one number; got none")
    means = [sum(vs) / len(vs) for vs in values.values()]
    ax.bar(range(len(means)), means, color="tab:blue", alpha=0.5)
    for i, vs in enumerate(values.values()):
        ax.plot([i] * len(vs), vs, "k.", ms=5)
    if line is not None:
        ax.axhline(line, color="k", ls="--", lw=1)
    ax.set_xticks(range(len(means)), list(values), fontsize=8)
    if title:
        ax.set_title(title, fontsize=8)
    return means


def show_relation_pairs(pairs, image_of, names, *, title: str = "", top: int = 3, ncols: int = 3):
    """The talk's "object pairs with high relation weights": per item of
    :func:`relnotes.analysis.relation_weights.reference_pairs`, the query RoI (blue), the ``top``
    RoIs on other objects or background it weighs most (yellow, dashed on background, each with
    its weight) and the deciding neighbour's ground-truth box (green). ``image_of(item)`` gives
    the image to draw, ``names[label - 1]`` the class name. The panels fill rows of ``ncols``,
    3.6 inches each, so that a page shows them large enough to read. Returns the matplotlib
    figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    n = max(len(pairs), 1)
    cols = min(n, ncols)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.8 * rows), squeeze=False)
    for ax in axes.flat[len(pairs):]:
        ax.axis("off")
    for ax, (i, rois, w, roi_gt, q, dec, target) in zip(axes.flat, pairs):
        ax.imshow(image_of(i))
        keys = [m for m in np.argsort(-w[q]) if roi_gt[m] != roi_gt[q]][:top]
        if dec >= 0:
            g = target["boxes"][dec].numpy()
            ax.add_patch(plt.Rectangle(g[:2], g[2] - g[0], g[3] - g[1], fill=False, color="lime", lw=1.5))
        cq = (rois[q][:2] + rois[q][2:]) / 2
        for m in keys:
            b = rois[m]
            ax.add_patch(plt.Rectangle(b[:2], b[2] - b[0], b[3] - b[1], fill=False, color="yellow",
                                       lw=1.2, ls="-" if roi_gt[m] >= 0 else "--"))
            cm = (b[:2] + b[2:]) / 2
            ax.plot([cq[0], cm[0]], [cq[1], cm[1]], color="yellow", lw=0.8)
            ax.text(cm[0], cm[1], f"{w[q, m]:.2f}", color="k", fontsize=7,
                    bbox=dict(facecolor="yellow", alpha=0.8, pad=0.5, lw=0))
        b = rois[q]
        ax.add_patch(plt.Rectangle(b[:2], b[2] - b[0], b[3] - b[1], fill=False, color="blue", lw=1.5))
        ax.set_title(names[int(target["labels"][roi_gt[q]]) - 1], fontsize=10)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def show_class_matrices(matrices: dict, names, *, title: str = ""):
    """Class-by-class matrices side by side (``{panel title: array [K, K]}``), each
    row-normalised: row a, column b, as a reference class a and another class b. Returns the
    matplotlib figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    k = len(names)
    fs = 8 if k <= 10 else 3                                # COCO: 80 names
    fig, axes = plt.subplots(1, len(matrices), figsize=(9, 4) if k <= 10 else (16, 8), squeeze=False)
    for ax, (panel, mat) in zip(axes[0], matrices.items()):
        mat = np.asarray(mat, dtype=float)
        ax.imshow(mat / np.maximum(mat.sum(1, keepdims=True), 1e-12), cmap="viridis", vmin=0)
        ax.set_xticks(range(k), names, rotation=45 if k <= 10 else 90, fontsize=fs)
        ax.set_yticks(range(k), names, fontsize=fs)
        ax.set_xlabel("b (other object)")
        ax.set_ylabel("a (reference object)")
        ax.set_title(panel, fontsize=9)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
