"""``sddmm``'s zero padding of the batch (``csr.PAD_FROM``): the padded and the unpadded computation give
the same floats bit for bit (zeros leave a lane sum from +0.0 unchanged), special values included, and
the padding rule is the documented one."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.kernels import csr, reference
from rigl_ref.kernels.lanes import LANES

SPECIALS = np.array([-0.0, 0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3e38], np.float32)


def _same(a, b):
    nan = np.isnan(a)
    return np.array_equal(nan, np.isnan(b)) and np.array_equal(a[~nan].view(np.uint32), b[~nan].view(np.uint32))


def test_the_padding_rule():
    block = 4 * LANES
    for batch in range(1, 300):
        width = csr.padded_width(batch)
        if batch % block >= csr.PAD_FROM:
            assert width % block == 0 and 0 < width - batch < block
        else:
            assert width == batch
    assert csr.padded_width(100) == 128 and csr.padded_width(80) == 128 and csr.padded_width(128) == 128
    assert csr.padded_width(79) == 79 and csr.padded_width(72) == 72  # remainders 15 and 8


@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 140), st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_padded_equals_unpadded_and_the_twin_bit_for_bit(n_in, n_out, batch, density, seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((n_in, n_out)) < density
    indptr = np.concatenate([[0], np.cumsum(mask.sum(1))]).astype(np.int64)
    indices = np.nonzero(mask)[1].astype(np.int64)
    XT, dYT = (rng.standard_normal((n, batch)).astype(np.float32) for n in (n_in, n_out))
    for a in (XT, dYT):
        picks = rng.integers(0, a.size, size=min(a.size, 5))
        a.flat[picks] = rng.choice(SPECIALS, size=len(picks))
    XT[0] = -0.0  # a row of -0.0 (products -0.0 or +0.0): its lane sums must stay +0.0
    with np.errstate(invalid="ignore", over="ignore"):
        padded = csr.sddmm(indptr, indices, XT, dYT)
        unpadded = csr.sddmm_blocks(indptr, indices, XT, dYT)
        twin = reference.sddmm(indptr, indices, XT, dYT)
    assert _same(padded, unpadded) and _same(padded, twin)


@given(st.integers(0, 6), st.integers(0, 40), st.integers(0, 30), st.integers(0, 2**32 - 1))
def test_zero_padded_keeps_the_values_and_adds_positive_zeros(rows, cols, extra, seed):
    a = np.random.default_rng(seed).standard_normal((rows, cols)).astype(np.float32)
    a[a < -1] = -0.0
    out = csr.zero_padded(a, cols + extra)
    assert out.shape == (rows, cols + extra) and out.flags.c_contiguous
    assert np.array_equal(out[:, :cols].view(np.uint32), a.view(np.uint32))
    assert np.array_equal(out[:, cols:].view(np.uint32), np.zeros((rows, extra), np.uint32))


@given(st.integers(1, 8), st.integers(1, 8), st.integers(1, 100), st.integers(1, 70), st.integers(0, 2**32 - 1))
def test_a_narrower_XT_is_read_zero_extended(n_in, n_out, batch, extra, seed):
    """``sddmm_blocks`` with ``XT`` narrower than ``dYT`` (how ``sddmm`` pads): the same floats as the twin
    on ``XT`` zero-padded to ``dYT``'s width, whatever ``dYT`` holds in the extra columns."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n_in, n_out)) < 0.6
    indptr = np.concatenate([[0], np.cumsum(mask.sum(1))]).astype(np.int64)
    indices = np.nonzero(mask)[1].astype(np.int64)
    XT = rng.standard_normal((n_in, batch)).astype(np.float32)
    dYT = rng.standard_normal((n_out, batch + extra)).astype(np.float32)
    twin = reference.sddmm(indptr, indices, csr.zero_padded(XT, batch + extra), dYT)
    assert _same(csr.sddmm_blocks(indptr, indices, XT, dYT), twin)


def test_mismatched_batch_widths_are_refused():
    indptr, indices = np.array([0, 1], np.int64), np.array([0], np.int64)
    with pytest.raises(ValueError, match="sddmm: XT and dYT have different batch widths"):
        csr.sddmm(indptr, indices, np.ones((1, 5), np.float32), np.ones((1, 6), np.float32))
    with pytest.raises(ValueError, match="sddmm_blocks: XT has more batch columns than dYT"):
        csr.sddmm_blocks(indptr, indices, np.ones((1, 6), np.float32), np.ones((1, 5), np.float32))
