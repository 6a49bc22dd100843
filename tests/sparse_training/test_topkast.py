"""Top-KAST: the spec layer's sets and penalty, the CSR refresh equal to them bit for bit, the forward set
inside the backward set, and the straight-through gradient of a masked sparse layer."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rigl_ref.autograd import Tensor, matmul
from rigl_ref.autograd.sparse_linear import sparse_conv2d, sparse_linear
from rigl_ref.sparse import CSRWeight
from rigl_ref.sparse_training.topkast import (
    Reserve,
    TopKAST,
    backward_set,
    csr_penalty_gradient,
    csr_refresh,
    dense_theta,
    forward_set,
    initial_split,
    masked_update,
    penalty_gradient,
    top_k_positions,
)
from rigl_ref.train.config import RunConfig


def _bits(a):
    return np.ascontiguousarray(a).tobytes()


@st.composite
def layer_states(draw):
    """A dense theta (with ties and exact zeros), a current backward set B (any subset), counts and a slot."""
    rows, cols = draw(st.integers(1, 6)), draw(st.integers(1, 7))
    size = rows * cols
    levels = draw(st.lists(st.sampled_from([0.0, 0.25, -0.25, 0.5, -1.0, 1.5, 2.0, -3.0]), min_size=size,
                           max_size=size))
    theta = np.array(levels, np.float32).reshape(rows, cols)
    stored = np.array(draw(st.lists(st.booleans(), min_size=size, max_size=size))).reshape(rows, cols)
    n_forward = draw(st.integers(0, size))
    n_backward = draw(st.integers(n_forward, size))
    slot = np.arange(1, size + 1, dtype=np.float32).reshape(rows, cols)
    return theta, stored, n_forward, n_backward, slot


def _fast_state(theta, stored, slot):
    """The trainer's form of a dense theta: a CSR weight over ``stored`` and the non-zero rest in a reserve."""
    weight = CSRWeight.from_dense(stored, theta)
    flat = np.flatnonzero(~stored.reshape(-1) & (theta.reshape(-1) != 0))
    return weight, Reserve(flat, theta.reshape(-1)[flat]), slot.reshape(-1)[weight.active_flat_indices()]


@settings(max_examples=300, deadline=None)
@given(layer_states())
def test_csr_refresh_equals_the_dense_sets_bit_for_bit(state):
    theta, stored, n_forward, n_backward, slot = state
    weight, reserve, slot_b = _fast_state(theta, stored, slot)
    refresh = csr_refresh(weight, reserve, n_forward, n_backward, (slot_b,))
    a, b = forward_set(theta, n_forward), backward_set(theta, n_backward)
    new_flat = refresh.weight.active_flat_indices()
    assert np.array_equal(new_flat, np.flatnonzero(b))
    assert np.array_equal(new_flat[refresh.forward_mask], np.flatnonzero(a))
    assert refresh.weight.nnz == n_backward and int(refresh.forward_mask.sum()) == n_forward
    assert not (a & ~b).any()  # forward set inside the backward set
    # nothing is lost: theta is the same array, only regrouped
    assert _bits(dense_theta(refresh.weight, refresh.reserve)) == _bits(theta)
    assert np.all(refresh.reserve.values != 0) and np.all(np.diff(refresh.reserve.flat) > 0)
    assert not np.isin(refresh.reserve.flat, new_flat).any()
    # slots: kept entries keep theirs, entering entries start at 0
    was_stored = stored.reshape(-1)[new_flat]
    assert _bits(refresh.result.slots[0][was_stored]) == _bits(slot.reshape(-1)[new_flat[was_stored]])
    assert np.all(refresh.result.slots[0][~was_stored] == 0)
    # the account: left B = dropped, entered B = grown
    assert np.array_equal(refresh.result.dropped, np.flatnonzero(stored.reshape(-1) & ~b.reshape(-1)))
    assert np.array_equal(refresh.result.grown, np.flatnonzero(~stored.reshape(-1) & b.reshape(-1)))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([0.0, 1.0, -1.0, 2.0, 0.5]), min_size=1, max_size=40), st.data())
