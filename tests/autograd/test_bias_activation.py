"""The fused ``bias_activation`` row and joint VJPs in ``backward()``: the fused row gives the separate
``add`` + ``relu`` rows' output and pre-activation gradient bit for bit (batch-major C or feature-major
views alike), and bias gradient too, its VJPs match central finite
differences, and a joint VJP is called once per node, asked only for the inputs that need a gradient."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.autograd import Primitive, Tensor, apply, check_gradients, relu
from rigl_ref.autograd.bias_activation import bias_activation


def _bits(a):
    return np.ascontiguousarray(a).view(np.uint64 if a.dtype == np.float64 else np.uint32)


def _pre(rng, batch, n_out, dtype, feature_major):
    values = rng.standard_normal((n_out, batch) if feature_major else (batch, n_out)).astype(dtype)
    values[values.shape[0] // 2] = 0  # a row of exact zeros: relu's kink, bias 0 there too
    return values.T if feature_major else values


@given(st.integers(1, 9), st.integers(1, 40), st.sampled_from([np.float32, np.float64]),
       st.sampled_from(["identity", "relu"]), st.booleans(), st.booleans(), st.integers(0, 2**32 - 1))
def test_fused_row_equals_the_separate_rows_bit_for_bit(batch, n_out, dtype, activation, fm_input, fm_seed, seed):
    rng = np.random.default_rng(seed)
    pre_values = _pre(rng, batch, n_out, dtype, fm_input)
    bias_values = rng.standard_normal(n_out).astype(dtype)
    bias_values[n_out // 2] = 0
    seed_grad = _pre(rng, batch, n_out, dtype, fm_seed)
    results = []
    for fused in (True, False):
        pre, bias = Tensor(pre_values, requires_grad=True), Tensor(bias_values, requires_grad=True)
        if fused:
            out = bias_activation(pre, bias, activation=activation)
        else:
            out = pre + bias
            out = relu(out) if activation == "relu" else out
        out.backward(seed_grad)
        results.append((out.value, pre.grad, bias.grad))
    (fused_out, fused_pre, fused_bias), (out, pre_grad, bias_grad) = results
    assert fused_out.shape == out.shape and np.array_equal(_bits(fused_out), _bits(out))
    assert np.array_equal(_bits(fused_pre), _bits(pre_grad))
    assert np.array_equal(_bits(fused_bias), _bits(bias_grad))
    assert fused_out.flags.f_contiguous == out.flags.f_contiguous  # the layout (and so NumPy's sum order) too


@pytest.mark.parametrize("activation", ["identity", "relu"])
def test_fused_row_matches_finite_differences(activation):
    rng = np.random.default_rng(1)
    pre = rng.choice(np.arange(-200, 201)[np.arange(-200, 201) != 0], size=(4, 6)) / 100  # never at the kink
    weights = Tensor(rng.standard_normal((4, 6)))
    bias = np.zeros(6)  # pre + 0 keeps the grid away from 0
    check_gradients(lambda p, b: (bias_activation(p, b, activation=activation) * weights).sum(), [pre, bias], rng=2)


def test_a_joint_vjp_is_called_once_and_asked_only_for_what_is_needed():
    calls = []

    def joint(g, out, x, y, *, needs):
        calls.append(needs)
        return (g * y if needs[0] else None), (np.sum(g * x) if needs[1] else None)

    row = Primitive.fused("test_scaled", lambda x, y: x * y, joint, n_inputs=2)
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = Tensor(np.array(3.0), requires_grad=True)
    apply(row, x, y).sum().backward()
    assert calls == [(True, True)] and x.grad.tolist() == [3.0, 3.0] and y.grad == 3.0
    calls.clear()
    apply(row, x, Tensor(np.array(3.0))).sum().backward()  # a constant y: its gradient is not asked for
    assert calls == [(True, False)]
    # the per-input VJPs of a fused row are the joint one asked for one input
    assert row.vjp[1](np.ones(2), None, np.array([1.0, 2.0]), np.array(3.0)) == 3.0 and calls[-1] == (False, True)


def test_bad_activation_and_bias_shape_are_refused():
    pre = Tensor(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="unknown bias_activation activation 'tanh'"):
        bias_activation(pre, np.zeros(3, np.float32), activation="tanh")
    expected = r"bias_activation: pre-activation of shape \(2, 3\) needs a bias of shape \(3,\)"
    with pytest.raises(ValueError, match=expected):
        bias_activation(pre, np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="joint_vjp must be a function"):
        Primitive("test_bad_joint", np.negative, lambda g, out, x: -g, joint_vjp=3)
