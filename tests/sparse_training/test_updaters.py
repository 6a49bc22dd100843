"""Spec-layer updaters: against the framework vectors where the frameworks define them, hand-computed
cases elsewhere, and bad input."""

import json

import numpy as np
import pytest

from rigl_ref import drop_grow
from rigl_ref.conformance.runner import VECTORS_DIR
from rigl_ref.sparse_training.updaters import (
    SET,
    SNFS,
    SNIP,
    Dense,
    GradualMagnitudePruning,
    LayerState,
    RigL,
    SNFSRedistribution,
    Static,
    TF1Static,
    largest_remainder,
    tf1_grow_init,
)
from rigl_ref.sparse_training.framework_options import MeanOfLastBatches, TF1GrowInit

f32 = np.float32


def suite_cases(suite, method=None):
    manifest = json.loads((VECTORS_DIR / suite / "manifest.json").read_text())
    for case in manifest["cases"]:
        if method is None or case["params"]["method"] == method:
            with np.load(VECTORS_DIR / suite / case["file"]) as archive:
                yield case["params"], {name: archive[name] for name in archive.files}


def positions(mask):
    return set(np.flatnonzero(mask).tolist())


# --- the updaters reproduce the frameworks' own updates -----------------------------------------------------


def test_rigl_tf1_reproduces_every_tf1_rigl_case():
    cases = list(suite_cases("tf1_update", "rigl"))
    assert len(cases) == 38
    for params, a in cases:
        assert not params["reinit_when_same"]  # RigL's generic_mask_update never re-initialises regrown ones
        updater = RigL("tf1", init=TF1GrowInit(params["grow_init"], params["initial_acc_scale"]))
        layer = LayerState(a["mask"], a["weights"], (a["slot"],))
        (result,) = updater.update([layer], drop_fraction=a["drop_fraction"], grads=[a["grad"]])
        assert np.array_equal(result.mask, a["expected_mask"])
        assert np.array_equal(result.weights, a["expected_weights"])
        assert np.array_equal(result.slots[0], a["expected_slot"])


def test_tf1_static_and_snfs_reproduce_their_tf1_cases():
    for _params, a in suite_cases("tf1_update", "static"):
        layer = LayerState(a["mask"], a["weights"], (a["slot"],))
        (result,) = TF1Static("tf1").update([layer], drop_fraction=a["drop_fraction"])
        assert np.array_equal(result.mask, a["expected_mask"]) and np.array_equal(result.weights, a["expected_weights"])
    for params, a in suite_cases("tf1_update", "snfs"):
        if params["reinit_when_same"]:
            continue  # four cases drive _get_update_op with reinit_when_same=True, which SNFS never does
        updater = SNFS("tf1")
        updater.ema = [a["ema"]]  # the suite gives the EMA the TF graph held
        layer = LayerState(a["mask"], a["weights"], (a["slot"],))
        (result,) = updater.update([layer], drop_fraction=a["drop_fraction"])
        assert np.array_equal(result.mask, a["expected_mask"]) and np.array_equal(result.slots[0], a["expected_slot"])


@pytest.mark.parametrize("suite, convention", [("torch_rigl", "rigl_torch"), ("jaxpruner_rigl", "jaxpruner")])
def test_rigl_reproduces_torch_and_jaxpruner(suite, convention):
    for _params, a in suite_cases(suite):
        if convention == "rigl_torch":
            layer = LayerState(a["mask"], a["weight"], (a["momentum_buffer"],))
            grads, expected_slot = [a["dense_grad"]], a["expected_momentum_buffer"]
        else:
            layer = LayerState(a["mask"], a["params"], (a["trace"],))
            grads, expected_slot = [a["grads"]], a["expected_trace"]
        (result,) = RigL(convention).update([layer], drop_fraction=a["drop_fraction"], grads=grads)
        assert np.array_equal(result.mask, a["expected_mask"]) and np.array_equal(result.slots[0], expected_slot)


# --- SET ----------------------------------------------------------------------------------------------------


