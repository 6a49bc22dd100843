"""Drop-fraction schedules and update predicates: hand-computed values, closed forms, framework vectors,
and the three conformance handlers owned alongside (tf1_sparsities, tf1_cosine, jaxpruner_sparsities)."""

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.conformance.handlers import get_handler
from rigl_ref.conformance.runner import VECTORS_DIR
from rigl_ref.sparse_training.schedules import (
    DROP_FRACTION_SCHEDULES,
    UPDATE_SCHEDULES,
    correctly_rounded_cosf,
    cosine_drop_fraction,
    cosine_drop_fraction_tf1,
    cosine_drop_fraction_tf1_folded,
    cosine_schedule,
    exponential_drop_fraction_tf1,
    get_drop_fraction_schedule,
    make_update_schedule,
    tf1_drop_fraction_schedule,
    tf1_is_update,
)


def _manifest(suite):
    return json.loads((VECTORS_DIR / suite / "manifest.json").read_text())


# ----------------------------------------------------------------------------------------------------
# drop fractions


def test_paper_cosine_by_hand():
    assert cosine_drop_fraction(0, alpha=0.3, end_step=1000) == 0.3
    assert cosine_drop_fraction(500, alpha=0.3, end_step=1000) == pytest.approx(0.15, abs=1e-16)
    assert cosine_drop_fraction(1000, alpha=0.3, end_step=1000) == 0.0  # cos(pi) == -1 exactly
    assert cosine_drop_fraction(1700, alpha=0.3, end_step=1000) == 0.0  # clipped at T_end


def test_paper_cosine_is_rigl_torch_cosine_annealing():
    # torch_rigl cases with schedule "cosine" record rigl-torch's own cosine_annealing() value.
    cases = [c["params"] for c in _manifest("torch_rigl")["cases"] if c["params"].get("schedule") == "cosine"]
    assert len(cases) >= 10
    for p in cases:
        assert cosine_drop_fraction(p["step"], alpha=p["alpha"], end_step=p["T_end"]) == p["drop_fraction"]


@given(alpha=st.floats(0, 1), end=st.integers(1, 10**6), data=st.data())
def test_cosines_decrease_from_alpha_to_zero_and_the_float32_ones_track_float64(alpha, end, data):
    t1, t2 = sorted(data.draw(st.lists(st.integers(0, 2 * end), min_size=2, max_size=2), label="steps"))
    for schedule in (cosine_drop_fraction, cosine_drop_fraction_tf1, cosine_drop_fraction_tf1_folded):
        assert schedule(0, alpha=alpha, end_step=end) == np.float32(alpha) or schedule is cosine_drop_fraction
        assert schedule(t1, alpha=alpha, end_step=end) >= schedule(t2, alpha=alpha, end_step=end)
        assert schedule(end, alpha=alpha, end_step=end) == 0.0
        assert 0.0 <= schedule(t1, alpha=alpha, end_step=end) <= np.float32(alpha)
    exact = cosine_drop_fraction(t1, alpha=alpha, end_step=end)
    for schedule in (cosine_drop_fraction_tf1, cosine_drop_fraction_tf1_folded):
        assert float(schedule(t1, alpha=alpha, end_step=end)) == pytest.approx(exact, abs=1e-6)


def test_tf1_cosine_reads_the_raw_global_step_not_step_minus_begin():
    # google-research/rigl rigl/sparse_optimizers_base.py: cosine_decay(alpha, global_step, end - begin). With begin=1000, end=5000 the first
    # update (step 1000) already uses a quarter of the period: alpha * (1 + cos(pi/4)) / 2.
    got = cosine_drop_fraction_tf1(1000, alpha=0.5, begin_step=1000, end_step=5000)
    assert float(got) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)) / 2, rel=1e-6)
    assert cosine_drop_fraction_tf1(4000, alpha=0.5, begin_step=1000, end_step=5000) == 0.0


def test_tf1_exponential_by_hand():
    assert exponential_drop_fraction_tf1(100, alpha=0.5, begin_step=100, end_step=300, power=2) == np.float32(0.5)
    assert exponential_drop_fraction_tf1(200, alpha=0.5, begin_step=100, end_step=300, power=1) == np.float32(0.25)
    assert exponential_drop_fraction_tf1(200, alpha=0.5, begin_step=100, end_step=300, power=2) == np.float32(0.125)
    assert exponential_drop_fraction_tf1(300, alpha=0.5, begin_step=100, end_step=300, power=0.5) == 0.0
    # unclamped, as TF: past the end a fractional power of a negative base is NaN, p=1 goes negative
    assert np.isnan(exponential_drop_fraction_tf1(400, alpha=0.5, begin_step=100, end_step=300, power=0.5))
    assert exponential_drop_fraction_tf1(400, alpha=0.5, begin_step=100, end_step=300, power=1) == np.float32(-0.25)


