import math

import pytest
import torch

from relnotes.analysis import count_macs, count_parameters
from relnotes.nn.object_relation import (
    OFFICIAL_CODE_OPTIONS, ObjectRelation, object_relation_macs, object_relation_params,
)
from relnotes.ops.box_geometry import box_geometry, box_geometry_embedding


@pytest.fixture(autouse=True)
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def random_boxes(n, seed=0, batch=()):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(*batch, n, 2, generator=g) * 200
    wh = torch.rand(*batch, n, 2, generator=g) * 80 + 4
    return torch.cat([xy, xy + wh], -1)


def module(d_f=32, seed=0, **kw):
    torch.manual_seed(seed)
    m = ObjectRelation(d_f, n_relations=4, d_k=8, d_g=16, **kw)
    with torch.no_grad():  # larger weights than the N(0, 0.01) init, so every term matters
        for p in m.parameters():
            p.normal_(0, 0.5)
    return m


def test_parameter_counts_eq7_and_official_layout():
    # RN Eq. (7): N_r (2 d_f d_k + d_g) + d_f^2, no biases
    assert object_relation_params(1024) == 16 * (2 * 1024 * 64 + 64) + 1024 ** 2 == 3_146_752
    assert count_parameters(ObjectRelation(1024, bias=False)) == 3_146_752
    # official layout: biases on query, key (1024 each), linear_out (1024), pair_pos_fc1 (16)
    assert count_parameters(ObjectRelation(1024)) == 3_149_840 == 3_146_752 + 3 * 1024 + 16
    assert count_parameters(ObjectRelation(128, bias=False)) == object_relation_params(128)


def test_macs_are_eq8_without_the_elementwise_product():
    assert object_relation_macs(300, 1024) == 1_221_638_400
    n, d_f = 20, 64
    m = ObjectRelation(d_f, n_relations=4, d_k=8, d_g=16)
    counted = count_macs(m, torch.randn(n, d_f), random_boxes(n))
    # Eq. (8) has N^2 N_r for ω_G · exp(ω_A), an element-wise product a FLOP counter skips
    assert counted == object_relation_macs(n, d_f, 4, 8, 16) - n * n * 4


def loop_reference(m, f, boxes, nongt_dim=None, floor=None):
    """RN Eqs. (2)-(6) written as loops over relations r, queries n and keys m."""
    N, d_f = f.shape
    M = N if nongt_dim is None else nongt_dim
    d_v = d_f // m.n_relations
    emb = box_geometry_embedding(box_geometry(boxes, boxes[:M], normalize_by=m.normalize_by,
                                              plus_one=m.plus_one), m.d_g, scale=m.geometry_scale)
    out = f.clone()
    for r in range(m.n_relations):
        rows_k = slice(r * m.d_k, (r + 1) * m.d_k)
        rows_v = slice(r * d_v, (r + 1) * d_v)
        Wq, Wk, Wv = m.query.weight[rows_k], m.key.weight[rows_k], m.value.weight[rows_v]
        bq, bk, bv = m.query.bias[rows_k], m.key.bias[rows_k], m.value.bias[rows_v]
        for n in range(N):
            num, den = torch.zeros(d_v), 0.0
            for k in range(M):
                w_a = torch.dot(Wk @ f[k] + bk, Wq @ f[n] + bq) / math.sqrt(m.d_k)     # Eq. (4)
                w_g = max(0.0, float(m.geometry.weight[r] @ emb[n, k] + m.geometry.bias[r]))  # (5)
                if floor is not None:
                    w_g = max(w_g, floor)
                num = num + w_g * torch.exp(w_a) * (Wv @ f[k] + bv)                    # (2), (3)
                den = den + w_g * torch.exp(w_a)
            out[n, rows_v] += num / den if den > 0 else 0.0                           # (6)
    return out


