"""Forward values against plain NumPy written independently (direct loops for convolution and pooling),
im2col/col2im layout and adjointness, the tie rule of max-pool, and dropout's determinism."""

import numpy as np
import pytest
from autograd_cases import arrays, conv_geometry, grid_values
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rigl_ref.autograd import Tensor, col2im, im2col, ops
from rigl_ref.autograd.conv import cols_to_nchw, nchw_to_cols


def naive_conv2d(x, w, stride, padding):
    """Cross-correlation by its definition, one output number at a time."""
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, _, hp, wp = xp.shape
    o, _, kh, kw = w.shape
    out = np.zeros((n, o, (hp - kh) // sh + 1, (wp - kw) // sw + 1))
    for b, f, r, c in np.ndindex(*out.shape):
        out[b, f, r, c] = np.sum(xp[b, :, r * sh : r * sh + kh, c * sw : c * sw + kw] * w[f])
    return out


def naive_max_pool(x, kernel, stride):
    (kh, kw), (sh, sw) = kernel, stride
    n, c, h, w = x.shape
    out = np.zeros((n, c, (h - kh) // sh + 1, (w - kw) // sw + 1))
    for b, ch, r, col in np.ndindex(*out.shape):
        out[b, ch, r, col] = x[b, ch, r * sh : r * sh + kh, col * sw : col * sw + kw].max()
    return out


@given(geometry=conv_geometry(), data=st.data())
def test_conv2d_equals_the_definition(geometry, data):
    x_shape, w_shape, stride, padding = geometry
    x, w = data.draw(arrays(x_shape), label="x"), data.draw(arrays(w_shape), label="w")
    out = ops.conv2d(x, w, stride=stride, padding=padding)
    np.testing.assert_allclose(out.value, naive_conv2d(x, w, stride, padding), rtol=1e-12, atol=1e-12)
    assert out.value.flags.c_contiguous


def test_conv2d_hand_computed():
    x = np.arange(9.0).reshape(1, 1, 3, 3)  # [[0,1,2],[3,4,5],[6,7,8]]
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])  # x[r, c] - x[r+1, c+1]
    assert ops.conv2d(x, w).value.tolist() == [[[[-4.0, -4.0], [-4.0, -4.0]]]]
    # padding 1, stride 2: windows at (-1,-1), (-1,1), (1,-1), (1,1) of the zero-padded image
    assert ops.conv2d(x, w, stride=2, padding=1).value.tolist() == [[[[-0.0, -2.0], [-6.0, -4.0]]]]


@given(geometry=conv_geometry(), data=st.data())
def test_im2col_layout_and_col2im_is_its_adjoint(geometry, data):
    x_shape, (_, _, kh, kw), stride, padding = geometry
    x = data.draw(arrays(x_shape), label="x")
    cols = im2col(x, (kh, kw), stride, padding)
    n, c = x_shape[:2]
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    oh, ow = (xp.shape[2] - kh) // stride[0] + 1, (xp.shape[3] - kw) // stride[1] + 1
    assert cols.shape == (c * kh * kw, oh * ow * n)
    for ch, i, j, r, q, b in [tuple(int(v) for v in np.unravel_index(k, (c, kh, kw, oh, ow, n))) for k in range(cols.size)]:
        assert cols[(ch * kh + i) * kw + j, (r * ow + q) * n + b] == xp[b, ch, r * stride[0] + i, q * stride[1] + j]
    # <im2col(x), y> == <x, col2im(y)> for any y: col2im is the transpose of the linear map im2col
    y = data.draw(arrays(cols.shape), label="y")
    np.testing.assert_allclose(np.sum(cols * y), np.sum(x * col2im(y, x_shape, (kh, kw), stride, padding)), atol=1e-9)


def test_cols_to_nchw_and_back():
    y = np.arange(2 * 3 * 4 * 5.0).reshape(2, 3 * 4 * 5)  # O=2, (OH, OW, N) = (3, 4, 5)
    nchw = cols_to_nchw(y, batch=5, out_hw=(3, 4))
    assert nchw.shape == (5, 2, 3, 4) and nchw[4, 1, 2, 3] == y[1, (2 * 4 + 3) * 5 + 4]
    np.testing.assert_array_equal(nchw_to_cols(nchw), y)


@given(data=st.data())
def test_max_pool2d_equals_the_definition(data):
    kernel = data.draw(st.tuples(st.integers(1, 3), st.integers(1, 3)), label="kernel")
    stride = data.draw(st.tuples(st.integers(1, 3), st.integers(1, 3)), label="stride")
    shape = (2, 2, *(data.draw(st.integers(k, k + 4)) for k in kernel))
    x = data.draw(arrays(shape), label="x")
    np.testing.assert_array_equal(ops.max_pool2d(x, kernel, stride).value, naive_max_pool(x, kernel, stride))
    assert ops.max_pool2d(x, kernel).shape == naive_max_pool(x, kernel, kernel).shape  # stride defaults to kernel


def test_max_pool2d_tie_gradient_goes_to_the_first_maximum_in_row_major_order():
    x = Tensor(np.array([[[[1.0, 3.0], [3.0, 3.0]]]]), requires_grad=True)
    ops.max_pool2d(x, 2).sum().backward()
    assert x.grad.tolist() == [[[[0.0, 1.0], [0.0, 0.0]]]]
    # overlapping windows (stride 1) each route to their own first maximum, and the contributions add
    y = Tensor(np.array([[[[2.0, 2.0, 2.0]]]]), requires_grad=True)
    (ops.max_pool2d(y, (1, 2), stride=1) * Tensor(np.array([[[[10.0, 1.0]]]]))).sum().backward()
    assert y.grad.tolist() == [[[[10.0, 1.0, 0.0]]]]


@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), elements=grid_values(-300, 300)))
def test_elementwise_and_reductions_equal_numpy(x):
    t = Tensor(x)
    np.testing.assert_array_equal(ops.relu(t).value, np.where(x > 0, x, 0.0))
    np.testing.assert_array_equal(ops.exp(t).value, np.exp(x))
    np.testing.assert_array_equal((t * t - t / 2.0 + (-t)).value, x * x - x / 2.0 + (-x))
    np.testing.assert_array_equal(ops.sum(t, axis=0, keepdims=True).value, x.sum(axis=0, keepdims=True))
    np.testing.assert_allclose(ops.mean(t).value, x.mean(), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(ops.transpose(t).value, x.T)
    np.testing.assert_array_equal(ops.reshape(t, (-1,)).value, x.ravel())


@given(batch=hnp.array_shapes(min_dims=0, max_dims=2, max_side=3), n=st.integers(1, 4), k=st.integers(1, 4),
       m=st.integers(1, 4), data=st.data())
def test_matmul_equals_a_sum_of_products(batch, n, k, m, data):
    a, b = data.draw(arrays((*batch, n, k)), label="a"), data.draw(arrays((k, m)), label="b")
    expected = np.einsum("...ik,kj->...ij", a, b)
    np.testing.assert_allclose(ops.matmul(a, b).value, expected, rtol=1e-12, atol=1e-12)


@given(x=arrays((3, 4), st.floats(-20, 20)), labels=st.lists(st.integers(0, 3), min_size=3, max_size=3))
def test_log_softmax_and_cross_entropy_equal_the_textbook_formulas(x, labels):
    softmax = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)  # fine for |x| <= 20
    np.testing.assert_allclose(ops.log_softmax(x, axis=1).value, np.log(softmax), rtol=1e-12, atol=1e-12)
    expected = -np.mean(np.log(softmax[np.arange(3), labels]))
    np.testing.assert_allclose(ops.softmax_cross_entropy(x, labels).value, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_stable_for_huge_logits(dtype):
    logits = Tensor(np.array([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0]], dtype=dtype), requires_grad=True)
    loss = ops.softmax_cross_entropy(logits, np.array([1, 2]))
    assert loss.dtype == dtype
    np.testing.assert_allclose(loss.value, (1e4 + np.log(3.0)) / 2, rtol=1e-6)
    loss.backward()
    expected = np.array([[1.0, -1.0, 0.0], [1 / 3, 1 / 3, -2 / 3]]) / 2
    np.testing.assert_allclose(logits.grad, expected, rtol=1e-6, atol=1e-7)


