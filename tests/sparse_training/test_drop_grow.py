"""Hand-computed drop/grow cases, one group per convention difference among the framework implementations
("Differences that a differential test would expose", items 1-8), plus bad input.

Positions are flat row-major indices; scores are written out in the comments.
"""

import dataclasses
import doctest
from pathlib import Path

import numpy as np
import pytest

from rigl_ref import PRESETS, drop_grow
from rigl_ref.sparse_training.distributions import active_count
from rigl_ref.sparse_training.drop_grow import (
    drop_count,
    drop_set,
    grow_count,
    grow_set,
    jaxpruner_num_ones,
    score_drop,
)

f32 = np.float32
ALGORITHM_PAGE = Path(__file__).resolve().parents[2] / "docs" / "algorithm.md"


def ones_at(indices, size=8):
    mask = np.zeros(size, dtype=bool)
    mask[list(indices)] = True
    return mask


def positions(mask):
    return set(np.flatnonzero(mask).tolist())


# --- 1. drop-count rounding ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, f, size, expected",
    [
        # paper floor(n*f) of the exact product; tf1 int32(float32(n)*float32(f)); torch int(n*f) in float64;
        # jaxpruner n - max(1, round_half_even(float32(N) * (1 - (1 - d*(1-f))))), d = float32(n)/float32(N).
        (5, 0.5, 10, {"paper": 2, "tf1": 2, "rigl_torch": 2, "jaxpruner": 3}),  # jax: 10*0.25 = 2.5 -> 2 kept
        (10, 0.35, 10, {"paper": 3, "tf1": 3, "rigl_torch": 3, "jaxpruner": 4}),  # jax: 10*0.65 = 6.5 -> 6 kept
        (3, 0.5, 8, {"paper": 1, "tf1": 1, "rigl_torch": 1, "jaxpruner": 1}),  # jax: 8*0.1875 = 1.5 -> 2 kept
        (3, 0.5, 10, {"paper": 1, "tf1": 1, "rigl_torch": 1, "jaxpruner": 2}),  # jax: 10*0.14999998 -> 1 kept
        # float32(0.7) = 0.69999999; float32(10)*that rounds up to 7.0; 0.7*10 = 7.0 in float64 too;
        # but the float 0.7 is below 7/10, so the exact product is 6.99999... and floors to 6.
        (10, 0.7, 16, {"paper": 6, "tf1": 7, "rigl_torch": 7, "jaxpruner": 7}),
        (100, 0.3, 1000, {"paper": 29, "tf1": 30, "rigl_torch": 30, "jaxpruner": 30}),
        (8, 1.0, 16, {"paper": 8, "tf1": 8, "rigl_torch": 8, "jaxpruner": 7}),  # jaxpruner keeps at least one
        (0, 0.3, 8, {"paper": 0, "tf1": 0, "rigl_torch": 0, "jaxpruner": -1}),  # empty: jaxpruner keeps one
    ],
)
def test_drop_count_rounding(n, f, size, expected):
    for convention, k in expected.items():
        assert drop_count(n, f, convention, size=size) == k, convention


def test_jaxpruner_refills_to_its_rounded_density():
    # n=0 of N=8: kept max(1, 0) = 1, refilled to max(1, round(0)) = 1, so nothing grows beyond the kept one.
    assert grow_count(0, 0.3, "jaxpruner", size=8) == 0
    assert grow_count(10, 0.35, "jaxpruner", size=10) == 4
    assert grow_count(10, 0.35, "tf1") == 3


def test_jaxpruner_num_ones_by_hand():
    # N if s == 0, else max(1, round_half_even(float32(N) * (1 - float32(s))))
    assert jaxpruner_num_ones(10, 0.0) == 10
    assert jaxpruner_num_ones(10, 0.55) == 4  # float32: 10 * 0.44999999 rounds to 4.5 -> 4 (half to even)
    assert jaxpruner_num_ones(10, 0.65) == 4  # 10 * 0.35000002 = 3.5000002 -> 4
    assert jaxpruner_num_ones(8, f32(0.8125)) == 2  # 8 * 0.1875 = 1.5 -> 2 (half to even)
    assert jaxpruner_num_ones(10, 0.96) == 1 and jaxpruner_num_ones(10, 1.0) == 1  # never below one