def test_tf1_anneal_names_are_parsed_like_tf1():
    assert tf1_drop_fraction_schedule("constant")(7, alpha=0.3) == np.float32(0.3)
    assert tf1_drop_fraction_schedule("cosine", folded=False) is cosine_drop_fraction_tf1
    assert tf1_drop_fraction_schedule("cosine") is cosine_drop_fraction_tf1_folded
    square = tf1_drop_fraction_schedule("exponential_2", folded=False)
    assert square(200, alpha=0.5, begin_step=100, end_step=300) == np.float32(0.125)
    for bad in ("exponential_", "exponential_x", "linear", "Cosine"):
        with pytest.raises(ValueError, match="drop_fraction_anneal"):
            tf1_drop_fraction_schedule(bad)


def test_cosine_schedule_by_conventions_value_and_registry():
    assert cosine_schedule("float64") is cosine_drop_fraction
    assert cosine_schedule("tf1_constant_folded") is cosine_drop_fraction_tf1_folded
    assert cosine_schedule("float32") is cosine_drop_fraction_tf1
    assert float(cosine_schedule("float32_optax")(250, alpha=0.4, end_step=1000)) == pytest.approx(
        0.4 * (1 + math.cos(math.pi / 4)) / 2, rel=1e-6)
    for name, schedule in DROP_FRACTION_SCHEDULES.items():
        assert get_drop_fraction_schedule(name) is schedule
    with pytest.raises(ValueError, match="'cosine_float16'"):
        cosine_schedule("float16")


def test_correctly_rounded_cosf_is_the_float32_rounding_of_the_float64_cos():
    x = np.float32(0.7853982)
    assert correctly_rounded_cosf(x) == np.float32(math.cos(float(x)))
    assert correctly_rounded_cosf(np.float32(math.pi)) == np.float32(-1.0)


# ----------------------------------------------------------------------------------------------------
# update predicates


def _updates(name, steps, **window):
    schedule = make_update_schedule(name, **window)
    return [t for t in steps if schedule.is_update(t)]


def test_tf1_predicate_matches_sparse_set_optimizer_test():
    # SparseSETOptimizerTest: begin=1, frequency=2, end=4 -> updates at iterations 1 and 3.
    assert _updates("tf1", range(8), frequency=2, begin_step=1, end_step=4) == [1, 3]


def test_tf1_predicate_is_stateful_when_steps_skip():
    # last_update starts at -3; 0 updates; 5 >= 0 + 3 updates; 7 < 5 + 3 does not; 8 updates. Not t % 3 == 0.
    assert _updates("tf1", [0, 5, 7, 8], frequency=3) == [0, 5, 8]
    assert tf1_is_update(8, 5, frequency=3, begin_step=0, end_step=-1)
    assert not tf1_is_update(7, 5, frequency=3, begin_step=0, end_step=-1)


def test_predicate_boundaries_by_hand():
    assert _updates("paper", range(31), frequency=10, end_step=30) == [0, 10, 20]  # t < T_end
    assert _updates("tf1", range(31), frequency=10, end_step=30) == [0, 10, 20, 30]  # end inclusive
    assert _updates("jaxpruner", range(31), frequency=10, end_step=30) == [0, 10, 20, 30]
    assert _updates("rigl_torch", range(1, 31), frequency=10, end_step=30) == [10, 20]  # first call is step 1
    assert _updates("tf2", range(31), frequency=10) == [0, 10, 20, 30]
    assert _updates("tf2", range(31), frequency=10, end_step=20) == [0, 10, 20]
    assert _updates("tf2", range(31), frequency=10, end_step=0) == []  # last_update_step = 0: never


windows = st.tuples(st.integers(1, 20), st.integers(0, 50), st.integers(1, 80))


@given(window=windows, open_end=st.booleans())
def test_predicates_agree_with_their_closed_forms(window, open_end):
    frequency, begin, length = window
    end = begin + length
    steps = range(0, end + 3 * frequency + 2)
    tf1_end = None if open_end else end
    assert _updates("tf1", steps, frequency=frequency, begin_step=begin, end_step=tf1_end) == [
        t for t in steps if begin <= t and (open_end or t <= end) and (t - begin) % frequency == 0]
    assert _updates("jaxpruner", steps, frequency=frequency, begin_step=begin, end_step=tf1_end) == [
        t for t in steps if begin <= t and (open_end or t <= end) and t % frequency == 0]
    assert _updates("paper", steps, frequency=frequency, end_step=end) == [
        t for t in steps if t % frequency == 0 and t < end]
    assert _updates("rigl_torch", steps, frequency=frequency, end_step=end) == [
        t for t in steps if t % frequency == 0 and t < end]
    assert _updates("tf2", steps, frequency=frequency, end_step=None if open_end else end) == [
        t for t in steps if t % frequency == 0 and (open_end or t <= end)]


