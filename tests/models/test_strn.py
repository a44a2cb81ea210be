import pytest
import torch

from relnotes.models.strn import STRN, AppearanceEmbedding, IoUMotion, box_iou_xyxy, predict_boxes


def batch(k=3, t=8, n=4, d=6, seed=0, model=None):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + 20 + 10 * torch.rand(n, 2, generator=g)], -1)
    desc = torch.randn(n, d, generator=g)
    hb = boxes[:k, None].expand(k, t, 4) + torch.arange(t)[None, :, None] * 0.0
    mask = torch.ones(k, t, dtype=torch.bool)
    mask[1, :5] = False
    ages = torch.arange(t, 0, -1).expand(k, t).clone()
    return boxes, desc, hb, mask, ages


def test_predict_boxes_constant_velocity():
    hb = torch.tensor([[[0., 0, 10, 10], [2, 0, 12, 10]]])           # moved +2 px in 1 frame
    mask = torch.ones(1, 2, dtype=torch.bool)
    ages = torch.tensor([[4, 3]])                                     # last seen 3 frames ago
    torch.testing.assert_close(predict_boxes(hb, mask, ages), torch.tensor([[8., 0, 18, 10]]))
    mask[0, 0] = False                                                # one entry: stays
    torch.testing.assert_close(predict_boxes(hb, mask, ages), torch.tensor([[2., 0, 12, 10]]))


def test_box_iou():
    a = torch.tensor([[0., 0, 10, 10]])
    b = torch.tensor([[0., 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    torch.testing.assert_close(box_iou_xyxy(a, b), torch.tensor([[1.0, 1 / 3, 0.0]]))


def test_iou_motion_scores_its_own_box_one():
    boxes, desc, hb, mask, ages = batch()
    m = IoUMotion()
    s = m(m.encode(hb[:, -1], desc[:3]), hb, mask, ages, desc, boxes)
    assert s.shape == (3, 4)
    torch.testing.assert_close(s.diagonal(), torch.ones(3))


@pytest.mark.parametrize("make", [
    lambda: AppearanceEmbedding(6, d_f=8, window=4),
    lambda: STRN(6, d_f=8, n_relations=2, d_k=4, d_g=8, window=4),
    lambda: STRN(6, d_f=8, n_relations=2, d_k=4, d_g=8, window=1, spatial=False,
                 cues=("appearance", "location")),
    lambda: STRN(6, d_f=8, n_relations=2, d_k=4, d_g=8, window=4, temporal=False),
])
def test_learned_models_give_finite_logits_and_gradients(make):
    torch.manual_seed(0)
    model = make()
    boxes, desc, hb, mask, ages = batch()
    f = model.encode(boxes, desc)
    hist = f[:3, None].expand(3, 8, f.shape[-1])
    logits = model(hist, hb, mask, ages, f, boxes)
    assert logits.shape == (3, 4) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all()
               for p in model.parameters() if p.requires_grad and p.grad is not None)


def test_strn_flags_change_the_output():
    boxes, desc, hb, mask, ages = batch()
    outs = {}
    for name, kw in {"all": {}, "no-topology": dict(cues=("appearance", "location")),
                     "no-spatial": dict(spatial=False, cues=("appearance", "location")),
                     "no-temporal": dict(temporal=False)}.items():
        torch.manual_seed(0)
        m = STRN(6, d_f=8, n_relations=2, d_k=4, d_g=8, window=4, **kw)
        f = m.encode(boxes, desc)
        outs[name] = m(f[:3, None].expand(3, 8, -1) + torch.randn(3, 8, f.shape[-1]) * 0.1,
                       hb, mask, ages, f, boxes)
    for name in ("no-topology", "no-spatial", "no-temporal"):
        assert not torch.allclose(outs["all"], outs[name]), name


def test_strn_temporal_weights_cover_the_window():
    torch.manual_seed(0)
    m = STRN(6, d_f=8, n_relations=2, d_k=4, d_g=8, window=4)
    boxes, desc, hb, mask, ages = batch()
    f = m.encode(boxes, desc)
    _, w = m(f[:3, None].expand(3, 8, -1), hb, mask, ages, f, boxes, return_weights=True)
    assert w.shape == (3, 4, 4)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 4))


def test_strn_rejects_topology_without_spatial_and_unknown_cues():
    with pytest.raises(ValueError, match="topology"):
        STRN(6, spatial=False)
    with pytest.raises(ValueError, match="cues must be"):
        STRN(6, cues=("colour",))


def test_strn_with_iou_prior_starts_as_the_iou_tracker_and_learns_a_correction():
    """iou_prior: untrained, the logit is s_0 IoU + c_0 (10 IoU - 3) exactly, whatever the cues;
    the classifier's correction gets gradients."""
    torch.manual_seed(0)
    m = STRN(6, d_f=8, n_relations=2, d_k=4, d_g=8, window=4, iou_prior=True)
    boxes, desc, hb, mask, ages = batch()
    f = m.encode(boxes, desc)
    logits = m(f[:3, None].expand(3, 8, -1), hb, mask, ages, f, boxes)
    iou = IoUMotion()(None, hb, mask, ages, f, boxes)
    torch.testing.assert_close(logits, 10.0 * iou - 3.0)
    logits.sum().backward()
    assert m.classifier[-1].weight.grad.abs().sum() > 0 and m.prior_scale.grad is not None
    assert "iou_prior=True" in repr(m) and "iou_prior" not in repr(STRN(6, d_f=8, d_k=4, d_g=8))