def test_matches_loop_over_the_equations():
    m = module()
    f, b = torch.randn(5, 32), random_boxes(5)
    with torch.no_grad():
        torch.testing.assert_close(m(f, b), loop_reference(m, f, b), rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(m(f, b, nongt_dim=3), loop_reference(m, f, b, nongt_dim=3),
                                   rtol=1e-10, atol=1e-10)


def test_official_options_match_the_log_max_formula():
    m = module(**OFFICIAL_CODE_OPTIONS)
    f, b = torch.randn(6, 32), random_boxes(6)
    with torch.no_grad():
        torch.testing.assert_close(m(f, b), loop_reference(m, f, b, floor=1e-6), rtol=1e-10,
                                   atol=1e-10)
        # the official code: softmax over keys of log(max(ω_G, 1e-6)) + ω_A
        w_a = m.appearance_logits(f, f)
        relu = torch.relu(m.geometry(box_geometry_embedding(
            box_geometry(b, normalize_by="query", plus_one=True), 16, scale=100.0))).movedim(-1, -3)
        official = torch.softmax(torch.log(relu.clamp_min(1e-6)) + w_a, dim=-1)
        _, w = m(f, b, return_weights=True)
        torch.testing.assert_close(w, official, rtol=1e-10, atol=1e-12)


def test_project_first_equals_official_aggregate_then_grouped_conv():
    m = module(geometry_floor=1e-6)  # the weights of a query sum to 1 (else the bias differs)
    f, b = torch.randn(7, 32), random_boxes(7)
    with torch.no_grad():
        y, w = m(f, b, return_weights=True)                            # w: [N_r, N, M]
        aggregated = torch.einsum("rnm,md->rnd", w, f)                 # raw features per relation
        conv = torch.nn.Conv1d(4 * 32, 32, 1, groups=4)                # the official linear_out
        conv.weight.copy_(m.value.weight.view(4, 8, 32).reshape(32, 32, 1))
        conv.bias.copy_(m.value.bias)
        official = conv(aggregated.transpose(0, 1).reshape(7, 4 * 32, 1)).squeeze(-1)
        torch.testing.assert_close(y, f + official, rtol=1e-10, atol=1e-10)


def test_shapes_batched_and_weights_normalised():
    m = module()
    f, b = torch.randn(3, 9, 32), random_boxes(9, batch=(3,))
    y, w = m(f, b, return_weights=True)
    assert y.shape == (3, 9, 32) and w.shape == (3, 4, 9, 9)
    # a query sums to 1, or to 0 when the ReLU of Eq. (5) zeroes all its geometry weights
    sums = w.sum(-1)
    assert bool(((sums - 1).abs() < 1e-12).logical_or(sums == 0).all())
    assert bool((sums == 0).any()) and bool((sums > 0).any())
    # with the official floor every query sums to 1
    floored = module(geometry_floor=1e-6)
    torch.testing.assert_close(floored(f, b, return_weights=True)[1].sum(-1), torch.ones(3, 4, 9))
    # a batch is the same as one image at a time
    with torch.no_grad():
        torch.testing.assert_close(y[1], m(f[1], b[1]), rtol=1e-12, atol=1e-12)


def test_permutation_equivariance():
    m = module()
    f, b = torch.randn(8, 32), random_boxes(8)
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y, w = m(f, b, return_weights=True)
        yp, wp = m(f[perm], b[perm], return_weights=True)
    torch.testing.assert_close(yp, y[perm], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(wp, w[:, perm][:, :, perm], rtol=1e-12, atol=1e-12)


def test_nongt_dim_keys_exclude_appended_ground_truth():
    m = module()
    f, b = torch.randn(8, 32), random_boxes(8)
    with torch.no_grad():
        y, w = m(f, b, nongt_dim=5, return_weights=True)
        assert w.shape == (4, 8, 5)
        # the 3 appended boxes are queries only: changing them changes nothing for the others
        f2, b2 = f.clone(), b.clone()
        f2[5:] = torch.randn(3, 32)
        b2[5:] = random_boxes(3, seed=7)
        torch.testing.assert_close(m(f2, b2, nongt_dim=5)[:5], y[:5], rtol=0, atol=0)
        torch.testing.assert_close(m(f[:5], b[:5]), y[:5], rtol=1e-12, atol=1e-12)


def test_init_is_close_to_identity_and_residual_flag():
    torch.manual_seed(0)
    m = ObjectRelation(64, n_relations=4, d_k=8, d_g=16)
    f, b = torch.randn(6, 64), random_boxes(6)
    with torch.no_grad():
        # N(0, 0.01) weights: |f_R| is a few percent of |f| (Eq. (6) starts near the identity)
        assert (m(f, b) - f).norm() < 0.1 * f.norm()
        r = ObjectRelation(64, n_relations=4, d_k=8, d_g=16, residual=False)
        r.load_state_dict(m.state_dict())
        torch.testing.assert_close(r(f, b), m(f, b) - f)


@pytest.mark.parametrize("flag", [
    dict(normalize_by="query"), dict(plus_one=True), dict(geometry_scale=100.0),
    dict(geometry_floor=1e-1), dict(eps=1e-1), dict(wavelength=10.0), dict(residual=False),
])
def test_every_option_changes_the_output(flag):
    f, b = torch.randn(6, 32), random_boxes(6)
    b[1] = b[0] + torch.tensor([0.5, 0.0, 0.5, 0.0])  # nearly the same centre: eps matters
    base, other = module(seed=3), module(seed=3, **flag)
    with torch.no_grad():
        assert not torch.allclose(base(f, b), other(f, b))
    assert flag.popitem()[0] in repr(other)


def test_geometry_weight_is_overridable():
    class NoGeometry(ObjectRelation):   # RN Table 1(a) "none": ω_G = 1
        def geometry_weight(self, boxes, key_boxes):
            return boxes.new_ones(*boxes.shape[:-2], self.n_relations, boxes.shape[-2],
                                  key_boxes.shape[-2])

    m = module()
    none = NoGeometry(32, n_relations=4, d_k=8, d_g=16)
    none.load_state_dict(m.state_dict())
    f, b = torch.randn(5, 32), random_boxes(5)
    _, w = none(f, b, return_weights=True)
    torch.testing.assert_close(w, torch.softmax(m.appearance_logits(f, f), -1))


def test_empty_and_bad_input():
    m = module()
    y, w = m(torch.zeros(0, 32), torch.zeros(0, 4), return_weights=True)
    assert y.shape == (0, 32) and w.shape == (4, 0, 0)
    f, b = torch.randn(4, 32), random_boxes(4)
    y = m(f, b, nongt_dim=0)                                 # no keys: f_R = 0
    torch.testing.assert_close(y, f)
    # every ω_G zero for a query: f_R = 0, never NaN
    with torch.no_grad():
        m.geometry.weight.zero_()
        m.geometry.bias.fill_(-1.0)
    y = m(f, b)
    assert bool(torch.isfinite(y).all())
    torch.testing.assert_close(y, f)
    with pytest.raises(ValueError, match=r"boxes must be Tensor\[..., N, 4\] with the leading "
                                         r"dimensions of features \(4,\); got \(3, 4\)"):
        m(f, b[:3])
    with pytest.raises(ValueError, match=r"features must be Tensor\[N, 32\]"):
        m(torch.randn(4, 31), b)
    with pytest.raises(ValueError, match=r"positive width and height"):
        m(f, torch.tensor([[0.0, 0, 0, 1]]).expand(4, 4))
    with pytest.raises(ValueError, match=r"positive width and height"):
        m(f, torch.tensor([[3.0, 0, 1, 1]]).expand(4, 4))
    with pytest.raises(ValueError, match=r"nongt_dim must be an int in \[0, N = 4\]; got 5"):
        m(f, b, nongt_dim=5)
    with pytest.raises(ValueError, match=r"d_f \(30\) must be divisible by n_relations \(16\)"):
        ObjectRelation(30)
    with pytest.raises(ValueError, match=r"normalize_by must be one of"):
        ObjectRelation(32, normalize_by="centre")


def test_eq8_values_quoted_in_the_chapter():
    # book/relation-networks.md: two modules cost 2.44 G at N = 300 and 12.47 G at N = 1000
    assert round(2 * object_relation_macs(300, 1024) / 1e9, 2) == 2.44
    assert round(2 * object_relation_macs(1000, 1024) / 1e9, 2) == 12.47
    assert round(2 * 3_149_840 / 2**20, 2) == 6.01 and round(2 * 3_149_840 / 1e6, 2) == 6.30


# --- RN Table 1(a) variants: geometric term "none" and "unary" ---------------------------------

from relnotes.nn.object_relation import (  # noqa: E402
    GEOMETRY_TERMS, ObjectRelationNoGeometry, ObjectRelationUnary,
)
from relnotes.ops.box_geometry import sinusoidal_embedding  # noqa: E402
from relnotes.ops.relation import relation  # noqa: E402


@pytest.fixture
def no_grad():
    yield
    torch.set_grad_enabled(True)


def test_none_is_a_softmax_of_the_appearance_term_only(no_grad):
    torch.manual_seed(0)
    m = ObjectRelationNoGeometry(32, n_relations=4, d_k=8, d_g=16)
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.5)
    f, b = torch.randn(6, 32), random_boxes(6)
    torch.set_grad_enabled(False)
    out, w = m(f, b, return_weights=True)
    a = m.appearance_logits(f, f)
    assert w == pytest.approx(torch.softmax(a, -1), abs=1e-12)
    # moving the boxes changes nothing: there is no geometry term
    assert m(f, random_boxes(6, seed=1)) == pytest.approx(out, abs=1e-12)
    # no W_G: N_r d_g (+ N_r biases) fewer parameters than the module with geometry
    full = ObjectRelation(32, n_relations=4, d_k=8, d_g=16)
    assert count_parameters(full) - count_parameters(m) == 4 * 16 + 4


def test_unary_adds_the_embedded_box_then_runs_as_none(no_grad):
    torch.manual_seed(0)
    m = ObjectRelationUnary(32, n_relations=4, d_k=8, d_g=16)
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.5)
    f, b = torch.randn(5, 32), random_boxes(5)
    torch.set_grad_enabled(False)
    g = f + m.unary(sinusoidal_embedding(b, 4).flatten(-2))          # f_A + W_U E(f_G)
    a = m.appearance_logits(g, g)
    v = m.value(g).unflatten(-1, (4, 8)).transpose(0, 1)
    ref = g + relation(v, appearance=a).transpose(0, 1).flatten(-2)
    assert m(f, b) == pytest.approx(ref, abs=1e-10)
    # the pair weights depend on the positions now (through f_A), unlike "none"
    _, w1 = m(f, b, return_weights=True)
    _, w2 = m(f, random_boxes(5, seed=2), return_weights=True)
    assert not torch.allclose(w1, w2)
    assert count_parameters(m) == count_parameters(ObjectRelationNoGeometry(
        32, n_relations=4, d_k=8, d_g=16)) + 16 * 32 + 32


def test_geometry_terms_registry_and_nongt_dim():
    assert GEOMETRY_TERMS == {"relative": ObjectRelation, "none": ObjectRelationNoGeometry,
                              "unary": ObjectRelationUnary}
    for cls in GEOMETRY_TERMS.values():
        m = cls(16, n_relations=2, d_k=4, d_g=8)
        out, w = m(torch.randn(5, 16), random_boxes(5), nongt_dim=3, return_weights=True)
        assert out.shape == (5, 16) and w.shape == (2, 5, 3)
