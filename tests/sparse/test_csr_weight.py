"""CSRWeight: invariants and their errors (naming the field), conversions, and the rule that the pattern
lives only in (indptr, indices): a zero-valued active weight stays active through real optimizer steps
(SGD with momentum and weight decay, Adam, AdamW) and through scipy arithmetic on the ``to_scipy()`` copy."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.autograd import Tensor, softmax_cross_entropy
from rigl_ref.nn.sparse_layers import SparseLinear
from rigl_ref.optim import SGD, Adam, AdamW
from rigl_ref.sparse import CSRWeight, GrowthInputs, flat_to_pattern


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


@pytest.mark.parametrize(
    "optimizer",
    [SGD(momentum=0.9, nesterov=True, weight_decay=5e-4), SGD(momentum=0.9, weight_decay=1e-3), Adam(weight_decay=1e-4),
     AdamW(weight_decay=1e-2)],
    ids=["sgd-nesterov-wd", "sgd-momentum-wd", "adam-l2", "adamw"],
)
def test_a_zero_valued_active_weight_survives_optimizer_steps_and_scipy_arithmetic(optimizer):
    # a SparseLinear layer with a freshly grown weight (value 0.0) fed by input feature 1, which is always 0:
    # its SDDMM gradient is exactly 0, so momentum, Adam moments and weight decay all leave it at 0.0
    rng = np.random.default_rng(0)
    mask = np.array([[True, False, True], [False, True, False], [True, True, False]])
    values = np.where(mask, rng.standard_normal((3, 3)), 0.0)
    values[1, 1] = 0.0
    layer = SparseLinear(3, 3, CSRWeight.from_dense(mask, values))
    pattern = (layer.weight.indptr.copy(), layer.weight.indices.copy())
    grown = int(np.searchsorted(layer.weight.active_flat_indices(), 1 * 3 + 1))
    for _ in range(5):
        x = rng.standard_normal((4, 3)).astype(np.float32)
        x[:, 1] = 0.0
        params = layer.parameters()
        for p in params.values():
            p.zero_grad()
        softmax_cross_entropy(layer(Tensor(x)), rng.integers(0, 3, 4)).backward()
        optimizer.step({n: p.value for n, p in params.items()}, {n: p.grad for n, p in params.items()}, lr=0.1)
        layer.weight.check(full=True)
    assert layer.weight.data[grown] == 0.0 and layer.weight.nnz == 5
    assert np.count_nonzero(layer.weight.data) == 4  # the other weights moved
    assert np.array_equal(layer.weight.indptr, pattern[0]) and np.array_equal(layer.weight.indices, pattern[1])
    # scipy arithmetic that drops stored zeros only ever sees the to_scipy() copy
    s = layer.weight.to_scipy()
    assert s.nnz == 5  # the stored zero is still there in a fresh copy
    total, product = s + s, s.multiply(s)
    s.eliminate_zeros()
    assert s.nnz == 4 and total.nnz == 4 and product.nnz == 4  # scipy dropped the zero from its arrays...
    assert layer.weight.nnz == 5 and np.array_equal(layer.weight.indices, pattern[1])  # ...never from the weight
    layer.weight.check(full=True)


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
        ([0, 1, 1], [-1], [1.0], (2, 2), r"indices\[0\] = -1 is out of range"),
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


def test_flat_to_pattern_and_gradient_at():
    indptr, indices = flat_to_pattern([1, 2, 7], (3, 3))  # (0, 1), (0, 2), (2, 1)
    assert indptr.tolist() == [0, 2, 2, 3] and indices.tolist() == [1, 2, 1]
    with pytest.raises(ValueError, match=r"flat must be strictly increasing; flat\[2\] = 2 follows 7"):
        flat_to_pattern([1, 7, 2], (3, 3))
    with pytest.raises(ValueError, match=r"flat must be strictly increasing; flat\[1\] = 1 follows 1"):
        flat_to_pattern([1, 1], (3, 3))
    with pytest.raises(ValueError, match=r"flat holds 9, outside \[0, 9\)"):
        flat_to_pattern([2, 9], (3, 3))
    rng = np.random.default_rng(1)
    growth = GrowthInputs(rng.standard_normal((3, 21)).astype(np.float32), rng.standard_normal((3, 21)).astype(np.float32))
    dense = growth.dense_gradient(0.25).ravel()
    assert np.array_equal(growth.gradient_at(np.array([1, 2, 7]), 0.25), dense[[1, 2, 7]])  # bit for bit
