"""One fused row of the primitive table: ``bias_activation(pre, bias) = act(pre + bias)``.

A sparse linear layer ends with a bias and (in a hidden layer) a ReLU; as separate rows (``add``, ``relu``)
they cost two graph nodes, four whole-array NumPy passes and two temporaries per layer and step. This row
does the same in one Numba pass forward and one backward (``rigl_ref.kernels.bias``), on the feature-major
arrays of the sparse kernels: ``pre`` is ``(batch, out)``, usually the transposed view of a feature-major
product (``sparse_linear``'s output), and the output is again such a view, so the next ``sparse_linear``
takes it without a copy.

* ``activation``: ``"identity"`` or ``"relu"``.
* Output: ``relu(pre + bias)`` bit for bit as the separate rows compute it (``maximum(v, 0)``), by the
  kernel when ``pre`` is feature-major (the transposed view of a C-contiguous array), else by the rows' own
  NumPy expressions (so the output has the layout theirs would have).
* VJPs, from one joint function (:meth:`~rigl_ref.autograd.primitives.Primitive.fused`): the
  pre-activation gradient ``g * (out > 0)`` (``g`` itself for the identity) and the bias gradient
  ``unbroadcast`` of it, so both are the separate rows' gradients bit for bit: the mask is the kernel's pass
  when ``g`` and the output are feature-major (``sparse_linear``'s input gradient is) and the ``relu``
  row's own NumPy expression otherwise; either way the array has the layout the separate rows' would have,
  and so NumPy sums the bias gradient in the same order.
"""

from __future__ import annotations

import numpy as np

from rigl_ref.autograd.primitives import Primitive, apply, register_primitive, unbroadcast
from rigl_ref.autograd.tensor import Tensor
from rigl_ref.kernels.bias import bias_activation as bias_activation_kernel
from rigl_ref.kernels.bias import relu_gradient
from rigl_ref.validate import check_choice

ACTIVATIONS = ("identity", "relu")


def _forward(pre, bias, *, activation):
    relu = check_choice("bias_activation activation", activation, ACTIVATIONS) == "relu"
    if pre.ndim != 2 or bias.shape != (pre.shape[1],):
        raise ValueError(f"bias_activation: pre-activation of shape {pre.shape} needs a bias of shape "
                         f"({pre.shape[1] if pre.ndim == 2 else '?'},), got {bias.shape}")
    if pre.T.flags.c_contiguous:  # feature-major: one kernel pass, the result feature-major again
        return bias_activation_kernel(pre.T, bias, relu).T
    out = pre + bias  # the add and relu rows' own expressions (and so their layout)
    return np.maximum(out, 0) if relu else out


def _joint_vjp(g, out, pre, bias, *, activation, needs):
    if activation == "identity":
        pre_grad = g
    elif g.T.flags.c_contiguous and out.T.flags.c_contiguous:  # feature-major: one kernel pass
        pre_grad = relu_gradient(g.T, out.T).T
    else:
        pre_grad = g * (out > 0)  # the relu row's VJP (out > 0 exactly where pre > 0)
    return (pre_grad if needs[0] else None), (unbroadcast(pre_grad, bias.shape) if needs[1] else None)


BIAS_ACTIVATION = register_primitive(Primitive.fused("bias_activation", _forward, _joint_vjp, n_inputs=2))


def bias_activation(pre, bias, *, activation: str = "identity") -> Tensor:
    """``act(pre + bias)`` for ``pre`` ``(batch, out)`` and ``bias`` ``(out,)``; ``activation`` is
    ``"identity"`` or ``"relu"`` (module docstring)."""
    return apply(BIAS_ACTIVATION, pre, bias, activation=activation)

