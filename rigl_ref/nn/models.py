"""Models: MLPs of any widths (LeNet-300-100 = 784-300-100-10, 784-1000-1000-10) and LeNet-5.

A model is described first by its **layer specs** (:func:`architecture`): name, kind, fans and kernel
size, from which the framework shape (dense ``(in, out)``, conv ``(kh, kw, c_in, c_out)``, the layouts the
sparsity distributions read) and the CSR shape (dense ``(in, out)``, conv ``(out, in*kh*kw)``) follow.
The training layer turns the specs into per-layer sparsities and random patterns
(``rigl_ref.sparse_training.distributions`` / ``masks``) and then builds the model with :class:`Model`:
a layer with a mask (a dense boolean array, or the sorted flat indices of its active positions, which
the trainer uses so that no dense W x W array is ever built) becomes a truly sparse layer
(``SparseLinear``/``SparseConv2d`` over a ``CSRWeight``), a layer without one a dense ``Linear``/``Conv2d``.
Biases are always dense.

Initialisation: Glorot uniform over each layer's dense fans (TF/Keras default, what the official code
does), biases zero. A sparse layer draws only its ``nnz`` active values, in CSR (row-major) order, from
the same distribution (memory scales with the active connections; every active weight has the
distribution a dense draw followed by masking gives). With ``scale_by_density=True`` the limit of a
sparse layer is divided by ``sqrt(density)``, i.e. Glorot with fans scaled by the layer's density, which
keeps the activation variance of a sparse network close to the dense one's (the concern of Evci et al.
2022, "Gradient Flow in Sparse Neural Networks"; without it LeNet-5 at 90 % sparsity does not train
from the default learning rate). Layers are initialised in network order from one Generator.

Forward passes: MLP ``x -> relu(x W1 + b1) -> ... -> logits``; LeNet-5 (``rigl/rigl_tf2/networks.py``)
``conv5x5(6) - relu - maxpool2 - conv5x5(16) - relu - maxpool2 - flatten - 120 - relu - 84 - relu - 10``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from rigl_ref.autograd import Tensor, max_pool2d, relu
from rigl_ref.nn.layers import Conv2d, Linear, glorot_limit
from rigl_ref.nn.sparse_layers import SparseConv2d, SparseLinear
from rigl_ref.sparse import CSRWeight, flat_to_pattern
from rigl_ref.validate import as_generator, check_choice, check_positive_int

MODEL_NAMES = ("lenet-300-100", "mlp-1000-1000", "lenet5", "mlp")
PRESET_HIDDEN = {"lenet-300-100": (300, 100), "mlp-1000-1000": (1000, 1000)}
LENET5_HIDDEN = (6, 16, 120, 84)  # conv1 channels, conv2 channels, fc1 and fc2 widths


@dataclass(frozen=True)
class LayerSpec:
    """One weight layer: ``kind`` is ``"linear"`` (fans = features) or ``"conv"`` (fans = channels)."""

    name: str
    kind: str
    fan_in: int
    fan_out: int
    kernel_size: int = 1

    @property
    def framework_shape(self) -> tuple[int, ...]:
        """The TF/JAX layout the distributions and masks use: ``(in, out)`` or ``(k, k, in, out)``."""
        if self.kind == "linear":
            return (self.fan_in, self.fan_out)
        return (self.kernel_size, self.kernel_size, self.fan_in, self.fan_out)

    @property
    def csr_shape(self) -> tuple[int, int]:
        """The stored CSR layout: ``(in, out)`` or ``(out, in * k * k)`` (rows follow im2col)."""
        if self.kind == "linear":
            return (self.fan_in, self.fan_out)
        return (self.fan_out, self.fan_in * self.kernel_size**2)

    @property
    def size(self) -> int:
        return int(np.prod(self.framework_shape))

    def to_csr_layout(self, mask: np.ndarray) -> np.ndarray:
        """A framework-layout array as the CSR layout (conv: ``(k,k,in,out) -> (out, in*k*k)``)."""
        mask = np.asarray(mask)
        if mask.shape != self.framework_shape:
            raise ValueError(f"mask of layer {self.name!r} has shape {mask.shape}, expected {self.framework_shape}")
        if self.kind == "linear":
            return mask
        return mask.transpose(3, 2, 0, 1).reshape(self.csr_shape)

    def csr_pattern(self, flat) -> tuple[np.ndarray, np.ndarray]:
        """CSR ``(indptr, indices)`` (int64) of the positions whose sorted row-major flat indices in the
        framework layout are ``flat`` (``sparse_training.masks.random_active_indices``), in memory
        O(len(flat)) (conv: each position mapped to ``(out, in*k*k)`` and re-sorted)."""
        flat = np.asarray(flat, dtype=np.int64)
        if self.kind == "conv" and flat.size:
            kh, kw, c_in, out = np.unravel_index(flat, self.framework_shape)
            flat = np.sort(out * self.csr_shape[1] + (c_in * self.kernel_size + kh) * self.kernel_size + kw)
        return flat_to_pattern(flat, self.csr_shape)

    def glorot_limit(self) -> float:
        area = self.kernel_size**2
        return glorot_limit(self.fan_in * area, self.fan_out * area)


def hidden_widths(model: str, hidden=()) -> tuple[int, ...]:
    """The hidden widths of ``model`` (``mlp`` takes them from ``hidden``; LeNet-5: channels and widths)."""
    check_choice("model", model, MODEL_NAMES)
    if model == "mlp":
        if not hidden:
            raise ValueError("model 'mlp' needs hidden widths, e.g. hidden=(300, 100)")
        return tuple(check_positive_int("hidden width", w) for w in hidden)
    return PRESET_HIDDEN.get(model, LENET5_HIDDEN)


def scaled_widths(widths, width: float) -> tuple[int, ...]:
    """Every hidden width ``h`` as ``max(1, int(h * width))`` (the small-dense baseline's narrower net).

    The rule of ``sparse_training.catalogues.scale_width`` (``int`` truncation, inputs and classes kept)
    applied to the hidden widths, so that a layer's input always matches the previous layer's output
    (LeNet-5's flattened features follow conv2's channels); a width never drops below 1.
    """
    return tuple(max(1, int(w * width)) for w in widths)


def architecture(model: str, *, input_shape, num_classes: int, hidden=(), width: float = 1.0) -> tuple[LayerSpec, ...]:
    """Layer specs of ``model`` for examples of ``input_shape`` (e.g. ``(28, 28)``) and ``num_classes``."""
    widths = scaled_widths(hidden_widths(model, hidden), width)
    num_classes = check_positive_int("num_classes", num_classes)
    if model == "lenet5":
        if tuple(input_shape) not in ((28, 28), (1, 28, 28)):
            raise ValueError(f"lenet5 takes 28x28 single-channel images, got examples of shape {tuple(input_shape)}")
        c1, c2, h1, h2 = widths
        return (
            LayerSpec("conv1", "conv", 1, c1, 5),
            LayerSpec("conv2", "conv", c1, c2, 5),
            LayerSpec("fc1", "linear", c2 * 4 * 4, h1),
            LayerSpec("fc2", "linear", h1, h2),
            LayerSpec("fc3", "linear", h2, num_classes),
        )
    sizes = (int(np.prod(input_shape)), *widths, num_classes)
    return tuple(LayerSpec(f"fc{i + 1}", "linear", a, b) for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])))


def _make_layer(spec: LayerSpec, mask, rng: np.random.Generator, dtype, values=None, scale_by_density=False):
    """A dense layer (``mask`` None) or a sparse one; ``mask`` is a boolean array in the framework layout
    or the 1-D sorted flat indices of its active positions (:meth:`LayerSpec.csr_pattern`); ``values``
    (CSR layout) replaces the random draw."""
    if mask is None:
        if spec.kind == "linear":
            return Linear(spec.fan_in, spec.fan_out, rng, dtype=dtype)
        return Conv2d(spec.fan_in, spec.fan_out, spec.kernel_size, rng, dtype=dtype)
    if _is_flat_indices(mask):
        indptr, indices = spec.csr_pattern(mask)
    else:
        rows, indices = np.nonzero(spec.to_csr_layout(mask).astype(bool))  # row-major: the CSR entry order
        indptr = np.zeros(spec.csr_shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=spec.csr_shape[0]), out=indptr[1:])
    nnz = indices.size
    limit = spec.glorot_limit()
    if scale_by_density and nnz:
        limit /= np.sqrt(nnz / spec.size)
    if values is None:
        data = rng.uniform(-limit, limit, size=nnz).astype(dtype)
    else:
        rows = np.repeat(np.arange(spec.csr_shape[0]), np.diff(indptr))
        data = np.asarray(values, dtype=dtype).reshape(spec.csr_shape)[rows, indices]
    index_dtype = np.int32 if max(nnz, spec.csr_shape[1]) < 2**31 else np.int64
    weight = CSRWeight(indptr.astype(index_dtype), indices.astype(index_dtype), data, spec.csr_shape)
    if spec.kind == "linear":
        return SparseLinear(spec.fan_in, spec.fan_out, weight)
    return SparseConv2d(spec.fan_in, spec.fan_out, spec.kernel_size, weight)


def _is_flat_indices(mask) -> bool:
    mask = np.asarray(mask)
    return mask.ndim == 1 and mask.dtype.kind in "iu"


class Model:
    """A network of dense and truly sparse layers built from specs and masks.

    ``masks`` maps a layer name to a boolean mask in the framework layout or to the sorted 1-D integer
    flat indices of the active positions in that layout (sparse layer: the form that never builds a
    dense array, ``sparse_training.masks.init_patterns``), or to ``None`` (dense layer); a missing name
    means dense. Both forms of the same positions give the same layer from the same ``rng``. ``rng`` (seed or Generator) draws the initial weights.
    """

    def __init__(self, model: str, specs, masks: Mapping[str, np.ndarray | None], rng, *, dtype=np.float32,
                 scale_by_density: bool = False):
        self.name = check_choice("model", model, MODEL_NAMES)
        self.specs = tuple(specs)
        unknown = sorted(set(masks) - {s.name for s in self.specs})
        if unknown:
            raise ValueError(f"masks name unknown layer(s) {unknown}; layers are {[s.name for s in self.specs]}")
        rng = as_generator(rng)
        self.layers = {spec.name: _make_layer(spec, masks.get(spec.name), rng, dtype, scale_by_density=scale_by_density)
                       for spec in self.specs}

    def sparsified(self, masks: Mapping[str, np.ndarray]) -> Model:
        """A copy in which the dense layers named in ``masks`` become sparse, keeping their current values
        at the active positions (SNIP prunes the very weights it scored); other layers are shared."""
        clone = object.__new__(Model)
        clone.name, clone.specs, clone.layers = self.name, self.specs, dict(self.layers)
        for spec in self.specs:
            if spec.name in masks:
                dense = self.layers[spec.name]
                if spec.name in self.sparse_layers():
                    raise ValueError(f"layer {spec.name!r} is already sparse")
                clone.layers[spec.name] = _make_layer(spec, masks[spec.name], None, dense.weight.dtype,
                                                      values=dense.weight.value)
                clone.layers[spec.name].bias = dense.bias
        return clone

    def __call__(self, x) -> Tensor:
        """Logits for a batch ``x``: ``(batch, features)`` or ``(batch, 28, 28)`` images."""
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        if self.name == "lenet5":
            h = x.reshape(x.shape[0], 1, 28, 28)
            h = max_pool2d(relu(self.layers["conv1"](h)), 2)
            h = max_pool2d(relu(self.layers["conv2"](h)), 2)
            h = h.reshape(h.shape[0], -1)
            h = self.layers["fc1"](h, activation="relu")
            h = self.layers["fc2"](h, activation="relu")
            return self.layers["fc3"](h)
        h = x.reshape(x.shape[0], -1)
        layers = list(self.layers.values())
        for layer in layers[:-1]:
            h = layer(h, activation="relu")
        return layers[-1](h)

    def parameters(self) -> dict[str, Tensor]:
        """Every trainable Tensor as ``{"<layer>.weight": ..., "<layer>.bias": ...}`` (sparse: the CSR data)."""
        return {f"{name}.{key}": tensor for name, layer in self.layers.items() for key, tensor in layer.parameters().items()}

    def sparse_layers(self) -> dict:
        """The truly sparse layers, by name."""
        return {name: layer for name, layer in self.layers.items() if isinstance(layer, (SparseLinear, SparseConv2d))}

    def use_kernels(self, kernels: str) -> None:
        """Every sparse layer computes its backward with the ``"exact"`` or ``"fast"`` kernels
        (``rigl_ref.kernels.fast``); dense layers are unaffected."""
        for layer in self.sparse_layers().values():
            layer.use_kernels(kernels)

    def nnz(self) -> dict[str, int]:
        """Active connections per layer: those the forward pass uses (``active_nnz``; a dense layer counts
        all its weights)."""
        return {
            spec.name: self.layers[spec.name].active_nnz if spec.name in self.sparse_layers() else spec.size
            for spec in self.specs
        }

    def input_connectivity(self) -> np.ndarray | None:
        """Active outgoing connections per input feature of the first layer (None for a conv first layer)."""
        first = self.specs[0]
        if first.kind != "linear":
            return None
        layer = self.layers[first.name]
        if isinstance(layer, SparseLinear):
            return layer.active_entries_per_row()
        return np.full(first.fan_in, first.fan_out, dtype=np.int64)
