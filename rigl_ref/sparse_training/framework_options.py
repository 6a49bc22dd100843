"""Framework options that are not part of any method: which gradient a method grows from, and what new
connections start with. An updater takes one of each (``gradients=``, ``init=``); the methods never
branch on a framework.

Gradient feeds (what ``observe(grads)`` keeps and what ``update`` grows from):

* :class:`CurrentBatch`: the gradient of the update's own batch (paper, google-research/rigl
  ``rigl/sparse_optimizers.py`` SparseRigLOptimizer, jaxpruner ``jaxpruner/algorithms/sparse_trainers.py``).
* :class:`MeanOfLastBatches`: rigl-torch's ``grad_accumulation_n`` (PyPI rigl-torch 0.5.2
  ``rigl_torch/RigL.py``, ``IndexMaskHook``): ``acc += g / n`` per batch over the last n batches, in
  the gradient's dtype and in batch order. It is dense by nature (so is rigl-torch's accumulator).

New-connection values:

* :data:`ZERO_INIT`: weights and slots of new connections start at 0 (every driver's default);
* :class:`TF1GrowInit`: google-research/rigl ``rigl/sparse_optimizers_base.py``
  ``SparseRigLOptimizerBase``: ``grow_init`` names (``zeros``, ``grad_scale[_d]``, ``grad_sign[_d]``)
  for the weights and ``grad * initial_acc_scale`` for the slots.

A gradient is a dense array or a :class:`~rigl_ref.sparse.GrowthInputs` (the factors a CSR layer
records); :func:`dense_gradient` and :func:`gradient_values_at` read both with the same floats.
"""

from __future__ import annotations

import re
from collections import deque

import numpy as np

from rigl_ref.sparse import GrowthInputs
from rigl_ref.validate import check_finite, check_positive_int


def dense_gradient(grad) -> np.ndarray:
    """A gradient as a dense float array (``GrowthInputs`` in the kernels' lane order; integers as float64)."""
    if isinstance(grad, GrowthInputs):
        return grad.dense_gradient()
    grad = np.asarray(grad)
    return grad.astype(np.result_type(grad.dtype, np.float32))


def gradient_values_at(grad, flat: np.ndarray) -> np.ndarray:
    """The gradient at the sorted row-major flat positions ``flat`` (the same floats as :func:`dense_gradient`)."""
    if isinstance(grad, GrowthInputs):
        return grad.gradient_at(flat)
    return dense_gradient(grad).reshape(-1)[flat]


def check_gradients(grads, n_layers: int, name: str = "grads") -> list:
    """``grads`` as a list of one finite gradient per layer (dense arrays or GrowthInputs)."""
    grads = list(grads)
    if len(grads) != n_layers:
        raise ValueError(f"{name} has {len(grads)} arrays for {n_layers} layers")
    out = []
    for i, g in enumerate(grads):
        if isinstance(g, GrowthInputs):
            check_finite(f"{name}[{i}].row_factor", g.row_factor)
            check_finite(f"{name}[{i}].col_factor", g.col_factor)
            out.append(g)
        else:
            g = np.asarray(g)
            if g.dtype.kind not in "biuf":
                raise TypeError(f"{name}[{i}] must be a numeric array, got dtype {g.dtype}")
            out.append(check_finite(f"{name}[{i}]", g))
    return out


# --- gradient feeds -----------------------------------------------------------------------------------


class CurrentBatch:
    """Grow from the update batch's gradient: the ``grads`` passed to ``update``, else the last observed."""

    window = 1

    def __init__(self):
        self.last = None

    def observe(self, grads) -> None:
        self.last = None if grads is None else list(grads)

    def for_update(self, grads, method: str):
        if grads is not None:
            return grads
        if self.last is None:
            raise ValueError(f"{method}.update needs grads: the dense gradient of every layer on the current batch")
        return self.last

    def state(self) -> dict:
        return _gradient_arrays("last/", self.last or [])

    def load_state(self, arrays: dict) -> None:
        last = _gradients_from(arrays, "last/")
        self.last = last or None


