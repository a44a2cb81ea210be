import numpy as np
import pytest
import torch

from relnotes.analysis.relation_weights import (
    class_relation_matrix, cooccurrence_matrix, detections_with_weights, relation_weights,
    top_weight_on_nearest,
)
from relnotes.data.context_shapes import make_context_shapes
from relnotes.models.relation_rcnn import FCBoxHead
from relnotes.models.tiny_rcnn import tiny_faster_rcnn


@pytest.fixture(scope="module")
def shapes():
    return make_context_shapes(8, seed=0)


def small_detector(**kw):
    torch.manual_seed(0)
    return tiny_faster_rcnn(channels=(8, 8, 8), representation_size=32, proposals=16,
                            box_batch_size_per_image=16, d_k=8, **kw)


def test_relation_weights_shapes_and_rows(shapes):
    model = small_detector(relations=(1, 1))
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.bias[1] += 10.0   # every RoI scores high as class 1
    image = shapes.torch_dataset()[0][0]
    out = relation_weights(model, image, score_thresh=0.3)
    k = out["rois"].shape[0]
    d = out["boxes"].shape[0]
    assert 0 < d <= k
    assert out["labels"].shape == out["scores"].shape == out["roi_index"].shape == (d,)
    assert len(out["weights"]) == 2
    for w in out["weights"]:
        assert w.shape == (4, k, k)
        rows = w.sum(-1)
        one = (rows - 1).abs() < 1e-5
        assert torch.all(one | (rows == 0)) and one.any()   # 0: geometry removed every key
    assert torch.all(out["scores"] >= 0.3)
    assert model.training                    # the mode is restored


def test_relation_weights_bad_input(shapes):
    with pytest.raises(ValueError, match="Tensor\\[3, H, W\\]"):
        relation_weights(small_detector(relations=(1, 1)), torch.zeros(1, 3, 64, 64))
    model = small_detector()
    model.roi_heads.box_head = FCBoxHead(8 * 49, 32, n_fc=3)
    with pytest.raises(ValueError, match="no relation modules"):
        relation_weights(model, torch.zeros(3, 64, 64))


def test_cooccurrence_matrix_by_hand():
    # image 1: classes 1, 1, 2; image 2: class 2; image 3: classes 2, 3
    cooc = cooccurrence_matrix([np.array([1, 1, 2]), np.array([2]), np.array([2, 3])], 3)
    expected = torch.tensor([[1.0, 1.0, 0.0],          # class 1: in 1 image, with another 1 and a 2
                             [1 / 3, 0.0, 1 / 3],      # class 2: in 3 images
                             [0.0, 1.0, 0.0]], dtype=torch.float64)
    assert torch.equal(cooc, expected)


def test_class_relation_matrix_by_hand_and_against_the_loop():
    labels = [np.array([1, 2, 2]), np.array([], dtype=np.int64), np.array([2, 1])]
    w = [np.array([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3], [0.4, 0.4, 0.2]], dtype=np.float32),
         np.zeros((0, 0), dtype=np.float32),
         np.array([[0.7, 0.3], [0.9, 0.1]], dtype=np.float32)]
    attn, n_query = class_relation_matrix(labels, w, 3)
    assert n_query.tolist() == [2.0, 3.0, 0.0]
    # the loop the notebook used to run, value for value
    loop, count = np.zeros((3, 3)), np.zeros(3)
    for lab, ww in zip(labels, w):
        for n in range(len(lab)):
            mass = np.zeros(3)
            for m in range(len(lab)):
                if m != n:
                    mass[lab[m] - 1] += ww[n, m]
            loop[lab[n] - 1] += mass
            count[lab[n] - 1] += 1
    loop = loop / np.maximum(count, 1)[:, None]
    assert np.array_equal(attn.numpy(), loop)
    assert attn[0, 1] == pytest.approx((0.3 + 0.5 + 0.9) / 2)   # two queries of class 1


def test_top_weight_on_nearest_counts_small_queries_next_to_two_large():
    boxes = np.array([[0, 0, 10, 10], [30, 30, 40, 40], [12, 0, 14, 2], [50, 50, 52, 52]], float)
    labels = np.array([1, 1, 4, 4])                     # two large (1), two small (4)
    w = np.zeros((4, 4), dtype=np.float32)
    w[2, 0], w[2, 1] = 0.7, 0.3                         # small 2: top weight on the nearest (0)
    w[3, 0], w[3, 1] = 0.6, 0.4                         # small 3: top weight on the far one
    share, chance, n = top_weight_on_nearest([dict(boxes=boxes, labels=labels, w=w)], {4})
    assert (share, chance, n) == (0.5, 0.5, 2)
    one_large = dict(boxes=boxes[[0, 2]], labels=labels[[0, 2]], w=w[[0, 2]][:, [0, 2]])
    assert top_weight_on_nearest([one_large], {4}) == (None, None, 0)


