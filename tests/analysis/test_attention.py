import math

import pytest
import torch

from relnotes.analysis.attention import (
    capture_input, cosine_distance_matrix, detector_non_local_distances, mean_cosine_distance,
    non_local_distances, non_local_metric, query_attention_maps,
)
from relnotes.models.context_classifier import ContextClassifier
from relnotes.nn import NonLocal2d


def test_hand_made_distances():
    v = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    d = cosine_distance_matrix(v)
    assert d.tolist() == [[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]]
    # all 9 ordered pairs, self-pairs included: (0 + 1 + 2 + 1 + 0 + 1 + 2 + 1 + 0) / 9
    assert mean_cosine_distance(v).item() == pytest.approx(8 / 9)


def test_identical_directions_give_zero_and_orthogonal_give_one_minus_one_over_n():
    same = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.5, 1.0, 1.5], [3.0, 6.0, 9.0]])
    assert mean_cosine_distance(same).item() == pytest.approx(0.0, abs=1e-7)
    eye = torch.eye(5, dtype=torch.float64)
    assert mean_cosine_distance(eye).item() == pytest.approx(1 - 1 / 5)


def test_a_scaled_vector_has_the_same_distances():
    v = torch.randn(7, 4, dtype=torch.float64)
    w = v * torch.rand(7, 1, dtype=torch.float64).add(0.1)
    assert mean_cosine_distance(w).item() == pytest.approx(mean_cosine_distance(v).item())


def test_closed_form_equals_the_mean_of_the_matrix_batched():
    torch.manual_seed(0)
    v = torch.randn(3, 2, 11, 6, dtype=torch.float64)
    v[0, 1, 4] = 0                                  # a zero vector: cosine 0, distance 1
    fast = mean_cosine_distance(v)
    slow = cosine_distance_matrix(v).mean(dim=(-2, -1))
    assert fast.shape == (3, 2)
    assert torch.allclose(fast, slow, atol=1e-12)
    assert cosine_distance_matrix(v)[0, 1, 4, 4].item() == 1.0


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="v must be a Tensor"):
        mean_cosine_distance(torch.ones(3))
    with pytest.raises(TypeError, match="v must be a Tensor"):
        cosine_distance_matrix([[1.0, 0.0]])


def _nl(mode="embedded_gaussian", **kw):
    torch.manual_seed(2)
    block = NonLocal2d(8, mode=mode, **kw).double()
    with torch.no_grad():
        for p in block.parameters():
            p.normal_()
    return block


@pytest.mark.parametrize("mode", ["embedded_gaussian", "gaussian", "dot_product", "concatenation"])
def test_non_local_distances_match_a_transcription(mode):
    block = _nl(mode)
    x = torch.randn(2, 8, 4, 5, dtype=torch.float64)
    stats = non_local_distances(block, x)
    y, w = block.context_modeling(x)
    out = block.w_z(y)
    assert set(stats) == {"input", "attention", "output", "uniform"}
    for b in range(2):
        xi = x[b].flatten(1).T                                   # [HW, C]
        oi = out[b].flatten(1).T
        assert stats["input"][b].item() == pytest.approx(cosine_distance_matrix(xi).mean().item())
        assert stats["attention"][b].item() == pytest.approx(
            cosine_distance_matrix(w[b]).mean().item())
        assert stats["output"][b].item() == pytest.approx(cosine_distance_matrix(oi).mean().item())
    # the output (before fusion) is what forward adds to x
    assert torch.allclose(block(x) - x, out)


def test_a_query_independent_map_gives_zero_attention_and_output_distance():
    block = _nl("embedded_gaussian")
    with torch.no_grad():
        block.theta.weight.zero_()                               # θ(x_i) = bias: same for every i
    x = torch.randn(1, 8, 3, 3, dtype=torch.float64)
    stats = non_local_distances(block, x, reduce=torch.mean)
    assert stats["attention"].item() == pytest.approx(0.0, abs=1e-12)
    assert stats["output"].item() == pytest.approx(0.0, abs=1e-12)
    assert stats["input"].item() > 0.1


def test_non_local_distances_rejects_other_blocks():
    with pytest.raises(TypeError, match="NonLocal2d"):
        non_local_distances(torch.nn.Identity(), torch.zeros(1, 8, 2, 2))
    with pytest.raises(ValueError, match=r"Tensor\[B, 8, H, W\]"):
        non_local_distances(_nl(), torch.zeros(1, 4, 2, 2, dtype=torch.float64))


def test_capture_input_gets_what_the_block_sees():
    torch.manual_seed(0)
    model = ContextClassifier(3, in_channels=1, widths=(4, 8, 8),
                              stage_block=lambda c: NonLocal2d(c), stage_block_after=2).eval()
    x = torch.randn(2, 1, 16, 16)
    out, seen = capture_input(model, model.stage_block, x)
    expected = model.stages[1](model.stages[0](model.stem(x)))
    assert torch.equal(out, model(x))
    assert torch.allclose(seen, expected)
    assert seen.shape == (2, 8, 8, 8)
    with pytest.raises(ValueError, match="not a submodule"):
        capture_input(model, NonLocal2d(8), x)
    stats = non_local_distances(model.stage_block, seen, reduce=torch.mean)
    assert math.isfinite(stats["input"].item())


def test_distance_to_uniform_by_hand():
    from relnotes.analysis.attention import distance_to_uniform
    assert distance_to_uniform(torch.full((2, 5, 7), 1 / 7)).tolist() == pytest.approx([0.0, 0.0], abs=1e-12)
    # one-hot rows: cos(e_j, 1) = 1 / sqrt(M)
    assert distance_to_uniform(torch.eye(9)).item() == pytest.approx(1 - 1 / 3)
    # half the rows uniform, half one-hot over M = 4: mean of 0 and 1 - 1/2
    w = torch.cat([torch.full((2, 4), 0.25), torch.eye(4)[:2]])
    assert distance_to_uniform(w).item() == pytest.approx(0.25)


