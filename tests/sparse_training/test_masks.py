"""Initial masks: exact counts, documented Generator consumption, reproducibility, bad input."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.sparse_training.distributions import active_count, layer_sparsities
from rigl_ref.sparse_training.masks import init_masks, random_mask


def test_random_mask_takes_the_first_entries_of_one_permutation():
    # The documented recipe, spelled out: flat indices perm[:n_active] are the active ones.
    perm = np.random.default_rng(7).permutation(12)
    expected = np.zeros(12, dtype=bool)
    expected[perm[:5]] = True
    np.testing.assert_array_equal(random_mask((3, 4), 5, np.random.default_rng(7)), expected.reshape(3, 4))


def test_init_masks_draws_one_permutation_per_masked_layer_in_order():
    layers = [("a", (4, 5)), ("bias", (5,)), ("b", (3, 3, 2)), ("c", (6,))]
    sparsities = {"a": 0.5, "bias": None, "b": 0.0, "c": 0.9}
    masks = init_masks(layers, sparsities, np.random.default_rng(3))
    replay = np.random.default_rng(3)
    assert masks["a"].tolist() == random_mask((4, 5), 10, replay).tolist()
    assert masks["bias"].all() and masks["bias"].shape == (5,)  # unmasked: nothing drawn
    assert masks["b"].all()  # sparsity 0 still consumes its permutation ...
    replay.permutation(18)
    assert masks["c"].tolist() == random_mask((6,), 1, replay).tolist()  # ... so c's draw is the third one
    # the Generator is left exactly where the three permutations leave it
    after = np.random.default_rng(3)
    for size in (20, 18, 6):
        after.permutation(size)
    rng = np.random.default_rng(3)
    init_masks(layers, sparsities, rng)
    assert rng.random() == after.random()


def test_an_int_seed_is_accepted_and_none_is_refused():
    layers = [("a", (8, 8))]
    assert (init_masks(layers, {"a": 0.75}, 5)["a"] == init_masks(layers, {"a": 0.75}, 5)["a"]).all()
    with pytest.raises(TypeError, match="rng"):
        init_masks(layers, {"a": 0.75}, None)


shapes = st.lists(st.integers(1, 9), min_size=1, max_size=4).map(tuple)


@given(shape=shapes, data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_random_mask_has_the_exact_count_and_is_reproducible(shape, data, seed):
    size = int(np.prod(shape))
    n_active = data.draw(st.integers(0, size), label="n_active")
    mask = random_mask(shape, n_active, np.random.default_rng(seed))
    assert mask.dtype == bool and mask.shape == shape and int(mask.sum()) == n_active
    np.testing.assert_array_equal(mask, random_mask(shape, n_active, np.random.default_rng(seed)))


@given(layer_shapes=st.lists(st.tuples(st.integers(1, 30), st.integers(1, 30)), min_size=1, max_size=5),
       sparsity=st.floats(0.0, 0.99), distribution=st.sampled_from(["uniform", "erdos_renyi_kernel"]),
       convention=st.sampled_from(["tf1", "jaxpruner"]), seed=st.integers(0, 2**32 - 1))
def test_init_masks_matches_the_convention_counts(layer_shapes, sparsity, distribution, convention, seed):
    layers = [(f"l{i}", shape) for i, shape in enumerate(layer_shapes)]
    sparsities = layer_sparsities(layers, sparsity, distribution, convention=convention)
    masks = init_masks(layers, sparsities, seed, convention)
    assert list(masks) == list(sparsities)
    for name, shape in layers:
        assert masks[name].shape == shape
        assert int(masks[name].sum()) == active_count(int(np.prod(shape)), sparsities[name], convention)
    again = init_masks(layers, sparsities, np.random.default_rng(seed), convention)
    assert all((masks[name] == again[name]).all() for name in masks)


def test_different_seeds_give_different_masks():
    layers = [("a", (20, 20))]
    first = init_masks(layers, {"a": 0.5}, 1)["a"]
    second = init_masks(layers, {"a": 0.5}, 2)["a"]
    assert not (first == second).all()


@pytest.mark.parametrize("n_active", [-1, 13, 2.5, True])
def test_random_mask_refuses_impossible_counts(n_active):
    with pytest.raises(ValueError, match="n_active"):
        random_mask((3, 4), n_active, 0)


@pytest.mark.parametrize("shape", [(3, -1), (2.0, 2), ("a",)])
def test_random_mask_refuses_bad_shapes(shape):
    with pytest.raises(ValueError, match="shape"):
        random_mask(shape, 1, 0)


def test_init_masks_requires_a_sparsity_for_exactly_the_given_layers():
    layers = [("a", (2, 2)), ("b", (2, 2))]
    with pytest.raises(ValueError, match="missing"):
        init_masks(layers, {"a": 0.5}, 0)
    with pytest.raises(ValueError, match="unknown"):
        init_masks(layers, {"a": 0.5, "b": 0.5, "c": 0.5}, 0)
    with pytest.raises(ValueError, match=r"sparsities\['b'\] must lie in \[0, 1\), got 1.0"):
        init_masks(layers, {"a": 0.5, "b": 1.0}, 0)