def test_every_registered_predicate_is_reachable_by_name():
    assert set(UPDATE_SCHEDULES) == {"paper", "tf1", "tf2", "rigl_torch", "jaxpruner"}
    with pytest.raises(ValueError, match="'tf3'"):
        make_update_schedule("tf3", frequency=1, end_step=5)


# ----------------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("schedule", [cosine_drop_fraction, cosine_drop_fraction_tf1, cosine_drop_fraction_tf1_folded])
def test_schedules_refuse_bad_windows_alphas_and_steps(schedule):
    with pytest.raises(ValueError, match="end_step"):
        schedule(0, alpha=0.3, begin_step=0, end_step=0)
    with pytest.raises(ValueError, match="end_step"):
        schedule(0, alpha=0.3, end_step=None)
    with pytest.raises(ValueError, match="alpha"):
        schedule(0, alpha=1.5, end_step=10)
    with pytest.raises(ValueError, match="alpha"):
        schedule(0, alpha=float("nan"), end_step=10)
    with pytest.raises(ValueError, match="step"):
        schedule(-1, alpha=0.3, end_step=10)


def test_schedules_without_a_begin_step_refuse_one():
    with pytest.raises(ValueError, match="begin_step"):
        cosine_drop_fraction(0, alpha=0.3, begin_step=5, end_step=10)
    with pytest.raises(ValueError, match="end_step"):
        cosine_drop_fraction_tf1(0, alpha=0.3, begin_step=50, end_step=10)
    with pytest.raises(ValueError, match="power"):
        exponential_drop_fraction_tf1(0, alpha=0.3, end_step=10, power=float("inf"))


@pytest.mark.parametrize("name", sorted(UPDATE_SCHEDULES))
def test_predicates_refuse_bad_frequencies_and_steps(name):
    with pytest.raises(ValueError, match="frequency"):
        make_update_schedule(name, frequency=0, end_step=10)
    with pytest.raises(ValueError, match="frequency"):
        make_update_schedule(name, frequency=-5, end_step=10)
    with pytest.raises(ValueError, match="step"):
        make_update_schedule(name, frequency=2, end_step=10).is_update(-1)


@pytest.mark.parametrize("name", ["paper", "rigl_torch", "tf1", "jaxpruner"])
def test_predicates_refuse_an_end_not_after_the_begin(name):
    with pytest.raises(ValueError, match="end_step"):
        make_update_schedule(name, frequency=2, begin_step=0, end_step=0)


@pytest.mark.parametrize("name", ["paper", "rigl_torch", "tf2"])
def test_predicates_without_a_begin_step_refuse_one(name):
    with pytest.raises(ValueError, match="begin_step"):
        make_update_schedule(name, frequency=2, begin_step=3, end_step=10)


# ----------------------------------------------------------------------------------------------------
# the conformance handlers of these modules, over their whole suites


@pytest.mark.parametrize("suite", ["tf1_sparsities", "tf1_cosine", "jaxpruner_sparsities"])
def test_every_case_of_the_suite_matches(suite):
    run_case = get_handler(suite)
    failures = {case["id"]: run_case(case, None) for case in _manifest(suite)["cases"]}
    assert {case_id: m for case_id, m in failures.items() if m} == {}


def test_tf1_cosine_within_the_documented_cos_tolerance_without_glibc(monkeypatch):
    import rigl_ref.conformance.handlers.tf1_cosine as handler

    monkeypatch.setattr(handler, "glibc_cosf_available", lambda: False)
    assert [c["id"] for c in _manifest("tf1_cosine")["cases"] if handler.run_case(c, None)] == []


@pytest.mark.parametrize("suite, corrupt", [
    ("tf1_sparsities", lambda e: e["sparsity"].__setitem__(-1, np.nextafter(e["sparsity"][-1], 1.0))),
    ("tf1_sparsities", lambda e: e["n_ones"].__setitem__(0, e["n_ones"][0] + 1)),
    ("tf1_cosine", lambda e: e["drop_fraction"].__setitem__(3, float(np.nextafter(np.float32(e["drop_fraction"][3]),
                                                                                   np.float32(0))))),
    ("tf1_cosine", lambda e: e["n_prune"][5].__setitem__(9, e["n_prune"][5][9] + 1)),
    ("jaxpruner_sparsities", lambda e: e["leaves"][0].__setitem__("n_ones", e["leaves"][0]["n_ones"] - 1)),
])
def test_handlers_report_a_corrupted_case(suite, corrupt):
    case = next(c for c in _manifest(suite)["cases"] if "error" not in c["expected"])
    corrupt(case["expected"])
    assert get_handler(suite)(case, None)


def test_an_expected_error_needs_the_documented_error():
    case = next(c for c in _manifest("tf1_sparsities")["cases"] if "error" in c["expected"])
    run_case = get_handler("tf1_sparsities")
    assert run_case(case, None) == []
    case["expected"]["error"] = "KeyError: 'layer9'"
    assert run_case(case, None)
