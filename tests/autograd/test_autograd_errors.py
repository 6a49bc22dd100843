"""Bad input: every error names the operation and the offending shapes or values."""

import re

import numpy as np
import pytest

from rigl_ref.autograd import Primitive, Tensor, apply, col2im, im2col, ops, register_primitive

X23 = np.zeros((2, 3))


@pytest.mark.parametrize(
    "call, error, message",
    [
        # shapes
        (lambda: ops.matmul(np.zeros((3, 4)), np.zeros((5, 2))), ValueError, "matmul: inner dimensions differ: (3, 4) @ (5, 2)"),
        (lambda: ops.matmul(np.zeros(3), np.zeros((3, 2))), ValueError, "matmul: expected (n, k) @ (k, m)"),
        (lambda: ops.matmul(np.zeros((2, 3)), np.zeros((2, 3, 1))), ValueError, "got shapes (2, 3) @ (2, 3, 1)"),
        (lambda: ops.add(X23, np.zeros(4)), ValueError, "add: shapes (2, 3) and (4,) cannot be broadcast together"),
        (lambda: ops.sub(X23, np.zeros((3, 2))), ValueError, "sub: shapes (2, 3) and (3, 2) cannot be broadcast"),
        (lambda: ops.mul(X23, np.zeros(2)), ValueError, "mul: shapes (2, 3) and (2,)"),
        (lambda: ops.div(X23, np.ones(5)), ValueError, "div: shapes (2, 3) and (5,)"),
        (lambda: ops.sum(X23, axis=2), ValueError, "sum: axis 2 is out of range for an array of shape (2, 3)"),
        (lambda: ops.mean(X23, axis=(0, -2)), ValueError, "mean: repeated axis in (0, -2)"),
        (lambda: ops.reshape(X23, (4, 2)), ValueError, "reshape: cannot reshape an array of shape (2, 3) into shape (4, 2)"),
        (lambda: ops.transpose(X23, (0, 0)), ValueError, "transpose: axes (0, 0) are not a permutation"),
        (lambda: ops.log_softmax(X23, axis=5), ValueError, "log_softmax: axis 5 is out of range"),
        (lambda: ops.log_softmax(X23, axis=None), ValueError, "log_softmax: axis must be an int, got None"),
        # conv2d and max_pool2d
        (lambda: ops.conv2d(np.zeros((1, 3, 5, 5)), np.zeros((2, 4, 3, 3))), ValueError,
         "conv2d: input (1, 3, 5, 5) has 3 channels but weight (2, 4, 3, 3) expects 4"),
        (lambda: ops.conv2d(np.zeros((3, 5, 5)), np.zeros((2, 3, 3, 3))), ValueError,
         "conv2d: input must be 4-D (N, C, H, W), got shape (3, 5, 5)"),
        (lambda: ops.conv2d(np.zeros((1, 3, 5, 5)), np.zeros((3, 3, 3))), ValueError, "conv2d: weight must be 4-D"),
        (lambda: ops.conv2d(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3))), ValueError,
         "conv2d: kernel (3, 3) is larger than the padded input (2, 2)"),
        (lambda: ops.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), stride=0), ValueError,
         "conv2d: stride must be an int or a pair of ints >= 1, got 0"),
        (lambda: ops.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), padding=(1, -1)), ValueError,
         "conv2d: padding must be an int or a pair of ints >= 0, got (1, -1)"),
        (lambda: ops.max_pool2d(np.zeros((1, 1, 1, 4)), 2), ValueError,
         "max_pool2d: kernel (2, 2) is larger than the padded input (1, 4)"),
        (lambda: ops.max_pool2d(np.zeros((1, 4, 4)), 2), ValueError, "max_pool2d: input must be 4-D"),
        (lambda: ops.max_pool2d(np.zeros((1, 1, 4, 4)), (2, 2, 2)), ValueError, "max_pool2d: kernel_size must be"),
        (lambda: im2col(np.zeros((1, 1, 4, 4)), 0), ValueError, "im2col: kernel_size must be an int or a pair"),
        (lambda: col2im(np.zeros((4, 8)), (1, 1, 4, 4), 2), ValueError, "col2im: cols have shape (4, 8), expected (4, 9)"),
        # labels
        (lambda: ops.softmax_cross_entropy(X23, np.array([0, 3])), ValueError,
         "softmax_cross_entropy: label 3 at index 1 is out of range for 3 classes"),
        (lambda: ops.softmax_cross_entropy(X23, np.array([-1, 0])), ValueError, "label -1 at index 0 is out of range"),
        (lambda: ops.softmax_cross_entropy(X23, np.array([0.0, 1.0])), TypeError,
         "softmax_cross_entropy: labels must be integers, got dtype float64"),
        (lambda: ops.softmax_cross_entropy(X23, np.array([0, 1, 2])), ValueError,
         "softmax_cross_entropy: labels have shape (3,), expected (2,) for logits (2, 3)"),
        (lambda: ops.softmax_cross_entropy(np.zeros(3), np.array([0])), ValueError,
         "softmax_cross_entropy: logits must be 2-D (batch, classes), got shape (3,)"),
        (lambda: ops.softmax_cross_entropy(np.zeros((0, 3)), np.zeros(0, dtype=int)), ValueError, "the batch is empty"),
        # dtypes
        (lambda: Tensor(np.array([1, 2]), requires_grad=True), TypeError, "Tensor value must have dtype float32 or float64, got int64"),
        (lambda: Tensor(np.array(["a"], dtype=object)), TypeError, "got object"),
        (lambda: Tensor(np.zeros(2, dtype=np.float16)), TypeError, "got float16"),
        (lambda: ops.add(np.zeros(2, np.float32), np.zeros(2, np.float64)), TypeError,
         "add: inputs have different dtypes ['float32', 'float64']"),
        (lambda: Tensor(np.zeros(2, np.float32)) @ Tensor(np.zeros((2, 2))), TypeError, "matmul: inputs have different dtypes"),
        # dropout
        (lambda: ops.dropout(X23, 1.0, rng=0), ValueError, "dropout: p must lie in [0, 1), got 1.0"),
        (lambda: ops.dropout(X23, -0.1, rng=0), ValueError, "dropout: p must lie in [0, 1), got -0.1"),
        (lambda: ops.dropout(X23, 0.5, rng=None), TypeError, "rng must be an explicit seed or numpy.random.Generator, got None"),
        # the table
        (lambda: apply("no_such_op", X23), ValueError, "unknown primitive 'no_such_op'; registered: add, "),
        (lambda: apply("add", X23), TypeError, "add: takes 2 tensor input(s), got 1"),
        (lambda: register_primitive("add"), TypeError, "register_primitive expects a Primitive, got str"),
        (lambda: Primitive("bad", np.negative, ()), TypeError, "primitive 'bad': vjp must be a function or a tuple"),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_op_and_values(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_backward_on_a_non_scalar_without_seed_names_the_shape():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=re.escape("backward: a seed gradient is required for a non-scalar Tensor of shape (2, 3)")):
        (x * 2.0).backward()


def test_backward_with_a_seed_of_the_wrong_shape():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=re.escape("backward: seed has shape (3,), but the Tensor has shape (2, 3)")):
        (x * 2.0).backward(seed=np.ones(3))


def test_backward_on_a_constant():
    with pytest.raises(ValueError, match="backward: this Tensor does not require a gradient"):
        Tensor(1.0).backward()


def test_a_vjp_returning_the_wrong_shape_is_caught_and_named():
    broken = Primitive("broken_sum", lambda x: np.sum(x), lambda g, out, x: g)  # should broadcast g to x.shape
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape("VJP 0 of primitive 'broken_sum' returned a gradient of shape ()")):
        apply(broken, x).backward()


def test_a_forward_changing_the_dtype_is_caught_and_named():
    promoting = Primitive("promoting", lambda x: x.astype(np.float64), lambda g, out, x: g)
    with pytest.raises(RuntimeError, match="forward of primitive 'promoting' returned float64 for float32 inputs"):
        apply(promoting, np.ones(2, np.float32))
