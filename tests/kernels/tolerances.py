"""The one tolerance table for kernel-vs-twin comparisons (float outputs; index outputs are always exact).

Every kernel and its NumPy twin perform the same float operations in the same order (``rigl_ref/kernels``
docstrings), so the allowed difference is zero. A nonzero entry would be needed only on a compiler that
fuses a multiply and an add into an FMA despite ``fastmath=False``; it must then be added here with the
reason, never loosened in a test body.
"""

import numpy as np

# kernel name -> (rtol, atol) for float32; float64 uses the same (exact) rule
KERNEL_VS_TWIN = {
    "csr_transposed_matmul": (0.0, 0.0),
    "csr_matmul": (0.0, 0.0),
    "sddmm": (0.0, 0.0),
    "dense_weight_gradient": (0.0, 0.0),
    "grow_topk": (0.0, 0.0),
}

# sparse kernels against a dense BLAS product (different summation order): float32 / float64
DENSE_PRODUCT = {np.dtype(np.float32): (1e-5, 1e-5), np.dtype(np.float64): (1e-12, 1e-12)}


def assert_matches_twin(name, actual, expected):
    rtol, atol = KERNEL_VS_TWIN[name]
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, (name, actual.dtype, actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=name)
