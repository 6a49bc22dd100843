"""Sparsity distributions and per-layer active counts: hand-computed cases, properties, bad input.

Bit-exact agreement with google-research/rigl and jaxpruner is checked by the conformance suites
``tf1_sparsities`` and ``jaxpruner_sparsities``; here the arithmetic is checked by hand and by invariants.
"""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.sparse_training.distributions import (
    LayerShape,
    active_count,
    active_counts,
    as_layer_shapes,
    layer_sparsities,
)

# ----------------------------------------------------------------------------------------------------
# hand-computed cases


def test_uniform_gives_every_layer_the_global_sparsity_except_custom_and_dense():
    layers = [("conv1", (3, 3, 3, 8)), ("conv2", (3, 3, 8, 16)), ("fc", (64, 10))]
    got = layer_sparsities(layers, 0.9, "uniform", custom={"conv2": 0.5}, first_layer_dense=True)
    assert got == {"conv1": 0.0, "conv2": 0.5, "fc": 0.9}
    assert layer_sparsities(layers, 0.9, "random", last_layer_dense=True)["fc"] == 0.0


def test_erk_by_hand_with_a_layer_exactly_at_density_one():
    # a (10,10): raw = 20/100 = 0.2, N = 100, ones at S=0.5: 50;  b (20,30): raw = 50/600, N = 600, ones 300.
    # eps = (50 + 300) / (0.2*100 + 50/600*600) = 350/70 = 5; max raw * eps = 1.0 is NOT > 1: no dense loop.
    got = layer_sparsities([("a", (10, 10)), ("b", (20, 30))], 0.5, "erdos_renyi_kernel")
    assert got["a"] == 0.0
    assert got["b"] == pytest.approx(1 - 5 * 50 / 600, rel=1e-15)


def test_erk_makes_the_densest_layer_dense_and_re_solves():
    # a (2,2): raw 1, N 4, zeros floor(3.6)=3, ones 1; b, c (10,10): raw .2, ones 10 each; d (100,100): raw .02,
    # ones 1000. Pass 1: eps = 1021 / (4 + 20 + 20 + 200) = 4.18 -> a would have density 4.18 > 1: dense.
    # Pass 2: rhs = 1021 - 1 - 3 = 1017 (a's ones leave the sum, a's zeros are paid by the others),
    # divisor = 240, eps = 4.2375 -> b, c: 1 - .2*4.2375 = .1525; d: 1 - .02*4.2375 = .91525.
    layers = [("a", (2, 2)), ("b", (10, 10)), ("c", (10, 10)), ("d", (100, 100))]
    got = layer_sparsities(layers, 0.9, "erdos_renyi_kernel")
    assert got["a"] == 0.0
    assert got["b"] == got["c"] == pytest.approx(0.1525, rel=1e-14)
    assert got["d"] == pytest.approx(0.91525, rel=1e-14)


def test_er_uses_the_last_two_dims_and_erk_the_power_scale():
    # a (3,3,2,4): N 72, ER raw (2+4)/(2*4) = .75; b (6,5): N 30, raw 11/30. S = .5: ones 36 + 15 = 51.
    # ER: eps = 51 / (.75*72 + 11) = 51/65.
    er = layer_sparsities([("a", (3, 3, 2, 4)), ("b", (6, 5))], 0.5, "erdos_renyi")
    assert er["a"] == pytest.approx(1 - 0.75 * 51 / 65, rel=1e-14)
    assert er["b"] == pytest.approx(1 - 11 / 30 * 51 / 65, rel=1e-14)
    # ERK with power .5: raw_a = (12/72)**.5, raw_b = (11/30)**.5.
    raw_a, raw_b = (12 / 72) ** 0.5, (11 / 30) ** 0.5
    eps = 51 / (raw_a * 72 + raw_b * 30)
    erk = layer_sparsities([("a", (3, 3, 2, 4)), ("b", (6, 5))], 0.5, "erdos_renyi_kernel", power_scale=0.5)
    assert erk["a"] == pytest.approx(1 - eps * raw_a, rel=1e-14)
    assert erk["b"] == pytest.approx(1 - eps * raw_b, rel=1e-14)


def test_custom_layers_are_outside_the_erk_budget():
    # With b custom, a alone must carry its own uniform budget: density exactly (1 - S) up to rounding.
    got = layer_sparsities([("a", (40, 50)), ("b", (5, 5))], 0.8, "erdos_renyi_kernel", custom={"b": 0.3})
    assert got["b"] == 0.3
    assert got["a"] == pytest.approx(0.8, abs=1e-12)


