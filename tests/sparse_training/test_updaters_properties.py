"""Hypothesis properties of every updater under every convention preset (issue 3, item 9)."""

import numpy as np
import pytest
from hypothesis import given, settings
from sparse_training_strategies import FRACTIONS, drop_population, networks, ranks_before

from rigl_ref import PRESETS
from rigl_ref.sparse_training.distributions import active_count
from rigl_ref.sparse_training.drop_grow import drop_count, drop_set, grow_count, score_drop, skips_update
from rigl_ref.sparse_training.framework_options import MeanOfLastBatches
from rigl_ref.sparse_training.updaters import (
    SET,
    SNFS,
    Dense,
    GradualMagnitudePruning,
    RigL,
    SNFSRedistribution,
    Static,
    TF1Static,
)

f32 = np.float32

UPDATERS = {
    "set": SET,
    "rigl": RigL,
    "rigl_accumulated": lambda convention: RigL(convention, gradients=MeanOfLastBatches(2)),
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


def run(name, convention, state, batches, seed, fraction, step=5):
    updater = UPDATERS[name](convention)
    for grads in batches:
        updater.observe(grads)
    grads = None if name == "rigl_accumulated" else batches[-1]
    return updater.update(state, step=step, drop_fraction=fraction, grads=grads, rng=np.random.default_rng(seed))


def method_grow_scores(name, state, batches, seed):
    """Each dynamic method's grow score, written out from its definition (two observed batches g1, g2)."""
    g1, g2 = batches
    if name == "set":  # one rng.random(shape) per layer, in layer order
        rng = np.random.default_rng(seed)
        return [rng.random(layer.mask.shape) for layer in state]
    if name == "rigl":  # |gradient| of the current batch
        return [np.abs(g) for g in g2]
    if name == "rigl_accumulated":  # rigl-torch: acc += g / n over the last n = 2 batches
        return [np.abs(a / f32(2) + b / f32(2)) for a, b in zip(g1, g2)]
    if name == "snfs":  # TF assign_moving_average from 0: ema -= (ema - g) * (1 - 0.9)
        ema1 = [g * f32(1 - 0.9) for g in g1]
        return [np.abs(e - (e - g) * f32(1 - 0.9)) for e, g in zip(ema1, g2)]
    if name == "tf1_static":  # the old mask
        return [layer.mask.astype(layer.weights.dtype) for layer in state]
    if name == "snfs_redistribution":  # SGD momentum from 0: m = 0.9 m + g
        return [np.abs(a * f32(0.9) + b) for a, b in zip(g1, g2)]
    raise AssertionError(name)


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
        if conv.reset_scope == "newly_active" or conv.drop_ranking != "all_positions":
            # no inactive position can join the kept set unreset: every new connection is re-initialised
            assert np.array_equal(result.grown, result.reinitialized & ~old)
        if conv.grown_weight == "grow_init":
            assert np.all(result.weights[result.reinitialized] == 0)
        else:  # jaxpruner: update_state never writes params
            assert np.array_equal(result.weights[result.reinitialized], layer.weights[result.reinitialized])
        if conv.reset_slots_of_new:
            assert np.all(result.slots[0][result.reinitialized] == 0)
    if name == "snfs_redistribution":
        assert sum(r.mask.sum() for r in results) == sum(
            layer.mask.sum() if conv.grow_count_rule == "equal_to_dropped" or layer.mask.any() else 1 for layer in state
        )


@pytest.mark.parametrize("name, convention", CASES)
@settings(max_examples=15)
@given(network=networks(), fraction=FRACTIONS)
def test_dropped_and_grown_sets_are_valid_rankings(name, convention, network, fraction):
    """I_drop is a bottom-k of the drop scores; I_grow a top-k of the method's own grow scores among the
    candidates (checked as sets: ties go to the lower flat index)."""
    state, batches, seed = network
    conv = PRESETS[convention]
    results = run(name, convention, state, batches, seed, fraction)
    grow_scores = method_grow_scores(name, state, batches, seed) if name in DYNAMIC else None
    for index, (layer, result) in enumerate(zip(state, results)):
        old, new = layer.mask, result.mask
        n, size = int(old.sum()), old.size
        i_drop = result.dropped | result.regrown
        assert result.n_drop == i_drop.sum()
        if name in DYNAMIC and skips_update(conv, fraction):  # tf2 at f = 0: nothing happens
            assert np.array_equal(new, old) and not i_drop.any() and not result.grown.any()
            assert np.array_equal(result.weights, layer.weights)
            continue
        if name not in DYNAMIC:  # pruning drops by magnitude among the active (never regrows); the rest fix masks
            assert not result.regrown.any() and (name == "pruning" or not result.dropped.any())
            assert ranks_before(score_drop(old, layer.weights, convention), old & new, result.dropped)
            continue
        drop_scores = score_drop(old, layer.weights, convention)
        population, ranked = drop_population(convention, old, drop_scores)
        assert ranks_before(ranked, old & ~i_drop, i_drop)  # every kept connection outranks every dropped one
        kept = drop_set(old, drop_scores, drop_count(n, fraction, conv, size=size), conv).kept
        assert np.array_equal(i_drop, old & ~kept) and not (kept & ~new).any()
        picked = new & ~kept  # I_grow
        candidates = ~kept & ~old if conv.grow_candidates == "inactive_only" else ~kept
        assert ranks_before(grow_scores[index], picked, candidates & ~picked)
        if name != "snfs_redistribution":  # there the count is the layer's share of the total
            assert picked.sum() == min(grow_count(n, fraction, conv, size=size), int(candidates.sum()))


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
