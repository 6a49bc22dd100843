"""GSE (sampled growth): the sampler's own contract, the CSR layer equal to the dense spec bit for bit, and
the invariants: counts kept, grown only among the sampled inactive positions, the best-scored ones."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.sparse import CandidateScores, CSRWeight, GrowthInputs
from rigl_ref.sparse_training.drop_grow import drop_set, score_drop
from rigl_ref.sparse_training.gse import GSE, candidate_scores, sample_size, sampled_candidates
from rigl_ref.sparse_training.layer_states import CSRLayerState, LayerState
from rigl_ref.sparse_training.masks import positions_outside, random_inactive_indices
from rigl_ref.train.config import RunConfig

CONVENTIONS = ["paper", "tf1", "tf2", "rigl_torch"]


@given(st.lists(st.integers(0, 60), unique=True), st.data())
def test_positions_outside_is_the_rank_among_the_free_integers(taken, data):
    taken = np.array(sorted(taken), np.int64)
    free = np.setdiff1d(np.arange(80), taken)
    ranks = np.array(sorted(data.draw(st.lists(st.integers(0, len(free) - 1), unique=True))), np.int64)
    assert np.array_equal(positions_outside(taken, ranks), free[ranks])


@given(st.integers(1, 50), st.floats(0.0, 1.0), st.floats(0.01, 4.0), st.integers(0, 2**32 - 1))
def test_the_sample_is_distinct_sorted_inactive_and_of_the_stated_size(size, density, factor, seed):
    active = np.sort(np.random.default_rng(seed).permutation(size)[: int(size * density)])
    sample = sampled_candidates(active, size, factor, np.random.default_rng(seed))
    assert len(sample) == min(size - len(active), math.ceil(factor * len(active))) == sample_size(len(active), size, factor)
    assert np.array_equal(sample, np.unique(sample))
    assert not np.isin(sample, active).any() and (sample >= 0).all() and (sample < size).all()
    assert np.array_equal(sample, sampled_candidates(active, size, factor, np.random.default_rng(seed)))


def test_the_sample_is_uniform_over_the_inactive_positions():
    # 12 positions, 4 active, 2 sampled: each of the 8 inactive ones is in the sample with probability 1/4
    active = np.array([0, 3, 7, 11])
    rng = np.random.default_rng(1234)
    counts = np.zeros(12)
    draws = 20000
    for _ in range(draws):
        counts[random_inactive_indices(active, 12, 2, rng)] += 1
    assert counts[active].sum() == 0
    inactive = np.setdiff1d(np.arange(12), active)
    expected = draws * 2 / 8
    # binomial(20000, 1/4): std 61; 6 std is never reached by chance in practice, a wrong mapping is far off
    assert np.abs(counts[inactive] - expected).max() < 6 * math.sqrt(draws * 0.25 * 0.75)


@st.composite
def layer_cases(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    shape = (draw(st.integers(1, 8)), draw(st.integers(1, 8)))
    mask = rng.random(shape) < draw(st.floats(0.05, 1.0))
    weights = (rng.integers(-3, 4, shape) * mask).astype(np.float32)  # ties and active zeros on purpose
    momentum = (rng.standard_normal(shape) * mask).astype(np.float32)
    batch = draw(st.integers(1, 3))
    growth = GrowthInputs(rng.integers(-2, 3, (shape[0], batch)).astype(np.float32),
                          rng.integers(-2, 3, (shape[1], batch)).astype(np.float32))  # tied and zero scores
    return mask, weights, momentum, growth, draw(st.floats(0.0, 1.0)), draw(st.floats(0.1, 3.0)), seed


@given(case=layer_cases(), convention=st.sampled_from(CONVENTIONS))
def test_csr_layer_equals_the_spec_bit_for_bit(case, convention):
    mask, weights, momentum, growth, fraction, factor, seed = case
    updater = GSE(convention, sample_factor=factor)
    dense = updater.update([LayerState(mask, weights, (momentum,))], drop_fraction=fraction,
                           grads=[growth.dense_gradient()], rng=[np.random.default_rng(seed)])[0]
    state = CSRLayerState(CSRWeight.from_dense(mask, weights), (momentum[mask],))

    def run_fast():
        return updater.update([state], drop_fraction=fraction, grads=[growth], rng=[np.random.default_rng(seed)])[0]

    if updater.convention.weights_outside_mask == "kept" and (dense.grown & ~dense.reinitialized & ~mask).any():
        with pytest.raises(ValueError, match="weights_outside_mask='kept'"):  # tf1's raw value: not in a CSR layer
            run_fast()
        return
    csr = run_fast()
    got_mask, got_weights = csr.weights.to_dense()
    assert np.array_equal(got_mask, dense.mask)
    assert np.array_equal(got_weights, np.where(dense.mask, dense.weights, 0))
    slot = np.zeros(mask.size, np.float32)
    slot[csr.weights.active_flat_indices()] = csr.slots[0]
    assert np.array_equal(slot.reshape(mask.shape), np.where(dense.mask, dense.slots[0], 0))
    assert np.array_equal(csr.grown, np.flatnonzero(dense.grown))


@given(case=layer_cases(), convention=st.sampled_from(CONVENTIONS))
def test_counts_kept_and_growth_only_among_the_best_sampled_positions(case, convention):
    mask, weights, momentum, growth, fraction, factor, seed = case
    result = GSE(convention, sample_factor=factor).update(
        [LayerState(mask, weights, (momentum,))], drop_fraction=fraction, grads=[growth.dense_gradient()],
        rng=[np.random.default_rng(seed)])[0]
    assert result.mask.sum() == mask.sum()
    assert not (result.dropped & ~mask).any()  # dropped ⊆ active
    sample = sampled_candidates(np.flatnonzero(mask), mask.size, factor, np.random.default_rng(seed))
    # I_grow: the grown positions outside the kept set (an all-positions drop ranking can keep an inactive one)
    kept = drop_set(mask, score_drop(mask, weights, convention), result.k, convention).kept
    new = np.flatnonzero(result.grown & ~kept)
    scores = np.abs(growth.dense_gradient()).reshape(-1)
    new_from_sample = new[np.isin(new, sample)]
    if len(new_from_sample) < len(new):  # outside the sample only once the free sampled positions ran out
        assert np.isin(sample, np.flatnonzero(result.mask)).all()
    passed_over = np.setdiff1d(sample, np.flatnonzero(result.mask))
    if len(new_from_sample) and len(passed_over):  # every grown candidate scores at least any passed-over one
        assert scores[new_from_sample].min() >= scores[passed_over].max()
    assert not np.any(result.weights[result.grown & ~mask])  # grown weights start at zero


def test_a_full_sample_grows_the_best_inactive_positions_by_gradient():
    mask = np.array([[True, True, False, False], [False, False, True, False]])
    weights = np.array([[0.5, -0.1, 0, 0], [0, 0, 2.0, 0]], np.float32)
    gradient = np.array([[9.0, 9.0, 0.3, -0.7], [0.2, 0.9, 9.0, -0.4]], np.float32)
    result = GSE("paper", sample_factor=10.0).update([LayerState(mask, weights)], drop_fraction=0.34,
                                                     grads=[gradient], rng=[np.random.default_rng(0)])[0]
    # drop count floor(3 * 0.34) = 1: the weakest, (0, 1); grow 1 of the 5 inactive positions: |g| = 0.9 at (1, 1)
    assert result.mask.tolist() == [[True, False, False, False], [False, True, True, False]]


def test_candidate_scores_from_factors_or_a_dense_gradient_are_the_same():
    rng = np.random.default_rng(3)
    growth = GrowthInputs(rng.standard_normal((5, 2)).astype(np.float32), rng.standard_normal((6, 2)).astype(np.float32))
    flat = np.array([1, 7, 8, 29])
    a, b = candidate_scores(growth, flat), candidate_scores(growth.dense_gradient(), flat)
    assert np.array_equal(a.scores, b.scores) and np.array_equal(a.flat, flat)
    assert CandidateScores(flat, a.scores).dense((5, 6)).reshape(-1)[flat].tolist() == a.scores.tolist()


def test_bad_settings_are_refused_by_name():
    with pytest.raises(ValueError, match="sample_factor"):
        GSE("paper", sample_factor=0.0)
    with pytest.raises(ValueError, match="jaxpruner.*kept_lifted_above_max"):
        GSE("jaxpruner")
    with pytest.raises(ValueError, match="gse_sample_factor"):
        RunConfig(method="gse", gse_sample_factor=-1.0)
    with pytest.raises(TypeError, match="rng"):
        GSE().update([LayerState(np.ones((2, 2), bool), np.ones((2, 2), np.float32))], drop_fraction=0.5,
                     grads=[np.ones((2, 2), np.float32)])
