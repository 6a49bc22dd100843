"""Every row of the primitive table against central finite differences (float64), over hypothesis-drawn
shapes (broadcasting included) and values; the same rows in float32 keep float32 and agree with float64."""

import numpy as np
import pytest
from autograd_cases import CASES
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.autograd import Tensor, check_gradients
from rigl_ref.autograd.primitives import PRIMITIVES, TABLE


def test_every_row_of_the_table_has_a_gradient_case():
    assert {row.name for row in TABLE} == set(CASES)
    assert all(PRIMITIVES[row.name] is row for row in TABLE)


@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data())
def test_vjp_matches_finite_differences(name, data):
    fn, inputs = data.draw(CASES[name], label=name)
    check_gradients(fn, inputs, rng=data.draw(st.integers(0, 2**16), label="direction seed"))


def _gradients(fn, arrays, dtype):
    tensors = [Tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    out = fn(*tensors)
    out.backward()
    return out, [t.grad for t in tensors]


@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data())
def test_float32_stays_float32_and_agrees_with_float64(name, data):
    fn, inputs = data.draw(CASES[name], label=name)
    out32, grads32 = _gradients(fn, inputs, np.float32)
    out64, grads64 = _gradients(fn, inputs, np.float64)
    assert out32.dtype == np.float32 and out64.dtype == np.float64
    np.testing.assert_allclose(out32.value, out64.value, rtol=1e-4, atol=1e-4 * max(1.0, abs(float(out64.value))))
    for g32, g64 in zip(grads32, grads64):
        assert g32.dtype == np.float32 and g32.shape == g64.shape
        np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-4 * max(1.0, float(np.abs(g64).max(initial=0))))