def test_top_k_positions_is_the_dense_top_k(values, data):
    theta = np.array(values, np.float32)
    k = data.draw(st.integers(0, len(theta)))
    flat = np.flatnonzero(theta)
    shuffled = data.draw(st.permutations(list(range(len(flat)))))
    picked = top_k_positions(flat[shuffled], theta[flat][shuffled], len(theta), k)
    assert np.array_equal(picked, np.flatnonzero(forward_set(theta, k)))


def test_hand_case_sets_and_penalty():
    theta = np.array([0.5, -3.0, 2.0, 0.1, -1.0, 2.0], np.float32)
    a, b = forward_set(theta, 2), backward_set(theta, 4)
    assert np.flatnonzero(a).tolist() == [1, 2]  # |-3| then the first of the two 2.0s (lower index)
    assert np.flatnonzero(b).tolist() == [1, 2, 4, 5]  # -3, 2, 2, -1 by magnitude
    density = 2 / 6
    grad = penalty_gradient(theta, a, b, density=density, lam=0.1)
    expected = np.float32(0.1) * np.array([0, 1, 1, 0, 1 / density, 1 / density], np.float32) * theta
    assert np.allclose(grad, expected, rtol=1e-6, atol=0)
    assert grad[0] == 0 and grad[3] == 0  # outside B: no penalty
    l1 = penalty_gradient(theta, a, b, density=density, lam=0.1, norm="l1")
    assert np.allclose(l1, [0, -0.1, 0.1, 0, -0.3, 0.3], rtol=1e-6)
    step = masked_update(theta, np.ones_like(theta), b, lr=0.5)
    assert np.array_equal(step, np.where(b, theta - np.float32(0.5), theta))


@settings(max_examples=100, deadline=None)
@given(layer_states(), st.floats(0.0, 1.0), st.sampled_from(["l2", "l1"]))
def test_csr_penalty_equals_the_dense_penalty_on_b(state, lam, norm):
    theta, _, n_forward, n_backward, _ = state
    a, b = forward_set(theta, n_forward), backward_set(theta, n_backward)
    density = max(n_forward, 1) / theta.size
    dense = penalty_gradient(theta, a, b, density=density, lam=lam, norm=norm)
    weight = CSRWeight.from_dense(b, theta)
    flat = weight.active_flat_indices()
    fast = csr_penalty_gradient(weight.data, a.reshape(-1)[flat], density=density, lam=lam, norm=norm)
    assert _bits(fast) == _bits(dense.reshape(-1)[flat])
    assert np.all(dense[~b] == 0)


def test_initial_split_of_a_dense_weight():
    rng = np.random.default_rng(3)
    theta = rng.uniform(-1, 1, (5, 8)).astype(np.float32)
    split = initial_split(CSRWeight.from_dense(np.ones_like(theta, bool), theta), 6, 15)
    assert np.array_equal(split.weight.active_flat_indices(), np.flatnonzero(backward_set(theta, 15)))
    assert split.reserve.flat.size == 40 - 15
    assert _bits(dense_theta(split.weight, split.reserve)) == _bits(theta)


def test_bad_counts_and_options_are_refused():
    weight = CSRWeight.from_dense(np.ones((2, 2), bool), np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="n_forward <= n_backward"):
        csr_refresh(weight, Reserve.empty(), 3, 2)
    with pytest.raises(ValueError, match="n_backward <= 4"):
        csr_refresh(weight, Reserve.empty(), 1, 5)
    with pytest.raises(ValueError, match="lam"):
        TopKAST(forward_counts=(1,), backward_counts=(2,), sizes=(4,), lam=-1.0)
    with pytest.raises(ValueError, match="norm"):
        TopKAST(forward_counts=(1,), backward_counts=(2,), sizes=(4,), lam=0.0, norm="l3")
    with pytest.raises(ValueError, match="same layers"):
        TopKAST(forward_counts=(1, 1), backward_counts=(2,), sizes=(4,), lam=0.0)
    with pytest.raises(ValueError, match="topkast_backward_sparsity"):
        RunConfig(method="topkast", sparsity=0.5, topkast_backward_sparsity=0.8)
    with pytest.raises(ValueError, match="topkast_penalty_norm"):
        RunConfig(method="topkast", topkast_penalty_norm="l0")
    weight.data[0] = np.nan  # the optimizer writes the data in place: a diverged weight is caught here
    with pytest.raises(ValueError, match="weight data"):
        csr_refresh(weight, Reserve.empty(), 1, 2)
    ok = CSRWeight.from_dense(np.eye(2, dtype=bool), np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="reserve values"):
        csr_refresh(ok, Reserve(np.array([1]), np.array([np.inf], np.float32)), 1, 2)