def test_relu_gradient_at_zero_is_zero():
    x = Tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    ops.relu(x).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0]


def test_dropout_is_determined_by_the_generator_state():
    x = np.ones((50, 40), dtype=np.float32)
    first = ops.dropout(x, 0.25, rng=np.random.default_rng(7)).value
    again = ops.dropout(x, 0.25, rng=np.random.default_rng(7)).value
    np.testing.assert_array_equal(first, again)
    # the mask is u >= p for u = rng.random(shape), the kept entries scaled by 1 / (1 - p)
    expected = (np.random.default_rng(7).random((50, 40)) >= 0.25) / np.float32(0.75)
    np.testing.assert_array_equal(first, expected.astype(np.float32))
    assert first.dtype == np.float32
    rng = np.random.default_rng(7)
    assert not np.array_equal(ops.dropout(x, 0.25, rng).value, ops.dropout(x, 0.25, rng).value)  # state advances


def test_dropout_keeps_about_one_minus_p_and_the_expectation():
    x = np.ones(200_000)
    out = ops.dropout(x, 0.3, rng=np.random.default_rng(0)).value
    assert abs(np.mean(out != 0) - 0.7) < 0.005 and abs(out.mean() - 1.0) < 0.01


def test_dropout_off_in_evaluation_or_with_p_zero_returns_the_input():
    x = Tensor(np.ones(3), requires_grad=True)
    assert ops.dropout(x, 0.5, rng=np.random.default_rng(0), training=False) is x
    assert ops.dropout(x, 0.0, rng=np.random.default_rng(0)) is x


def test_dropout_gradient_uses_the_same_mask():
    x = Tensor(np.full((4, 5), 3.0), requires_grad=True)
    y = ops.dropout(x, 0.5, rng=np.random.default_rng(1))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, y.value / 3.0)
