"""Friendly functions over Tensors: one per primitive of :mod:`rigl_ref.autograd.primitives`.

Each function only names its static arguments and calls :func:`~rigl_ref.autograd.primitives.apply`;
the mathematics lives in the table. Inputs may be Tensors, arrays or Python numbers (the latter two
become constants). ``sum`` and ``mean`` shadow the builtins inside this module on purpose (NumPy's names).
"""

from __future__ import annotations

import numpy as np

from rigl_ref.autograd.primitives import apply
from rigl_ref.autograd.tensor import Tensor, as_tensor
from rigl_ref.validate import as_generator


def add(x, y) -> Tensor:
    """``x + y`` with NumPy broadcasting."""
    return apply("add", x, y)


def sub(x, y) -> Tensor:
    """``x - y`` with NumPy broadcasting."""
    return apply("sub", x, y)


def mul(x, y) -> Tensor:
    """``x * y`` (elementwise) with NumPy broadcasting."""
    return apply("mul", x, y)


def div(x, y) -> Tensor:
    """``x / y`` (elementwise) with NumPy broadcasting."""
    return apply("div", x, y)


def neg(x) -> Tensor:
    """``-x``."""
    return apply("neg", x)


def matmul(a, b) -> Tensor:
    """``a @ b`` for ``a (n, k)`` or a batch ``a (..., n, k)``, and ``b (k, m)``."""
    return apply("matmul", a, b)


def sum(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001 (NumPy's name)
    """Sum over ``axis`` (all axes if None), as ``numpy.sum``."""
    return apply("sum", x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (all axes if None), as ``numpy.mean``."""
    return apply("mean", x, axis=axis, keepdims=keepdims)


def reshape(x, shape) -> Tensor:
    """``x`` with a new ``shape`` (same number of entries)."""
    return apply("reshape", x, shape=tuple(shape))


def transpose(x, axes=None) -> Tensor:
    """``x`` with its axes permuted (reversed if ``axes`` is None), as ``numpy.transpose``."""
    return apply("transpose", x, axes=None if axes is None else tuple(axes))


def relu(x) -> Tensor:
    """``max(x, 0)``; the gradient at exactly 0 is 0 (PyTorch's convention)."""
    return apply("relu", x)


def exp(x) -> Tensor:
    """``e ** x`` elementwise."""
    return apply("exp", x)


def log(x) -> Tensor:
    """Natural logarithm elementwise."""
    return apply("log", x)


def log_softmax(x, axis: int = -1) -> Tensor:
    """``x - logsumexp(x, axis)``, computed after subtracting the maximum along ``axis``."""
    return apply("log_softmax", x, axis=axis)


def softmax_cross_entropy(logits, labels) -> Tensor:
    """Mean over the batch of ``-log softmax(logits)[i, labels[i]]``.

    ``logits`` is ``(batch, classes)``; ``labels`` is an integer array ``(batch,)`` with values in
    ``[0, classes)`` (a static argument: it is not differentiated).
    """
    return apply("softmax_cross_entropy", logits, labels=np.asarray(labels))


def conv2d(x, weight, stride=1, padding=0) -> Tensor:
    """Cross-correlation of ``x (N, C, H, W)`` with ``weight (O, C, kh, kw)``; add a bias separately,
    e.g. ``conv2d(x, w) + b.reshape(1, -1, 1, 1)``. ``stride``/``padding``: an int or a pair (zero padding)."""
    return apply("conv2d", x, weight, stride=stride, padding=padding)


def max_pool2d(x, kernel_size, stride=None) -> Tensor:
    """Maximum over windows of ``x (N, C, H, W)``; ``stride`` defaults to ``kernel_size``. On ties the
    gradient goes to the first maximum in row-major window order."""
    return apply("max_pool2d", x, kernel_size=kernel_size, stride=stride)


def dropout(x, p: float, rng, training: bool = True) -> Tensor:
    """Inverted dropout: zero each entry with probability ``p`` and scale the kept ones by ``1 / (1 - p)``.

    An entry is kept when ``u >= p`` for ``u = rng.random(x.shape)`` (float64 uniforms in row-major
    order), so one Generator state gives one mask. ``rng`` is a ``numpy.random.Generator`` or an int seed
    (a seed gives the same mask on every call). With ``training=False`` or ``p == 0``, ``x`` is returned
    unchanged and ``rng`` is not used.
    """
    p = float(p)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p must lie in [0, 1), got {p!r}")
    rng = as_generator(rng)
    x = as_tensor(x)
    if not training or p == 0.0:
        return x
    mask = (rng.random(x.shape) >= p).astype(x.dtype) / x.dtype.type(1.0 - p)
    return apply("dropout", x, mask=mask)
