"""The Tensor and backward(): dtypes, accumulation, seeds, graph shapes (shared inputs, diamonds, deep
chains), operators with constants, and a primitive registered from outside the table."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.autograd import Primitive, Tensor, apply, as_tensor, check_gradients, ops, register_primitive
from rigl_ref.autograd.primitives import PRIMITIVES


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_tensor_keeps_its_dtype(dtype):
    t = Tensor(np.zeros(3, dtype=dtype), requires_grad=True)
    assert t.dtype == dtype and (t * 2.0 + 1).dtype == dtype and (2 - t / 3).dtype == dtype


def test_hand_computed_gradients_of_a_small_expression():
    # f(x, y) = sum(x * y + x) with x = [1, 2], y = [3, 4]: df/dx = y + 1, df/dy = x
    x, y = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0], requires_grad=True)
    f = (x * y + x).sum()
    f.backward()
    assert f.value == 14.0 and x.grad.tolist() == [4.0, 5.0] and y.grad.tolist() == [1.0, 2.0]


def test_gradients_accumulate_until_zero_grad():
    x = Tensor([1.0, -2.0], requires_grad=True)
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    assert x.grad.tolist() == [3.0 + 2.0, 3.0 - 4.0]
    x.zero_grad()
    assert x.grad is None


def test_a_tensor_used_twice_and_a_diamond_graph():
    x = Tensor(2.0, requires_grad=True)
    a, b = x * x, ops.exp(x)  # two paths from x
    (a * b).backward()  # d/dx x^2 e^x = (2x + x^2) e^x
    np.testing.assert_allclose(x.grad, (2 * 2 + 4) * np.exp(2.0), rtol=1e-15)


def test_a_deep_chain_needs_no_recursion():
    x = Tensor(1.0, requires_grad=True)
    y = x
    for _ in range(20_000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad, 1.0001**20_000, rtol=1e-9)


def test_seed_for_a_non_scalar_output():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    (x * x).backward(seed=np.ones((2, 3)))
    np.testing.assert_array_equal(x.grad, 2 * x.value)


def test_gradients_never_alias_the_seed_or_each_other():
    a, b = Tensor(np.zeros(2), requires_grad=True), Tensor(np.zeros(2), requires_grad=True)
    seed = np.array([1.0, 2.0])
    (a + b).backward(seed=seed)
    a.grad *= 10
    assert b.grad.tolist() == [1.0, 2.0] and seed.tolist() == [1.0, 2.0]


def test_constants_get_no_gradient_and_build_no_graph():
    w = Tensor(np.ones(2), requires_grad=True)
    c = Tensor(np.ones(2))
    out = (w * c).sum()
    out.backward()
    assert c.grad is None and w.grad.tolist() == [1.0, 1.0]
    constant = c * 2.0
    assert not constant.requires_grad and constant.parents == () and constant.is_leaf


def test_retain_grad_keeps_an_intermediate_gradient():
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = (x * 3.0).retain_grad()
    (h * h).sum().backward()
    assert h.grad.tolist() == [6.0, 12.0] and x.grad.tolist() == [18.0, 36.0]


def test_numpy_arrays_on_either_side_of_an_operator():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    out = np.array([3.0, 4.0]) * x + np.ones((1, 2)) @ Tensor(np.eye(2))
    assert isinstance(out, Tensor)
    out.sum().backward()
    assert x.grad.tolist() == [3.0, 4.0]


def test_detach_cuts_the_graph():
    x = Tensor([2.0], requires_grad=True)
    y = (x * x).detach()
    assert not y.requires_grad and y.value.tolist() == [4.0]


def test_as_tensor_of_a_number_takes_the_dtype_of_like():
    like = Tensor(np.zeros(1, dtype=np.float32))
    assert as_tensor(2, like).dtype == np.float32 and as_tensor(2.5).dtype == np.float64


def _gather_scale(x, scale, *, columns):
    return x[:, columns] * scale


def _gather_scale_vjp_x(g, out, x, scale, *, columns):
    grad = np.zeros_like(x)
    np.add.at(grad, (slice(None), columns), g * scale)  # repeated columns add up
    return grad


# the pattern of a sparse layer: two tensor inputs, plus a static index pattern that is not differentiated
GATHER_SCALE = Primitive(
    "test_gather_scale",
    _gather_scale,
    (_gather_scale_vjp_x, lambda g, out, x, scale, *, columns: np.sum(g * x[:, columns], axis=0)),
)


def test_a_primitive_defined_outside_the_table():
    if "test_gather_scale" not in PRIMITIVES:
        register_primitive(GATHER_SCALE)
    columns = np.array([2, 0, 2])
    x, scale = np.arange(8.0).reshape(2, 4), np.array([1.0, -2.0, 0.5])
    out = apply("test_gather_scale", x, scale, columns=columns)
    np.testing.assert_array_equal(out.value, x[:, columns] * scale)
    assert apply(GATHER_SCALE, x, scale, columns=columns).value.tolist() == out.value.tolist()
    weights = Tensor(np.random.default_rng(0).standard_normal((2, 3)))
    check_gradients(lambda a, b: (apply("test_gather_scale", a, b, columns=columns) * weights).sum(), [x, scale], rng=0)


def test_registering_a_name_twice_is_refused():
    with pytest.raises(ValueError, match="'add' is already registered"):
        register_primitive(Primitive("add", np.add, (lambda g, out, x, y: g, lambda g, out, x, y: g)))


@given(st.lists(st.floats(-3, 3), min_size=1, max_size=5))
def test_sum_of_squares_gradient_is_twice_x(values):
    x = Tensor(np.array(values), requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * np.array(values), rtol=1e-15)
