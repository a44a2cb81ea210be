import pytest
import torch

from relnotes.data.context_shapes import make_context_shapes
from relnotes.models.relation_rcnn import RelationBoxHead
from relnotes.models.tiny_rcnn import (
    TinyBackbone, tiny_faster_rcnn,
)
from relnotes.nn.object_relation import ObjectRelationUnary


@pytest.fixture(scope="module")
def data():
    return make_context_shapes(4, seed=0).torch_dataset()


def test_backbone_stride_and_receptive_field():
    b = TinyBackbone()
    assert b(torch.zeros(1, 3, 64, 64)).shape == (1, 64, 16, 16)
    # receptive field: a single pixel changes outputs at most 7 px (15 x 15 field) away
    x = torch.zeros(1, 3, 64, 64, requires_grad=True)
    b(x)[0, :, 8, 8].sum().backward()
    ys, xs = torch.nonzero(x.grad[0].abs().sum(0)).T
    assert int(xs.max() - xs.min()) + 1 <= 15 and int(ys.max() - ys.min()) + 1 <= 15


def test_backbone_norm_layer():
    plain = TinyBackbone()
    assert [k for k in plain.state_dict()] == ["0.weight", "0.bias", "2.weight", "2.bias",
                                               "4.weight", "4.bias"]
    b = TinyBackbone((8, 16, 24), norm_layer=torch.nn.BatchNorm2d)
    convs = [m for m in b if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in b if isinstance(m, torch.nn.BatchNorm2d)]
    assert [c.bias for c in convs] == [None] * 3
    assert [n.num_features for n in norms] == [8, 16, 24]
    assert b(torch.zeros(2, 3, 32, 32)).shape == (2, 24, 8, 8)
    g = TinyBackbone(norm_layer=lambda c: torch.nn.GroupNorm(8, c))
    assert sum(isinstance(m, torch.nn.GroupNorm) for m in g) == 3


def test_anchor_sizes_and_aspect_ratios():
    m = tiny_faster_rcnn(anchor_sizes=(6, 8, 11, 16, 22), aspect_ratios=(1.0,))
    assert m.rpn.head.cls_logits.out_channels == 5          # one anchor per size and ratio
    assert tiny_faster_rcnn().rpn.head.cls_logits.out_channels == 9
    anchors = m.rpn.anchor_generator.cell_anchors[0]
    sides = anchors[:, 2:] - anchors[:, :2]
    assert sides[:, 0].tolist() == pytest.approx([6, 8, 11, 16, 22], abs=1)
    assert (sides[:, 0] == sides[:, 1]).all()


def test_builds_2fc_and_rm_heads():
    m = tiny_faster_rcnn()
    assert isinstance(m.roi_heads.box_head, RelationBoxHead)
    assert m.roi_heads.box_head.relations == (0, 0)
    m = tiny_faster_rcnn(relations=(1, 1), geometry="unary")
    assert isinstance(m.roi_heads.box_head.relation6[0], ObjectRelationUnary)


def test_geometry_scale_reaches_every_relation_module():
    m = tiny_faster_rcnn(relations=(1, 1), geometry_scale=100.0)
    head = m.roi_heads.box_head
    assert [rm.geometry_scale for rm in [*head.relation6, *head.relation7]] == [100.0, 100.0]
    assert tiny_faster_rcnn(relations=(1, 0)).roi_heads.box_head.relation6[0].geometry_scale == 1.0
