"""relnotes.engine.dedup.experiment: each step of RN Table 4 as one call on either data."""

import copy

import pytest
import torch

from relnotes.data.context_shapes import make_crowded_shapes
from relnotes.engine import seed_everything
from relnotes.engine.dedup import (CachedHeadOutputs, DetectorWithDedup, mean_dedup_loss,
                                   rule_detections, train_alone, train_e2e)
from relnotes.engine.dedup.experiment import (coco_data, crowded_shapes_data, dedup_ap,
                                              dedup_detections, rule_methods,
                                              train_dedup_alone, train_dedup_e2e,
                                              train_frozen_detector)
from relnotes.engine.detection import freeze_detector_body, train_detector, trainable_parameters
from relnotes.models.tiny_rcnn import tiny_faster_rcnn
from relnotes.nn import DuplicateRemoval
from relnotes.repro import get_profile

DET = dict(proposals=8, lr=1e-3, epochs=1, batch_size=2)


def small_net(feat_dim=256):
    return DuplicateRemoval(feat_dim, d_f=16, n_relations=2, d_k=8, d_g=16, rank_dim=16)


@pytest.fixture(scope="module")
def synthetic():
    data = crowded_shapes_data(4, 3, seed=5)
    return data, train_frozen_detector(data, seed=3, **DET)


def test_crowded_shapes_data_is_make_crowded_shapes():
    data = crowded_shapes_data(3, 2, seed=5)
    train, test = make_crowded_shapes(3, seed=6), make_crowded_shapes(2, seed=7, first_image_id=1_000_000)
    assert not data.is_coco and data.label_to_category is None
    assert len(data.train) == 3 and len(data.test) == 2 and data.coco_gt == test.coco
    assert torch.equal(data.train[2][0], train.torch_dataset()[2][0])
    assert data.image(1).shape == (64, 64, 3)


def test_frozen_detector_is_the_seeded_recipe(synthetic):
    """The call does what the notebook did by hand: seed, train with Adam, freeze, cache."""
    data, frozen = synthetic
    seed_everything(3)
    model = tiny_faster_rcnn(proposals=8)
    train_detector(model, data.train, torch.optim.Adam(trainable_parameters(model), lr=1e-3),
                   epochs=1, batch_size=2, seed=3)
    model = freeze_detector_body(model)
    expected = [o for o, _ in CachedHeadOutputs(model, data.test).items]
    assert len(frozen.outputs) == 3 and len(frozen.train_out) == 4
    for a, b in zip(frozen.outputs, expected):
        assert torch.equal(a.scores, b.scores) and torch.equal(a.boxes, b.boxes)
    assert [t["image_id"] for t in frozen.targets] == [t["image_id"] for _, t in frozen.test_out.items]
    assert not any(p.requires_grad for p in frozen.detector.backbone.parameters())


def test_rule_methods_and_detections(synthetic):
    data, frozen = synthetic
    methods = rule_methods((0.3, 0.6), (0.5,))
    assert list(methods) == ["none", ("nms", 0.3), ("nms", 0.6), ("soft", 0.5)]
    dets = dedup_detections(data, frozen, methods)
    expected = rule_detections(frozen.outputs, "nms", 0.6)
    assert all(torch.equal(a["scores"], b["scores"]) for a, b in zip(dets["nms", 0.6], expected))
    soft = rule_detections(frozen.outputs, "soft_nms", 0.5)
    assert all(torch.equal(a["scores"], b["scores"]) for a, b in zip(dets["soft", 0.5], soft))
    # another model: its own head outputs, computed once
    again = dedup_detections(data, frozen, {"nms": methods["nms", 0.6]}, model=frozen.detector)
    assert all(torch.equal(a["boxes"], b["boxes"]) for a, b in zip(again["nms"], expected))
    ap = dedup_ap(data, dets["none"])
    assert set(ap) >= {"mAP", "mAP50", "mAP75"} and 0 <= ap["mAP"] <= 100


