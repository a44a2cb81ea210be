r"""Conceptual figures of the book, drawn by code: boxes, arrows and the paper's symbols, no numbers.

Each function returns a :class:`matplotlib.figure.Figure`; a notebook saves it next to its
artifact and a chapter shows it. One figure per idea of the talk:

- :func:`relation_formula`: the one relation formula
  :math:`y_i = \sum_{j \in \mathcal N(i)} w_{ij} v_j`, with its elements, query, key and value,
  appearance and geometry terms, neighbourhood and normalisation;
- :func:`relation_module`: the object relation module (RN, Fig. 2): appearance and geometry
  weights over N RoIs, :math:`N_r` heads, concatenated and added to the input;
- :func:`local_relation_layer`: the local relation layer (LR, Fig. 2): a :math:`k \times k`
  window, key/query composability and a geometry prior;
- :func:`context_framework`: the global context framework of GCNet (context modeling ->
  transform -> fusion) with the NL, SNL, SE and GC instances;
- :func:`relation_matrix`: the talk's closing matrix of object-object, object-pixel and
  pixel-pixel relations, each cell with the methods (and the book's chapters) that build it.

The figures use two small helpers, :func:`_box` and :func:`_arrow`, on an axes whose data
coordinates are the drawing's grid (no ticks, equal aspect).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle

__all__ = ["relation_formula", "relation_module", "local_relation_layer", "context_framework",
           "relation_matrix", "RELATION_MATRIX_CHAPTERS"]

# One colour per role, the same in every figure: what a reader learns in the first figure
# (blue queries, orange keys, green values, purple geometry) holds in the others.
QUERY, KEY, VALUE, GEOMETRY, NEUTRAL = "#c6dbef", "#fdd0a2", "#c7e9c0", "#dadaeb", "#f0f0f0"


def _canvas(width: float, height: float, size: tuple[float, float],
            bottom: float = 0.0) -> tuple[Figure, plt.Axes]:
    """A figure of ``size`` inches whose axes span [0, width] x [bottom, height], no frame."""
    fig, ax = plt.subplots(figsize=size)
    ax.set_xlim(0, width)
    ax.set_ylim(bottom, height)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def _box(ax, x: float, y: float, w: float, h: float, text: str, color: str = NEUTRAL,
         fontsize: float = 9, **kw) -> FancyBboxPatch:
    """A rounded box with its lower-left corner at (x, y) and ``text`` centred in it."""
    box = FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.12",
                         facecolor=color, edgecolor="0.3", linewidth=0.8, **kw)
    ax.add_patch(box)
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize)
    return box


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], text: str | None = None,
           *, rad: float = 0.0, fontsize: float = 8, color: str = "0.25",
           text_at: tuple[float, float] | None = None) -> None:
    """An arrow from ``start`` to ``end`` (curved by ``rad``), ``text`` above its middle or at
    ``text_at``."""
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, linewidth=0.9,
                                 color=color, connectionstyle=f"arc3,rad={rad}"))
    if text:
        x, y = text_at or ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.12)
        ax.text(x, y, text, ha="center", va="bottom", fontsize=fontsize, color="0.2")


def relation_formula() -> Figure:
    r"""The relation formula as a picture: how element i gathers information from its neighbours.

    Left, the elements :math:`f_j` (words, nodes, objects, pixels) with element i highlighted
    and its neighbourhood :math:`\mathcal N(i)` marked; then the query, key and value made from
    them, the appearance term :math:`\omega^A_{ij}` (scaled dot product) and the geometry term
    :math:`\omega^G_{ij}`, their product, the normalisation over :math:`j \in \mathcal N(i)`,
    and the weighted sum of values :math:`y_i`.

    Returns:
        Figure: about 11 x 5.2 inches.
    """
    fig, ax = _canvas(15.0, 6.2, (11, 5.2), bottom=-0.8)
    # the elements: a column of circles; i is the third, N(i) the first four
    ys = [5.2, 4.2, 3.2, 2.2, 1.2]
    names = ["$f_1$", "$f_2$", "$f_i$", "$f_j$", "$f_N$"]
    ax.add_patch(FancyBboxPatch((0.25, 1.75), 1.5, 3.95, boxstyle="round,pad=0.05,rounding_size=0.3",
                                facecolor="none", edgecolor="0.4", linestyle="--", linewidth=0.9))
    ax.text(1.0, 0.7, "neighbourhood\n$\\mathcal{N}(i)$ (dashed)", ha="center", va="top",
            fontsize=8)
    for y, name in zip(ys, names):
        ax.add_patch(Circle((1.0, y), 0.33, facecolor=QUERY if name == "$f_i$" else "white",
                            edgecolor="0.3", linewidth=0.9))
        ax.text(1.0, y, name, ha="center", va="center", fontsize=10)
    ax.text(1.0, 5.85, "elements", ha="center", va="bottom", fontsize=9)

    # projections of the features
    _box(ax, 2.6, 4.85, 2.4, 0.7, "query $q_i = W_Q f_i$", QUERY)
    _box(ax, 2.6, 3.65, 2.4, 0.7, "key $k_j = W_K f_j$", KEY)
    _box(ax, 2.6, 0.6, 2.4, 0.7, "value $v_j = W_V f_j$", VALUE)
    _box(ax, 2.6, 2.15, 2.4, 0.9, "geometry $g_{ij}$\n(positions, edges)", GEOMETRY)
    _arrow(ax, (1.35, 3.25), (2.6, 5.15))
    _arrow(ax, (1.35, 2.25), (2.6, 3.95))
    _arrow(ax, (1.35, 2.15), (2.6, 1.0))
    _arrow(ax, (1.35, 3.1), (2.6, 2.65))
    _arrow(ax, (1.35, 2.3), (2.6, 2.5))

    # the two relation terms
    _box(ax, 5.8, 4.2, 2.9, 1.0, "appearance\n$\\omega^A_{ij} = q_i \\cdot k_j\\, /\\, \\sqrt{d_k}$", QUERY)
    _box(ax, 5.8, 2.15, 2.9, 0.9, "geometry term\n$\\omega^G_{ij} \\geq 0$", GEOMETRY)
    _arrow(ax, (5.0, 5.2), (5.8, 4.85))
    _arrow(ax, (5.0, 4.0), (5.8, 4.5))
    _arrow(ax, (5.0, 2.6), (5.8, 2.6))

    # combine, normalise, aggregate
    _box(ax, 9.4, 3.2, 2.3, 1.0, "relation\n$\\omega_{ij} = \\omega^G_{ij}\\, e^{\\omega^A_{ij}}$")
    _arrow(ax, (8.7, 4.7), (9.4, 3.9))
    _arrow(ax, (8.7, 2.6), (9.4, 3.5))
    _box(ax, 9.4, 1.55, 2.3, 1.05, "normalisation\n$w_{ij} = \\omega_{ij} / Z_i$\n"
         "$\\sum_{j \\in \\mathcal{N}(i)} w_{ij} = 1$")
    _arrow(ax, (10.55, 3.2), (10.55, 2.6))
    _box(ax, 12.4, 1.55, 2.4, 1.05, "output\n$y_i = \\sum_{j \\in \\mathcal{N}(i)} w_{ij}\\, v_j$", VALUE)
    _arrow(ax, (11.7, 2.07), (12.4, 2.07), "$w_{ij}$")
    _arrow(ax, (5.0, 0.95), (13.6, 1.55), "values $v_j$", rad=0.12, text_at=(9.3, 0.45))
    return fig


def relation_module(n_heads_drawn: int = 3) -> Figure:
    r"""The object relation module (Hu et al., CVPR 2018, Fig. 2 and Eqs. (2)-(6)).

    For every RoI n, each of the :math:`N_r` relation heads computes an appearance weight
    :math:`\omega_A^{mn}` from the appearance features (:math:`W_K`, :math:`W_Q`, scaled dot
    product) and a geometry weight :math:`\omega_G^{mn}` from the two boxes
    (:math:`\max(0, W_G \cdot \mathcal E_G(f_G^m, f_G^n))`), normalises
    :math:`\omega_G^{mn} \exp(\omega_A^{mn})` over the other RoIs m and sums their values
    :math:`W_V f_A^m`. The heads are concatenated and added to the input features.

    Args:
        n_heads_drawn (int): how many stacked head boxes to draw (only the picture). Default: 3.

    Returns:
        Figure: about 11 x 5.2 inches.
    """
    fig, ax = _canvas(15.0, 7.2, (11, 5.2))
    _box(ax, 0.2, 3.9, 2.5, 1.1, "appearance\nfeatures $f_A^n$\n(N RoIs $\\times\\ d_f$)", VALUE)
    _box(ax, 0.2, 1.2, 2.5, 1.1, "geometry\nfeatures $f_G^n$\n(N boxes)", GEOMETRY)
    # the stack of heads, drawn back to front
    for r in reversed(range(n_heads_drawn)):
        off = 0.18 * r
        ax.add_patch(FancyBboxPatch((3.6 + off, 0.5 + off), 7.0, 5.3,
                                    boxstyle="round,pad=0.02,rounding_size=0.2",
                                    facecolor="white", edgecolor="0.45", linewidth=0.8))
    ax.text(7.1, 5.5, "relation head $r$ (one of $N_r$ heads)", ha="center", va="center",
            fontsize=9)
    _box(ax, 3.9, 4.3, 2.6, 0.75, "values $W_V f_A^m$", VALUE, fontsize=8)
    _box(ax, 3.9, 3.0, 2.6, 0.9, "appearance weight\n$\\omega_A^{mn}$: $W_K$, $W_Q$, dot / $\\sqrt{d_k}$", QUERY, fontsize=8)
    _box(ax, 3.9, 1.3, 2.6, 0.95, "geometry weight\n$\\omega_G^{mn}$: $\\mathcal{E}_G$, $W_G$, ReLU", GEOMETRY, fontsize=8)
    _box(ax, 7.1, 2.2, 1.6, 1.0, "softmax\nover $m$\n$\\omega^{mn}$", fontsize=8)
    _box(ax, 9.0, 2.2, 1.45, 1.0, "$\\sum_m \\omega^{mn}$\n$\\cdot W_V f_A^m$", VALUE, fontsize=8)
    _arrow(ax, (2.7, 4.7), (3.9, 4.67))
    _arrow(ax, (2.7, 4.2), (3.9, 3.45))
    _arrow(ax, (2.7, 1.75), (3.9, 1.75))
    _arrow(ax, (6.5, 3.45), (7.1, 2.95))
    _arrow(ax, (6.5, 1.75), (7.1, 2.45))
    _arrow(ax, (8.7, 2.7), (9.0, 2.7))
    _arrow(ax, (6.5, 4.67), (9.7, 3.2), rad=-0.2)
    _box(ax, 11.3, 2.15, 1.5, 1.1, "concat\n$N_r$ heads\n$f_R^n$", fontsize=8)
    _arrow(ax, (10.45 + 0.18 * (n_heads_drawn - 1), 2.7), (11.3, 2.7))
    _box(ax, 13.2, 2.15, 1.6, 1.1, "$f_A^n + f_R^n$\n(residual)", VALUE, fontsize=8)
    _arrow(ax, (12.8, 2.7), (13.2, 2.7))
    _arrow(ax, (1.45, 5.0), (14.0, 3.25), "the input features, added back", rad=-0.35,
           text_at=(7.5, 6.4))
    return fig


def local_relation_layer(kernel_size: int = 5) -> Figure:
    r"""The local relation layer (Hu et al., ICCV 2019, Fig. 2 and Eqs. (1)-(2)).

    Left, a feature map with the :math:`k \times k` window :math:`\Omega_{p'}` around the output
    pixel :math:`p'`; then the query :math:`q(p')` and keys :math:`k(p)` (1 x 1 convolutions, one
    scalar per channel group), their composability :math:`\Phi(q, k) = -(q - k)^2`, the geometry
    prior :math:`\pi(p - p')` (a small network of the relative position), the softmax over the
    window, and the aggregation of the values over the window.

    Args:
        kernel_size (int): k of the drawn window (only the picture). Default: 5.

    Returns:
        Figure: about 11 x 4.4 inches.
    """
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be an odd positive int; got {kernel_size}")
    fig, ax = _canvas(15.0, 6.0, (11, 4.4))
    cells, cell = 9, 0.5
    x0, y0 = 0.3, 0.9
    for a in range(cells):
        for b in range(cells):
            ax.add_patch(Rectangle((x0 + a * cell, y0 + b * cell), cell, cell, facecolor="white",
                                   edgecolor="0.75", linewidth=0.5))
    c, half = cells // 2, kernel_size // 2
    ax.add_patch(Rectangle((x0 + (c - half) * cell, y0 + (c - half) * cell), kernel_size * cell,
                           kernel_size * cell, facecolor=KEY, edgecolor="0.3", linewidth=1.2, alpha=0.8))
    ax.add_patch(Rectangle((x0 + c * cell, y0 + c * cell), cell, cell, facecolor=QUERY,
                           edgecolor="0.2", linewidth=1.2))
    ax.text(x0 + (c + 0.5) * cell, y0 + (c + 0.5) * cell, "$p'$", ha="center", va="center", fontsize=8)
    ax.text(x0 + cells * cell / 2, y0 + cells * cell + 0.15,
            f"{kernel_size} $\\times$ {kernel_size} window $\\Omega_{{p'}}$", ha="center",
            va="bottom", fontsize=9)
    ax.text(x0 + cells * cell / 2, 0.3, "input feature map $x$", ha="center", va="bottom", fontsize=8)

    _box(ax, 5.4, 4.35, 2.8, 0.8, "query $q(p')$\n1$\\times$1 conv, per group", QUERY, fontsize=8)
    _box(ax, 5.4, 3.15, 2.8, 0.8, "keys $k(p)$, $p \\in \\Omega_{p'}$\n1$\\times$1 conv, per group", KEY, fontsize=8)
    _box(ax, 5.4, 1.75, 2.8, 0.9, "geometry prior $\\pi(p - p')$\nsmall net of the offset", GEOMETRY, fontsize=8)
    _box(ax, 5.4, 0.35, 2.8, 0.8, "values $x(c, p)$\nthe input itself", VALUE, fontsize=8)
    _arrow(ax, (x0 + (c + 1) * cell, y0 + (c + 0.5) * cell), (5.4, 4.75), rad=-0.15)
    _arrow(ax, (x0 + (c + half + 1) * cell, y0 + (c + 0.5) * cell), (5.4, 3.55))
    _arrow(ax, (x0 + (c + half + 1) * cell, y0 + (c - half) * cell), (5.4, 2.2))
    _arrow(ax, (x0 + (c + half + 1) * cell, y0 + (c - half) * cell), (5.4, 0.75), rad=0.1)

    _box(ax, 8.9, 3.5, 2.6, 1.1, "composability\n$\\Phi(q, k) = -(q - k)^2$", QUERY, fontsize=8)
    _arrow(ax, (8.2, 4.75), (8.9, 4.25))
    _arrow(ax, (8.2, 3.55), (8.9, 3.85))
    _box(ax, 12.1, 2.5, 2.6, 1.2, "softmax over $\\Omega_{p'}$\n$\\omega(p', p)$", fontsize=8)
    _arrow(ax, (11.5, 4.05), (12.1, 3.35), "+")
    _arrow(ax, (8.2, 2.2), (12.1, 2.85), "+", rad=0.1)
    _box(ax, 12.1, 0.35, 2.6, 1.2, "output\n$y(c, p') = \\sum_{p \\in \\Omega_{p'}}$\n"
         "$\\omega(p', p)\\, x(c, p)$", VALUE, fontsize=8)
    _arrow(ax, (13.4, 2.5), (13.4, 1.55))
    _arrow(ax, (8.2, 0.75), (12.1, 0.95))
    return fig


#: The instances of the global context framework, per stage (GCNet, Sec. 4; the talk's
#: "Abstraction" slide). NL is query-specific: its context modeling is per query position.
CONTEXT_INSTANCES = (
    ("NL", "query-specific attention\n(one map per position)", "1$\\times$1 conv $W_z$", "add"),
    ("SNL", "attention pooling\n(one map, query-independent)", "1$\\times$1 conv $W_v$", "add"),
    ("SE", "global average pooling", "FC-ReLU-FC-sigmoid\n(bottleneck)", "rescale ($\\times$)"),
    ("GC", "attention pooling\n(one map, query-independent)", "1$\\times$1 conv-LN-ReLU-\n1$\\times$1 conv (bottleneck)", "add"),
)


def context_framework() -> Figure:
    r"""The global context modeling framework of GCNet (Cao et al., 2019, Fig. 3(a)).

    Top, the three stages: (a) **context modeling** pools the features of all positions into a
    global context feature, (b) **transform** turns it into a per-channel signal, (c) **fusion**
    merges it into every position's feature. Below, how the non-local (NL), simplified
    non-local (SNL), squeeze-excitation (SE) and global context (GC) blocks instantiate each stage.

    Returns:
        Figure: about 11 x 5.4 inches.
    """
    fig, ax = _canvas(15.0, 7.4, (11, 5.4))
    _box(ax, 0.2, 5.7, 2.0, 1.0, "input $x$\n$C \\times H \\times W$", VALUE)
    _box(ax, 3.0, 5.7, 3.3, 1.0, "(a) context modeling\n$H W$ positions $\\to$ 1", QUERY)
    _box(ax, 7.1, 5.7, 3.3, 1.0, "(b) transform\n$C \\to C$ (per channel)", KEY)
    _box(ax, 11.2, 5.7, 3.5, 1.0, "(c) fusion\ninto every position", VALUE)
    _arrow(ax, (2.2, 6.2), (3.0, 6.2))
    _arrow(ax, (6.3, 6.2), (7.1, 6.2))
    _arrow(ax, (10.4, 6.2), (11.2, 6.2))
    _arrow(ax, (1.2, 6.7), (12.95, 6.7), "$x$ (residual / rescaled)", rad=-0.12)
    row_h, top = 1.15, 4.9
    for k, (name, pooling, transform, fusion) in enumerate(CONTEXT_INSTANCES):
        y = top - (k + 1) * row_h
        ax.text(1.2, y + row_h / 2 - 0.05, name, ha="center", va="center", fontsize=10,
                fontweight="bold")
        for x, w, text in ((3.0, 3.3, pooling), (7.1, 3.3, transform), (11.2, 3.5, fusion)):
            _box(ax, x, y + 0.08, w, row_h - 0.2, text, NEUTRAL, fontsize=8)
    ax.plot([0.2, 14.7], [top + 0.05, top + 0.05], color="0.6", linewidth=0.6)
    return fig


#: The book's chapters that build each cell of :func:`relation_matrix`, by their short titles:
#: object-object, the relation module and duplicate removal (``book/relation-networks.md``) and
#: relations through time, STRN (``book/tracking.md``); object-pixel, learned region features
#: beside deformable modelling (``book/region-deformable.md``); pixel-pixel, local relation
#: (``book/local-relation.md``) and global context (``book/gcnet.md``).
RELATION_MATRIX_CHAPTERS: Mapping[str, Sequence[str]] = {
    "object-object": ("Object relations", "Relations through time"),
    "object-pixel": ("Object-pixel relations",),
    "pixel-pixel": ("Local relation", "Global context"),
}

#: The methods of the talk in each cell (the talk's closing matrix).
RELATION_MATRIX_METHODS: Mapping[str, Sequence[str]] = {
    "object-object": ("object relation module", "learned duplicate removal"),
    "object-pixel": ("learnable region features", "(vs. RoIAlign)"),
    "pixel-pixel": ("non-local networks", "local relation networks", "global context networks"),
}


def relation_matrix(chapters: Mapping[str, Sequence[str]] | None = None) -> Figure:
    r"""The talk's closing matrix: which elements each relation network relates.

    Rows and columns are the two kinds of visual element, objects and pixels; the three cells
    of the upper triangle are object-object, object-pixel and pixel-pixel relations. Each cell
    lists the talk's methods of that kind and, under them, the book's chapters that build them.

    Args:
        chapters (Mapping[str, Sequence[str]] | None): chapter titles per cell, keyed
            ``"object-object"``, ``"object-pixel"``, ``"pixel-pixel"``; missing keys take
            :data:`RELATION_MATRIX_CHAPTERS`. Default: None (all from it).

    Returns:
        Figure: about 8 x 5.4 inches.
    """
    merged = dict(RELATION_MATRIX_CHAPTERS)
    if chapters is not None:
        unknown = sorted(set(chapters) - set(merged))
        if unknown:
            raise ValueError(f"chapters keys must be among {sorted(merged)}; got {unknown}")
        merged.update(chapters)
    fig, ax = _canvas(11.0, 7.4, (8, 5.4))
    kinds = ("object", "pixel")
    cx, cy, w, h = 1.8, 0.3, 4.5, 3.0
    for a, row in enumerate(kinds):
        ax.text(cx - 0.25, cy + (1 - a) * h + h / 2, row, ha="right", va="center", fontsize=11,
                fontweight="bold")
        for b, col in enumerate(kinds):
            x, y = cx + b * w, cy + (1 - a) * h
            if a == 0:
                ax.text(x + w / 2, cy + 2 * h + 0.15, col, ha="center", va="bottom", fontsize=11,
                        fontweight="bold")
            if b < a:    # the lower triangle repeats the upper one
                ax.add_patch(Rectangle((x, y), w, h, facecolor="white", edgecolor="0.6", hatch="//",
                                       linewidth=0.8))
                continue
            key = f"{row}-{col}"
            color = {"object-object": VALUE, "object-pixel": GEOMETRY, "pixel-pixel": QUERY}[key]
            ax.add_patch(Rectangle((x, y), w, h, facecolor=color, edgecolor="0.3", linewidth=0.8))
            ax.text(x + w / 2, y + h - 0.25, f"{key} relation", ha="center", va="top",
                    fontsize=10, fontweight="bold")
            ax.text(x + w / 2, y + h - 0.8, "\n".join(RELATION_MATRIX_METHODS[key]), ha="center",
                    va="top", fontsize=9)
            if merged[key]:
                ax.text(x + w / 2, y + 0.2, "in this book:\n" + "\n".join(merged[key]),
                        ha="center", va="bottom", fontsize=8, style="italic", color="0.15")
    return fig
