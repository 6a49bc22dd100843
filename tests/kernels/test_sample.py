"""Floyd's sampler (``rigl_ref.kernels.sample``) and the CSR patterns drawn with it: exact count,
distinct, sorted, within bounds, determined by the seed; the Numba kernel equals its NumPy twin."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.kernels import reference, sample
from rigl_ref.nn.models import LayerSpec
from rigl_ref.sparse import CSRWeight
from rigl_ref.sparse_training.masks import random_active_indices, random_mask


def _draws(n, k, seed):
    return np.random.default_rng(seed).integers(0, np.arange(n - k + 1, n + 1, dtype=np.int64))


@st.composite
def problems(draw):
    n = draw(st.one_of(st.integers(0, 60), st.integers(61, 2**40)), label="n")
    k = draw(st.integers(0, min(n, 300)), label="k")
    return n, k, draw(st.integers(0, 2**32 - 1), label="seed")


@given(problems())
def test_floyd_sample_is_k_distinct_sorted_integers_below_n_and_equals_its_twin(problem):
    n, k, seed = problem
    draws = _draws(n, k, seed)
    fast = sample.floyd_sample(draws, n)
    slow = reference.floyd_sample(draws, n)
    assert fast.dtype == slow.dtype == np.int64 and np.array_equal(fast, slow)
    assert fast.shape == (k,)
    assert np.all(np.diff(fast) > 0)  # sorted and distinct
    assert k == 0 or (fast[0] >= 0 and fast[-1] < n)
    assert np.array_equal(fast, sample.floyd_sample(_draws(n, k, seed), n))  # the seed decides it


def test_floyd_sample_of_everything_is_every_index():
    assert np.array_equal(sample.floyd_sample(_draws(50, 50, 1), 50), np.arange(50))


def test_a_layer_far_too_large_for_a_dense_mask():
    """k = 4096 positions of a 2^20 x 2^20 layer (a dense bool mask would be 1 TiB): fine in O(k)."""
    flat = random_active_indices((2**20, 2**20), 4096, 5)
    assert flat.size == 4096 and np.all(np.diff(flat) > 0) and flat[-1] < 2**40
    assert np.array_equal(flat, random_active_indices((2**20, 2**20), 4096, 5))
    assert not np.array_equal(flat, random_active_indices((2**20, 2**20), 4096, 6))


@given(kind=st.sampled_from(["linear", "conv"]), fan_in=st.integers(1, 6), fan_out=st.integers(1, 6),
       kernel=st.integers(1, 3), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_csr_pattern_is_the_dense_mask_in_the_csr_layout(kind, fan_in, fan_out, kernel, data, seed):
    """``LayerSpec.csr_pattern`` of the sampled flat indices is a valid CSR pattern (indices sorted per
    row, within bounds) and the very positions of the dense mask drawn from the same seed."""
    spec = LayerSpec("l", kind, fan_in, fan_out, kernel if kind == "conv" else 1)
    n_active = data.draw(st.integers(0, spec.size), label="n_active")
    indptr, indices = spec.csr_pattern(random_active_indices(spec.framework_shape, n_active, seed))
    weight = CSRWeight(indptr, indices, np.zeros(len(indices), np.float32), spec.csr_shape)  # checks the format
    assert weight.nnz == n_active
    mask = spec.to_csr_layout(random_mask(spec.framework_shape, n_active, seed))
    assert np.array_equal(weight.to_dense()[0], mask)