def test_train_alone_is_train_alone_on_the_cache(synthetic):
    data, frozen = synthetic
    torch.manual_seed(0)
    a = small_net()
    b = copy.deepcopy(a)
    untrained = mean_dedup_loss(a, frozen.test_out, first_n=8)
    run = train_dedup_alone(a, data, frozen, lr=1e-3, epochs=1, batch_size=2, seed=4, first_n=8)
    expected = train_alone(b, frozen.train_out, lr=1e-3, epochs=1, batch_size=2, seed=4,
                           first_n=8).step_losses
    assert run.step_losses == expected and len(run.step_losses) == 2
    assert run.test_loss == (pytest.approx(untrained, rel=1e-6),
                             pytest.approx(mean_dedup_loss(b, frozen.test_out, first_n=8), rel=1e-6))
    assert run.test_loss[1] != pytest.approx(run.test_loss[0], rel=1e-4)    # it trained
    still = train_dedup_alone(copy.deepcopy(b), data, frozen, lr=0.0, epochs=1, batch_size=2,
                              seed=4, first_n=8)
    assert still.test_loss[0] == pytest.approx(still.test_loss[1], rel=1e-6)  # a rate of 0


def test_e2e_trains_copies_from_the_trained_states(synthetic):
    data, frozen = synthetic
    torch.manual_seed(0)
    net = small_net()
    before = copy.deepcopy(net.state_dict())
    pair = train_dedup_e2e(data, frozen, net, first_n=8, seed=2, lr=1e-3, epochs=1, batch_size=2)
    assert not pair.training and isinstance(pair, DetectorWithDedup)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())   # net untouched
    seed_everything(2)
    manual = DetectorWithDedup(copy.deepcopy(frozen.detector), copy.deepcopy(net), first_n=8,
                               class_score_threshold=0.01)
    train_e2e(manual, data.train, lr=1e-3, epochs=1, batch_size=2, seed=3)
    for k, v in manual.state_dict().items():
        assert torch.equal(v, pair.state_dict()[k]), k


def test_the_coco_path_on_a_tiny_folder(tiny_coco_root):
    setting = get_profile("full").scale("rn_duplicate_removal", {"coco": dict(
        train_split="val2017", pretrained_backbone=False, min_size=64, max_size=96, epochs=1,
        batch_size=2, warmup_steps=1, lr_steps=(), num_workers=0, eval_batch_size=2)}).coco
    data = coco_data(tiny_coco_root, setting)
    assert data.is_coco and len(data.test) == 4
    frozen = train_frozen_detector(data, seed=0, proposals=20, n_test=2)
    assert frozen.train_out is None and len(frozen.outputs) == 2
    assert not any(p.requires_grad for p in frozen.detector.parameters())
    dets = dedup_detections(data, frozen, rule_methods((0.5,), ()))
    assert len(dets["nms", 0.5]) == 4                         # every test image, streamed
    assert 0 <= dedup_ap(data, dets["nms", 0.5])["mAP"] <= 100
    net = DuplicateRemoval(frozen.detector.roi_heads.box_head.representation_size, d_f=16,
                           n_relations=2, d_k=8, d_g=16, rank_dim=16)
    run = train_dedup_alone(net, data, frozen, lr=1e-3, epochs=1, batch_size=2, seed=0,
                            first_n=8)
    assert len(run.step_losses) == 2 and len(run.test_loss) == 2
    pair = train_dedup_e2e(data, frozen, net, first_n=8, seed=0, proposals=20)
    assert pair.dedup is not net and not pair.training


def test_table_labels_cover_the_papers_rows():
    from relnotes.engine.dedup import TABLE3_LABELS, table4_labels
    from relnotes.repro.papers import RN_TABLE_3, RN_TABLE_4

    labels = table4_labels((0.3, 0.4, 0.5, 0.6, 0.7), (0.2, 0.4, 0.6, 0.8, 1.0))
    assert set(RN_TABLE_4) <= set(labels) and labels["nms", 0.5] == "NMS, N_t = 0.5"
    assert set(rule_methods((0.3,), (0.2,))) <= set(table4_labels((0.3,), (0.2,)))
    assert set(TABLE3_LABELS) == set(RN_TABLE_3)
    assert len(set(labels.values())) == len(labels)           # one row per key
