"""SRigL and N:M: the CSR layer equals the dense spec bit for bit (both neuron axes), and each method's
own invariants: constant fan-in per active neuron, at most N of every M, counts kept without ablation."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.sparse import CSRWeight, GrowthInputs
from rigl_ref.sparse_training.layer_states import CSRLayerState, LayerState
from rigl_ref.sparse_training.structured import constant_fan_in_pattern, nm_pattern, srigl_budget
from rigl_ref.sparse_training.structured_methods import NM, SRigL


@st.composite
def cases(draw, method):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    neurons, fan_in = draw(st.integers(1, 7)), draw(st.integers(2, 9))
    if method == "srigl":
        budget = srigl_budget(neurons * fan_in, draw(st.floats(0.1, 0.8)))
        if budget // neurons == 0:
            budget = neurons
        flat = constant_fan_in_pattern(neurons, fan_in, budget, rng)
    else:
        n, m = draw(st.integers(1, 3)), draw(st.integers(3, 5))
        flat = nm_pattern(neurons, fan_in, n, m, rng)
    mask = np.zeros(neurons * fan_in, bool)
    mask[flat] = True
    mask = mask.reshape(neurons, fan_in)
    weights = (rng.integers(-3, 4, mask.shape) * mask).astype(np.float32)  # ties and active zeros
    momentum = (rng.standard_normal(mask.shape) * mask).astype(np.float32)
    batch = draw(st.integers(1, 3))
    growth = GrowthInputs(rng.integers(-2, 3, (neurons, batch)).astype(np.float32),
                          rng.integers(-2, 3, (fan_in, batch)).astype(np.float32))
    updater = (SRigL(budgets=[budget], min_salient=draw(st.sampled_from([0.0, 0.3, 1.0, 2.0])))
               if method == "srigl" else NM(n=n, m=m))
    return updater, mask, weights, momentum, growth, draw(st.floats(0.0, 1.0)), draw(st.sampled_from([0, 1]))


def _both(updater, mask, weights, momentum, growth, fraction, axis):
    updater.neuron_axes = (axis,)
    if axis == 1:  # the same layer stored (fan_in, neurons): rigl_ref's (in, out) linear layout
        mask, weights, momentum = mask.T.copy(), weights.T.copy(), momentum.T.copy()
        growth = GrowthInputs(growth.col_factor, growth.row_factor)
    dense = updater.update([LayerState(mask, weights, (momentum,))], drop_fraction=fraction,
                           grads=[growth.dense_gradient()])[0]
    csr = updater.update([CSRLayerState(CSRWeight.from_dense(mask, weights), (momentum[mask],))],
                         drop_fraction=fraction, grads=[growth])[0]
    return mask, dense, csr


@given(st.sampled_from(["srigl", "nm"]).flatmap(lambda method: cases(method)))
def test_csr_layer_equals_the_spec_bit_for_bit(case):
    mask, dense, csr = _both(*case)
    got_mask, got_weights = csr.weights.to_dense()
    assert np.array_equal(got_mask, dense.mask)
    assert np.array_equal(got_weights, dense.weights)
    slot = np.zeros(mask.size, np.float32)
    slot[csr.weights.active_flat_indices()] = csr.slots[0]
    assert np.array_equal(slot.reshape(mask.shape), dense.slots[0])
    for name in ("dropped", "grown", "regrown", "reinitialized"):
        assert np.array_equal(getattr(csr, name), np.flatnonzero(getattr(dense, name))), name


@given(cases("srigl"))
def test_srigl_keeps_a_constant_fan_in_on_every_active_neuron(case):
    updater, mask, *_ = case
    _, dense, _ = _both(*case)
    new = dense.mask if updater.neuron_axes == (0,) else dense.mask.T
    fan_ins = new.sum(axis=1)
    active = fan_ins[fan_ins > 0]
    assert len(set(active.tolist())) <= 1  # every neuron that is not ablated holds the same fan-in
    if updater.min_salient == 0:  # no ablation: the count is budget // neurons on every neuron
        assert (fan_ins == updater.budgets[0] // new.shape[0]).all()
    assert not np.any(dense.weights[dense.reinitialized])  # new connections start at zero


@given(cases("nm"))
def test_nm_holds_n_of_every_m_and_the_count(case):
    updater, mask, *_ = case
    _, dense, _ = _both(*case)
    new = dense.mask if updater.neuron_axes == (0,) else dense.mask.T
    old = mask
    n, m = updater.n, updater.m
    for j in range(0, new.shape[1], m):
        width = min(m, new.shape[1] - j)
        assert (new[:, j:j + m].sum(axis=1) == min(n, width)).all()
    assert new.sum() == old.sum()


def test_a_neuron_with_no_salient_connection_is_ablated_and_its_budget_shared():
    # 4 neurons x 6 inputs, budget 9: fan-in 9 // 4 = 2. Neuron 3 has zero weights and zero gradient, so no
    # salient position (threshold min_salient = 1); after its ablation the fan-in is 9 // 3 = 3.
    mask = np.zeros((4, 6), bool)
    mask[:, :2] = True
    weights = np.where(mask, np.arange(1, 25, dtype=np.float32).reshape(4, 6), 0).astype(np.float32)
    weights[3] = 0
    grad = np.tile(np.arange(1, 7, dtype=np.float32), (4, 1))
    grad[3] = 0
    result = SRigL(budgets=[9], min_salient=1).update([LayerState(mask, weights)], drop_fraction=0.0,
                                                       grads=[grad])[0]
    assert result.mask.sum(axis=1).tolist() == [3, 3, 3, 0]
    # each surviving neuron keeps its two and grows the largest-gradient free input (index 5)
    assert result.mask[:3, 5].all() and not result.mask[:3, 2:5].any()
