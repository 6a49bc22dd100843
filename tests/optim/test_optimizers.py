"""Optimizers: hand-computed steps, a scalar-recurrence oracle over random inputs, slot remapping, bad input."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rigl_ref.optim import SGD, Adam, AdamW, is_decayed

floats = st.floats(-4, 4, allow_nan=False, width=64)


def test_sgd_momentum_two_steps_by_hand():
    # w=1, g=0.5 twice, lr=0.1, mu=0.9: m1=0.5, w1=0.95; m2=0.9*0.5+0.5=0.95, w2=0.95-0.095=0.855
    w = np.array([1.0])
    opt = SGD(momentum=0.9)
    for _ in range(2):
        opt.step({"w": w}, {"w": np.array([0.5])}, lr=0.1)
    assert w[0] == pytest.approx(0.855, abs=1e-15)
    assert opt.slots("w")["momentum"][0] == pytest.approx(0.95, abs=1e-15)


def test_nesterov_step_by_hand():
    # m1 = 0.5; w1 = 1 - 0.1*(0.5 + 0.9*0.5) = 0.905
    w = np.array([1.0])
    SGD(momentum=0.9, nesterov=True).step({"w": w}, {"w": np.array([0.5])}, lr=0.1)
    assert w[0] == pytest.approx(0.905, abs=1e-15)


def test_weight_decay_skips_biases_and_is_coupled():
    # g_eff = g + wd*w = 0 + 0.5*2 = 1 -> w = 2 - 0.1*1 = 1.9 ; bias untouched by decay
    w, b = np.array([2.0]), np.array([2.0])
    SGD(weight_decay=0.5).step({"fc.weight": w, "fc.bias": b}, {"fc.weight": np.zeros(1), "fc.bias": np.zeros(1)}, 0.1)
    assert w[0] == pytest.approx(1.9) and b[0] == 2.0
    assert is_decayed("fc1.weight") and not is_decayed("fc1.bias")


def _scalar_sgd(w, grads, lr, mu, nesterov, wd):
    m = 0.0
    for g in grads:
        g = g + wd * w
        m = mu * m + g
        w = w - lr * ((g + mu * m) if nesterov else m)
    return w


@given(
    w=hnp.arrays(np.float64, st.integers(1, 6), elements=floats),
    steps=st.integers(1, 4),
    mu=st.sampled_from([0.5, 0.9]),
    nesterov=st.booleans(),
    wd=st.sampled_from([0.0, 1e-2]),
    seed=st.integers(0, 2**16),
)
def test_sgd_matches_scalar_recurrence(w, steps, mu, nesterov, wd, seed):
    rng = np.random.default_rng(seed)
    grads = rng.normal(size=(steps, w.size))
    expected = [_scalar_sgd(w0, grads[:, i], 0.05, mu, nesterov, wd) for i, w0 in enumerate(w)]
    opt = SGD(momentum=mu, nesterov=nesterov, weight_decay=wd)
    param = w.copy()
    for g in grads:
        opt.step({"k": param}, {"k": g}, lr=0.05)
    np.testing.assert_allclose(param, expected, rtol=1e-12, atol=1e-12)


def test_adam_first_step_moves_by_lr_times_sign():
    # t=1: m_hat = g, v_hat = g^2 -> step = lr * g / (|g| + eps) ~ lr * sign(g)
    w = np.array([0.0, 0.0, 1.0])
    Adam(eps=1e-12).step({"w": w}, {"w": np.array([3.0, -0.2, 0.0])}, lr=0.01)
    np.testing.assert_allclose(w, [-0.01, 0.01, 1.0], rtol=1e-9)


@given(seed=st.integers(0, 2**16), steps=st.integers(1, 5), wd=st.sampled_from([0.0, 0.1]))
def test_adam_and_adamw_match_scalar_recurrence(seed, steps, wd):
    rng = np.random.default_rng(seed)
    w0, grads, lr = rng.normal(size=3), rng.normal(size=(steps, 3)), 0.01
    for decoupled in (False, True):
        opt = AdamW(weight_decay=wd) if decoupled else Adam(weight_decay=wd)
        param = w0.copy()
        for g in grads:
            opt.step({"w": param}, {"w": g}, lr)
        for i in range(3):
            w, m, v = w0[i], 0.0, 0.0
            for t, g in enumerate(grads[:, i], start=1):
                if decoupled:
                    w -= lr * wd * w
                else:
                    g = g + wd * w
                m = 0.9 * m + 0.1 * g
                v = 0.999 * v + 0.001 * g * g
                w -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
            assert param[i] == pytest.approx(w, rel=1e-10, abs=1e-12)


def test_float32_params_stay_float32_and_are_reproducible():
    rng = np.random.default_rng(0)
    grads = rng.normal(size=(5, 7)).astype(np.float32)
    results = []
    for _ in range(2):
        w = np.ones(7, np.float32)
        opt = SGD(momentum=0.9, nesterov=True, weight_decay=1e-4)
        for g in grads:
            opt.step({"w": w}, {"w": g}, lr=0.1)
        results.append(w)
    assert results[0].dtype == np.float32 and opt.slots("w")["momentum"].dtype == np.float32
    assert np.array_equal(results[0], results[1])


def test_zero_valued_active_weight_stays_active_and_zero_without_gradient():
    w = np.array([0.0, 1.0], np.float32)
    opt = SGD(momentum=0.9, weight_decay=1e-4)
    for _ in range(3):
        opt.step({"w": w}, {"w": np.zeros(2, np.float32)}, lr=0.1)
    assert w.shape == (2,) and w[0] == 0.0


def test_slots_must_be_remapped_after_a_pattern_change():
    opt = SGD(momentum=0.9)
    opt.step({"w": np.ones(3)}, {"w": np.ones(3)}, 0.1)
    with pytest.raises(ValueError, match=r"slot 'momentum' of parameter 'w' has shape \(3,\).*\(4,\)"):
        opt.step({"w": np.ones(4)}, {"w": np.ones(4)}, 0.1)
    # remap: two kept entries keep their velocity, two new ones start at 0
    kept = opt.slots("w")["momentum"][[0, 2]]
    opt.set_slots("w", {"momentum": np.array([kept[0], 0.0, kept[1], 0.0])})
    w = np.zeros(4)
    opt.step({"w": w}, {"w": np.ones(4)}, 1.0)
    np.testing.assert_allclose(w, [-1.9, -1.0, -1.9, -1.0])


def test_state_arrays_round_trip():
    opt = Adam()
    opt.step({"a": np.ones(2), "b.bias": np.ones(1)}, {"a": np.ones(2), "b.bias": np.ones(1)}, 0.1)
    clone = Adam()
    clone.load_state_arrays(opt.state_arrays(), opt.iterations)
    assert clone.iterations == 1
    for key, array in opt.state_arrays().items():
        assert np.array_equal(clone.state_arrays()[key], array)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SGD(momentum=1.0), "momentum must lie in"),
        (lambda: SGD(nesterov=True), "nesterov=True needs a momentum"),
        (lambda: SGD(weight_decay=-1), "weight_decay must be"),
        (lambda: Adam(beta1=1.5), "beta1 must lie in"),
        (lambda: Adam(eps=0), "eps must be > 0"),
    ],
)
def test_bad_hyperparameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_step_inputs():
    opt = SGD()
    with pytest.raises(ValueError, match="lr must be"):
        opt.step({"w": np.ones(1)}, {"w": np.ones(1)}, float("nan"))
    with pytest.raises(ValueError, match=r"grads has no entry for parameter\(s\) \['w'\]"):
        opt.step({"w": np.ones(1)}, {}, 0.1)
    with pytest.raises(ValueError, match=r"gradient of parameter 'w' has shape \(2,\)"):
        opt.step({"w": np.ones(1)}, {"w": np.ones(2)}, 0.1)
    with pytest.raises(ValueError, match="must have exactly the names"):
        SGD(momentum=0.9).set_slots("w", {"m": np.ones(1)})
    with pytest.raises(ValueError, match="does not name a slot"):
        Adam().load_state_arrays({"w/momentum": np.ones(1)}, 1)