class MeanOfLastBatches:
    """rigl-torch's ``grad_accumulation_n``: the mean of the last ``n`` observed gradients (update batch
    included), accumulated as rigl-torch does, ``acc += g / n`` per batch in batch order. With fewer than
    n batches observed (an update at t = 0) the sum has fewer terms, each still divided by n, as
    rigl-torch's hook accumulates."""

    def __init__(self, n: int):
        self.window = check_positive_int("grad_accumulation_n", n)
        self.history = deque(maxlen=self.window)

    def observe(self, grads) -> None:
        """Append one batch's gradients; ``None`` (not recorded) forgets the batches kept so far."""
        if grads is None:
            self.history.clear()
        else:
            self.history.append(list(grads))

    def for_update(self, grads, method: str):
        if grads is not None:
            raise ValueError(f"with grad_accumulation_n > 1, {method} grows from the observed gradients; pass grads=None")
        if not self.history:
            raise ValueError(f"{method} needs observed gradients: call observe(grads) on the last {self.window} batches")
        return [self._mean([batch[i] for batch in self.history]) for i in range(len(self.history[0]))]

    def _mean(self, grads) -> np.ndarray:
        first = dense_gradient(grads[0])
        total = np.zeros_like(first)
        for g in grads:
            g = dense_gradient(g)
            total += g / g.dtype.type(self.window)
        return total

    def state(self) -> dict:
        arrays = {}
        for b, batch in enumerate(self.history):
            arrays.update(_gradient_arrays(f"batch/{b}/", batch))
        return arrays

    def load_state(self, arrays: dict) -> None:
        self.history.clear()
        b = 0
        while any(key.startswith(f"batch/{b}/") for key in arrays):
            self.history.append(_gradients_from(arrays, f"batch/{b}/"))
            b += 1


def gradient_feed(n: int):
    """The feed for a run's ``grow_batches``: the current batch for 1, rigl-torch's mean for more."""
    return CurrentBatch() if check_positive_int("grow_batches", n) == 1 else MeanOfLastBatches(n)


def _gradient_arrays(prefix: str, grads) -> dict:
    arrays = {}
    for i, g in enumerate(grads):
        if isinstance(g, GrowthInputs):
            arrays[f"{prefix}{i}/row"], arrays[f"{prefix}{i}/col"] = g.row_factor, g.col_factor
        else:
            arrays[f"{prefix}{i}/dense"] = np.asarray(g)
    return arrays


def _gradients_from(arrays: dict, prefix: str) -> list:
    grads, i = [], 0
    while True:
        if f"{prefix}{i}/dense" in arrays:
            grads.append(np.array(arrays[f"{prefix}{i}/dense"]))
        elif f"{prefix}{i}/row" in arrays:
            grads.append(GrowthInputs(np.array(arrays[f"{prefix}{i}/row"]), np.array(arrays[f"{prefix}{i}/col"])))
        else:
            return grads
        i += 1


# --- new-connection values ------------------------------------------------------------------------------


class ZeroInit:
    """New weights and their optimizer slots start at 0."""

    needs_gradient = False

    def weight_values(self, grad_values):
        return 0.0

    def slot_values(self, grad_values):
        return 0.0


ZERO_INIT = ZeroInit()


class TF1GrowInit:
    """google-research/rigl ``rigl/sparse_optimizers_base.py`` SparseRigLOptimizerBase: new weights from
    ``grow_init`` (:func:`tf1_grow_init`), new slots ``grad * initial_acc_scale`` in the gradient's dtype.
    Both are elementwise in the gradient, so a CSR layer evaluates them at the grown positions only."""

    needs_gradient = True

    def __init__(self, grow_init="zeros", initial_acc_scale: float = 0.0):
        tf1_grow_init(grow_init, np.zeros(1, np.float32))  # reject unknown names now
        self.grow_init, self.initial_acc_scale = grow_init, float(initial_acc_scale)

    def weight_values(self, grad_values):
        return tf1_grow_init(self.grow_init, grad_values)

    def slot_values(self, grad_values):
        return grad_values * grad_values.dtype.type(self.initial_acc_scale)


def tf1_grow_init(grow_init, grad):
    """Value of grown weights for TF1's ``grow_init`` names that need no TF randomness.

    ``'zeros'`` -> 0; ``'grad_scale[_d]'`` -> grad / d; ``'grad_sign[_d]'`` -> sign(grad) / d, with the
    divisor d parsed as ``extract_number`` does (regex ``.*_(\\d*\\.?\\d*)$``, default 1) and the division
    in the gradient's dtype (SparseRigLOptimizerBase.get_grow_tensor). A number is used as given.
    """
    if not isinstance(grow_init, str):
        return float(grow_init)
    if grow_init == "zeros":
        return 0.0
    match = re.match(r".*_(\d*\.?\d*)$", grow_init)
    if match and match.group(1) in ("", "."):
        raise ValueError(f"grow_init {grow_init!r} ends in '_' without a divisor")
    divisor = float(match.group(1)) if match else 1.0
    grad = np.asarray(grad)
    if grow_init.startswith("grad_scale"):
        return grad / grad.dtype.type(divisor)
    if grow_init.startswith("grad_sign"):
        return np.sign(grad) / grad.dtype.type(divisor)
    raise ValueError(
        f"unknown grow_init {grow_init!r}; expected 'zeros', 'grad_scale[_d]' or 'grad_sign[_d]' (TF1's "
        "random_normal/random_uniform/initial_dist draw from TF's RNG: pass their values as an array)"
    )
