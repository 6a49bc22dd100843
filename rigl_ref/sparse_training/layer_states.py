"""The two kinds of layer an updater runs on, and the executor each one picks.

* :class:`LayerState` (``mask, weights, slots`` as dense arrays): the spec layer; executor
  :func:`~rigl_ref.sparse_training.drop_grow.drop_grow`.
* :class:`CSRLayerState` (a :class:`~rigl_ref.sparse.CSRWeight` and slots aligned with its data): the
  training layer; executor :func:`~rigl_ref.sparse_training.csr_update.csr_drop_grow`.

Both return a :class:`~rigl_ref.sparse_training.drop_grow.DropGrowResult` with the same field names.
A method hands :func:`execute` a grow score that is either a dense array (scores of the layer's shape)
or a :class:`~rigl_ref.sparse.GrowthInputs` meaning ``|gradient|``: a CSR layer ranks it block by block
without a dense matrix, a dense layer ranks ``|growth.dense_gradient()|`` (the same floats); or
:class:`~rigl_ref.sparse.CandidateScores` (scores at some positions, GSE): a CSR layer ranks the
candidates, a dense layer ranks ``CandidateScores.dense`` (-1 elsewhere). The drop score is always the
convention's magnitude score, so a method never names an executor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rigl_ref.sparse import CandidateScores, CSRWeight, GrowthInputs, rebuild
from rigl_ref.sparse_training.csr_update import csr_drop_grow, csr_no_change
from rigl_ref.sparse_training.drop_grow import (
    DropGrowResult,
    check_aligned,
    check_mask,
    drop_grow,
    drop_set,
    no_change,
    score_drop,
    top_k,
    write_update,
)
from rigl_ref.sparse_training.framework_options import ZERO_INIT, dense_gradient, gradient_values_at
from rigl_ref.validate import check_finite


@dataclass(frozen=True)
class LayerState:
    """One dense-mask layer: a 0/1 ``mask`` (stored as bool), ``weights`` of the same shape, and the
    optimizer ``slots`` aligned with the weights (``slot_names``: one name each, or None, as for
    ``drop_grow``)."""

    mask: np.ndarray
    weights: np.ndarray
    slots: tuple = ()
    slot_names: tuple | None = None

    def __post_init__(self) -> None:
        mask = check_mask(self.mask)
        object.__setattr__(self, "weights", check_aligned("weights", self.weights, mask))
        object.__setattr__(self, "mask", mask)
        slots = tuple(check_aligned(f"slots[{i}]", slot, mask) for i, slot in enumerate(self.slots))
        object.__setattr__(self, "slots", slots)

    @property
    def shape(self) -> tuple:
        return self.mask.shape

    @property
    def nnz(self) -> int:
        return int(self.mask.sum())

    def dense_mask(self) -> np.ndarray:
        return self.mask

    @property
    def dtype(self):
        return self.weights.dtype


@dataclass(frozen=True)
class CSRLayerState:
    """One truly sparse layer: its ``weight`` and the optimizer ``slots`` aligned with ``weight.data``
    (``slot_names`` as for :class:`LayerState`)."""

    weight: CSRWeight
    slots: tuple = ()
    slot_names: tuple | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.weight, CSRWeight):
            raise TypeError(f"weight must be a CSRWeight, got {type(self.weight).__name__}")
        slots = tuple(np.asarray(s) for s in self.slots)
        for i, s in enumerate(slots):
            if s.shape != self.weight.data.shape:
                raise ValueError(f"slots[{i}] has shape {s.shape}; arrays aligned with data need {self.weight.data.shape}")
            check_finite(f"slots[{i}]", s)
        object.__setattr__(self, "slots", slots)

    @property
    def shape(self) -> tuple:
        return self.weight.shape

    @property
    def nnz(self) -> int:
        return self.weight.nnz

    def dense_mask(self) -> np.ndarray:
        """The mask as a dense bool array (asked for: TF1Static's grow score is the old mask)."""
        return self.weight.to_dense()[0]

    @property
    def dtype(self):
        return self.weight.data.dtype


Layer = LayerState | CSRLayerState


def check_layers(layers) -> list:
    layers = list(layers)
    for i, layer in enumerate(layers):
        if not isinstance(layer, (LayerState, CSRLayerState)):
            raise TypeError(f"layers[{i}] must be a LayerState or CSRLayerState, got {type(layer).__name__}")
    return layers


def execute(layer, drop_fraction: float, grow_score, convention, *, reinit_when_same=None, init=ZERO_INIT,
            gradient=None) -> DropGrowResult:
    """One drop/grow update of ``layer`` by the executor of its kind (see the module docstring).

    ``init`` gives the values of new weights and slots (``framework_options``); an init that reads the
    gradient gets ``gradient`` (dense values for a dense layer, the values at the grown positions for a
    CSR layer).
    """
    if init.needs_gradient and gradient is None:
        raise ValueError(f"{type(init).__name__} needs the layer's gradient; this method has none")
    if isinstance(layer, LayerState):
        if isinstance(grow_score, GrowthInputs):
            scores = np.abs(grow_score.dense_gradient())
        elif isinstance(grow_score, CandidateScores):
            scores = grow_score.dense(layer.shape)
        else:
            scores = grow_score
        grad = dense_gradient(gradient) if init.needs_gradient else None
        return drop_grow(
            layer.mask, layer.weights, score_drop(layer.mask, layer.weights, convention), scores, drop_fraction,
            convention=convention, reinit_when_same=reinit_when_same, slots=layer.slots,
            grow_init=init.weight_values(grad), slot_init=init.slot_values(grad), slot_names=layer.slot_names,
        )
    if init.needs_gradient:
        grow_init = lambda flat: np.asarray(init.weight_values(gradient_values_at(gradient, flat)))  # noqa: E731
        slot_init = lambda flat: init.slot_values(gradient_values_at(gradient, flat))  # noqa: E731
    else:
        grow_init, slot_init = init.weight_values(None), init.slot_values(None)
    if isinstance(grow_score, GrowthInputs):
        source = {"growth": grow_score}
    elif isinstance(grow_score, CandidateScores):
        source = {"grow_candidates": grow_score}
    else:
        source = {"grow_scores": grow_score}
    return csr_drop_grow(layer.weight, drop_fraction, convention=convention, reinit_when_same=reinit_when_same,
                         slots=layer.slots, grow_init=grow_init, slot_init=slot_init, slot_names=layer.slot_names,
                         **source)


def prune(layer, n_drop: int, convention) -> DropGrowResult:
    """Drop only: remove the ``n_drop`` weakest active connections (the convention's drop score among the
    active ones; ties: the lower flat index stays); nothing grows (gradual magnitude pruning)."""
    if isinstance(layer, LayerState):
        drop = drop_set(layer.mask, score_drop(layer.mask, layer.weights, convention), n_drop, "paper")
        return write_update(layer.mask, drop, drop.kept, layer.weights, layer.slots, convention,
                            slot_names=layer.slot_names)
    weight = layer.weight
    keep = top_k(np.abs(weight.data), weight.nnz - n_drop)
    rebuilt = rebuild(weight, keep, np.zeros(0, np.int64), aligned=layer.slots)
    nothing = np.zeros(0, np.int64)
    return DropGrowResult(mask=None, weights=rebuilt.weight, slots=tuple(rebuilt.aligned),
                          dropped=weight.active_flat_indices()[~keep], grown=nothing, regrown=nothing,
                          reinitialized=nothing, n_drop=int(n_drop), k=int(n_drop))


def unchanged(layer) -> DropGrowResult:
    """The result of an update that moves nothing (copies, so callers may write into them)."""
    if isinstance(layer, LayerState):
        return no_change(layer.mask, layer.weights, layer.slots)
    return csr_no_change(layer.weight, layer.slots)
