import doctest
import sys

import pytest
import torch

from relnotes.ops import relation, scaled_dot_product



@pytest.fixture(autouse=True)
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def test_docstring_examples():
    module = sys.modules["relnotes.ops.relation"]
    assert doctest.testmod(module, raise_on_error=False).failed == 0


def test_softmax_of_appearance_plus_log_geometry_is_rn_eq2():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2, 5, 7, generator=g)
    geo = torch.rand(2, 5, 7, generator=g)
    v = torch.randn(2, 7, 3, generator=g)
    y, w = relation(v, appearance=a, geometry=geo, return_weights=True)
    omega = geo * a.exp()                               # RN Eq. (2), numerator
    w_ref = omega / omega.sum(-1, keepdim=True)
    torch.testing.assert_close(w, w_ref, rtol=0, atol=1e-14)
    torch.testing.assert_close(y, w_ref @ v, rtol=0, atol=1e-14)


def test_zero_geometry_and_neighbourhood_remove_pairs():
    v = torch.tensor([[1.0], [2.0], [4.0]])
    geo = torch.tensor([[1.0, 1.0, 0.0]]).expand(3, 3)
    assert relation(v, geometry=geo).flatten().tolist() == [1.5, 1.5, 1.5]
    mask = torch.eye(3, dtype=torch.bool)
    assert relation(v, appearance=torch.randn(3, 3), neighbourhood=mask).flatten().tolist() == \
        [1.0, 2.0, 4.0]


def test_empty_neighbourhood_gives_zero_not_nan_and_finite_gradients():
    v = torch.randn(3, 2, requires_grad=True)
    a = torch.randn(3, 3, requires_grad=True)
    geo = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 2.0], [0.0, 1.0, 0.0]], requires_grad=True)
    y = relation(v, appearance=a, geometry=geo)
    assert torch.equal(y[0], torch.zeros(2))
    y.sum().backward()
    for t in (v, a, geo):
        assert torch.isfinite(t.grad).all()


def test_symmetric_normalisation_is_kipf_welling():
    adj = (torch.rand(6, 6, generator=torch.Generator().manual_seed(1)) > 0.5).double()
    adj = ((adj + adj.T) > 0).double() + torch.eye(6)
    v = torch.randn(6, 4)
    d = adj.sum(1)
    ref = torch.diag(d ** -0.5) @ adj @ torch.diag(d ** -0.5) @ v
    torch.testing.assert_close(relation(v, geometry=adj, normalization="symmetric"), ref,
                               rtol=0, atol=1e-14)


def test_none_normalisation_returns_unnormalised_weights():
    a = torch.randn(3, 3)
    _, w = relation(torch.randn(3, 2), appearance=a, normalization="none", return_weights=True)
    torch.testing.assert_close(w, a.exp())


def test_permutation_equivariance():
    x = torch.randn(6, 4)
    perm = torch.randperm(6)
    def f(x):
        return relation(x, appearance=scaled_dot_product(x, x))
    torch.testing.assert_close(f(x[perm]), f(x)[perm])


def test_gradcheck():
    v = torch.randn(4, 3, requires_grad=True)
    a = torch.randn(4, 4, requires_grad=True)
    geo = (torch.rand(4, 4) + 0.1).requires_grad_()
    assert torch.autograd.gradcheck(lambda v, a, g: relation(v, appearance=a, geometry=g), (v, a, geo))
    assert torch.autograd.gradcheck(
        lambda v, g: relation(v, geometry=g, normalization="symmetric"), (v, geo))


def test_scaled_dot_product_default_scale():
    q, k = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    torch.testing.assert_close(scaled_dot_product(q, k), q @ k.transpose(1, 2) / 4)
    with pytest.raises(ValueError, match=r"share their last dimension d_k; got query \(2, 3, 16\) "
                                         r"and key \(2, 5, 8\)"):
        scaled_dot_product(q, torch.randn(2, 5, 8))


def test_bad_input_errors():
    v = torch.randn(3, 2)
    with pytest.raises(ValueError, match="normalization must be one of"):
        relation(v, appearance=torch.zeros(3, 3), normalization="l1")
    with pytest.raises(ValueError, match="give at least one of appearance, geometry or neighbourhood"):
        relation(v)
    with pytest.raises(ValueError, match=r"M = 4 elements j .* but value has 3"):
        relation(v, appearance=torch.zeros(3, 4))
    with pytest.raises(ValueError, match="geometry weights must be >= 0"):
        relation(v, geometry=-torch.ones(3, 3))
    with pytest.raises(TypeError, match="neighbourhood must be a bool tensor"):
        relation(v, neighbourhood=torch.ones(3, 3))
    with pytest.raises(ValueError, match="symmetric normalization needs N == M"):
        relation(v, geometry=torch.ones(2, 3), normalization="symmetric")