def test_jaxpruner_leaves_one_dimensional_layers_unmasked():
    layers = [("w", (8, 4)), ("b", (4,)), ("v", (4, 2))]
    uniform = layer_sparsities(layers, 0.5, "uniform", convention="jaxpruner")
    assert uniform == {"w": 0.5, "b": None, "v": 0.5}
    # jaxpruner's uniform() applies a custom value before its filter, erk() only to filtered leaves.
    assert layer_sparsities(layers, 0.5, "uniform", custom={"b": 0.25}, convention="jaxpruner")["b"] == 0.25
    assert layer_sparsities(layers, 0.5, "erk", custom={"b": 0.25}, convention="jaxpruner")["b"] is None
    # The official code masks every layer it is given.
    assert layer_sparsities(layers, 0.5, "uniform", convention="tf1")["b"] == 0.5


def test_active_count_official_floor_of_the_float64_product():
    assert active_count(100, 0.58) == 43  # 0.58 * 100 = 57.99999999999999: 57 zeros
    assert active_count(10, 0.35) == 7 and active_count(10, 0.75) == 3 and active_count(10, 0.95) == 1
    assert active_count(10, 0.0, "rigl_torch") == 10


def test_active_count_jaxpruner_rounds_half_even_in_float32():
    # jaxpruner sparsity_distributions.py rounding: N=10: s=.35 -> 6, .55 -> 4 (10 * float32(.45) = 4.5 -> even), .75 -> 2, .95 -> 1 (round .5 = 0,
    # at least 1); s = 0 keeps everything.
    assert [active_count(10, s, "jaxpruner") for s in (0.35, 0.55, 0.75, 0.95, 0.0)] == [6, 4, 2, 1, 10]


def test_active_counts_keeps_unmasked_layers_whole():
    layers = [("w", (8, 4)), ("b", (4,))]
    sparsities = layer_sparsities(layers, 0.5, "uniform", convention="jaxpruner")
    assert active_counts(layers, sparsities, "jaxpruner") == {"w": 16, "b": 4}


# ----------------------------------------------------------------------------------------------------
# properties

dims = st.integers(1, 40)
shapes = st.one_of(st.tuples(dims, dims), st.tuples(st.integers(1, 5), st.integers(1, 5), dims, dims))
layer_lists = st.lists(shapes, min_size=1, max_size=7).map(lambda ss: [(f"l{i}", s) for i, s in enumerate(ss)])
global_sparsity = st.floats(0.05, 0.99)
scaled_distribution = st.sampled_from(["erdos_renyi", "erdos_renyi_kernel"])


@given(layers=layer_lists, sparsity=global_sparsity, distribution=scaled_distribution,
       power=st.sampled_from([1.0, 0.5, 0.25]))
def test_erk_keeps_the_uniform_budget_up_to_per_layer_rounding(layers, sparsity, distribution, power):
    kwargs = {"power_scale": power} if distribution == "erdos_renyi_kernel" else {}
    got = layer_sparsities(layers, sparsity, distribution, **kwargs)
    assert all(0.0 <= s < 1.0 for s in got.values())  # no density above 1, nothing fully pruned
    budget = sum(math.prod(shape) - math.floor(sparsity * math.prod(shape)) for _, shape in layers)
    ones = sum(active_count(math.prod(shape), got[name]) for name, shape in layers)
    scaled = sum(1 for s in got.values() if s > 0.0)
    # Each scaled layer's count N - floor(s*N) = ceil(density*N) exceeds its real-valued share by < 1; a
    # layer whose density comes out exactly 1 by the formula (not by the dense loop) contributes nothing.
    assert -1 <= ones - budget <= scaled


@given(layers=layer_lists, sparsity=global_sparsity, distribution=scaled_distribution)
def test_er_and_erk_are_monotone_in_layer_size_and_tie_identical_shapes(layers, sparsity, distribution):
    got = layer_sparsities(layers, sparsity, distribution)
    relevant = (lambda s: s[-2:]) if distribution == "erdos_renyi" else (lambda s: s)
    for name_a, shape_a in layers:
        for name_b, shape_b in layers:
            a, b = relevant(shape_a), relevant(shape_b)
            if len(a) == len(b) and all(x >= y for x, y in zip(a, b)):
                assert got[name_a] >= got[name_b]
            if a == b:
                assert got[name_a] == got[name_b]


@given(layers=layer_lists, sparsity=global_sparsity, data=st.data())
def test_custom_values_are_returned_as_given(layers, sparsity, data):
    names = [name for name, _ in layers]
    chosen = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names) - 1), label="custom")
    custom = {name: data.draw(st.floats(0.0, 0.99), label=name) for name in chosen}
    got = layer_sparsities(layers, sparsity, "erdos_renyi_kernel", custom=custom)
    assert list(got) == names
    assert all(got[name] == value for name, value in custom.items())