# ------------------------------------------------------------------ the masked sparse layer


def _masked_case(seed=0):
    rng = np.random.default_rng(seed)
    stored = rng.random((7, 5)) < 0.6
    weight = CSRWeight.from_dense(stored, rng.standard_normal((7, 5)).astype(np.float32))
    forward = rng.random(weight.nnz) < 0.5
    x = rng.standard_normal((4, 7)).astype(np.float32)
    return weight, forward, x


def test_masked_sparse_linear_uses_a_and_passes_the_gradient_straight_through():
    weight, forward, x = _masked_case()
    g = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    data = Tensor(weight.data.copy(), requires_grad=True)
    xt = Tensor(x, requires_grad=True)
    out = sparse_linear(xt, data, indptr=weight.indptr, indices=weight.indices, shape=weight.shape,
                        forward_mask=forward)
    (out * Tensor(g)).sum().backward()
    alpha = Tensor(np.where(forward, weight.data, 0).astype(np.float32), requires_grad=True)
    xt2 = Tensor(x, requires_grad=True)
    ref = sparse_linear(xt2, alpha, indptr=weight.indptr, indices=weight.indices, shape=weight.shape)
    (ref * Tensor(g)).sum().backward()
    assert _bits(out.value) == _bits(ref.value)
    assert _bits(xt.grad) == _bits(xt2.grad)
    assert _bits(data.grad) == _bits(alpha.grad)  # dL/dalpha at every stored entry, also outside A
    assert np.any(data.grad[~forward] != 0)
    # and dL/dalpha is the dense gradient x^T g at those positions (float tolerance: another summation order)
    dense = x.T @ g
    assert np.allclose(data.grad, dense.reshape(-1)[weight.active_flat_indices()], rtol=1e-5, atol=1e-6)
    # the dense forward of alpha gives the same output
    dense_alpha = np.zeros(weight.shape, np.float32)
    dense_alpha.reshape(-1)[weight.active_flat_indices()] = alpha.value
    assert np.allclose(out.value, matmul(Tensor(x), Tensor(dense_alpha)).value, rtol=1e-5, atol=1e-6)


def test_masked_sparse_conv2d_uses_a_and_passes_the_gradient_straight_through():
    rng = np.random.default_rng(2)
    kernel_shape = (3, 2, 3, 3)
    stored = rng.random((3, 18)) < 0.5
    weight = CSRWeight.from_dense(stored, rng.standard_normal((3, 18)).astype(np.float32))
    forward = rng.random(weight.nnz) < 0.5
    x = rng.standard_normal((2, 2, 6, 6)).astype(np.float32)
    data = Tensor(weight.data.copy(), requires_grad=True)
    out = sparse_conv2d(Tensor(x), data, indptr=weight.indptr, indices=weight.indices, kernel_shape=kernel_shape,
                        forward_mask=forward)
    out.sum().backward()
    alpha = Tensor(np.where(forward, weight.data, 0).astype(np.float32), requires_grad=True)
    ref = sparse_conv2d(Tensor(x), alpha, indptr=weight.indptr, indices=weight.indices, kernel_shape=kernel_shape)
    ref.sum().backward()
    assert _bits(out.value) == _bits(ref.value) and _bits(data.grad) == _bits(alpha.grad)


def test_a_malformed_forward_mask_is_refused():
    weight, forward, x = _masked_case()
    with pytest.raises(ValueError, match="forward_mask"):
        sparse_linear(Tensor(x), Tensor(weight.data), indptr=weight.indptr, indices=weight.indices,
                      shape=weight.shape, forward_mask=forward[:-1])
    with pytest.raises(ValueError, match="forward_mask"):
        sparse_linear(Tensor(x), Tensor(weight.data), indptr=weight.indptr, indices=weight.indices,
                      shape=weight.shape, forward_mask=forward.astype(np.int8))
