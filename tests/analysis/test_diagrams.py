import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from relnotes.analysis import diagrams


def texts(fig: Figure) -> str:
    """Every string drawn on the figure, joined by newlines."""
    return "\n".join(t.get_text() for t in fig.findobj(Text))


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("name, labels", [
    ("relation_formula", ["elements", "$f_i$", "$f_j$", "query", "key", "value", "appearance",
                          "geometry", "neighbourhood", "$\\mathcal{N}(i)$", "normalisation",
                          "\\sqrt{d_k}", "output", "y_i"]),
    ("relation_module", ["appearance", "geometry", "$N_r$ heads", "concat", "softmax",
                         "\\omega_A^{mn}", "\\omega_G^{mn}", "W_V f_A^m", "residual"]),
    ("local_relation_layer", ["window", "\\Omega_{p'}", "query", "keys", "composability",
                              "-(q - k)^2", "geometry prior", "\\pi(p - p')", "softmax", "values"]),
    ("context_framework", ["context modeling", "transform", "fusion", "NL", "SNL", "SE", "GC",
                           "attention pooling", "global average pooling", "rescale", "add"]),
    ("relation_matrix", ["object-object relation", "object-pixel relation", "pixel-pixel relation",
                         "object relation module", "learnable region features", "local relation networks",
                         "Object relations", "Local relation", "Global context"]),
])
def test_each_diagram_is_a_figure_with_its_labels(name, labels):
    fig = getattr(diagrams, name)()
    assert isinstance(fig, Figure)
    drawn = texts(fig)
    for label in labels:
        assert label in drawn, f"{name}: {label!r} not drawn"
    fig.canvas.draw()   # every mathtext label parses


def test_conceptual_figures_carry_no_numbers_beyond_symbols():
    """No measured value on a conceptual figure: digits appear only in symbols such as 1x1 or
    f_1, never as a decimal number."""
    import re
    for name in ("relation_formula", "relation_module", "local_relation_layer", "context_framework",
                 "relation_matrix"):
        assert not re.search(r"\d\.\d", texts(getattr(diagrams, name)())), name


def test_relation_matrix_names_a_chapter_in_every_cell_and_takes_others():
    drawn = texts(diagrams.relation_matrix())
    assert drawn.count("in this book:") == 3
    for chapter in ("Object relations\nRelations through time", "Object-pixel relations",
                    "Local relation\nGlobal context"):
        assert chapter in drawn
    fig = diagrams.relation_matrix(chapters={"object-pixel": ["Learnable region features"]})
    assert "Learnable region features" in texts(fig)
    assert "Object-pixel relations" not in texts(fig)               # replaced, not added
    assert "in this book:\nObject relations" in texts(fig)       # the other defaults stay
    empty = texts(diagrams.relation_matrix(chapters={"object-pixel": []}))
    assert empty.count("in this book:") == 2                        # no chapter, no line
    with pytest.raises(ValueError, match="object-pixel"):
        diagrams.relation_matrix(chapters={"pixel-object": ["x"]})


def test_drawn_sizes_change_the_picture():
    assert "3 $\\times$ 3 window" in texts(diagrams.local_relation_layer(kernel_size=3))
    with pytest.raises(ValueError, match="kernel_size"):
        diagrams.local_relation_layer(kernel_size=4)
    few = len(diagrams.relation_module(n_heads_drawn=1).axes[0].patches)
    many = len(diagrams.relation_module(n_heads_drawn=4).axes[0].patches)
    assert many == few + 3
