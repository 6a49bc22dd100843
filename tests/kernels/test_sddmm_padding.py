"""``sddmm``'s zero padding of the batch (``csr.PAD_FROM``): the padded and the unpadded computation give
the same floats bit for bit (zeros leave a lane sum from +0.0 unchanged), special values included, and
the padding rule is the documented one."""

import numpy as np
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
    assert csr.padded_width(100) == 128 and csr.padded_width(80) == 80 and csr.padded_width(128) == 128


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
