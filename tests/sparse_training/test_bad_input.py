"""Issue 3's "Bad input" list, case by case: each raises ValueError whose message names the parameter
and the offending value (checked as literal fragments of the message)."""

import numpy as np
import pytest

from rigl_ref import drop_grow
from rigl_ref.sparse_training.distributions import active_count, layer_sparsities
from rigl_ref.sparse_training.drop_grow import drop_count, jaxpruner_num_ones
from rigl_ref.sparse_training.masks import init_masks
from rigl_ref.sparse_training.schedules import (
    cosine_drop_fraction,
    cosine_drop_fraction_optax,
    cosine_drop_fraction_tf1_folded,
    make_update_schedule,
)
from rigl_ref.sparse_training.updaters import SET, SNFS, SNIP, GradualMagnitudePruning, LayerState, RigL

f32 = np.float32
MASK = np.array([1, 1, 1, 0, 0, 0], dtype=bool)
W = np.array([3, -1, 2, 0, 0, 0], dtype=f32)
GROW = np.array([0, 0, 0, 5, 4, 6], dtype=f32)
LAYERS = [("conv", (3, 3, 2, 4)), ("fc", (8, 4))]


def raises_naming(call, *fragments):
    """``call()`` raises ValueError and every fragment appears verbatim in its message."""
    with pytest.raises(ValueError) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


# --- drop_fraction outside [0, 1] ---------------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [-0.1, 1.5, float("nan"), float("inf")])
def test_drop_fraction_outside_the_unit_interval(fraction):
    named = ("drop_fraction", repr(fraction))
    raises_naming(lambda: drop_grow(MASK, W, np.abs(W), GROW, fraction), *named)
    raises_naming(lambda: drop_count(3, fraction, "tf1"), *named)
    raises_naming(lambda: SET("paper").update([LayerState(MASK, W)], drop_fraction=fraction, rng=0), *named)
    raises_naming(lambda: cosine_drop_fraction(0, alpha=fraction, end_step=10), "alpha", repr(fraction))