# --- 2. initial mask size (count rounding of the distributions) ---------------------------------------------


@pytest.mark.parametrize("sparsity, tf1, jaxpruner", [(0.35, 7, 6), (0.75, 3, 2), (0.95, 1, 1)])
def test_initial_active_count_rounding(sparsity, tf1, jaxpruner):
    # N - floor(s*N) against max(1, round_half_even(float32(N)*(1-s))) for N = 10
    assert active_count(10, sparsity, "tf1") == tf1
    assert active_count(10, sparsity, "jaxpruner") == jaxpruner


# --- 3. count preservation ----------------------------------------------------------------------------------


def test_an_empty_mask_gains_one_connection_only_under_jaxpruner():
    mask = np.zeros(8, dtype=np.uint8)
    weights = np.zeros(8, dtype=f32)
    grow = np.array([1, 5, 2, 0, 0, 0, 0, 0], dtype=f32)  # all drop scores 0: jaxpruner keeps index 0
    for name in ("paper", "tf1", "rigl_torch"):
        assert not drop_grow(mask, weights, weights, grow, 0.3, convention=name).mask.any()
    result = drop_grow(mask, weights, weights, grow, 0.3, convention="jaxpruner")
    assert positions(result.mask) == {0}


def test_full_drop_fraction_keeps_one_under_jaxpruner():
    mask = ones_at(range(4))
    weights = np.array([4, 3, 2, 1, 0, 0, 0, 0], dtype=f32)
    grow = np.array([0, 0, 0, 0, 8, 7, 6, 5], dtype=f32)
    # tf1: k = 4, keep nothing, grow the best 4 of all positions: 4..7
    assert positions(drop_grow(mask, weights, weights, grow, 1.0, convention="tf1").mask) == {4, 5, 6, 7}
    # jaxpruner: keep index 0 (|w| = 4), refill to 4 with the best 3 others: 4, 5, 6
    assert positions(drop_grow(mask, weights, weights, grow, 1.0, convention="jaxpruner").mask) == {0, 4, 5, 6}


# --- 4. tie-breaking ----------------------------------------------------------------------------------------


def test_ties_keep_and_grow_the_lower_flat_index():
    mask = ones_at(range(4))
    weights = np.array([2, 2, 2, 2, 0, 0, 0, 0], dtype=f32)  # drop scores tie: keep 0, 1; drop 2, 3
    equal = np.ones(8, dtype=f32)  # grow scores tie: candidates 2..7, the lowest two are 2, 3
    for name in PRESETS:
        result = drop_grow(mask, weights, np.abs(weights), equal, 0.5, convention=name)
        assert result.n_drop == 2 and positions(result.regrown) == {2, 3} and positions(result.mask) == {0, 1, 2, 3}
    later = np.array([0, 0, 0, 0, 1, 1, 1, 1], dtype=f32)  # ties among 4..7: grow 4, 5
    result = drop_grow(mask, weights, np.abs(weights), later, 0.5, convention="tf1")
    assert positions(result.mask) == {0, 1, 4, 5}


def test_rank_and_drop_set_tie_rule():
    mask = ones_at(range(8))
    scores = np.array([1, 3, 3, 0, 3, 1, 0, 0], dtype=f32)  # TF doc example order: 1, 2, 4, 0, 5, 3, 6, 7
    step = drop_set(mask, scores, 3, "paper")  # keep the best 5: 1, 2, 4, 0, 5
    assert positions(step.kept) == {0, 1, 2, 4, 5} and positions(step.dropped) == {3, 6, 7}


# --- 5. inactive positions in the drop ranking --------------------------------------------------------------


MASK5 = ones_at([2, 3, 4, 5])
W5 = np.array([0.7, 0, 3, 0, 0, 1, 0.4, 0], dtype=f32)  # raw TF1 kernel: active 2..5 with zeros at 3 and 4
GROW5 = np.array([5, 6, 7, 8, 1, 2, 3, 4], dtype=f32) / 10


