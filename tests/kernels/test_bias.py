"""The fused bias + activation kernels (``kernels.bias``): equal to their NumPy twins bit for bit, and to the
separate ``add`` / ``relu`` rows' arithmetic (``maximum(pre + bias, 0)``, ``g * (pre > 0)``), including the
special values -0.0, NaN and Inf."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.kernels import bias_activation, reference, relu_gradient

SPECIALS = (-0.0, 0.0, np.nan, np.inf, -np.inf, 1e-30)


def _same(a, b):
    """Bit for bit, except that any NaN equals any NaN (its sign and payload are the CPU's business)."""
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    nan = np.isnan(a)
    if a.shape != b.shape or a.dtype != b.dtype or not np.array_equal(nan, np.isnan(b)):
        return False
    bits = np.uint64 if a.dtype == np.float64 else np.uint32
    return np.array_equal(a[~nan].view(bits), b[~nan].view(bits))


def _arrays(seed, n_out, batch, dtype):
    rng = np.random.default_rng(seed)
    PT, GT = (rng.standard_normal((n_out, batch)).astype(dtype) for _ in range(2))
    bias = rng.standard_normal(n_out).astype(dtype)
    for a in (PT, GT):  # sprinkle the special values over both
        if a.size:
            picks = rng.integers(0, a.size, size=min(a.size, 6))
            a.flat[picks] = rng.choice(np.array(SPECIALS, dtype), size=len(picks))
    if n_out:
        bias[rng.integers(n_out)] = 0
        PT[0, : batch // 2] = -bias[0]  # pre + bias == +0.0 exactly: ReLU's kink
        bias[-1] = -0.0
        PT[-1, : batch // 3] = -0.0  # pre + bias == -0.0 (maximum(-0.0, 0) is +0.0)
    return PT, bias, GT


@given(st.integers(0, 12), st.integers(0, 70), st.sampled_from([np.float32, np.float64]), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_kernels_equal_their_twins_and_the_separate_rows_bit_for_bit(n_out, batch, dtype, relu, seed):
    PT, bias, GT = _arrays(seed, n_out, batch, dtype)
    with np.errstate(invalid="ignore"):
        out = bias_activation(PT, bias, relu)
        assert out.dtype == dtype and out.flags.c_contiguous
        assert _same(out, reference.bias_activation(PT, bias, relu))
        separate = PT.T + bias  # the add row, batch-major as the layers use it
        separate = np.maximum(separate, 0) if relu else separate  # the relu row
        assert _same(out, separate.T)
        G_preT = relu_gradient(GT, out)
        assert G_preT.flags.c_contiguous
        assert _same(G_preT, reference.relu_gradient(GT, out))
        assert _same(G_preT, GT * (PT + bias[:, None] > 0))  # the relu row's VJP at the pre-activation


@pytest.mark.parametrize("relu", [False, True])
def test_nan_reaches_the_output_and_the_gradient(relu):
    PT = np.array([[np.nan, -1.0]], np.float32)
    out = bias_activation(PT, np.zeros(1, np.float32), relu)
    assert np.isnan(out[0, 0]) and out[0, 1] == (0 if relu else -1)
    G_preT = relu_gradient(np.array([[1.0, np.nan]], np.float32), out)
    assert G_preT[0, 0] == 0 and np.isnan(G_preT[0, 1])  # NaN * 0 is NaN: a NaN gradient is never masked away
