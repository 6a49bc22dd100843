"""The ``fast`` kernel mode (``rigl_ref.kernels.fast``): within its stated bound of the exact kernel,
deterministic, NaN-propagating, and never used unless asked for."""

import numpy as np
import pytest
from csr_cases import csr_problems
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.kernels import csr, reference
from rigl_ref.kernels.fast import sddmm_fast, sddmm_fast_bound


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