def test_detections_with_weights_is_relation_weights_per_image(shapes):
    model = small_detector(relations=(1, 1))
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.bias[1] += 10.0
    data = shapes.torch_dataset()
    per_image = detections_with_weights(model, data, n_images=2, score_thresh=0.3)
    assert len(per_image) == 2
    out = relation_weights(model, data[1][0], score_thresh=0.3)
    idx = out["roi_index"]
    expected = out["weights"][0].mean(0)[idx][:, idx].numpy()
    assert np.array_equal(per_image[1]["w"], expected)
    assert np.array_equal(per_image[1]["labels"], out["labels"].numpy())


def test_assign_to_ground_truth_by_hand():
    from relnotes.analysis.relation_weights import assign_to_ground_truth
    gt = torch.tensor([[0.0, 0, 10, 8], [5, 0, 15, 10]])
    # RoI 0: IoU 80/100 = 0.8 with object 0, 50/150 = 1/3 with object 1; RoI 1: IoU 1 with
    # object 1; RoI 2: IoU 25/(100+80-25) = 0.16 at most: none
    rois = torch.tensor([[0.0, 0, 10, 10], [5, 0, 15, 10], [-5, -5, 5, 5]])
    assert assign_to_ground_truth(rois, gt).tolist() == [0, 1, -1]
    assert assign_to_ground_truth(rois, gt, iou_threshold=0.9).tolist() == [-1, 1, -1]
    assert assign_to_ground_truth(rois, torch.zeros(0, 4)).tolist() == [-1, -1, -1]


def test_deciding_neighbours_by_hand():
    from relnotes.analysis.relation_weights import deciding_neighbours
    # a small object at centre (22.5, 2.5): 2.5 px from the large box 0 (x2 = 20), 17.5 from
    # the large box 1 (x1 = 40)
    boxes = torch.tensor([[0.0, 0, 20, 20], [40, 0, 60, 20], [20, 0, 25, 5], [55, 30, 60, 35]])
    labels = torch.tensor([1, 2, 4, 5])
    assert deciding_neighbours(boxes, labels, {4, 5, 6}).tolist() == [-1, -1, 0, 1]
    assert deciding_neighbours(boxes[2:], labels[2:], {4, 5, 6}).tolist() == [-1, -1]


def test_neighbour_weight_mass_by_hand():
    from relnotes.analysis.relation_weights import neighbour_weight_mass
    # objects: 0 large, 1 large, 2 small (decided by 0). RoIs: 0, 1 on object 0; 2 on object 1;
    # 3 on object 2 (the query); 4 background.
    roi_gt = torch.tensor([0, 0, 1, 2, -1])
    deciding = torch.tensor([-1, -1, 0])
    w = torch.zeros(2, 5, 5, dtype=torch.float64)
    w[0, 3] = torch.tensor([0.3, 0.2, 0.1, 0.25, 0.15])
    w[1, 3] = torch.tensor([0.0, 0.0, 0.6, 0.4, 0.0])
    mass = neighbour_weight_mass(w, roi_gt, deciding)
    assert mass["deciding"].flatten().tolist() == pytest.approx([0.5, 0.0])
    assert mass["own"].flatten().tolist() == pytest.approx([0.25, 0.4])
    assert mass["other"].flatten().tolist() == pytest.approx([0.1, 0.6])
    assert mass["background"].flatten().tolist() == pytest.approx([0.15, 0.0])
    assert mass["share"].flatten().tolist() == pytest.approx([0.4, 0.4])        # 2 of 5 keys
    assert mass["chance"].flatten().tolist() == pytest.approx([0.4, 0.4])       # rows sum to 1
    w[1, 3] = 0.0                                # relation 2: the geometry removes every key
    mass = neighbour_weight_mass(w, roi_gt, deciding)
    assert mass["chance"].flatten().tolist() == pytest.approx([0.4, 0.0])
    assert mass["share"].flatten().tolist() == pytest.approx([0.4, 0.4])
    # an image without objects (COCO has some): no query
    empty = neighbour_weight_mass(w, torch.full((5,), -1), torch.zeros(0, dtype=torch.int64))
    assert all(v.shape == (2, 0) for v in empty.values())


class _GroundTruthRPN(torch.nn.Module):
    """Proposals = the ground-truth boxes, so every object has a RoI of IoU 1."""

    def __init__(self, boxes):
        super().__init__()
        self.boxes = boxes

    def forward(self, images, features, targets=None):
        return [self.boxes.clone()], {}