def test_tf1_lets_an_inactive_position_into_the_kept_set():
    # |mask*w| = [0, 0, 3, 0, 0, 1, 0, 0]; n = 4, f = 0.25 -> k = 1, keep 3 over ALL positions:
    # 2 (3), 5 (1), then the tie at 0 goes to index 0 (inactive). Dropped: 3 and 4 (n_drop = 2).
    # Grow k = 1 among not-kept {1, 3, 4, 6, 7}: 0.6, 0.8, 0.1, 0.3, 0.4 -> 3 (regrown).
    slot = np.full(8, 9, f32)
    result = drop_grow(MASK5, W5, score_drop(MASK5, W5, "tf1"), GROW5, 0.25, convention="tf1", slots=(slot,))
    assert positions(result.mask) == {0, 2, 3, 5}
    assert result.n_drop == 2 and positions(result.dropped) == {4} and positions(result.regrown) == {3}
    assert positions(result.grown) == {0} and not result.reinitialized.any()
    assert result.weights[0] == f32(0.7) and result.slots[0][0] == 9  # joined without reset: raw value kept


def test_paper_and_jaxpruner_rank_only_active_positions():
    # active scores 2:3, 3:0, 4:0, 5:1 -> keep 2, 5 and the tie 3 (lower than 4); drop 4.
    # grow among {0, 1, 4, 6, 7}: 0.5, 0.6, 0.1, 0.3, 0.4 -> 1.
    for name in ("paper", "jaxpruner"):
        result = drop_grow(MASK5, W5 * MASK5, score_drop(MASK5, W5 * MASK5, name), GROW5, 0.25, convention=name)
        assert positions(result.mask) == {1, 2, 3, 5}, name
        assert positions(result.dropped) == {4} and positions(result.grown) == {1}


def test_jaxpruner_lift_is_absorbed_by_large_gradients():
    # f = 0: keep both active (1, 2). Kept grow scores become float32(512) + 1e-5 == 512, tying with the
    # inactive position 0 (|grad| = 512); top 2 by lower index: 0 and 1, so position 2 is displaced.
    mask = ones_at([1, 2]).astype(np.uint8)
    params = np.array([0, 1, 2, 0, 0, 0, 0, 0], dtype=f32)
    grads = np.array([512, 1, 1, 0, 0, 0, 0, 0], dtype=f32)
    result = drop_grow(mask, params, np.abs(params), grads, 0.0, convention="jaxpruner")
    assert positions(result.mask) == {0, 1}
    small = drop_grow(mask, params, np.abs(params), grads / 8, 0.0, convention="jaxpruner")  # 64 + 1e-5 > 64
    assert positions(small.mask) == {1, 2}


def test_tf1_min_minus_one_lift_that_cannot_separate_is_refused():
    mask = ones_at([0, 1])
    weights = np.array([2, 1, 0, 0, 0, 0, 0, 0], dtype=f32)
    grow = np.full(8, 2.0**25, dtype=f32)  # min - 1 == min in float32: kept and candidates tie
    with pytest.raises(ValueError, match="disjointness"):
        drop_grow(mask, weights, weights, grow, 0.5, convention="tf1")


# --- 6. regrowth of just-dropped connections ----------------------------------------------------------------


MASK6 = ones_at(range(4))
W6 = np.array([4, 3, 2, 1, 0, 0, 0, 0], dtype=f32)
GROW6 = np.array([0, 0, 9, 8, 1, 2, 3, 4], dtype=f32)  # f = 0.5 drops 2, 3; both are the best candidates


def test_just_dropped_connections_regrow_and_keep_their_weight():
    for name in PRESETS:
        result = drop_grow(MASK6, W6, W6, GROW6, 0.5, convention=name)
        assert positions(result.mask) == {0, 1, 2, 3} and positions(result.regrown) == {2, 3}, name
        assert np.array_equal(result.weights, W6) and not result.grown.any()


def test_reinit_when_same_reinitialises_regrown_connections():
    slot = np.arange(1, 9, dtype=f32)
    result = drop_grow(
        MASK6, W6, W6, GROW6, 0.5, convention="tf1", reinit_when_same=True, grow_init=-1.0, slots=(slot,)
    )
    assert positions(result.reinitialized) == {2, 3}
    assert result.weights.tolist() == [4, 3, -1, -1, 0, 0, 0, 0]
    assert result.slots[0].tolist() == [1, 2, 0, 0, 5, 6, 7, 8]


