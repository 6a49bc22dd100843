"""A sparse layer's bias and activation in one pass each way, feature-major (``rigl_ref.autograd.bias_activation``).

Forward, on the pre-bias output ``PT`` ``(n_out, batch)`` of a sparse product:
``out[j, b] = act(PT[j, b] + bias[j])``, with ``act`` the identity or ReLU as NumPy's ``maximum(v, 0)``
computes it (a negative ``v`` and -0.0 become +0.0; NaN passes unchanged), so the result equals
``relu(pre + bias)`` of the separate primitives bit for bit.

Backward (ReLU only; the identity passes its gradient on): the pre-activation gradient
``GT[j, b] * (out[j, b] > 0)``, the product with 1.0 or 0.0 exactly as the ``relu`` primitive's
``g * (x > 0)`` (``out > 0`` exactly where the pre-activation is), so a NaN or Inf in the gradient is never
masked away (``NaN * 0`` is NaN).

Why kernels: the separate ``add`` and ``relu`` primitives cost four whole-array NumPy passes, two
temporaries and two graph nodes per layer and step, where these take one pass each way (measured on the
784-1000-1000-10 MLP: docs/performance.md). The NumPy twins are in ``reference.py``.
"""

from __future__ import annotations

import numpy as np

from .jit import jit


@jit
def bias_activation(PT, bias, relu):
    """``act(PT + bias[:, None])`` as a new C-contiguous array (module docstring); ``relu``: ReLU, else identity."""
    out = np.empty(PT.shape, dtype=PT.dtype)
    zero = PT.dtype.type(0)
    for j in range(PT.shape[0]):
        shift = bias[j]
        source, target = PT[j], out[j]
        for b in range(PT.shape[1]):
            v = source[b] + shift
            if relu and v <= zero:
                v = zero
            target[b] = v
    return out


@jit
def relu_gradient(GT, outT):
    """``GT * (outT > 0)`` as a new C-contiguous array: the gradient before a ReLU whose output is ``outT``."""
    G_preT = np.empty(GT.shape, dtype=GT.dtype)
    one, zero = GT.dtype.type(1), GT.dtype.type(0)
    for j in range(GT.shape[0]):
        g, o, target = GT[j], outT[j], G_preT[j]
        for b in range(GT.shape[1]):
            target[b] = g[b] * (one if o[b] > zero else zero)
    return G_preT
