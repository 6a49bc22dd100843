"""``sorted_in`` and ``sorted_membership``: membership between sorted position sets equals ``np.isin`` (their
twins) and refuses unsorted input."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.kernels import reference, sorted_in, sorted_membership

positions = st.lists(st.integers(0, 60), max_size=40).map(lambda v: np.sort(np.array(v, dtype=np.int64)))


@given(positions, positions)
def test_sorted_in_equals_isin(a, b):
    expected = reference.sorted_in(a, b)
    np.testing.assert_array_equal(sorted_in(a, b), expected)
    np.testing.assert_array_equal(expected, np.isin(a, b))


@given(positions)
def test_unique_sets_give_the_set_difference_and_intersection(a):
    a = np.unique(a)
    b = np.unique(np.concatenate((a[::2], a[:3] + 61)))
    np.testing.assert_array_equal(a[~sorted_in(a, b)], np.setdiff1d(a, b))
    np.testing.assert_array_equal(a[sorted_in(a, b)], np.intersect1d(a, b))


@pytest.mark.parametrize("a, b, which", [([3, 1], [1], "first"), ([1], [5, 2], "second")])
def test_unsorted_input_is_refused(a, b, which):
    with pytest.raises(ValueError, match=f"the {which} array is not sorted"):
        sorted_in(np.array(a, np.int64), np.array(b, np.int64))


distinct = st.sets(st.integers(0, 60), max_size=40).map(lambda v: np.array(sorted(v), dtype=np.int64))


@given(distinct, distinct)
def test_sorted_membership_is_sorted_in_both_ways(a, b):
    a_in_b, b_in_a = sorted_membership(a, b)
    expected_a, expected_b = reference.sorted_membership(a, b)
    np.testing.assert_array_equal(a_in_b, expected_a)
    np.testing.assert_array_equal(b_in_a, expected_b)
    np.testing.assert_array_equal(a_in_b, sorted_in(a, b))
    np.testing.assert_array_equal(b_in_a, sorted_in(b, a))


@pytest.mark.parametrize("a, b, which", [([3, 1], [1], "first"), ([1], [5, 2], "second")])
def test_sorted_membership_refuses_unsorted_input(a, b, which):
    with pytest.raises(ValueError, match=f"sorted_membership: the {which} array is not sorted"):
        sorted_membership(np.array(a, np.int64), np.array(b, np.int64))
