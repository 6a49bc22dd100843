"""Learning-rate schedules: hand-computed values, shape properties, bad input."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.optim import Constant, Cosine, StepDecay, Warmup, make_lr_schedule


def test_mnist_driver_step_schedule():
    # lr 0.2 divided by 3 at epochs 75 and 95 of 200 (google-research/rigl rigl/mnist/mnist_train_eval.py), 600 steps per epoch
    schedule = make_lr_schedule("step", 0.2, 200 * 600, milestones=(75 / 200, 95 / 200), gamma=1 / 3)
    assert schedule.milestones == (45000, 57000)
    assert schedule(44999) == 0.2
    assert schedule(45000) == pytest.approx(0.2 / 3)
    assert schedule(57000) == pytest.approx(0.2 / 9)


def test_cosine_values():
    schedule = Cosine(1.0, 100)
    assert schedule(0) == 1.0 and schedule(50) == pytest.approx(0.5) and schedule(100) == pytest.approx(0.0)
    assert schedule(250) == schedule(100)
    assert Cosine(1.0, 100, final_lr=0.1)(100) == pytest.approx(0.1)


@given(st.integers(1, 500), st.floats(0.001, 1.0))
def test_cosine_is_non_increasing_and_bounded(total, lr):
    schedule = Cosine(lr, total)
    values = [schedule(t) for t in range(total + 2)]
    assert all(b <= a + 1e-15 for a, b in zip(values, values[1:]))
    assert all(-1e-15 <= v <= lr for v in values)


def test_warmup_is_linear_then_hands_over():
    schedule = Warmup(Constant(0.4), 4)
    assert [schedule(t) for t in range(6)] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.4, 0.4])
    assert make_lr_schedule("cosine", 1.0, 10, warmup_steps=2)(0) == pytest.approx(0.5)


def test_step_decay_counts_passed_milestones():
    schedule = StepDecay(1.0, (2, 5), 0.5)
    assert [schedule(t) for t in range(7)] == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: make_lr_schedule("linear", 0.1, 10), "unknown lr schedule 'linear'"),
        (lambda: make_lr_schedule("step", 0.1, 10, milestones=(1.5,)), "lr milestones must be"),
        (lambda: make_lr_schedule("cosine", 0.1, 0), "total_steps must be a positive integer"),
        (lambda: Constant(-1.0), "lr must be a finite number"),
        (lambda: StepDecay(0.1, (5, 5), 0.1), "strictly increasing"),
        (lambda: Constant(0.1)(-1), "step must be an integer >= 0"),
        (lambda: Constant(math.inf), "lr must be a finite number"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
