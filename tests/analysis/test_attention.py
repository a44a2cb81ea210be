import math

import pytest
import torch

from relnotes.analysis.attention import (
    capture_input, cosine_distance_matrix, mean_cosine_distance, non_local_distances,
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