def test_masked_key_detections(shapes):
    from relnotes.analysis.relation_weights import masked_key_detections
    model = small_detector(relations=(1, 1))
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.bias[4] += 4.0       # small classes score
    model.roi_heads.score_thresh = 0.0
    image, target = shapes.torch_dataset()[0]
    assert model.transform([image])[0].image_sizes[0] == tuple(image.shape[-2:])   # no resize
    model.rpn = _GroundTruthRPN(target["boxes"])
    small = {4, 5, 6}
    plain = masked_key_detections(model, image, target, small, mask=None)
    model.eval()
    with torch.no_grad():
        ref = model([image])[0]
    for k in ("boxes", "scores", "labels"):
        torch.testing.assert_close(plain[k], ref[k])                 # mask=None: the model's own
    masked = masked_key_detections(model, image, target, small, mask="deciding")
    rand = masked_key_detections(model, image, target, small, mask="random",
                                 generator=torch.Generator().manual_seed(0))
    assert not torch.equal(masked["scores"], plain["scores"])       # removing keys changes scores
    again = masked_key_detections(model, image, target, small, mask="random",
                                  generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(again["scores"], rand["scores"])     # the generator decides
    with pytest.raises(ValueError, match=r"mask must be None, 'deciding', 'random' or 'all'"):
        masked_key_detections(model, image, target, small, mask="nearest")
    # every other object masked: differs from the deciding neighbour alone while there are others
    every = masked_key_detections(model, image, target, small, mask="all", overlap=0.0)
    assert not torch.equal(every["scores"], masked["scores"])
    # ... and is the same mask when the deciding neighbour is the only other object
    pair = [2, 1]                                   # a glove and its deciding neighbour, a player
    assert target["labels"][pair].tolist() == [4, 1]
    two = dict(boxes=target["boxes"][pair], labels=target["labels"][pair])
    model.rpn = _GroundTruthRPN(two["boxes"])
    for overlap in (None, 0.0):
        a = masked_key_detections(model, image, two, small, mask="all", overlap=overlap)
        d = masked_key_detections(model, image, two, small, mask="deciding", overlap=overlap)
        torch.testing.assert_close(a["scores"], d["scores"], rtol=0, atol=0)
    plain2 = masked_key_detections(model, image, two, small, mask=None)
    assert not torch.equal(a["scores"], plain2["scores"])


def test_hidden_keys_by_hand():
    from relnotes.analysis.relation_weights import hidden_keys
    boxes = torch.tensor([[0.0, 0, 10, 10], [8, 0, 18, 10], [30, 30, 40, 40]])
    rois = boxes.clone()                                # one RoI on each object
    roi_gt = torch.tensor([0, 1, 2])
    hide = lambda hidden, keep=(), overlap=None: hidden_keys(
        rois, boxes, roi_gt, hidden, keep, overlap=overlap).tolist()
    assert hide([0]) == [True, False, False]                        # the RoI assigned to it
    assert hide([0], overlap=0.0) == [True, True, False]            # RoI 1 touches it (IoU 1/9)
    assert hide([0], overlap=0.2) == [True, False, False]           # 1/9 <= 0.2
    assert hide([0], keep=[1], overlap=0.0) == [True, False, False]  # kept: its own object
    assert hide([0, 2], overlap=0.0) == [True, True, True]
    assert hide([], overlap=0.0) == [False, False, False]
    # a RoI on no object (-1) that touches a hidden object goes too, unless overlap is None
    rois2 = torch.tensor([[5.0, 5, 25, 25]])
    assert hidden_keys(rois2, boxes, torch.tensor([-1]), [0], [], overlap=0.0).tolist() == [True]
    assert hidden_keys(rois2, boxes, torch.tensor([-1]), [0], []).tolist() == [False]


def test_context_share_by_hand():
    from relnotes.analysis.relation_weights import context_share
    assert context_share(60.0, 45.0, 30.0) == pytest.approx(0.5)
    assert context_share(60.0, 30.0, 30.0) == pytest.approx(1.0)
    assert context_share(60.0, 62.0, 40.0) == pytest.approx(-0.1)   # masking helped: negative
    assert context_share(60.0, 59.5, 60.5) == pytest.approx(0.5)    # the floor: 0.5 / 1
    assert context_share(60.0, 45.0, 59.5) == pytest.approx(15.0)   # 15 / max(0.5, 1)
    assert context_share(60.0, 45.0, 59.5, min_cost=0.25) == pytest.approx(30.0)


def test_roi_class_mass_by_hand():
    from relnotes.analysis.relation_weights import roi_class_mass
    # objects: 0 (class 1), 1 (class 2), 2 (class 1). RoIs: 0, 1 on object 0; 2 on object 1;
    # 3 on object 2; 4 on no object.
    roi_gt = torch.tensor([0, 0, 1, 2, -1])
    labels = torch.tensor([1, 2, 1])
    w = torch.zeros(1, 5, 5, dtype=torch.float64)
    w[0, 0] = torch.tensor([0.1, 0.4, 0.3, 0.1, 0.1])    # own object 0.5 (left out), class 2: 0.3
    w[0, 2] = torch.tensor([0.2, 0.2, 0.1, 0.4, 0.1])    # class 1: 0.2 + 0.2 + 0.4
    w[0, 4] = torch.tensor([0.5, 0.5, 0.0, 0.0, 0.0])    # background query: left out
    mass, count = roi_class_mass(w, roi_gt, labels, 3)
    expected = torch.zeros(1, 3, 3, dtype=torch.float64)
    expected[0, 0, 0] = 0.1                               # RoI 0 -> RoI 3 (object 2, class 1)
    expected[0, 0, 1] = 0.3
    expected[0, 1, 0] = 0.8
    torch.testing.assert_close(mass, expected)
    assert count.tolist() == [3.0, 1.0, 0.0]              # RoIs 0, 1, 3 of class 1; RoI 2


def test_matrix_correlation():
    from relnotes.analysis.relation_weights import matrix_correlation
    m = torch.tensor([[1.0, 3.0, 0.0], [2.0, 1.0, 1.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    rows = torch.tensor([True, True, False])
    assert matrix_correlation(m, 5 * m, rows) == pytest.approx(1.0)   # rows are normalised
    flipped = m[:, [2, 1, 0]]
    x = (m / m.sum(1, keepdim=True))[:2].flatten()
    y = (flipped / flipped.sum(1, keepdim=True))[:2].flatten()
    r = float(np.corrcoef(x.numpy(), y.numpy())[0, 1])
    assert matrix_correlation(m, flipped, rows) == pytest.approx(r)
    assert matrix_correlation(m, m, torch.tensor([True, False, False])) is None    # one row


class _CyclingRPN(torch.nn.Module):
    """Proposals of image i on call i (cycling): its ground-truth boxes, the same boxes shifted
    by one pixel (a second RoI on each object) and one box on no object."""

    def __init__(self, targets):
        super().__init__()
        self.proposals = [torch.cat([t["boxes"], t["boxes"] + 1.0,
                                     torch.tensor([[0.0, 0.0, 3.0, 3.0]])]) for t in targets]
        self.calls = 0

    def forward(self, images, features, targets=None):
        self.calls += 1
        return [self.proposals[(self.calls - 1) % len(self.proposals)].clone()], {}


def test_read_relations_is_the_per_image_readings(shapes):
    from relnotes.analysis.relation_weights import (MASS_PARTS, read_relations, roi_class_mass,
                                                     roi_weights_on_ground_truth)
    model = small_detector(relations=(1, 1))
    data = shapes.torch_dataset()
    small = {4, 5, 6}
    model.rpn = _CyclingRPN([data[i][1] for i in range(3)])
    out = read_relations(model, data, small, 6, n_images=3)
    assert out["mass"].shape == (2, 4, 5) and out["class_mass"].shape == (2, 4, 6, 6)
    per_image = [roi_weights_on_ground_truth(model, data[i][0], data[i][1], small)
                 for i in range(3)]
    for module in range(2):
        for k, part in enumerate(MASS_PARTS):
            every = torch.cat([p[module][part] for p in per_image], 1)     # [N_r, Q]
            assert every.shape[1] == out["n_queries"] > 0
            torch.testing.assert_close(out["mass"][module, :, k], every.mean(1))
            torch.testing.assert_close(out["queries"][module, :, :, k], every)
    assert out["query_image"].tolist() == sorted(out["query_image"].tolist())
    assert len(out["query_image"]) == out["n_queries"]
    assert set(out["query_image"].tolist()) <= {0, 1, 2}
    parts = out["mass"][..., :4].sum(-1)              # rows sum to 1 (0: geometry removed all)
    assert torch.all(parts <= 1 + 1e-5) and (parts - 1).abs().min() < 1e-5
    assert out["mass"][..., 1].max() > 0 and out["mass"][..., 3].max() > 0     # own, background
    # the class matrix: the sum of the images' roi_class_mass over the query counts
    total, count = 0, 0
    for i in range(3):
        w = relation_weights(model, data[i][0], score_thresh=2.0)
        from relnotes.analysis.relation_weights import assign_to_ground_truth
        roi_gt = assign_to_ground_truth(w["rois"], data[i][1]["boxes"])
        m, c = roi_class_mass(w["weights"][1], roi_gt, data[i][1]["labels"], 6)
        total, count = total + m, count + c
    torch.testing.assert_close(out["class_mass"][1], total / count.clamp(min=1)[:, None])
    torch.testing.assert_close(out["n_class_queries"], count)


def test_masked_key_ap_without_mask_is_the_models_ap(shapes):
    from relnotes.analysis.relation_weights import masked_key_ap
    from relnotes.engine.detection import evaluate_detector
    model = small_detector(relations=(1, 1))
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.bias[1:] += 4.0      # every class scores
    model.roi_heads.score_thresh = 0.0
    data = shapes.torch_dataset()
    model.rpn = _CyclingRPN([data[i][1] for i in range(len(data))])   # one pass = one cycle
    group = ("glove", "cup", "apple")
    ours = masked_key_ap(model, data, shapes.coco, {4, 5, 6}, group, mask=None, n_images=len(data))
    ref = evaluate_detector(model, data, shapes.coco, group=group, batch_size=1)
    assert ref["mAP"] > 0 and ref["ap_group"] > 0
    for k in ("mAP", "ap_group", "ap_rest"):
        assert ours[k] == pytest.approx(ref[k])
    masked = masked_key_ap(model, data, shapes.coco, {4, 5, 6}, group, mask="deciding",
                           n_images=len(data))
    assert masked["ap_rest"] != pytest.approx(ref["ap_rest"]) or \
        masked["ap_group"] != pytest.approx(ref["ap_group"])        # the masks change something
    again = masked_key_ap(model, data, shapes.coco, {4, 5, 6}, group, mask="random",
                          n_images=len(data), seed=3)
    assert again == masked_key_ap(model, data, shapes.coco, {4, 5, 6}, group, mask="random",
                                  n_images=len(data), seed=3)       # the seed decides


def test_held_out_best_chooses_on_even_items_and_reads_on_odd_ones():
    from relnotes.analysis.relation_weights import MASS_PARTS, held_out_best

    dec, chance = MASS_PARTS.index("deciding"), MASS_PARTS.index("chance")
    q = torch.zeros(2, 3, 4, len(MASS_PARTS), dtype=torch.float64)   # [M, N_r, Q, 5]
    image = torch.tensor([0, 1, 2, 3])                                # queries 0, 2 even; 1, 3 odd
    q[1, 2, [0, 2], dec] = 0.9                                        # chosen: module 1, relation 2
    q[0, 0, [1, 3], dec] = 1.0                                        # best on odd items only: ignored
    q[1, 2, 1, dec], q[1, 2, 3, dec], q[..., chance] = 0.2, 0.4, 0.1
    m, r, parts = held_out_best({"queries": q, "query_image": image})
    assert (m, r) == (1, 2)
    assert parts[dec].item() == pytest.approx(0.3)                   # mean over the odd queries
    assert parts[chance].item() == pytest.approx(0.1)
    assert held_out_best({"queries": q[:, :, [0, 2]], "query_image": image[[0, 2]]}) is None


def test_figures_notes_name_the_run_its_seeds_and_the_readings():
    from types import SimpleNamespace

    from relnotes.analysis.relation_weights import READING_NOTES, figures_notes

    S = SimpleNamespace(d_f=64, n_relations=4, d_k=16, d_g=64, geometry_scale=100.0, proposals=32,
                        body_epochs=8, n_train=96, head_epochs=2, lr=3e-3, n_test=24)
    notes = figures_notes(S, seeds=(0, 1))
    assert notes.startswith("Ours: tiny Faster R-CNN (d_f = 64,") and "ContextShapes" in notes
    assert "Seeds [0, 1] (one detector each" in notes and READING_NOTES in notes
    assert notes.endswith("The keys of a masked object: the RoIs assigned to it.")
    S.mask_overlap = 0.0
    assert figures_notes(S, seeds=(0,)).endswith(
        "The keys of a masked object: every RoI whose IoU with it is above 0.")
    coco = dict(pretrained_backbone=True, train_split="train2017", epochs=12, batch_size=16,
                lr=0.02, lr_steps=(8, 11), val_split="val2017")
    assert "R50-FPN" in figures_notes(S, seeds=(0,), coco=coco, n_images=50)
    assert "its first 50 images" in figures_notes(S, seeds=(0,), coco=coco, n_images=50)