def test_inactive_only_candidates_exclude_just_dropped():
    convention = dataclasses.replace(PRESETS["paper"], name="no-regrowth", grow_candidates="inactive_only")
    result = drop_grow(MASK6, W6, W6, GROW6, 0.5, convention=convention)
    assert positions(result.mask) == {0, 1, 6, 7}  # best inactive: 7 (4), 6 (3)


# --- 7. grown weight value ----------------------------------------------------------------------------------


def test_tf1_grow_init_array_and_jaxpruner_unchanged():
    grads = np.array([0, 0, 0, 0, -0.5, 2, 0.25, 1], dtype=f32)
    # grow 7 (|1|) and 5 (|2|): grad_scale writes the gradient itself
    result = drop_grow(MASK6, W6, W6, np.abs(grads), 0.5, convention="tf1", grow_init=grads)
    assert positions(result.grown) == {5, 7} and result.weights[5] == 2 and result.weights[7] == 1
    stale = W6 + np.array([0, 0, 0, 0, 0, 0.5, 0, 0.25], dtype=f32)  # unmasked params under jaxpruner
    result = drop_grow(MASK6, stale, stale * MASK6, np.abs(grads), 0.5, convention="jaxpruner")
    assert result.weights[5] == f32(0.5) and result.weights[7] == f32(0.25)  # update_state never writes params
    with pytest.raises(ValueError, match="grow_init must be 0"):
        drop_grow(MASK6, W6, W6, np.abs(grads), 0.5, convention="jaxpruner", grow_init=0.1)


# --- 8. optimizer state after regrowth ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, slot_after, weights_after",
    [
        # new mask {0, 1, 2, 5}: 2 regrown, 5 truly new, 3 dropped. slot = 1..8, weights [4, 3, 2, 1, 0.5 x4]
        ("tf1", [1, 2, 3, 4, 5, 0, 7, 8], [4, 3, 2, 1, 0.5, 0, 0.5, 0.5]),  # reset new, keep the rest raw
        ("tf2", [1, 2, 3, 4, 5, 0, 7, 8], [4, 3, 2, 0, 0, 0, 0, 0]),  # reset new, weights masked
        ("rigl_torch", [1, 2, 3, 0, 0, 6, 0, 0], [4, 3, 2, 0, 0, 0, 0, 0]),  # buffer *= mask: grown keeps 6
        ("jaxpruner", [1, 2, 3, 4, 5, 0, 7, 8], [4, 3, 2, 0, 0, 0.5, 0, 0]),  # trace reset where newly active
        ("paper", [1, 2, 3, 0, 0, 0, 0, 0], [4, 3, 2, 0, 0, 0, 0, 0]),  # truly sparse: state only where active
    ],
)
def test_optimizer_state_and_weights_after_regrowth(name, slot_after, weights_after):
    weights = np.array([4, 3, 2, 1, 0.5, 0.5, 0.5, 0.5], dtype=f32)
    grow = np.array([0, 0, 9, 0, 0, 5, 0, 0], dtype=f32)
    slot = np.arange(1, 9, dtype=f32)
    result = drop_grow(MASK6, weights, weights * MASK6, grow, 0.5, convention=name, slots=(slot,))
    assert positions(result.mask) == {0, 1, 2, 5}
    assert result.slots[0].tolist() == slot_after
    assert result.weights.tolist() == weights_after


# --- the spec functions compose as drop_grow does -----------------------------------------------------------


def test_the_algorithm_page_examples_run():
    failures, tried = doctest.testfile(str(ALGORITHM_PAGE), module_relative=False)
    assert tried >= 10 and failures == 0


def test_drop_set_and_grow_set_compose_to_drop_grow():
    mask = ones_at([0, 2, 4, 6, 9], size=12)
    weights = np.array([5, 0, -3, 0, 1, 0, -2, 0, 0, 4, 0, 0], dtype=f32)
    grow = np.array([0, 7, 0, 1, 0, 9, 0, 3, 8, 0, 2, 6], dtype=f32)
    k = drop_count(5, 0.4, "paper")  # floor(2.0000000000000004) = 2: drop |1| at 4 and |-2| at 6
    step = drop_set(mask, np.abs(weights), k, "paper")
    assert positions(step.dropped) == {4, 6}
    new = grow_set(mask, step.kept, grow, k, "paper")  # best not kept: 5 (9), 8 (8)
    assert positions(new) == {0, 2, 5, 8, 9}
    assert np.array_equal(drop_grow(mask, weights, np.abs(weights), grow, 0.4).mask, new)


