"""Hypothesis properties of every updater under every convention preset (issue 3, item 9)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_drop_grow_properties import FRACTIONS, layers

from rigl_ref import PRESETS
from rigl_ref.sparse_training.distributions import active_count
from rigl_ref.sparse_training.updaters import (
    SET,
    SNFS,
    Dense,
    GradualMagnitudePruning,
    LayerState,
    RigL,
    SNFSRedistribution,
    Static,
    TF1Static,
)

UPDATERS = {
    "set": SET,
    "rigl": RigL,
    "rigl_accumulated": lambda convention: RigL(convention, grad_accumulation_n=2),
    "snfs": SNFS,
    "tf1_static": TF1Static,
    "snfs_redistribution": SNFSRedistribution,
    "pruning": lambda convention: GradualMagnitudePruning(0.75, begin_step=0, end_step=10, convention=convention),
    "static": Static,
    "dense": Dense,
}
PER_LAYER_COUNT_PRESERVED = {"set", "rigl", "rigl_accumulated", "snfs", "tf1_static", "static", "dense"}
DYNAMIC = {"set", "rigl", "rigl_accumulated", "snfs", "tf1_static", "snfs_redistribution"}
CASES = [(u, c) for u in UPDATERS for c in PRESETS]


@st.composite
def networks(draw, *, clean=False):
    """1-3 layers, two gradient batches per layer (small: no score lift is absorbed), a seed."""
    drawn = draw(st.lists(layers(clean=clean), min_size=1, max_size=3))
    state = [LayerState(mask, weights, (slot,)) for mask, weights, _, slot in drawn]
    batches = [[draw(st.sampled_from([1, -1])) * grow for _, _, grow, _ in drawn] for _ in range(2)]
    return state, batches, draw(st.integers(0, 2**32 - 1))


def run(name, convention, state, batches, seed, fraction, step=5):
    updater = UPDATERS[name](convention)
    for grads in batches:
        updater.observe(grads)
    grads = None if name == "rigl_accumulated" else batches[-1]
    return updater.update(state, step=step, drop_fraction=fraction, grads=grads, rng=np.random.default_rng(seed))


@pytest.mark.parametrize("name, convention", CASES)
@settings(max_examples=20)
@given(network=networks(), fraction=FRACTIONS)
def test_updater_invariants(name, convention, network, fraction):
    state, batches, seed = network
    conv = PRESETS[convention]
    results = run(name, convention, state, batches, seed, fraction)
    assert len(results) == len(state)
    for layer, result in zip(state, results):
        old, new = layer.mask, result.mask
        assert new.shape == old.shape and new.dtype == bool
        assert not (result.dropped & ~old).any()  # dropped from the old active set
        assert not (result.grown & old).any()  # truly grown from the old inactive set
        assert not (old & new & result.grown).any()  # kept and grown disjoint
        if name in PER_LAYER_COUNT_PRESERVED:
            jax_empty = conv.grow_count_rule == "refill_to_density" and not old.any() and name in DYNAMIC
            assert new.sum() == (1 if jax_empty else old.sum())
        if name == "pruning":
            assert new.sum() == min(old.sum(), active_count(old.size, 0.75 * (1 - 0.5**3), convention))
            assert not result.grown.any()
        if conv.grown_weight == "grow_init":
            assert np.all(result.weights[result.reinitialized] == 0)
        if conv.reset_slots_of_new:
            assert np.all(result.slots[0][result.reinitialized] == 0)
    if name == "snfs_redistribution":
        assert sum(r.mask.sum() for r in results) == sum(
            layer.mask.sum() if conv.grow_count_rule == "equal_to_dropped" or layer.mask.any() else 1 for layer in state
        )


@pytest.mark.parametrize("name, convention", CASES)
@settings(max_examples=10)
@given(network=networks(), fraction=FRACTIONS)
def test_same_inputs_and_seed_give_identical_outputs(name, convention, network, fraction):
    state, batches, seed = network
    first = run(name, convention, state, batches, seed, fraction)
    second = run(name, convention, state, batches, seed, fraction)
    for a, b in zip(first, second):
        assert np.array_equal(a.mask, b.mask) and np.array_equal(a.weights, b.weights)
        assert np.array_equal(a.slots[0], b.slots[0]) and a.n_drop == b.n_drop


@pytest.mark.parametrize("name, convention", [(u, c) for u, c in CASES if u in DYNAMIC])
@settings(max_examples=10)
@given(network=networks(clean=True))
def test_drop_fraction_zero_changes_nothing(name, convention, network):
    state, batches, seed = network
    for layer, result in zip(state, run(name, convention, state, batches, seed, 0.0)):
        assert np.array_equal(result.mask, layer.mask) and np.array_equal(result.weights, layer.weights)
        assert np.array_equal(result.slots[0], layer.slots[0])