def test_set_draws_one_uniform_array_per_layer_in_order():
    mask = np.array([1, 1, 0, 0, 1, 0, 0, 0], dtype=bool)
    weights = np.array([3, 1, 0, 0, 2, 0, 0, 0], dtype=f32)
    layers = [LayerState(mask, weights), LayerState(mask, weights)]
    results = SET("paper").update(layers, drop_fraction=0.5, rng=7)
    rng = np.random.default_rng(7)
    for result in results:
        expected = drop_grow(mask, weights, np.abs(weights), rng.random(8), 0.5)
        assert np.array_equal(result.mask, expected.mask)
    again = SET("paper").update(layers, drop_fraction=0.5, rng=np.random.default_rng(7))
    assert all(np.array_equal(a.mask, b.mask) for a, b in zip(results, again))
    with pytest.raises(TypeError, match="needs rng"):
        SET("paper").update(layers, drop_fraction=0.5)


# --- RigL gradient accumulation (rigl-torch grad_accumulation_n) --------------------------------------------


def test_rigl_averages_the_last_n_observed_gradients():
    mask = np.array([1, 1, 0, 0, 0, 0, 0, 0], dtype=bool)
    weights = np.array([2, 1, 0, 0, 0, 0, 0, 0], dtype=f32)
    old = np.array([0, 0, 0, 0, 0, 0, 0, 50], dtype=f32)  # falls out of the window of 2
    g1 = np.array([0, 0, 4, 0, 0, 0, 0, 0], dtype=f32)
    g2 = np.array([0, 0, 0, 6, 0, 0, 0, 0], dtype=f32)  # mean: |g| = 2 at index 2, 3 at index 3
    updater = RigL("rigl_torch", gradients=MeanOfLastBatches(2))
    for g in (old, g1, g2):
        updater.observe([g])
    (result,) = updater.update([LayerState(mask, weights)], drop_fraction=0.5)
    assert positions(result.grown) == {3}  # drop index 1 (|1|), grow the best: index 3
    with pytest.raises(ValueError, match="pass grads=None"):
        updater.update([LayerState(mask, weights)], drop_fraction=0.5, grads=[g1])
    fresh = RigL("rigl_torch", gradients=MeanOfLastBatches(3))
    with pytest.raises(ValueError, match="needs observed gradients"):
        fresh.update([LayerState(mask, weights)], drop_fraction=0.5)
    fresh.observe([g1])  # fewer than n batches (an update at t=0): rigl-torch still divides each by n
    (early,) = fresh.update([LayerState(mask, weights)], drop_fraction=0.5)
    assert positions(early.grown) == {2}
    with pytest.raises(ValueError, match="needs grads"):
        RigL("paper").update([LayerState(mask, weights)], drop_fraction=0.5)


def test_rigl_tf1_acc_scale_and_grow_init():
    mask = np.array([1, 1, 0, 0, 0, 0, 0, 0], dtype=bool)
    weights = np.array([2, 1, 0, 0, 0, 0, 0, 0], dtype=f32)
    grad = np.array([0, 0, 0, -4, 0, 0, 0, 0], dtype=f32)
    updater = RigL("tf1", init=TF1GrowInit("grad_sign_0.5", 0.5))
    (result,) = updater.update([LayerState(mask, weights, (np.ones(8, f32),))], drop_fraction=0.5, grads=[grad])
    assert positions(result.grown) == {3}
    assert result.weights[3] == -2 and result.slots[0][3] == -2  # sign(-4)/0.5 and -4 * 0.5


def test_tf1_grow_init_names():
    grad = np.array([-3, 0, 2], dtype=f32)
    assert tf1_grow_init("zeros", grad) == 0.0
    assert tf1_grow_init("grad_scale", grad).tolist() == [-3, 0, 2]
    assert tf1_grow_init("grad_scale_0.5", grad).tolist() == [-6, 0, 4]
    assert tf1_grow_init("grad_sign_2", grad).tolist() == [-0.5, 0, 0.5]
    with pytest.raises(ValueError, match="without a divisor"):
        tf1_grow_init("grad_scale_", grad)
    with pytest.raises(ValueError, match="unknown grow_init 'random_normal'"):
        tf1_grow_init("random_normal", grad)
    with pytest.raises(ValueError, match="unknown grow_init"):
        TF1GrowInit("initial_value")


