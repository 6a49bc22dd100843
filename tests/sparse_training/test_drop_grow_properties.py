"""Hypothesis properties of the spec-layer drop/grow, for every convention preset.

Scores are drawn from few levels on purpose (``sparse_training_strategies``), so ties are frequent:
validity of the drop and grow sets is checked as sets, plus the pinned tie rule (among equal scores the
lower flat index ranks first).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sparse_training_strategies import CONVENTIONS, FRACTIONS, drop_population, layers, ranks_before

from rigl_ref import PRESETS, drop_grow
from rigl_ref.sparse_training.drop_grow import drop_count, drop_set, grow_count, grow_set, score_drop


@pytest.mark.parametrize("name", CONVENTIONS)
@given(layer=layers(), fraction=FRACTIONS)
def test_drop_set_keeps_a_valid_top_of_its_population(name, layer, fraction):
    mask, weights, _, _ = layer
    scores = score_drop(mask, weights, name)
    k = drop_count(int(mask.sum()), fraction, name, size=mask.size)
    step = drop_set(mask, scores, k, name)
    population, ranked = drop_population(name, mask, scores)
    assert not (step.kept & ~population).any()
    assert step.kept.sum() == min(int(mask.sum()) - k, int(population.sum()))
    assert ranks_before(ranked, step.kept, population & ~step.kept)
    assert np.array_equal(step.dropped, mask & ~step.kept)


@pytest.mark.parametrize("name", CONVENTIONS)
@given(layer=layers(max_grad=100), fraction=FRACTIONS)
def test_grow_set_adds_a_valid_top_of_its_candidates(name, layer, fraction):
    mask, weights, grow, _ = layer
    n, size = int(mask.sum()), mask.size
    step = drop_set(mask, score_drop(mask, weights, name), drop_count(n, fraction, name, size=size), name)
    new = grow_set(mask, step.kept, grow, grow_count(n, fraction, name, size=size), name)
    grown = new & ~step.kept
    candidates = ~step.kept & ~mask if PRESETS[name].grow_candidates == "inactive_only" else ~step.kept
    assert (new & step.kept).sum() == step.kept.sum()  # scores below 256: no lift is absorbed
    assert grown.sum() == min(grow_count(n, fraction, name, size=size), int(candidates.sum()))
    assert ranks_before(grow, grown, candidates & ~grown)


@pytest.mark.parametrize("name", CONVENTIONS)
@given(layer=layers(), fraction=FRACTIONS, reinit=st.booleans(), init=st.sampled_from([0.0, -0.5, 2.0]))
def test_drop_grow_result_invariants(name, layer, fraction, reinit, init):
    mask, weights, grow, slot = layer
    conv = PRESETS[name]
    if conv.grown_weight == "unchanged":
        init = 0.0
    result = drop_grow(
        mask, weights, score_drop(mask, weights, name), grow, fraction,
        convention=name, reinit_when_same=reinit, grow_init=init, slots=(slot,), slot_init=init,
    )
    n = int(mask.sum())
    # set relations: dropped from old active, grown from old inactive, kept and grown disjoint
    kept = mask & result.mask
    assert not (result.dropped & ~mask).any() and not (result.grown & mask).any()
    assert not (kept & result.grown).any() and np.array_equal(kept | result.grown, result.mask)
    assert not (result.regrown & ~kept).any() and not (result.reinitialized & ~result.mask).any()
    if not reinit:
        assert not (result.reinitialized & mask).any()
    if conv.reset_scope == "newly_active" or conv.drop_ranking != "all_positions":
        assert np.array_equal(result.grown, result.reinitialized & ~mask)  # no new connection joins unreset
    # counts: preserved, except jaxpruner's rounding of an empty mask
    if conv.grow_count_rule == "equal_to_dropped" or n > 0:
        assert result.mask.sum() == n
    else:
        assert result.mask.sum() == 1
    # values of new connections
    if conv.grown_weight == "grow_init":
        assert np.all(result.weights[result.reinitialized] == np.float32(init))
    if conv.reset_slots_of_new:
        assert np.all(result.slots[0][result.reinitialized] == np.float32(init))
    # deterministic
    again = drop_grow(
        mask, weights, score_drop(mask, weights, name), grow, fraction,
        convention=name, reinit_when_same=reinit, grow_init=init, slots=(slot,), slot_init=init,
    )
    assert all(np.array_equal(a, b) for a, b in zip(
        (result.mask, result.weights, result.slots[0]), (again.mask, again.weights, again.slots[0])))


@pytest.mark.parametrize("name", CONVENTIONS)
@given(layer=layers(clean=True))
def test_drop_fraction_zero_changes_nothing(name, layer):
    mask, weights, grow, slot = layer
    result = drop_grow(mask, weights, score_drop(mask, weights, name), grow, 0.0, convention=name, slots=(slot,))
    assert np.array_equal(result.mask, mask)
    assert np.array_equal(result.weights, weights) and np.array_equal(result.slots[0], slot)
    assert result.n_drop == 0 and not result.grown.any() and not result.dropped.any()


@pytest.mark.parametrize("name", ["paper", "tf1", "tf2", "rigl_torch"])
@given(layer=layers(clean=True), fraction=FRACTIONS)
def test_clean_inputs_drop_exactly_k_and_reset_exactly_the_grown(name, layer, fraction):
    # With non-zero active weights no inactive position can win a kept place, so all four agree on the sets.
    mask, weights, grow, slot = layer
    result = drop_grow(mask, weights, np.abs(weights), grow, fraction, convention=name, slots=(slot,))
    assert result.n_drop == drop_count(int(mask.sum()), fraction, name)
    assert np.array_equal(result.reinitialized, result.grown)
    paper = drop_grow(mask, weights, np.abs(weights), grow, fraction, convention="paper")
    if drop_count(int(mask.sum()), fraction, name) == drop_count(int(mask.sum()), fraction, "paper"):
        assert np.array_equal(result.mask, paper.mask)
