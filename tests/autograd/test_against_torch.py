"""Differential test against PyTorch autograd in float64 (skipped where torch is not installed).

The same expression is written twice, once with rigl_ref.autograd and once with torch; forward values and
the gradients of ``sum(out * R)`` (``R`` fixed random weights) must agree to float64 rounding. torch is an
optional test dependency only: ``pip install torch==2.13.0``.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.autograd import Tensor, ops

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL, ATOL = 1e-10, 1e-12


def assert_same_as_torch(ours, theirs, arrays, seed=0):
    """Compare ``ours(*Tensors)`` with ``theirs(*torch tensors)``: values, then gradients of a contraction."""
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    torch_tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    out, torch_out = ours(*tensors), theirs(*torch_tensors)
    np.testing.assert_allclose(out.value, torch_out.detach().numpy(), rtol=RTOL, atol=ATOL)
    weights = np.random.default_rng(seed).standard_normal(out.shape)
    (out * Tensor(weights)).sum().backward()
    (torch_out * torch.tensor(weights)).sum().backward()
    for i, (t, tt) in enumerate(zip(tensors, torch_tensors)):
        expected = tt.grad.numpy() if tt.grad is not None else np.zeros(t.shape)
        np.testing.assert_allclose(t.grad, expected, rtol=RTOL, atol=ATOL, err_msg=f"gradient of input {i}")


def normal(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in shapes]


LABELS = np.array([2, 0, 1, 2])

# name: (ours, torch's, input shapes)
EXPRESSIONS = {
    "add (broadcast)": (lambda a, b: a + b, lambda a, b: a + b, [(2, 1, 3), (4, 1)]),
    "sub (broadcast)": (lambda a, b: a - b, lambda a, b: a - b, [(3,), (2, 3)]),
    "mul (broadcast)": (lambda a, b: a * b, lambda a, b: a * b, [(2, 3, 1), (1, 4)]),
    "div": (lambda a, b: a / (b * b + 1.0), lambda a, b: a / (b * b + 1.0), [(2, 3), (3,)]),
    "neg": (lambda a: -a, lambda a: -a, [(2, 3)]),
    "matmul": (lambda a, b: a @ b, lambda a, b: a @ b, [(4, 3), (3, 5)]),
    "matmul (batch)": (lambda a, b: a @ b, lambda a, b: a @ b, [(2, 3, 4, 3), (3, 5)]),
    "sum (all)": (lambda a: ops.sum(a), lambda a: a.sum(), [(2, 3, 4)]),
    "sum (tuple, keepdims)": (lambda a: ops.sum(a, (0, 2), keepdims=True), lambda a: a.sum((0, 2), keepdim=True), [(2, 3, 4)]),
    "mean (axis)": (lambda a: ops.mean(a, -1), lambda a: a.mean(-1), [(2, 3, 4)]),
    "reshape": (lambda a: ops.reshape(a, (4, -1)), lambda a: a.reshape(4, -1), [(2, 3, 4)]),
    "transpose": (lambda a: ops.transpose(a, (2, 0, 1)), lambda a: a.permute(2, 0, 1), [(2, 3, 4)]),
    "relu": (ops.relu, torch.relu, [(3, 4)]),
    "exp": (ops.exp, torch.exp, [(3, 4)]),
    "log": (lambda a: ops.log(a * a + 0.1), lambda a: torch.log(a * a + 0.1), [(3, 4)]),
    "log_softmax": (lambda a: ops.log_softmax(a, axis=1), lambda a: F.log_softmax(a, dim=1), [(3, 4, 2)]),
    "softmax_cross_entropy": (lambda a: ops.softmax_cross_entropy(a, LABELS), lambda a: F.cross_entropy(a, torch.tensor(LABELS)),
                              [(4, 3)]),
    "conv2d": (ops.conv2d, F.conv2d, [(2, 3, 7, 6), (4, 3, 3, 2)]),
    "conv2d (stride, padding)": (lambda x, w: ops.conv2d(x, w, stride=(2, 3), padding=(1, 2)),
                                 lambda x, w: F.conv2d(x, w, stride=(2, 3), padding=(1, 2)), [(2, 3, 7, 6), (4, 3, 3, 2)]),
    "max_pool2d": (lambda x: ops.max_pool2d(x, 2), lambda x: F.max_pool2d(x, 2), [(2, 3, 7, 6)]),
    "max_pool2d (overlapping)": (lambda x: ops.max_pool2d(x, (3, 2), stride=(1, 2)),
                                 lambda x: F.max_pool2d(x, (3, 2), stride=(1, 2)), [(2, 3, 7, 6)]),
}


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_primitive_matches_torch(name):
    ours, theirs, shapes = EXPRESSIONS[name]
    assert_same_as_torch(ours, theirs, normal(1, *shapes))


def test_dropout_matches_torch_given_the_same_mask():
    (x,) = normal(2, (5, 6))
    keep = np.random.default_rng(3).random(x.shape) >= 0.4
    assert_same_as_torch(lambda t: ops.dropout(t, 0.4, rng=np.random.default_rng(3)),
                         lambda t: t * torch.tensor(keep / 0.6), [x])


@given(n=st.integers(1, 2), c=st.integers(1, 3), o=st.integers(1, 3), kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)), padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       extra=st.tuples(st.integers(0, 5), st.integers(0, 5)), seed=st.integers(0, 2**32 - 1))
def test_conv2d_matches_torch_over_geometries(n, c, o, kernel, stride, padding, extra, seed):
    hw = tuple(max(1, k - 2 * p) + e for k, p, e in zip(kernel, padding, extra))
    arrays = normal(seed, (n, c, *hw), (o, c, *kernel))
    assert_same_as_torch(lambda x, w: ops.conv2d(x, w, stride=stride, padding=padding),
                         lambda x, w: F.conv2d(x, w, stride=stride, padding=padding), arrays, seed)


@given(kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)), stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       extra=st.tuples(st.integers(0, 4), st.integers(0, 4)), seed=st.integers(0, 2**32 - 1))
def test_max_pool2d_matches_torch_over_geometries(kernel, stride, extra, seed):
    arrays = normal(seed, (2, 2, kernel[0] + extra[0], kernel[1] + extra[1]))
    assert_same_as_torch(lambda x: ops.max_pool2d(x, kernel, stride), lambda x: F.max_pool2d(x, kernel, stride), arrays, seed)


def test_max_pool2d_tie_rule_matches_torch():
    x = np.array([[[[1.0, 3.0, 3.0], [3.0, 0.0, 3.0], [2.0, 2.0, 2.0]]]])
    assert_same_as_torch(lambda t: ops.max_pool2d(t, 2, stride=1), lambda t: F.max_pool2d(t, 2, stride=1), [x])


def test_mlp_loss_matches_torch():
    arrays = normal(4, (4, 6), (6, 5), (5,), (5, 3), (3,))

    def ours(x, w1, b1, w2, b2):
        return ops.softmax_cross_entropy(ops.relu(x @ w1 + b1) @ w2 + b2, LABELS)

    def theirs(x, w1, b1, w2, b2):
        return F.cross_entropy(torch.relu(x @ w1 + b1) @ w2 + b2, torch.tensor(LABELS))

    assert_same_as_torch(ours, theirs, arrays)


def test_cnn_loss_matches_torch():
    # LeNet-5 in miniature: conv, relu, pool, conv (stride, padding), relu, pool, flatten, dense, cross-entropy
    arrays = normal(5, (4, 1, 12, 12), (3, 1, 3, 3), (3,), (5, 3, 3, 3), (5,), (5 * 2 * 2, 3), (3,))

    def ours(x, k1, c1, k2, c2, w, b):
        h = ops.max_pool2d(ops.relu(ops.conv2d(x, k1) + ops.reshape(c1, (1, -1, 1, 1))), 2)
        h = ops.max_pool2d(ops.relu(ops.conv2d(h, k2, stride=1, padding=1) + ops.reshape(c2, (1, -1, 1, 1))), (2, 2), stride=(2, 2))
        return ops.softmax_cross_entropy(ops.reshape(h, (4, -1)) @ w + b, LABELS)

    def theirs(x, k1, c1, k2, c2, w, b):
        h = F.max_pool2d(torch.relu(F.conv2d(x, k1) + c1.reshape(1, -1, 1, 1)), 2)
        h = F.max_pool2d(torch.relu(F.conv2d(h, k2, stride=1, padding=1) + c2.reshape(1, -1, 1, 1)), (2, 2), stride=(2, 2))
        return F.cross_entropy(h.reshape(4, -1) @ w + b, torch.tensor(LABELS))

    assert_same_as_torch(ours, theirs, arrays)