@given(size=st.integers(1, 10**7), sparsity=st.floats(0.0, 0.999999))
def test_active_counts_lie_in_range_and_conventions_differ_by_rounding_only(size, sparsity):
    official = active_count(size, sparsity, "tf1")
    jax = active_count(size, sparsity, "jaxpruner")
    assert 0 <= official <= size and 1 <= jax <= size
    assert official == size - math.floor(sparsity * size)
    # Both approximate N*(1-s): floor of zeros rounds up the ones, jaxpruner rounds to nearest (float32).
    exact = size * (1 - sparsity)
    assert exact - 1e-6 * size - 1e-9 <= official < exact + 1 + 1e-9
    assert abs(jax - exact) <= 0.5 + 2**-23 * size + 1e-9 or jax == 1


# ----------------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("sparsity", [-0.1, 1.0, 1.5, float("nan")])
def test_sparsity_outside_unit_interval_is_refused(sparsity):
    with pytest.raises(ValueError, match="sparsity"):
        layer_sparsities([("a", (4, 4))], sparsity, "uniform")
    with pytest.raises(ValueError, match="sparsity"):
        active_count(16, sparsity)


def test_unknown_names_are_refused_with_the_name():
    layers = [("a", (4, 4)), ("b", (4, 2))]
    with pytest.raises(ValueError, match="'erk2'"):
        layer_sparsities(layers, 0.5, "erk2")
    with pytest.raises(ValueError, match="'c'"):
        layer_sparsities(layers, 0.5, "uniform", custom={"c": 0.5})
    with pytest.raises(ValueError, match="'c'"):
        layer_sparsities(layers, 0.5, "uniform", dense_layers=("c",))
    with pytest.raises(ValueError, match="'tf3'"):
        layer_sparsities(layers, 0.5, "uniform", convention="tf3")
    with pytest.raises(ValueError, match=r"custom\['a'\]"):
        layer_sparsities(layers, 0.5, "uniform", custom={"a": 1.0})


@pytest.mark.parametrize("layers", [
    [("a", (4, 0))], [("a", (4, -2))], [("a", ())], [("a", (2.5, 3))], [("", (2, 2))],
    [("a", (2, 2)), ("a", (3, 3))], [],
])
def test_bad_layers_are_refused(layers):
    with pytest.raises(ValueError):
        layer_sparsities(layers, 0.5, "uniform")


def test_erdos_renyi_needs_two_dimensions_and_power_scale_only_for_erk():
    with pytest.raises(ValueError, match="shape"):
        layer_sparsities([("a", (4, 4)), ("b", (4,))], 0.5, "erdos_renyi")
    with pytest.raises(ValueError, match="power_scale"):
        layer_sparsities([("a", (4, 4))], 0.5, "erdos_renyi", power_scale=0.5)
    with pytest.raises(ValueError, match="power_scale"):
        layer_sparsities([("a", (4, 4))], 0.5, "erdos_renyi_kernel", power_scale=0.0)


def test_empty_erk_budget_is_a_clear_error_not_a_zero_division():
    # tf1_sparsities-0006: every layer custom; the official code raises ZeroDivisionError.
    with pytest.raises(ValueError, match="budget is empty"):
        layer_sparsities([("a", (3, 3)), ("b", (3, 3))], 0.5, "erdos_renyi_kernel", custom={"a": 0.1, "b": 0.2})


def test_dense_request_conflicting_with_custom_is_refused():
    with pytest.raises(ValueError, match="'a'"):
        layer_sparsities([("a", (4, 4)), ("b", (4, 4))], 0.5, "uniform", custom={"a": 0.5}, first_layer_dense=True)


def test_layer_records_accept_pairs_mappings_and_records():
    expected = (LayerShape("a", (2, 3)), LayerShape("b", (4,)))
    assert as_layer_shapes([("a", [2, 3]), ("b", (4,))]) == expected
    assert as_layer_shapes({"a": (2, 3), "b": (4,)}) == expected
    assert as_layer_shapes(expected) == expected
    assert expected[0].size == 6


@pytest.mark.parametrize("convention", ["tf1", "jaxpruner"])
@pytest.mark.parametrize("sparsity", [0.0, 0.00390625])
def test_erk_sparsity_that_asks_for_no_zero_is_dense(sparsity, convention):
    # (8, 17): floor(S * 136) == 0, so no layer needs a zero; the official solve would divide by an empty
    # budget after making the layer dense. rigl_ref answers "dense" (docs: distributions._erdos_renyi).
    got = layer_sparsities([("l0", (8, 17)), ("l1", (7, 22))], sparsity, "erdos_renyi_kernel", convention=convention)
    assert got == {"l0": 0.0, "l1": 0.0}