def test_an_untrained_block_is_nearly_uniform_and_a_sharp_one_is_not():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 6, 6)
    block = NonLocal2d(8)
    assert non_local_distances(block, x, reduce=torch.mean)["uniform"].item() < 0.2
    with torch.no_grad():
        block.theta.weight.mul_(30.0)
    assert non_local_distances(block, x, reduce=torch.mean)["uniform"].item() > 0.3


@pytest.mark.parametrize("sub_sample", [False, True])
def test_query_attention_maps_are_the_query_rows_enlarged(sub_sample):
    torch.manual_seed(0)
    model = ContextClassifier(2, in_channels=1, widths=(4, 8, 8),
                              stage_block=lambda c: NonLocal2d(c, sub_sample=sub_sample))
    for p in model.stage_block.parameters():
        torch.nn.init.normal_(p)                                  # sharp, query-specific maps
    model.eval()
    image = torch.rand(1, 1, 20, 28)                              # the block sees 10 x 14
    maps, cells, hw = query_attention_maps(model, model.stage_block, image, [(0.25, 0.5), (0.95, 0.0)])
    assert cells == [(2, 7), (9, 0)] and hw == (10, 14)
    assert maps.shape == (2, 20, 28)
    with torch.no_grad():
        _, x = capture_input(model, model.stage_block, image)
        _, w = model.stage_block.context_modeling(x)
    kh, kw = (5, 7) if sub_sample else (10, 14)
    for q, (qi, qj) in enumerate(cells):
        row = w[0, qi * 14 + qj].reshape(kh, kw)
        # nearest-neighbour enlargement: each key covers a block of 20 / kh x 28 / kw pixels
        expected = row.repeat_interleave(20 // kh, 0).repeat_interleave(28 // kw, 1)
        assert torch.equal(maps[q], expected)
    assert not torch.allclose(maps[0], maps[1])


def test_query_attention_maps_wants_one_image():
    model = ContextClassifier(2, in_channels=1, widths=(4, 8, 8), stage_block=lambda c: NonLocal2d(c))
    with pytest.raises(ValueError, match=r"Tensor\[1, C, H, W\]"):
        query_attention_maps(model, model.stage_block, torch.rand(2, 1, 16, 16), [(0.5, 0.5)])


def test_non_local_metric_is_accuracy_and_batch_mean_distances():
    torch.manual_seed(0)
    model = ContextClassifier(3, in_channels=1, widths=(4, 8, 8), stage_block=lambda c: NonLocal2d(c))
    model.eval()
    images, labels = torch.rand(5, 1, 16, 16), torch.tensor([0, 1, 2, 0, 1])
    m = non_local_metric(model, (images, labels))
    with torch.no_grad():
        logits, x = capture_input(model, model.stage_block, images)
        per_image = non_local_distances(model.stage_block, x)
    assert m["accuracy"].item() == pytest.approx((logits.argmax(1) == labels).float().mean().item())
    assert set(m) == {"accuracy", "input", "attention", "output", "uniform"}
    for k, v in per_image.items():
        assert m[k].item() == pytest.approx(v.mean().item())


def _nl_detector():
    from relnotes.models.context_resnet import insert_before_last_block
    from relnotes.models.tiny_mask_rcnn import TinyResNet, tiny_mask_rcnn
    torch.manual_seed(0)
    body = TinyResNet(planes=(4, 4, 8, 8), layers=(1, 1, 2, 1))
    block = insert_before_last_block(body, lambda c: NonLocal2d(c, sub_sample=True))
    return tiny_mask_rcnn(7, body=body, fpn_channels=8, masks=False), block


def test_detector_non_local_distances_are_the_image_mean_of_the_block_statistics():
    from relnotes.data.context_masks import make_context_masks
    model, block = _nl_detector()
    data = make_context_masks(5, seed=3).torch_dataset()
    model.train()
    got = detector_non_local_distances(model, block, data, batch_size=2)
    assert model.training                                           # the mode is restored
    # by hand: the detector's transform, the body, the block's input, one image at a time
    model.eval()
    seen = []
    handle = block.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    with torch.no_grad():
        for i in range(len(data)):
            model.backbone.body(model.transform([data[i][0]])[0].tensors)
    handle.remove()
    x = torch.cat(seen)                                             # [5, C, 8, 8]: c4 of 64 x 64
    assert x.shape[-2:] == (8, 8)
    want = non_local_distances(block, x, reduce=torch.mean)
    assert set(got) == {"input", "attention", "output", "uniform"}
    for k in got:
        assert got[k] == pytest.approx(want[k].item(), abs=1e-6)
    # the batch size does not change the mean over images
    again = detector_non_local_distances(model, block, data, batch_size=5)
    assert again == pytest.approx(got, abs=1e-6)


def test_detector_non_local_distances_rejects_bad_input():
    model, block = _nl_detector()
    with pytest.raises(ValueError, match="batch_size must be an int >= 1; got 0"):
        detector_non_local_distances(model, block, [(torch.zeros(3, 64, 64), {})], batch_size=0)
    with pytest.raises(ValueError, match="dataset must hold at least one image; got 0"):
        detector_non_local_distances(model, block, [])
    with pytest.raises(ValueError, match="not a submodule"):
        detector_non_local_distances(model, NonLocal2d(8), [(torch.zeros(3, 64, 64), {})])
