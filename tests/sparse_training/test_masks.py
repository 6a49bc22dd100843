"""Initial masks: exact counts, documented Generator consumption, reproducibility, bad input."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.sparse_training.distributions import active_count, layer_sparsities
from rigl_ref.sparse_training.masks import init_masks, init_patterns, random_active_indices, random_mask


def test_random_mask_is_floyds_sample_of_one_integers_call():
    # The documented recipe, spelled out: draws[i] uniform in [0, N - k + i], then Floyd's algorithm.
    draws = np.random.default_rng(7).integers(0, np.arange(12 - 5 + 1, 12 + 1, dtype=np.int64))
    chosen = set()
    for i, t in enumerate(draws.tolist()):
        chosen.add(t if t not in chosen else 12 - 5 + i)
    expected = np.zeros(12, dtype=bool)
    expected[sorted(chosen)] = True
    np.testing.assert_array_equal(random_mask((3, 4), 5, np.random.default_rng(7)), expected.reshape(3, 4))
    np.testing.assert_array_equal(random_active_indices((3, 4), 5, np.random.default_rng(7)), sorted(chosen))


def _skip_draws(rng, size, n_active):
    rng.integers(0, np.arange(size - n_active + 1, size + 1, dtype=np.int64))


def test_init_masks_draws_one_sample_per_masked_layer_in_order():
    layers = [("a", (4, 5)), ("bias", (5,)), ("b", (3, 3, 2)), ("c", (6,))]
    sparsities = {"a": 0.5, "bias": None, "b": 0.0, "c": 0.9}
    masks = init_masks(layers, sparsities, np.random.default_rng(3))
    replay = np.random.default_rng(3)
    assert masks["a"].tolist() == random_mask((4, 5), 10, replay).tolist()
    assert masks["bias"].all() and masks["bias"].shape == (5,)  # unmasked: nothing drawn
    assert masks["b"].all()  # sparsity 0 still consumes its draws ...
    _skip_draws(replay, 18, 18)
    assert masks["c"].tolist() == random_mask((6,), 1, replay).tolist()  # ... so c's draw is the third one
    # the Generator is left exactly where the three calls leave it
    after = np.random.default_rng(3)
    for size, n_active in ((20, 10), (18, 18), (6, 1)):
        _skip_draws(after, size, n_active)
    rng = np.random.default_rng(3)
    init_masks(layers, sparsities, rng)
    assert rng.random() == after.random()


@given(layer_shapes=st.lists(st.lists(st.integers(1, 7), min_size=1, max_size=4).map(tuple), min_size=1, max_size=4),
       data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_init_patterns_are_the_positions_of_init_masks(layer_shapes, data, seed):
    """The spec layer's dense masks are the scattered CSR-native patterns of the same seed."""
    layers = [(f"l{i}", shape) for i, shape in enumerate(layer_shapes)]
    sparsities = {name: data.draw(st.one_of(st.none(), st.floats(0.0, 0.99)), label=name) for name, _ in layers}
    masks = init_masks(layers, sparsities, seed)
    patterns = init_patterns(layers, sparsities, seed)
    assert list(patterns) == [name for name, _ in layers if sparsities[name] is not None]
    for name, _ in layers:
        if sparsities[name] is None:
            assert masks[name].all()
        else:
            assert patterns[name].dtype == np.int64
            assert np.array_equal(np.flatnonzero(masks[name]), patterns[name])


def test_every_subset_is_equally_likely():
    """Floyd's sample is uniform over the C(5, 2) = 10 subsets: 20 000 draws, each subset within 10 % of
    2 000 (the standard deviation of a count is about 42, so this fails only for a biased sampler)."""
    rng = np.random.default_rng(11)
    counts = {}
    for _ in range(20_000):
        key = tuple(random_active_indices(5, 2, rng).tolist())
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 10 and all(1800 <= c <= 2200 for c in counts.values()), counts


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
