"""Dense layers: ``Linear`` (weight ``(in, out)``, ``y = x @ W + b``) and ``Conv2d`` (weight OIHW).

They are used where a layer is not sparse (the dense baselines, and layers a distribution leaves dense)
and share their interface with the sparse layers of :mod:`rigl_ref.nn.sparse_layers`: calling the layer
on a Tensor gives its output, ``parameters()`` maps local names (``"weight"``, ``"bias"``) to the leaf
Tensors an optimizer updates.

Initialisation is Glorot (Xavier) uniform for weights, the default of TF/Keras ``Dense`` and ``Conv2D``
that the paper's drivers build on: ``U(-l, l)`` with ``l = sqrt(6 / (fan_in + fan_out))``, where a
convolution's fans include the kernel area. Biases start at zero.
"""

from __future__ import annotations

import math

import numpy as np

from rigl_ref.autograd import Tensor, conv2d, relu
from rigl_ref.autograd.bias_activation import ACTIVATIONS
from rigl_ref.validate import as_generator, check_choice, check_positive_int


def glorot_limit(fan_in: int, fan_out: int) -> float:
    """Half-width ``sqrt(6 / (fan_in + fan_out))`` of the Glorot uniform distribution."""
    return math.sqrt(6.0 / (fan_in + fan_out))


class Linear:
    """Dense fully connected layer: ``x (batch, in) -> x @ W + b`` with ``W`` of shape ``(in, out)``."""

    def __init__(self, in_features: int, out_features: int, rng, *, dtype=np.float32):
        self.in_features = check_positive_int("in_features", in_features)
        self.out_features = check_positive_int("out_features", out_features)
        limit = glorot_limit(in_features, out_features)
        values = as_generator(rng).uniform(-limit, limit, size=(in_features, out_features))
        self.weight = Tensor(values.astype(dtype), requires_grad=True)
        self.bias = Tensor(np.zeros(out_features, dtype), requires_grad=True)

    def __call__(self, x: Tensor, activation: str = "identity") -> Tensor:
        """``act(x @ W + b)``, ``activation`` ``"identity"`` or ``"relu"`` (the separate rows)."""
        y = x @ self.weight + self.bias
        return relu(y) if check_choice("activation", activation, ACTIVATIONS) == "relu" else y

    def parameters(self) -> dict[str, Tensor]:
        return {"weight": self.weight, "bias": self.bias}


class Conv2d:
    """Dense 2-D convolution, NCHW input, OIHW weight, zero padding, plus a per-channel bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, rng, *, stride: int = 1,
                 padding: int = 0, dtype=np.float32):
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.out_channels = check_positive_int("out_channels", out_channels)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        self.stride, self.padding = stride, padding
        area = kernel_size * kernel_size
        limit = glorot_limit(in_channels * area, out_channels * area)
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.weight = Tensor(as_generator(rng).uniform(-limit, limit, size=shape).astype(dtype), requires_grad=True)
        self.bias = Tensor(np.zeros(out_channels, dtype), requires_grad=True)

    def __call__(self, x: Tensor) -> Tensor:
        return conv2d(x, self.weight, stride=self.stride, padding=self.padding) + self.bias.reshape(1, -1, 1, 1)

    def parameters(self) -> dict[str, Tensor]:
        return {"weight": self.weight, "bias": self.bias}
