"""GraNet: the official code's rules by hand, its invariants, and the CSR layer equal to the dense spec."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rigl_ref.sparse import CSRWeight, GrowthInputs
from rigl_ref.sparse_training.granet import (
    GRANET_MIN_PRUNE_RATE,
    csr_granet_update,
    global_prune_threshold,
    granet_prune_rate,
    granet_pruned_fraction,
    granet_update,
    regeneration_threshold,
)


def test_cubic_schedule_on_the_update_grid():
    kw = dict(initial_density=0.5, final_density=0.1, begin_step=0, end_step=1000, interval=100,
              window="through_end")
    assert granet_pruned_fraction(0, **kw) == pytest.approx(0.5)
    assert granet_pruned_fraction(1000, **kw) == pytest.approx(0.9)
    assert granet_pruned_fraction(500, **kw) == pytest.approx(0.5 + 0.4 * (1 - 0.5**3))
    assert granet_pruned_fraction(599, **kw) == granet_pruned_fraction(500, **kw)  # int(step / dT)
    assert granet_pruned_fraction(1100, **kw) is None
    dense_start = dict(kw, initial_density=1.0)
    assert granet_pruned_fraction(0, **dense_start) == 0.0


def test_the_window_ends_where_the_selected_rule_says():
    """official (core.py ``curr_prune_iter <= final_iter - 1``): the last pruning is at c1 - 1, short of the
    target by (d_i - d_f) / (c1 - c0)^3; through_end also prunes at c1 and reaches it."""
    kw = dict(initial_density=0.5, final_density=0.1, begin_step=0, end_step=1000, interval=100)
    assert granet_pruned_fraction(1000, **kw) is None
    assert granet_pruned_fraction(1000, **kw, window="through_end") == pytest.approx(0.9)
    assert granet_pruned_fraction(900, **kw) == pytest.approx(0.9 - 0.4 * 0.1**3)
    assert granet_pruned_fraction(900, **kw) == granet_pruned_fraction(900, **kw, window="through_end")
    with pytest.raises(ValueError, match="window"):
        granet_pruned_fraction(900, **kw, window="inclusive")


def test_prune_rate_decays_by_cosine_to_its_floor():
    assert granet_prune_rate(0, alpha=0.5, total_steps=1000) == 0.5
    assert granet_prune_rate(1000, alpha=0.5, total_steps=1000) == pytest.approx(GRANET_MIN_PRUNE_RATE)
    assert granet_prune_rate(500, alpha=0.5, total_steps=1000) == pytest.approx((0.5 + 0.005) / 2)


def test_global_threshold_counts_inactive_positions_as_zeros():
    # 2 layers, 10 positions, active magnitudes [5, 4, 3] and [2, 1]: keep int(10 * 0.7) = 7 > 5 actives -> 0
    actives = [np.array([5.0, 4.0, 3.0]), np.array([2.0, 1.0])]
    assert global_prune_threshold(actives, 10, 0.3) == 0.0
    assert global_prune_threshold(actives, 10, 0.75) == 4.0  # keep int(2.5) = 2: the 2nd largest; |w| > 4 keeps 5
    assert global_prune_threshold(actives, 10, 0.8) == 5.0  # int(10 * (1 - 0.8)) = int(1.9999999999999996) = 1
    assert global_prune_threshold(actives, 10, 1.0) == math.inf


def test_regeneration_threshold_is_the_kth_smallest_over_every_position():
    # N = 6, n = 4 active, rate 0.5: num_remove 2, k = ceil(2 + 2) = 4 -> 4th smallest of [0, 0, 1, 2, 3, 4] = 2
    assert regeneration_threshold(np.array([3.0, 1.0, 4.0, 2.0]), 6, 0.5) == 2.0
    assert regeneration_threshold(np.array([3.0, 1.0]), 6, 0.0) is None  # num_remove 0: keep non-zeros
    assert regeneration_threshold(np.array([3.0, 1.0, 0.0]), 3, 0.2) == 0.0  # ceil(0.6) = 1 -> the zero goes


def test_a_hand_update():
    mask = np.array([[True, True, False], [True, True, False]])
    w = np.array([[3.0, 1.0, 0.0], [4.0, 2.0, 0.0]], np.float32)
    g = np.array([[0.0, 9.0, 1.0], [0.0, 0.0, 5.0]], np.float32)
    (r,) = granet_update([mask], [w], [(w.copy(),)], [g], pruned=None, prune_rate=0.5)
    # survivors |w| > 2: (0,0)=3, (1,0)=4; regrow 2 by |g| outside the survivors: (0,1)=9 (regrown, keeps 1.0), (1,2)=5
    assert r.mask.tolist() == [[True, True, False], [True, False, True]]
    assert r.weights.tolist() == [[3.0, 1.0, 0.0], [4.0, 0.0, 0.0]]
    assert r.regrown.tolist() == [[False, True, False], [False, False, False]]
    assert r.dropped.sum() == 1 and r.grown.sum() == 1 and r.n_drop == 2


@st.composite
def networks(draw):
    n_layers = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    layers = []
    for _ in range(n_layers):
        shape = (draw(st.integers(1, 7)), draw(st.integers(1, 7)))
        mask = rng.random(shape) < draw(st.floats(0.1, 1.0))
        w = (rng.integers(-3, 4, shape) * mask).astype(np.float32)  # ties and active zeros on purpose
        slot = rng.standard_normal(shape).astype(np.float32) * mask
        batch = draw(st.integers(1, 3))
        left = rng.integers(-1, 2, (shape[0], batch)).astype(np.float32)  # zero gradients happen
        right = rng.integers(-1, 2, (shape[1], batch)).astype(np.float32)
        layers.append((mask, w, slot, GrowthInputs(left, right)))
    pruned = draw(st.none() | st.floats(0.0, 0.95))
    rate = draw(st.floats(0.0, 1.0))
    return layers, pruned, rate


@settings(max_examples=200, deadline=None)
@given(network=networks())
def test_csr_layer_equals_the_spec_bit_for_bit(network):
    layers, pruned, rate = network
    spec = granet_update([m for m, *_ in layers], [w for _, w, *_ in layers], [(s,) for _, _, s, _ in layers],
                         [g for *_, g in layers], pruned=pruned, prune_rate=rate)
    csr_weights = [CSRWeight.from_dense(m, w) for m, w, *_ in layers]
    csr_slots = [(s[m],) for m, _, s, _ in layers]
    fast = csr_granet_update(csr_weights, csr_slots, [g for *_, g in layers], pruned=pruned, prune_rate=rate)
    for s, f in zip(spec, fast):
        mask, values = f.weights.to_dense()
        assert np.array_equal(mask, s.mask)
        assert np.array_equal(values, s.weights)
        slot = np.zeros(mask.size, np.float32)
        slot[f.weights.active_flat_indices()] = f.slots[0]
        assert np.array_equal(slot.reshape(mask.shape), s.slots[0])
        for name in ("dropped", "grown", "regrown", "reinitialized"):
            assert np.array_equal(getattr(f, name), np.flatnonzero(getattr(s, name))), name
        assert f.n_drop == s.n_drop


@settings(max_examples=200, deadline=None)
@given(network=networks())
def test_invariants(network):
    layers, pruned, rate = network
    masks = [m for m, *_ in layers]
    results = granet_update(masks, [w for _, w, *_ in layers], [(s,) for _, _, s, _ in layers],
                            [g for *_, g in layers], pruned=pruned, prune_rate=rate)
    total = sum(m.size for m in masks)
    if pruned is not None:  # the global pruning keeps at most int(N (1 - p)) connections, regeneration none more
        assert sum(int(r.mask.sum()) for r in results) <= max(int(total * (1.0 - pruned)), 0)
    for (mask, w, _, growth), r in zip(layers, results):
        assert not (r.mask & ~mask & ~r.grown).any() and not (r.grown & mask).any()  # grown ⊆ inactive
        assert not (r.dropped & ~mask).any()  # dropped ⊆ active
        kept = r.mask & mask & ~r.regrown
        dropped = mask & ~kept
        if kept.any() and dropped.any():  # drop takes the smallest magnitudes
            assert np.abs(w[dropped]).max() <= np.abs(w[kept]).min()
        grown = r.grown
        if grown.any():  # grow takes the largest |g| among the candidates
            g = np.abs(growth.dense_gradient())
            others = ~r.mask & ~mask
            if others.any():
                assert g[grown].min() >= g[others].max()
        assert r.mask.sum() <= mask.sum()
        assert not r.weights[r.reinitialized].any()  # new connections start at 0
