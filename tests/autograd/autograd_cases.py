"""Hypothesis strategies shared by the autograd tests: for every primitive of the table, a strategy drawing
``(fn, inputs)`` where ``fn(*tensors)`` applies the primitive (through ``rigl_ref.autograd.ops``) and
contracts its output with fixed random weights into a scalar, so that every output entry matters.

Values of non-smooth primitives are drawn on a 0.01 grid (relu: never 0; max-pool: no ties), so a finite
difference step of 1e-6 never crosses a kink.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rigl_ref.autograd import Tensor, ops

SMOOTH = st.floats(-2.0, 2.0, allow_nan=False, allow_subnormal=False)


def grid_values(low: int, high: int, *, exclude_zero: bool = False):
    """Multiples of 0.01 in [low/100, high/100]."""
    ints = st.integers(low, high)
    if exclude_zero:
        ints = ints.filter(lambda k: k != 0)
    return ints.map(lambda k: k / 100)


def arrays(shape, elements=SMOOTH, *, unique: bool = False):
    return hnp.arrays(np.float64, shape, elements=elements, unique=unique)


def away_from_zero(shape, low: float = 0.5, high: float = 3.0):
    """Values with ``low <= |v| <= high`` (denominators)."""
    magnitude = st.floats(low, high, allow_nan=False)
    return arrays(shape, st.tuples(magnitude, st.sampled_from([-1.0, 1.0])).map(lambda t: t[0] * t[1]))


def contracted(apply_op, out_shape, seed: int):
    """``fn(*tensors) = sum(apply_op(*tensors) * R)`` with ``R`` fixed by ``seed`` (in the output's dtype)."""
    weights = np.random.default_rng(seed).standard_normal(out_shape)

    def fn(*tensors):
        out = apply_op(*tensors)
        return (out * Tensor(weights.astype(out.dtype))).sum()

    return fn


@st.composite
def binary_case(draw, op, *, denominator=False):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3), label="shapes")
    x = draw(arrays(shapes.input_shapes[0]), label="x")
    y = draw((away_from_zero if denominator else arrays)(shapes.input_shapes[1]), label="y")
    return contracted(op, shapes.result_shape, draw(st.integers(0, 2**16))), [x, y]


@st.composite
def unary_case(draw, op, elements=SMOOTH):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4), label="shape")
    x = draw(arrays(shape, elements), label="x")
    return contracted(op, shape, draw(st.integers(0, 2**16))), [x]


@st.composite
def matmul_case(draw):
    batch = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3), label="batch")
    n, k, m = (draw(st.integers(1, 4), label=name) for name in "nkm")
    a = draw(arrays((*batch, n, k)), label="a")
    b = draw(arrays((k, m)), label="b")
    return contracted(ops.matmul, (*batch, n, m), draw(st.integers(0, 2**16))), [a, b]


@st.composite
def axis_for(draw, ndim: int):
    """None, an int (possibly negative) or a tuple of distinct axes."""
    if ndim == 0:
        return draw(st.sampled_from([None, ()]))
    single = st.integers(-ndim, ndim - 1)
    several = st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim).map(tuple)
    return draw(st.one_of(st.none(), single, several), label="axis")


@st.composite
def reduction_case(draw, name):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4), label="shape")
    axis = draw(axis_for(len(shape)))
    keepdims = draw(st.booleans(), label="keepdims")
    x = draw(arrays(shape), label="x")
    out_shape = getattr(np, name)(x, axis=axis, keepdims=keepdims).shape
    op = getattr(ops, name)
    return contracted(lambda t: op(t, axis=axis, keepdims=keepdims), out_shape, draw(st.integers(0, 2**16))), [x]


@st.composite
def reshape_case(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4), label="shape")
    size = int(np.prod(shape))
    target = draw(st.sampled_from([(size,), (-1,), (1, size), (size, 1, 1), tuple(reversed(shape))]), label="target")
    x = draw(arrays(shape), label="x")
    return contracted(lambda t: ops.reshape(t, target), x.reshape(target).shape, draw(st.integers(0, 2**16))), [x]


