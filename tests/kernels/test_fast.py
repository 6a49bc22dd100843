"""The ``fast`` kernel mode (``rigl_ref.kernels.fast``): within its stated bounds of the exact kernels,
deterministic, NaN-propagating, and never used unless asked for."""

import numpy as np
import pytest
from csr_cases import csr_problems
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.kernels import csr, reference
from rigl_ref.kernels.fast import (
    input_gradient_fast_bound,
    sddmm_fast,
    sddmm_fast_bound,
    sparse_linear_backward_fast,
)


def _args(case):
    return case["indptr"], case["indices"], case["XT"], case["dYT"]


@given(csr_problems(max_dim=7, max_batch=150))
def test_sddmm_fast_is_within_the_dot_product_bound_of_the_exact_kernel(case):
    args = _args(case)
    fast, exact = sddmm_fast(*args), csr.sddmm(*args)
    assert fast.dtype == exact.dtype and fast.shape == exact.shape
    gap = np.abs(fast.astype(np.float64) - exact.astype(np.float64))
    assert np.all(gap <= sddmm_fast_bound(*args))
    np.testing.assert_array_equal(exact, reference.sddmm(*args))  # the twin both are held against


@given(csr_problems(max_dim=7, max_batch=150))
def test_sddmm_fast_is_deterministic(case):
    args = _args(case)
    assert sddmm_fast(*args).tobytes() == sddmm_fast(*args).tobytes()


def test_sddmm_fast_is_exact_where_no_rounding_happens():
    # small integers: every partial sum is exactly representable, so any order gives the exact value
    rng = np.random.default_rng(3)
    mask = rng.random((40, 30)) < 0.3
    indptr = np.concatenate([[0], np.cumsum(mask.sum(axis=1))])
    indices = np.nonzero(mask)[1]
    XT = rng.integers(-3, 4, (40, 100)).astype(np.float32)
    dYT = rng.integers(-3, 4, (30, 100)).astype(np.float32)
    np.testing.assert_array_equal(sddmm_fast(indptr, indices, XT, dYT), (XT @ dYT.T)[mask])


def test_the_bound_rejects_a_sum_that_misses_one_term():
    indptr, indices = np.array([0, 2]), np.array([0, 1])
    XT = np.ones((1, 64), np.float32)
    dYT = np.full((2, 64), 0.1, np.float32)
    bound = sddmm_fast_bound(indptr, indices, XT, dYT)
    np.testing.assert_allclose(bound, 2 * (64 * 2.0**-24 / (1 - 64 * 2.0**-24)) * 64 * np.float64(np.float32(0.1)))
    missing_last_term = (XT[0, :-1] @ dYT[:, :-1].T).astype(np.float64)
    assert np.all(np.abs(missing_last_term - csr.sddmm(indptr, indices, XT, dYT)) > bound)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_sddmm_fast_propagates_non_finite_values_like_the_exact_kernel(bad):
    indptr, indices = np.array([0, 2, 3]), np.array([0, 1, 1])
    XT = np.ones((2, 33), np.float32)
    dYT = np.ones((2, 33), np.float32)
    XT[0, 7] = bad
    fast, exact = sddmm_fast(indptr, indices, XT, dYT), csr.sddmm(indptr, indices, XT, dYT)
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(exact))
    np.testing.assert_array_equal(np.isinf(fast), np.isinf(exact))
    assert np.isfinite(fast[2])


@given(st.integers(1, 200))
def test_sddmm_fast_empty_pattern(batch):
    out = sddmm_fast(np.zeros(4, np.int64), np.zeros(0, np.int64), np.ones((3, batch)), np.ones((5, batch)))
    assert out.shape == (0,) and out.dtype == np.float64


# ----- sparse_linear_backward_fast: both gradients of a sparse linear layer in one pass -----
def _backward_args(case):
    return case["indptr"], case["indices"], case["data"], case["XT"], case["dYT"]


