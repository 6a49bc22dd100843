"""The gradient checker: it fails on a wrong VJP (and names the input), passes on composed expressions
(an MLP loss and a small CNN loss over hypothesis-drawn sizes), and refuses a non-scalar function."""

import numpy as np
import pytest
from autograd_cases import arrays
from hypothesis import assume, given
from hypothesis import strategies as st

from rigl_ref.autograd import Primitive, Tensor, apply, check_gradients, gradient_report, ops

# d/dx x^2 is 2x; this row "forgets" the 2
WRONG_SQUARE = Primitive("wrong_square", lambda x: x * x, lambda g, out, x: g * x)
# correct for x, wrong sign for y
WRONG_SECOND_INPUT = Primitive(
    "wrong_second_input", np.multiply, (lambda g, out, x, y: g * y, lambda g, out, x, y: -g * x)
)


@given(x=arrays((3,), st.floats(0.5, 2.0)), seed=st.integers(0, 2**16))
def test_the_checker_fails_on_a_wrong_vjp(x, seed):
    with pytest.raises(AssertionError, match="MISMATCH") as raised:
        check_gradients(lambda t: apply(WRONG_SQUARE, t).sum(), [x], rng=seed)
    assert "<-- wrong" in str(raised.value)


def test_the_report_names_the_input_whose_gradient_is_wrong():
    x, y = np.array([1.0, 2.0]), np.array([0.5, -1.5])
    report = gradient_report(lambda a, b: apply(WRONG_SECOND_INPUT, a, b).sum(), [x, y], rng=0)
    assert not report.ok
    assert all(c.ok for c in report.checks if c.input_index == 0)
    assert not any(c.ok for c in report.checks if c.input_index == 1)
    # numeric derivative along d is <x, d>; the wrong VJP gives -<x, d>
    for c in report.checks:
        if c.input_index == 1:
            np.testing.assert_allclose(c.analytic, -c.numeric, rtol=1e-6)


def test_the_checker_passes_and_returns_its_report():
    report = check_gradients(lambda t: (t * t).sum(), [np.array([1.0, -2.0, 3.0])], rng=1, n_directions=3)
    assert report.ok and len(report.checks) == 3 and "ok" in str(report)


def test_an_input_that_does_not_influence_the_output_has_zero_gradient():
    report = check_gradients(lambda a, b: (a * a).sum(), [np.ones(2), np.ones(3)], rng=0)
    assert all(c.analytic == 0.0 for c in report.checks if c.input_index == 1)


def test_the_checker_requires_a_scalar_function():
    with pytest.raises(ValueError, match="fn must return a Tensor with one element"):
        check_gradients(lambda t: t * 2.0, [np.ones(3)], rng=0)


def test_the_checker_refuses_a_function_that_drops_to_float32():
    with pytest.raises(ValueError, match="fn must keep float64 inputs in float64, but returned float32"):
        check_gradients(lambda t: Tensor(t.value.astype(np.float32)).sum(), [np.ones(3)], rng=0)


def test_the_checker_requires_an_explicit_rng():
    with pytest.raises(TypeError, match="rng must be an explicit seed"):
        check_gradients(lambda t: t.sum(), [np.ones(3)], rng=None)


def mlp_loss(labels):
    def loss(x, w1, b1, w2, b2):
        hidden = ops.relu(x @ w1 + b1)
        return ops.softmax_cross_entropy(hidden @ w2 + b2, labels)

    return loss


def normal_arrays(seed, *shapes):
    """Continuous values (ties and exact zeros have probability 0); hypothesis draws sizes and the seed."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in shapes]


@given(batch=st.integers(1, 4), sizes=st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(2, 4)),
       seed=st.integers(0, 2**32 - 1))
def test_mlp_loss_gradients(batch, sizes, seed):
    n_in, n_hidden, n_out = sizes
    x, w1, b1, w2, b2 = normal_arrays(seed, (batch, n_in), (n_in, n_hidden), (n_hidden,), (n_hidden, n_out), (n_out,))
    labels = np.random.default_rng(seed).integers(0, n_out, batch)
    assume(np.abs(x @ w1 + b1).min() > 1e-3)  # finite differences must not cross the relu kink
    check_gradients(mlp_loss(labels), [x, w1, b1, w2, b2], rng=seed)


def cnn_loss(labels, padding):
    def loss(x, k, bias, w, b):
        h = ops.relu(ops.conv2d(x, k, stride=1, padding=padding) + ops.reshape(bias, (1, -1, 1, 1)))
        h = ops.max_pool2d(h, 2)
        return ops.softmax_cross_entropy(ops.reshape(h, (x.shape[0], -1)) @ w + b, labels)

    return loss


def _pool_has_a_clear_winner(h, margin=1e-3):
    """No two entries of a 2x2 window within ``margin`` of each other (finite differences near a tie break)."""
    n, c, hh, ww = h.shape
    windows = h[:, :, : hh // 2 * 2, : ww // 2 * 2].reshape(n, c, hh // 2, 2, ww // 2, 2).transpose(0, 1, 2, 4, 3, 5)
    top2 = np.sort(windows.reshape(n, c, hh // 2, ww // 2, 4), axis=-1)[..., -2:]
    return bool(np.all(top2[..., 1] - top2[..., 0] > margin))


@given(batch=st.integers(1, 2), channels=st.integers(1, 2), filters=st.integers(1, 3), side=st.integers(4, 6),
       padding=st.integers(0, 1), seed=st.integers(0, 2**32 - 1))
def test_small_cnn_loss_gradients(batch, channels, filters, side, padding, seed):
    features = filters * ((side + 2 * padding - 2) // 2) ** 2  # 3x3 convolution, then 2x2 pooling
    x, k, bias, w, b = normal_arrays(seed, (batch, channels, side, side), (filters, channels, 3, 3), (filters,),
                                     (features, 3), (3,))
    labels = np.random.default_rng(seed).integers(0, 3, batch)
    pre = ops.conv2d(x, k, padding=padding).value + bias.reshape(1, -1, 1, 1)
    assume(np.abs(pre).min() > 1e-3 and _pool_has_a_clear_winner(pre))  # relu is monotone
    check_gradients(cnn_loss(labels, padding), [x, k, bias, w, b], rng=seed)


def test_gradients_of_a_float32_model_are_float32():
    rng = np.random.default_rng(0)
    params = [Tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in [(2, 1, 3, 3), (2,), (18, 3), (3,)]]
    x = rng.standard_normal((2, 1, 8, 8)).astype(np.float32)
    cnn_loss(np.array([0, 2]), 0)(Tensor(x), *params).backward()
    assert all(p.grad.dtype == np.float32 and p.grad.shape == p.shape for p in params)
