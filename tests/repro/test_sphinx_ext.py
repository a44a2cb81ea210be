from relnotes.repro import Artifact, Column
from relnotes.repro.sphinx_ext import table_cells


def test_paper_ours_difference_columns_only_where_the_paper_has_values():
    art = Artifact("t", "T", profile="cpu",
                   columns=[Column("params", "#params", unit="M"), Column("diff", "max diff")])
    art.add_row("ResNet-50", params=25.6, diff=1e-16, paper={"params": 25.5})
    art.add_row("LR-Net-50", params=23.3, diff=2e-16)
    header, body = table_cells(art)
    assert header == ["", "#params (M): paper", "#params (M): ours", "#params (M): difference",
                      "max diff"]
    assert body[0] == ["ResNet-50", "25.5", "25.6", "0.1", "1.000e-16"]
    assert body[1] == ["LR-Net-50", "-", "23.3", "", "2.000e-16"]


def test_machine_dependent_columns_are_marked():
    art = Artifact("t", "T", profile="cpu",
                   columns=[Column("s", "time", unit="ms", checked=False)])
    art.add_row("op", s=12.5)
    header, body = table_cells(art)
    assert header == ["", "time (ms) [this machine]"]
    assert body == [["op", "12.5"]]