@given(csr_problems(max_dim=12, max_batch=150))
def test_the_one_pass_backward_is_within_both_bounds_of_the_exact_kernels(case):
    # rows of up to 12 entries: groups of four and the single entries after them, every batch remainder
    indptr, indices, data, XT, dYT = _backward_args(case)
    dXT, dW = sparse_linear_backward_fast(indptr, indices, data, XT, dYT)
    exact_dXT, exact_dW = csr.csr_matmul(indptr, indices, data, dYT), csr.sddmm(indptr, indices, XT, dYT)
    assert dXT.dtype == exact_dXT.dtype and dXT.shape == exact_dXT.shape and dXT.flags.c_contiguous
    assert dW.dtype == exact_dW.dtype and dW.shape == exact_dW.shape
    gap_x = np.abs(dXT.astype(np.float64) - exact_dXT.astype(np.float64))
    assert np.all(gap_x <= input_gradient_fast_bound(indptr, indices, data, dYT))
    gap_w = np.abs(dW.astype(np.float64) - exact_dW.astype(np.float64))
    assert np.all(gap_w <= sddmm_fast_bound(indptr, indices, XT, dYT))
    np.testing.assert_array_equal(exact_dXT, reference.csr_matmul(indptr, indices, data, dYT))  # the twins


@given(csr_problems(max_dim=12, max_batch=150))
def test_the_one_pass_backward_is_deterministic(case):
    first, second = sparse_linear_backward_fast(*_backward_args(case)), sparse_linear_backward_fast(*_backward_args(case))
    assert first[0].tobytes() == second[0].tobytes() and first[1].tobytes() == second[1].tobytes()


def test_the_one_pass_backward_is_exact_where_no_rounding_happens():
    rng = np.random.default_rng(4)
    mask = rng.random((40, 30)) < 0.3
    indptr = np.concatenate([[0], np.cumsum(mask.sum(axis=1))])
    indices = np.nonzero(mask)[1]
    W = rng.integers(-3, 4, mask.shape).astype(np.float32) * mask
    XT = rng.integers(-3, 4, (40, 100)).astype(np.float32)
    dYT = rng.integers(-3, 4, (30, 100)).astype(np.float32)
    dXT, dW = sparse_linear_backward_fast(indptr, indices, W[mask], XT, dYT)
    np.testing.assert_array_equal(dXT, W @ dYT)
    np.testing.assert_array_equal(dW, (XT @ dYT.T)[mask])


def test_the_input_gradient_bound_rejects_a_sum_that_misses_one_term():
    # one row of 9 entries (two groups of four and a single one), every term 0.1 * 1
    indptr, indices = np.array([0, 9]), np.arange(9)
    data = np.full(9, 0.1, np.float32)
    dYT = np.ones((9, 5), np.float32)
    bound = input_gradient_fast_bound(indptr, indices, data, dYT)
    gamma = 9 * 2.0**-24 / (1 - 9 * 2.0**-24)
    np.testing.assert_allclose(bound, np.full((1, 5), 2 * gamma * 9 * np.float64(np.float32(0.1))))
    missing_last_term = (data[:-1] @ dYT[:-1]).astype(np.float64)
    assert np.all(np.abs(missing_last_term - csr.csr_matmul(indptr, indices, data, dYT)) > bound)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_the_one_pass_backward_propagates_non_finite_values_like_the_exact_kernels(bad):
    # row 0: 5 entries (a group of four and a single one); row 1: one entry; batch 33
    indptr, indices = np.array([0, 5, 6]), np.array([0, 1, 2, 3, 4, 4])
    data = np.ones(6, np.float32)
    XT = np.ones((2, 33), np.float32)
    dYT = np.ones((5, 33), np.float32)
    dYT[2, 7] = bad  # reaches dXT[0, 7] and the weight gradient of entry 2
    dXT, dW = sparse_linear_backward_fast(indptr, indices, data, XT, dYT)
    exact_dXT, exact_dW = csr.csr_matmul(indptr, indices, data, dYT), csr.sddmm(indptr, indices, XT, dYT)
    for fast, exact in ((dXT, exact_dXT), (dW, exact_dW)):
        np.testing.assert_array_equal(np.isnan(fast), np.isnan(exact))
        np.testing.assert_array_equal(np.isinf(fast), np.isinf(exact))
    assert not np.isfinite(dXT[0, 7]) and not np.isfinite(dW[2])
    assert np.isfinite(dXT[1]).all() and np.isfinite(np.delete(dW, 2)).all()


@given(st.integers(1, 200))
def test_the_one_pass_backward_of_an_empty_pattern(batch):
    dXT, dW = sparse_linear_backward_fast(np.zeros(4, np.int64), np.zeros(0, np.int64), np.zeros(0),
                                          np.ones((3, batch)), np.ones((5, batch)))
    assert dW.shape == (0,) and dW.dtype == np.float64
    assert dXT.shape == (3, batch) and not dXT.any()
