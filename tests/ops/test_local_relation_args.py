import pytest

from relnotes.ops.local_relation_args import (
    COMPOSABILITIES, COMPOSABILITY_MODES, check_composability, check_kernel_size,
)


def test_one_table_of_composability_terms():
    assert COMPOSABILITIES == ("squared_difference", "dot", "abs_difference")
    assert [COMPOSABILITY_MODES[c] for c in COMPOSABILITIES] == [0, 1, 2]   # LR_* in the .cu


@pytest.mark.parametrize("k", [1, 3, 7])
def test_odd_kernel_sizes_pass(k):
    check_kernel_size(k)


@pytest.mark.parametrize("k,exc", [(0, ValueError), (4, ValueError), (-3, ValueError),
                                   (3.0, TypeError), (True, TypeError)])
def test_bad_kernel_sizes_name_the_argument(k, exc):
    with pytest.raises(exc, match="kernel_size must be"):
        check_kernel_size(k)


def test_unknown_composability():
    check_composability("dot")
    with pytest.raises(ValueError, match="composability must be one of .* got 'cosine'"):
        check_composability("cosine")
