"""Autograd-lite: a NumPy ``Tensor``, reverse-mode ``backward()``, and ONE table of primitives whose forward
functions and vector-Jacobian products sit side by side (HIPS autograd style). See ``docs/autograd.md``.

Layer 2 of rigl_ref: imports ``rigl_ref.validate`` only (it may use ``rigl_ref.sparse`` and ``kernels``).
"""

from rigl_ref.autograd.conv import col2im, cols_to_nchw, im2col, nchw_to_cols
from rigl_ref.autograd.gradcheck import GradcheckReport, check_gradients, gradient_report
from rigl_ref.autograd.ops import (
    add,
    conv2d,
    div,
    dropout,
    exp,
    log,
    log_softmax,
    matmul,
    max_pool2d,
    mean,
    mul,
    neg,
    relu,
    reshape,
    softmax_cross_entropy,
    sub,
    sum,
    transpose,
)
from rigl_ref.autograd.primitives import PRIMITIVES, TABLE, Primitive, apply, register_primitive, unbroadcast
from rigl_ref.autograd.tensor import Tensor, as_tensor

__all__ = [
    "PRIMITIVES",
    "TABLE",
    "GradcheckReport",
    "Primitive",
    "Tensor",
    "add",
    "apply",
    "as_tensor",
    "check_gradients",
    "col2im",
    "cols_to_nchw",
    "conv2d",
    "div",
    "dropout",
    "exp",
    "gradient_report",
    "im2col",
    "log",
    "log_softmax",
    "matmul",
    "max_pool2d",
    "mean",
    "mul",
    "nchw_to_cols",
    "neg",
    "register_primitive",
    "relu",
    "reshape",
    "softmax_cross_entropy",
    "sub",
    "sum",
    "transpose",
    "unbroadcast",
]
