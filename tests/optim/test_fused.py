"""fma32 is a correctly rounded float32 a*b + c: checked against exact rational arithmetic."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rigl_ref.optim import SGD
from rigl_ref.optim.fused import fma32

float32s = st.floats(width=32, allow_nan=False, allow_infinity=False, min_value=-2.0**60, max_value=2.0**60)


def correctly_rounded_fma(a, b, c) -> np.float32:
    """The float32 nearest to the exact a*b + c, ties to the even significand (IEEE 754 default)."""
    exact = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
    guess = np.float32(float(exact))
    candidates = [np.nextafter(guess, np.float32(-np.inf)), guess, np.nextafter(guess, np.float32(np.inf))]
    candidates = [x for x in candidates if np.isfinite(x)]
    distance = [abs(Fraction(float(x)) - exact) for x in candidates]
    best = min(distance)
    tied = [x for x, d in zip(candidates, distance) if d == best]
    return min(tied, key=lambda x: int(np.array(x, np.float32).view(np.uint32)) & 1)


def test_midpoint_that_naive_rounding_gets_wrong():
    # a*b = 1 + 2**-11 + 2**-24 is a float32 midpoint in float64; the tiny c puts the exact sum above it.
    a = b = np.float32(1 + 2**-12)
    c = np.float32(2.0**-100)
    assert fma32(a, b, c) == np.float32(1 + 2**-11 + 2**-23)
    assert np.float32(np.float64(a) * np.float64(b) + np.float64(c)) == np.float32(1 + 2**-11)  # double rounding
    assert fma32(a, b, -c) == np.float32(1 + 2**-11)


def test_a_true_tie_rounds_to_even():
    a, b, c = np.float32(1 + 2**-12), np.float32(1 + 2**-12), np.float32(0.0)
    assert fma32(a, b, c) == correctly_rounded_fma(a, b, c) == np.float32(1 + 2**-11)


@settings(max_examples=400, deadline=None)
@given(float32s, float32s, float32s)
def test_fma32_is_correctly_rounded(a, b, c):
    a, b, c = np.float32(a), np.float32(b), np.float32(c)
    assert fma32(a, b, c) == correctly_rounded_fma(a, b, c)


@settings(max_examples=300, deadline=None)
@given(st.integers(-30, 30), st.integers(1, 2**24 - 1), st.integers(1, 2**24 - 1), st.integers(-60, 60),
       st.booleans())
def test_fma32_near_midpoints(shift, m1, m2, c_exp, negative):
    # products with long significands plus a small c: the cases where rounding the float64 sum can tie
    a = np.float32(m1 * 2.0**-24)
    b = np.float32(m2 * 2.0**shift * 2.0**-24)
    c = np.float32((-1 if negative else 1) * 2.0 ** (c_exp + shift - 40))
    assert fma32(a, b, c) == correctly_rounded_fma(a, b, c)


def test_fma32_broadcasts_and_returns_float32():
    out = fma32(np.float32(0.5), np.arange(4, dtype=np.float32), np.ones((2, 4), np.float32))
    assert out.dtype == np.float32 and out.shape == (2, 4)
    np.testing.assert_array_equal(out, np.broadcast_to(1 + 0.5 * np.arange(4), (2, 4)))


def test_fused_sgd_differs_from_separate_only_in_rounding():
    rng = np.random.default_rng(3)
    w = rng.standard_normal(10_000).astype(np.float32)
    g = rng.standard_normal(10_000).astype(np.float32)
    results = {}
    for arithmetic in ("separate", "fused"):
        opt = SGD(momentum=0.9, nesterov=True, weight_decay=1e-4, arithmetic=arithmetic)
        params = {"w": w.copy()}
        for _ in range(3):
            opt.step(params, {"w": g}, lr=0.1)
        results[arithmetic] = params["w"]
    differ = results["separate"] != results["fused"]
    assert 0 < differ.sum() < 0.5 * differ.size
    # an ulp of the intermediate terms (|w| ~ 2: 2.4e-7) per step, so absolute near cancellations
    np.testing.assert_allclose(results["separate"], results["fused"], rtol=1e-6, atol=1e-6)


def test_fused_sgd_needs_float32_and_a_known_arithmetic():
    with pytest.raises(ValueError, match="arithmetic must be one of"):
        SGD(arithmetic="kahan")
    with pytest.raises(ValueError, match="float32 parameters"):
        SGD(arithmetic="fused").step({"w": np.ones(3)}, {"w": np.ones(3)}, lr=0.1)