def test_score_drop_masks_only_under_tf_conventions():
    mask = ones_at([0])
    weights = np.array([-2, 3, 0, 0, 0, 0, 0, 0], dtype=f32)
    assert score_drop(mask, weights, "tf1").tolist()[:2] == [2, 0]
    assert score_drop(mask, weights, "rigl_torch").tolist()[:2] == [2, 3]


# --- inputs: dtypes, immutability, bad input ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [bool, np.float32, np.uint8, np.int64])
def test_any_zero_one_mask_dtype_gives_the_same_result(dtype):
    reference = drop_grow(MASK6, W6, W6, GROW6, 0.25)
    result = drop_grow(MASK6.astype(dtype), W6, W6, GROW6, 0.25)
    assert result.mask.dtype == bool and np.array_equal(result.mask, reference.mask)


def test_inputs_are_not_modified():
    arrays = [MASK6.astype(np.float32), W6 + 1, W6.copy(), GROW6.copy(), np.arange(8, dtype=f32)]
    copies = [a.copy() for a in arrays]
    drop_grow(*arrays[:4], 0.5, convention="rigl_torch", slots=(arrays[4],), reinit_when_same=True)
    assert all(np.array_equal(a, c) for a, c in zip(arrays, copies))


@pytest.mark.parametrize("fraction", [-0.1, 1.5, float("nan")])
def test_drop_fraction_outside_unit_interval(fraction):
    with pytest.raises(ValueError, match="drop_fraction"):
        drop_grow(MASK6, W6, W6, GROW6, fraction)


@pytest.mark.parametrize("which", ["weights", "drop_scores", "grow_scores", "slots[0]"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_inputs_are_named(which, bad):
    arrays = {"weights": W6.copy(), "drop_scores": W6.copy(), "grow_scores": GROW6.copy(), "slots[0]": np.zeros(8, f32)}
    arrays[which][3] = bad
    with pytest.raises(ValueError, match=rf"{which.replace('[', '.').replace(']', '.')} contains"):
        drop_grow(
            MASK6, arrays["weights"], arrays["drop_scores"], arrays["grow_scores"], 0.5, slots=(arrays["slots[0]"],)
        )


def test_shape_mismatches_are_named():
    with pytest.raises(ValueError, match="weights has shape"):
        drop_grow(MASK6, W6[:7], W6, GROW6, 0.5)
    with pytest.raises(ValueError, match="grow_scores has shape"):
        drop_grow(MASK6, W6, W6, GROW6.reshape(2, 4), 0.5)
    with pytest.raises(ValueError, match="grow_init has shape"):
        drop_grow(MASK6, W6, W6, GROW6, 0.5, grow_init=np.zeros(3))


@pytest.mark.parametrize("bad_value", [2, 0.5, -1, np.nan])
def test_mask_values_other_than_zero_and_one(bad_value):
    mask = MASK6.astype(np.float64)
    mask[5] = bad_value
    with pytest.raises(ValueError, match="mask must hold only 0 and 1; flat index 5"):
        drop_grow(mask, W6, W6, GROW6, 0.5)


def test_empty_layer_is_refused():
    empty = np.zeros((0, 3), dtype=f32)
    with pytest.raises(ValueError, match=r"mask must have at least one position, got shape \(0, 3\)"):
        drop_grow(empty, empty, empty, empty, 0.5, convention="tf1")


def test_unknown_convention_and_missing_size():
    with pytest.raises(ValueError, match="unknown convention 'torch'"):
        drop_grow(MASK6, W6, W6, GROW6, 0.5, convention="torch")
    with pytest.raises(ValueError, match="size"):
        drop_count(3, 0.5, "jaxpruner")
    with pytest.raises(ValueError, match="size must be a positive integer, got 0"):
        drop_count(0, 0.5, "jaxpruner", size=0)
    with pytest.raises(ValueError, match="n_active must be a non-negative integer"):
        drop_count(-1, 0.5)
