"""CSRWeight: invariants and their errors (naming the field), conversions, and the rule that the pattern
lives only in (indptr, indices): a zero-valued active weight stays active through optimizer steps and
through scipy arithmetic on the ``to_scipy()`` copy."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.sparse import CSRWeight


@st.composite
def dense_patterns(draw):
    rows, cols = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    density = draw(st.sampled_from([0.0, 0.3, 1.0]) | st.floats(0, 1))
    mask = rng.random((rows, cols)) < density
    values = rng.standard_normal((rows, cols)) * (rng.random((rows, cols)) < 0.7)  # zeros at some active spots
    return mask, values


@given(dense_patterns())
def test_dense_round_trip_keeps_zero_valued_active_weights(pattern):
    mask, values = pattern
    w = CSRWeight.from_dense(mask, values)
    w.check(full=True)
    back_mask, back_values = w.to_dense()
    assert np.array_equal(back_mask, mask)
    assert np.array_equal(back_values, np.where(mask, values, 0).astype(np.float32))
    assert w.nnz == mask.sum() and w.size == mask.size and w.density == pytest.approx(mask.mean())
    assert np.array_equal(w.active_flat_indices(), np.flatnonzero(mask))
    assert np.array_equal(w.row_of_entry(), np.nonzero(mask)[0])
    s = w.to_scipy()
    assert s.nnz == w.nnz and np.array_equal(s.toarray(), back_values)


def test_a_zero_valued_active_weight_survives_sgd_steps_and_scipy_arithmetic():
    w = CSRWeight.from_dense(np.array([[True, False, True], [False, True, False]]), np.array([[0.5, 0, 0.0], [0, -1.0, 0]]))
    pattern = (w.indptr.copy(), w.indices.copy())
    for _ in range(5):  # SGD on data only; the grown weight (value 0, gradient 0) stays active at 0.0
        grad = np.array([0.1, 0.0, -0.2], np.float32)
        w.data -= np.float32(0.5) * grad
    assert w.data[1] == 0.0 and w.nnz == 3
    s = w.to_scipy()
    s.eliminate_zeros()
    dropped = (s + s).multiply(s)
    assert s.nnz == 2 and dropped.nnz == 2  # scipy drops the stored zero from its copy...
    assert np.array_equal(w.indptr, pattern[0]) and np.array_equal(w.indices, pattern[1])  # ...never from w
    w.check(full=True)


@pytest.mark.parametrize(
    "indptr, indices, data, shape, field",
    [
        ([0, 1], [0], [1.0], (2, 2), "indptr must have rows"),
        ([1, 1, 1], [0], [1.0], (2, 2), r"indptr\[0\]"),
        ([0, 2, 1, 2], [0, 1], [1.0, 2.0], (3, 2), "indptr must be non-decreasing"),
        ([0, 1, 2], [0, 1], [1.0, 2.0], (2, 2), None),
        ([0, 2, 2], [1, 0], [1.0, 2.0], (2, 2), "unsorted column"),
        ([0, 2, 2], [1, 1], [1.0, 2.0], (2, 2), "duplicate column"),
        ([0, 1, 1], [2], [1.0], (2, 2), r"indices\[0\] = 2 is out of range"),
        ([0, 1, 1], [0], [np.nan], (2, 2), "data contains"),
        ([0, 1, 2], [0], [1.0], (2, 2), r"indptr\[-1\]"),
        ([0, 1, 1], [0], [1.0, 2.0], (2, 2), "indices has 1 entries but data has 2"),
    ],
)
def test_bad_input_names_the_field(indptr, indices, data, shape, field):
    args = (np.array(indptr, np.int32), np.array(indices, np.int32), np.array(data, np.float32), shape)
    if field is None:
        CSRWeight(*args)
    else:
        with pytest.raises(ValueError, match=field):
            CSRWeight(*args)


def test_dtype_errors():
    ok = dict(indptr=np.array([0, 1], np.int32), indices=np.array([0], np.int32), data=np.array([1.0], np.float32))
    with pytest.raises(ValueError, match="indptr has dtype int64 but indices has int32"):
        CSRWeight(ok["indptr"].astype(np.int64), ok["indices"], ok["data"], (1, 1))
    with pytest.raises(ValueError, match="indices must have dtype int32 or int64"):
        CSRWeight(ok["indptr"].astype(np.int16), ok["indices"].astype(np.int16), ok["data"], (1, 1))
    with pytest.raises(ValueError, match="data must have dtype float32 or float64"):
        CSRWeight(ok["indptr"], ok["indices"], ok["data"].astype(np.float16), (1, 1))
    with pytest.raises(ValueError, match="shape must be a pair"):
        CSRWeight(ok["indptr"], ok["indices"], ok["data"], (1, -1))


def test_unsorted_input_is_never_reordered_silently_but_sorted_copy_sorts():
    indptr, indices, data = np.array([0, 3], np.int64), np.array([2, 0, 1], np.int64), np.array([3.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="sorted_copy"):
        CSRWeight(indptr, indices, data, (1, 3))
    w = CSRWeight.sorted_copy(indptr, indices, data, (1, 3))
    assert w.indices.tolist() == [0, 1, 2] and w.data.tolist() == [1.0, 2.0, 3.0]
    assert indices.tolist() == [2, 0, 1]  # the caller's arrays are untouched
    with pytest.raises(ValueError, match="duplicate"):
        CSRWeight.sorted_copy(indptr, np.array([1, 0, 1]), data, (1, 3))


def test_cheap_check_skips_the_full_scan():
    w = CSRWeight.from_dense(np.eye(3, dtype=bool), np.eye(3))
    w.data[0] = np.nan  # only the full check scans the data
    w.check(full=False)
    with pytest.raises(ValueError, match="data contains"):
        w.check(full=True)