@st.composite
def transpose_case(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=3), label="shape")
    axes = draw(st.one_of(st.none(), st.permutations(range(len(shape))).map(tuple)), label="axes")
    x = draw(arrays(shape), label="x")
    return contracted(lambda t: ops.transpose(t, axes), x.transpose(axes).shape, draw(st.integers(0, 2**16))), [x]


@st.composite
def log_softmax_case(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), label="shape")
    axis = draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    x = draw(arrays(shape, st.floats(-5, 5, allow_nan=False)), label="x")
    return contracted(lambda t: ops.log_softmax(t, axis), shape, draw(st.integers(0, 2**16))), [x]


@st.composite
def cross_entropy_case(draw):
    batch, classes = draw(st.integers(1, 5), label="batch"), draw(st.integers(1, 5), label="classes")
    logits = draw(arrays((batch, classes), st.floats(-5, 5, allow_nan=False)), label="logits")
    labels = np.array(draw(st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch), label="labels"))
    return (lambda t: ops.softmax_cross_entropy(t, labels)), [logits]


@st.composite
def conv_geometry(draw):
    """(x shape, weight shape, stride, padding) of a valid convolution, kernels up to 3x3."""
    n, c, o = draw(st.integers(1, 2), label="N"), draw(st.integers(1, 3), label="C"), draw(st.integers(1, 3), label="O")
    kernel = (draw(st.integers(1, 3), label="kh"), draw(st.integers(1, 3), label="kw"))
    stride = (draw(st.integers(1, 3), label="sh"), draw(st.integers(1, 3), label="sw"))
    padding = (draw(st.integers(0, 2), label="ph"), draw(st.integers(0, 2), label="pw"))
    hw = tuple(draw(st.integers(max(1, k - 2 * p), k + 4), label="H/W") for k, p in zip(kernel, padding))
    return (n, c, *hw), (o, c, *kernel), stride, padding


@st.composite
def conv2d_case(draw):
    x_shape, w_shape, stride, padding = draw(conv_geometry())
    x, w = draw(arrays(x_shape), label="x"), draw(arrays(w_shape), label="w")
    out_shape = ops.conv2d(x, w, stride, padding).shape
    op = lambda a, b: ops.conv2d(a, b, stride=stride, padding=padding)  # noqa: E731
    return contracted(op, out_shape, draw(st.integers(0, 2**16))), [x, w]


@st.composite
def max_pool2d_case(draw):
    kernel = (draw(st.integers(1, 3), label="kh"), draw(st.integers(1, 3), label="kw"))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))), label="stride")
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), *(draw(st.integers(k, k + 4)) for k in kernel))
    x = draw(arrays(shape, grid_values(-500, 500), unique=True), label="x")  # no ties inside a window
    out_shape = ops.max_pool2d(x, kernel, stride).shape
    return contracted(lambda t: ops.max_pool2d(t, kernel, stride), out_shape, draw(st.integers(0, 2**16))), [x]


@st.composite
def dropout_case(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4), label="shape")
    p = draw(st.floats(0.0, 0.9), label="p")
    seed = draw(st.integers(0, 2**16), label="seed")
    x = draw(arrays(shape), label="x")
    # a fresh Generator per call: every evaluation of fn sees the same mask
    op = lambda t: ops.dropout(t, p, rng=np.random.default_rng(seed))  # noqa: E731
    return contracted(op, shape, draw(st.integers(0, 2**16))), [x]


# One strategy per row of rigl_ref.autograd.primitives.TABLE (a test checks that none is missing).
CASES = {
    "add": binary_case(ops.add),
    "sub": binary_case(ops.sub),
    "mul": binary_case(ops.mul),
    "div": binary_case(ops.div, denominator=True),
    "neg": unary_case(ops.neg),
    "matmul": matmul_case(),
    "sum": reduction_case("sum"),
    "mean": reduction_case("mean"),
    "reshape": reshape_case(),
    "transpose": transpose_case(),
    "relu": unary_case(ops.relu, grid_values(-300, 300, exclude_zero=True)),
    "exp": unary_case(ops.exp),
    "log": unary_case(ops.log, st.floats(0.1, 4.0)),
    "log_softmax": log_softmax_case(),
    "softmax_cross_entropy": cross_entropy_case(),
    "conv2d": conv2d_case(),
    "max_pool2d": max_pool2d_case(),
    "dropout": dropout_case(),
}