# --- SNFS ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("convention, c", [("paper", f32(0.1)), ("tf1", f32(1) - f32(0.9))])
def test_snfs_ema_is_tf_assign_moving_average_in_float32(convention, c):
    # Conventions.ema_decay_complement: paper float32(1.0 - 0.9) = 0.1; tf1 1 - float32(0.9) = 0.100000024
    assert (c == f32(0.1)) == (convention == "paper")
    updater = SNFS(convention)
    g = np.array([1, -2], dtype=f32)
    updater.observe([g])
    assert updater.ema[0].tolist() == (g * c).tolist()  # ema starts at 0: 0 - (0 - g) * c
    updater.observe([g])
    second = updater.ema[0]
    assert second.dtype == np.float32 and np.allclose(second, [0.19, -0.38], rtol=1e-6)
    expected = g * c - (g * c - g) * c
    assert np.array_equal(second, expected)


def test_snfs_needs_observed_gradients():
    with pytest.raises(ValueError, match="call observe"):
        SNFS("paper").update([LayerState(np.ones(4, bool), np.ones(4, f32))], drop_fraction=0.5)


# --- TF1's static variant -----------------------------------------------------------------------------------


def test_tf1_static_keeps_the_mask_and_reinitialises_the_weakest():
    mask = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
    weights = np.array([4, -3, 2, 1, 0, 0, 0, 0], dtype=f32)
    slot = np.arange(1, 9, dtype=f32)
    (result,) = TF1Static("tf1").update([LayerState(mask, weights, (slot,))], drop_fraction=0.5)
    assert np.array_equal(result.mask, mask) and positions(result.reinitialized) == {2, 3}
    assert result.weights.tolist() == [4, -3, 0, 0, 0, 0, 0, 0] and result.slots[0].tolist() == [1, 2, 0, 0, 5, 6, 7, 8]


# --- SNFS with redistribution -------------------------------------------------------------------------------


def test_redistribution_follows_mean_momentum_and_keeps_the_total():
    mask = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
    weights = np.array([4, 3, 2, 1, 0, 0, 0, 0], dtype=f32)
    momentum_a = np.array([3, 3, 3, 3, 9, 8, 7, 6], dtype=f32)  # mean |m| over active: 3
    momentum_b = np.array([1, 1, 1, 1, 9, 8, 7, 6], dtype=f32)  # mean 1: shares 0.75 / 0.25
    updater = SNFSRedistribution("paper", momentum=0.9)
    updater.observe([momentum_a, momentum_b])  # first step: m = 0.9 * 0 + g
    a, b = updater.update([LayerState(mask, weights), LayerState(mask, weights)], drop_fraction=0.5)
    # each drops 2 (indices 2, 3); R = 4 shared 3 : 1; growth by |m| among not-kept {2..7}: 4, 5, 6 and 4
    assert positions(a.mask) == {0, 1, 4, 5, 6} and positions(b.mask) == {0, 1, 4}
    assert a.mask.sum() + b.mask.sum() == 8


@pytest.mark.parametrize(
    "total, weights, capacity, expected",
    [
        (10, [1, 2, 3], [100, 100, 100], [2, 3, 5]),  # quotas 1.67, 3.33, 5: the extra one to the largest remainder
        (10, [1, 2, 3], [1, 100, 100], [1, 3, 6]),  # layer 0 capped at 1: its excess re-shared 2 : 3
        (4, [0, 0], [3, 3], [2, 2]),  # no momentum anywhere: equal split
        (5, [1, 1], [2, 1], [2, 1]),  # more than fits: everything that fits
        (3, [1, 1, 1], [5, 5, 5], [1, 1, 1]),
        (2, [1, 1, 1], [5, 5, 5], [1, 1, 0]),  # equal remainders: the lower index first
    ],
)
def test_largest_remainder(total, weights, capacity, expected):
    assert largest_remainder(total, np.array(weights, float), np.array(capacity)).tolist() == expected


# --- gradual magnitude pruning ------------------------------------------------------------------------------