# --- NaN/Inf in scores or weights ---------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["weights", "drop_scores", "grow_scores", "slots[0]", "grow_init", "slot_init"])
@pytest.mark.parametrize("bad, shown", [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_non_finite_values_are_named_with_their_index(which, bad, shown):
    arrays = {"weights": W, "drop_scores": np.abs(W), "grow_scores": GROW, "slots[0]": np.zeros(6, f32),
              "grow_init": np.zeros(6, f32), "slot_init": np.zeros(6, f32)}
    arrays = {name: array.copy() for name, array in arrays.items()}
    arrays[which][4] = bad
    raises_naming(
        lambda: drop_grow(MASK, arrays["weights"], arrays["drop_scores"], arrays["grow_scores"], 0.5,
                          slots=(arrays["slots[0]"],), grow_init=arrays["grow_init"], slot_init=arrays["slot_init"]),
        f"{which} contains 1 non-finite", "index (4,)", shown,
    )


def test_non_finite_gradients_and_layer_values_in_the_updaters():
    bad = np.array([0, np.nan, 0, 0, 0, 0], dtype=f32)
    raises_naming(lambda: RigL("paper").update([LayerState(MASK, W)], drop_fraction=0.5, grads=[bad]),
                  "grads[0] contains", "index (1,)", "nan")
    raises_naming(lambda: SNFS("paper").observe([bad]), "grads[0] contains", "nan")
    raises_naming(lambda: LayerState(MASK, W + bad), "weights contains", "nan")
    raises_naming(lambda: SNIP(0.5).initial_masks([W + bad], [GROW]), "weights[0] contains", "nan")


# --- mask/weights shape mismatch ----------------------------------------------------------------------------


def test_mask_and_weights_shape_mismatch():
    named = ("weights has shape (5,)", "mask has shape (6,)")
    raises_naming(lambda: drop_grow(MASK, W[:5], np.abs(W), GROW, 0.5), *named)
    raises_naming(lambda: LayerState(MASK, W[:5]), *named)
    raises_naming(lambda: drop_grow(MASK, W, np.abs(W), GROW.reshape(2, 3), 0.5),
                  "grow_scores has shape (2, 3)", "mask has shape (6,)")


# --- sparsity outside [0, 1) --------------------------------------------------------------------------------


@pytest.mark.parametrize("sparsity", [-0.1, 1.0, 1.5, float("nan")])
def test_sparsity_outside_half_open_unit_interval(sparsity):
    named = ("sparsity must lie in [0, 1)", repr(sparsity))
    raises_naming(lambda: layer_sparsities(LAYERS, sparsity, "erdos_renyi_kernel"), *named)
    raises_naming(lambda: active_count(100, sparsity, "jaxpruner"), *named)
    raises_naming(lambda: layer_sparsities(LAYERS, 0.5, "uniform", custom={"fc": sparsity}), "custom['fc']",
                  repr(sparsity))
    raises_naming(lambda: init_masks(LAYERS, {"conv": 0.5, "fc": sparsity}, rng=0), "sparsities['fc']",
                  repr(sparsity))
    raises_naming(lambda: SNIP(sparsity), *named)
    raises_naming(lambda: GradualMagnitudePruning(sparsity, begin_step=0, end_step=10), "final_sparsity",
                  repr(sparsity))


def test_jaxpruner_num_ones_takes_sparsities_in_the_closed_interval():
    assert jaxpruner_num_ones(10, 1.0) == 1  # jaxpruner's drop step may reach sparsity 1; one stays
    raises_naming(lambda: jaxpruner_num_ones(10, 1.5), "sparsity", "1.5")
    raises_naming(lambda: jaxpruner_num_ones(0, 0.5), "size", "0")


# --- unknown convention or distribution name ----------------------------------------------------------------


def test_unknown_convention_names():
    named = ("unknown convention", "'torch'", "'rigl_torch'")  # the bad name and the valid ones
    raises_naming(lambda: drop_grow(MASK, W, np.abs(W), GROW, 0.5, convention="torch"), *named)
    raises_naming(lambda: RigL("torch"), *named)
    raises_naming(lambda: layer_sparsities(LAYERS, 0.5, "uniform", convention="torch"), *named)
    raises_naming(lambda: active_count(100, 0.5, "torch"), *named)


def test_unknown_distribution_name():
    raises_naming(lambda: layer_sparsities(LAYERS, 0.5, "erk2"), "unknown distribution", "'erk2'",
                  "'erdos_renyi_kernel'")


# --- a custom sparsity naming no layer ----------------------------------------------------------------------


def test_custom_sparsity_naming_no_layer():
    raises_naming(lambda: layer_sparsities(LAYERS, 0.5, "erdos_renyi", custom={"fc2": 0.0}),
                  "custom sparsity names no layer", "'fc2'")
    raises_naming(lambda: layer_sparsities(LAYERS, 0.5, "uniform", dense_layers=("fc2",)),
                  "dense_layers names no layer", "'fc2'")
    raises_naming(lambda: init_masks(LAYERS, {"conv": 0.5, "fc": 0.5, "fc2": 0.5}, rng=0), "unknown ['fc2']")


# --- T_end <= begin ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("begin, end", [(0, 0), (50, 50), (50, 10)])
def test_end_step_not_after_begin_step(begin, end):
    named = ("end_step (T_end) must be greater than", f"begin_step={begin}", f"got {end}")
    for schedule in (cosine_drop_fraction_tf1_folded, cosine_drop_fraction_optax):
        raises_naming(lambda: schedule(0, alpha=0.3, begin_step=begin, end_step=end), *named)
    for name in ("tf1", "jaxpruner"):
        raises_naming(lambda: make_update_schedule(name, frequency=10, begin_step=begin, end_step=end), *named)
    raises_naming(lambda: GradualMagnitudePruning(0.9, begin_step=begin, end_step=end),
                  "end_step must be > begin_step", f"end_step={end}", f"begin_step={begin}")


@pytest.mark.parametrize("name", ["paper", "rigl_torch"])
def test_t_end_of_zero_for_schedules_without_a_begin_step(name):
    raises_naming(lambda: make_update_schedule(name, frequency=10, end_step=0), "end_step", "got 0")
    raises_naming(lambda: cosine_drop_fraction(0, alpha=0.3, end_step=0), "end_step", "got 0")
