"""The updaters of the structured methods: ``srigl`` (constant fan-in, dynamic neuron ablation) and ``nm``
(N:M groups along the fan-in), each running the rules of ``rigl_ref.sparse_training.structured`` on a dense
spec layer (``LayerState``) or a truly sparse one (``CSRLayerState``).

Each layer comes with its ``neuron_axis``: 0 when rows are neurons (the neuron-major layout the rules are
stated in: torch's linear and rigl_ref's conv layers), 1 when columns are (rigl_ref's ``(in, out)`` linear
layers, read transposed). The gradient is RigL's feed (the update batch's by default). These methods keep
the official code's own value rules (``structured`` step 6) and counts (``int(n f)``), so the convention is
not read.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rigl_ref.sparse import GrowthInputs
from rigl_ref.sparse_training.conventions import DEFAULT_CONVENTION
from rigl_ref.sparse_training.framework_options import dense_gradient
from rigl_ref.sparse_training.layer_states import LayerState, check_layers
from rigl_ref.sparse_training.structured import (
    apply_step,
    check_nm,
    csr_nm_update,
    csr_srigl_update,
    nm_step,
    srigl_step,
)
from rigl_ref.sparse_training.updaters import RigL, _check_gradient_shape
from rigl_ref.validate import check_in_closed_unit_interval


class _Structured(RigL):
    """Shared driving: per layer its neuron axis, the dense or CSR rule, results in the layer's layout."""

    def __init__(self, convention=DEFAULT_CONVENTION, *, neuron_axes=None, gradients=None):
        super().__init__(convention, gradients=gradients)
        self.neuron_axes = None if neuron_axes is None else tuple(int(a) for a in neuron_axes)

    def _axes(self, n_layers: int) -> tuple:
        axes = self.neuron_axes if self.neuron_axes is not None else (0,) * n_layers
        if len(axes) != n_layers:
            raise ValueError(f"neuron_axes names {len(axes)} layers, the update has {n_layers}")
        return axes

    def update(self, layers, *, step: int = 0, drop_fraction: float = 0.0, grads=None, rng=None):
        layers = check_layers(layers)
        check_in_closed_unit_interval("drop_fraction", drop_fraction)
        grads = self.update_gradients(grads, layers)
        results = []
        for index, (layer, grad, axis) in enumerate(zip(layers, grads, self._axes(len(layers)))):
            _check_gradient_shape(index, grad, layer)
            if isinstance(layer, LayerState):
                results.append(self._dense(index, layer, dense_gradient(grad), axis, drop_fraction))
            else:
                if not isinstance(grad, GrowthInputs):
                    raise TypeError(f"grads[{index}]: a CSR layer grows from GrowthInputs (the recorded factors)")
                results.append(self._csr(index, layer, grad, axis, drop_fraction))
        return results

    def _dense(self, index, layer, grad, axis, drop_fraction):
        def major(a):
            return np.asarray(a).T if axis == 1 else np.asarray(a)

        decided = self._step(index, major(layer.mask), major(layer.weights), major(grad), drop_fraction)
        result = apply_step(major(layer.mask), major(layer.weights), tuple(major(s) for s in layer.slots), decided)
        if axis == 0:
            return result
        return dataclasses.replace(result, **{name: getattr(result, name).T.copy() for name in
                                              ("mask", "weights", "dropped", "grown", "regrown", "reinitialized")},
                                   slots=tuple(s.T.copy() for s in result.slots))


class SRigL(_Structured):
    """SRigL (``structured`` module docstring): constant fan-in per neuron, dynamic neuron ablation below
    ``min_salient`` (0 = none; the official default 0.3), never in a layer whose ``ablatable`` is False
    (the trainer: the network's last layer). ``budgets``: ``int(N (1 - s))`` per layer."""

    method = "srigl"

    def __init__(self, convention=DEFAULT_CONVENTION, *, budgets, neuron_axes=None, min_salient: float = 0.3,
                 ablatable=None, gradients=None):
        super().__init__(convention, neuron_axes=neuron_axes, gradients=gradients)
        if not np.isfinite(min_salient) or min_salient < 0:
            raise ValueError(f"min_salient must be a finite number >= 0, got {min_salient!r}")
        self.budgets = tuple(int(b) for b in budgets)
        self.min_salient = float(min_salient)
        self.ablatable = None if ablatable is None else tuple(bool(a) for a in ablatable)

    @classmethod
    def from_run(cls, options):
        return cls(options.convention, budgets=options.layer_budgets, neuron_axes=options.neuron_axes,
                   min_salient=options.srigl_min_salient, ablatable=options.ablatable, gradients=options.gradients)

    def _ablates(self, index: int) -> bool:
        return True if self.ablatable is None else self.ablatable[index]

    def _step(self, index, mask, weights, grad, drop_fraction):
        return srigl_step(mask, weights, grad, drop_fraction, budget=self.budgets[index],
                          min_salient=self.min_salient, ablate=self._ablates(index))

    def _csr(self, index, layer, growth, axis, drop_fraction):
        return csr_srigl_update(layer.weight, growth, drop_fraction, budget=self.budgets[index], neuron_axis=axis,
                                min_salient=self.min_salient, ablate=self._ablates(index), slots=layer.slots)


class NM(_Structured):
    """N:M dynamic sparsity (``structured`` module docstring): at most ``n`` of every ``m`` consecutive
    fan-in positions of a neuron, refilled to exactly that by gradient at every update."""

    method = "nm"

    def __init__(self, convention=DEFAULT_CONVENTION, *, n: int = 2, m: int = 4, neuron_axes=None, gradients=None):
        super().__init__(convention, neuron_axes=neuron_axes, gradients=gradients)
        self.n, self.m = check_nm(n, m)

    @classmethod
    def from_run(cls, options):
        n, m = options.nm
        return cls(options.convention, n=n, m=m, neuron_axes=options.neuron_axes, gradients=options.gradients)

    def _step(self, index, mask, weights, grad, drop_fraction):
        return nm_step(mask, weights, grad, drop_fraction, n=self.n, m=self.m)

    def _csr(self, index, layer, growth, axis, drop_fraction):
        return csr_nm_update(layer.weight, growth, drop_fraction, n=self.n, m=self.m, neuron_axis=axis,
                             slots=layer.slots)
