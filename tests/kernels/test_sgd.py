"""``sgd_momentum_step`` equals its NumPy twin bit for bit, and ``SGD`` gives the same step whatever the
parameter's memory layout (kernel for C-contiguous arrays, the twin otherwise)."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.kernels import reference, sgd_momentum_step
from rigl_ref.optim import SGD


def _bits(a):
    return a.view(np.uint64 if a.dtype == np.float64 else np.uint32)


@given(st.integers(0, 200), st.sampled_from([np.float32, np.float64]), st.floats(0.01, 0.99),
       st.booleans(), st.booleans(), st.integers(0, 2**32 - 1))
def test_kernel_equals_twin_bit_for_bit(n, dtype, momentum, decayed, nesterov, seed):
    rng = np.random.default_rng(seed)
    param, grad, velocity = (rng.standard_normal(n).astype(dtype) for _ in range(3))
    if n:
        grad[rng.integers(n)] = 0  # a zero gradient, and tiny values whose products round
        param[rng.integers(n)] = dtype(1e-30)
    scalars = (dtype(0.1), dtype(momentum), dtype(5e-4), decayed, nesterov)
    p1, v1 = param.copy(), velocity.copy()
    sgd_momentum_step(p1, grad, v1, *scalars)
    p2, v2 = param.copy(), velocity.copy()
    reference.sgd_momentum_step(p2, grad, v2, *scalars)
    assert np.array_equal(_bits(p1), _bits(p2)) and np.array_equal(_bits(v1), _bits(v2))
    assert p1.dtype == dtype and v1.dtype == dtype


def test_nan_in_the_gradient_reaches_the_parameter_and_velocity():
    param, velocity = np.ones(3, np.float32), np.zeros(3, np.float32)
    sgd_momentum_step(param, np.array([0, np.nan, np.inf], np.float32), velocity, np.float32(0.1), np.float32(0.9),
                      np.float32(0), False, True)
    assert np.isnan(param[1]) and np.isnan(velocity[1]) and param[2] == -np.inf and param[0] == 1


def test_optimizer_step_is_the_same_for_c_and_fortran_ordered_parameters():
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((5, 7)).astype(np.float32)
    grads = [rng.standard_normal((5, 7)).astype(np.float32) for _ in range(3)]
    results = []
    for layout in ("C", "F"):
        param = np.array(weight, order=layout)
        optimizer = SGD(momentum=0.9, nesterov=True, weight_decay=1e-3)
        for grad in grads:
            optimizer.step({"w": param}, {"w": np.array(grad, order=layout)}, 0.05)
        results.append((param.copy(), optimizer.slots("w")["momentum"].copy()))
    (p_c, v_c), (p_f, v_f) = results
    assert np.array_equal(_bits(p_c), _bits(p_f)) and np.array_equal(_bits(v_c), _bits(v_f))