def test_gmp_cubic_schedule_and_pruning():
    gmp = GradualMagnitudePruning(0.9, begin_step=0, end_step=100)
    # s_t = 0.9 + (0 - 0.9) * (1 - t/100)^3
    assert [gmp.sparsity_at(t, 0.9) for t in (-10, 0, 50, 100, 150)] == [0.0, 0.0, 0.9 - 0.9 * 0.125, 0.9, 0.9]
    weights = np.arange(1, 17, dtype=f32) * np.where(np.arange(16) % 2, 1, -1)
    (result,) = gmp.update([LayerState(np.ones(16, bool), weights)], step=50)
    # s = 0.7875: keep 16 - floor(12.6) = 4, the largest |w|: 13..16 at indices 12..15
    assert positions(result.mask) == {12, 13, 14, 15} and not result.grown.any()
    assert np.all(result.weights[:12] == 0)


def test_gmp_bad_input():
    with pytest.raises(ValueError, match="end_step must be > begin_step"):
        GradualMagnitudePruning(0.9, begin_step=10, end_step=10)
    with pytest.raises(ValueError, match="final_sparsity must lie in"):
        GradualMagnitudePruning(1.0, begin_step=0, end_step=10)
    with pytest.raises(ValueError, match="2 values for 1 layers"):
        gmp = GradualMagnitudePruning([0.5, 0.9], begin_step=0, end_step=10)
        gmp.update([LayerState(np.ones(4, bool), np.ones(4, f32))])


# --- SNIP, static, dense ------------------------------------------------------------------------------------


def test_snip_global_and_per_layer():
    w = [np.array([1, 2, 3, 4], dtype=f32), np.array([1, 1, 1, 1], dtype=f32)]
    g = [np.array([1, 1, 1, 1], dtype=f32), np.array([0.5, 0.1, 0.2, 0.3], dtype=f32)]
    # |w*g| = [1, 2, 3, 4] and [0.5, 0.1, 0.2, 0.3]; sparsity 0.5 keeps 4 of 8 globally, 2 of 4 per layer
    first, second = SNIP(0.5).initial_masks(w, g)
    assert first.tolist() == [True] * 4 and not second.any()
    first, second = SNIP(0.5, scope="per_layer").initial_masks(w, g)
    assert positions(first) == {2, 3} and positions(second) == {0, 3}
    with pytest.raises(ValueError, match="unknown scope"):
        SNIP(0.5, scope="layer")


@pytest.mark.parametrize("updater", [Static(), Dense(), SNIP(0.5)])
def test_fixed_mask_updaters_change_nothing(updater):
    layer = LayerState(np.array([1, 0, 1, 0], bool), np.array([1, 2, 3, 4], f32), (np.ones(4, f32),))
    (result,) = updater.update([layer], drop_fraction=0.5)
    assert np.array_equal(result.mask, layer.mask) and np.array_equal(result.weights, layer.weights)
    assert result.weights is not layer.weights and result.n_drop == 0 and not result.grown.any()


# --- bad input ----------------------------------------------------------------------------------------------


def test_layer_state_and_updater_input_checks():
    with pytest.raises(ValueError, match="mask must hold only 0 and 1"):
        LayerState(np.array([2, 0]), np.zeros(2, f32))
    with pytest.raises(ValueError, match="weights has shape"):
        LayerState(np.ones(3, bool), np.zeros(2, f32))
    with pytest.raises(ValueError, match=r"slots\[0\] contains"):
        LayerState(np.ones(2, bool), np.zeros(2, f32), (np.array([np.nan, 0], f32),))
    layer = LayerState(np.ones(4, bool), np.arange(4, dtype=f32))
    with pytest.raises(TypeError, match="must be a LayerState"):
        SET("paper").update([(layer.mask, layer.weights)], drop_fraction=0.5, rng=0)
    with pytest.raises(ValueError, match="grads has 2 arrays for 1 layers"):
        RigL("paper").update([layer], drop_fraction=0.5, grads=[np.zeros(4), np.zeros(4)])
    with pytest.raises(ValueError, match="drop_fraction"):
        SET("paper").update([layer], drop_fraction=1.2, rng=0)
    with pytest.raises(ValueError, match="unknown convention"):
        RigL("pytorch")
