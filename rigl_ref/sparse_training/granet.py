"""GraNet (Liu et al., "Sparse Training via Boosting Pruning Plasticity with Neuroregeneration", NeurIPS 2021):
gradual magnitude pruning over all layers together, each update followed by zero-cost neuroregeneration
(drop a fraction of every layer by magnitude, regrow as many by |dense gradient|).

Rules, each the official code's (VITA-Group/GraNet ``CIFAR/sparselearning/core.py``, ``Masking``, method
``'GraNet'``), one function each:

* :func:`granet_pruned_fraction`: the cubic schedule (Zhu & Gupta's, eq. 1 of the paper) on the update grid:
  ``c = int(t / dT)``, ``c0 = int(t0 / dT)``, ``c1 = int(t1 / dT)``; for ``c0 <= c <= c1`` the pruned fraction
  is ``p = (1 - d_i) + (d_i - d_f) (1 - (1 - (c - c0) / (c1 - c0))^3)`` (``Masking.pruning``), so the
  density goes from ``d_i`` (1 = dense start, < 1 = sparse start) towards ``d_f``; outside the window no
  pruning. Where the window ends is selectable (``window``): ``"official"`` prunes for ``c0 <= c <= c1 - 1``
  (``Masking.pruning``: ``curr_prune_iter <= final_iter - 1``), so its last pruning leaves the density
  ``(d_i - d_f) / (c1 - c0)^3`` above ``d_f``; ``"through_end"`` also prunes at ``c = c1`` and reaches ``d_f``
  (rigl_ref's rule before the ``granet_torch`` conformance suite showed the difference).
* :func:`global_prune_threshold`: keep ``int(N * (1 - p))`` of all ``N`` weights of the pruned layers
  together: the threshold is the ``keep``-th largest ``|w|`` over every position (inactive ones are 0),
  and a connection survives iff ``|w| > threshold`` (strict, so ties at the threshold go, and an active
  zero weight always goes).
* :func:`regeneration_threshold`: per layer with ``n`` active of ``N``: ``num_remove = ceil(r * n)``,
  ``k = ceil((N - n) + num_remove)``, the threshold is the ``k``-th smallest ``|w|`` over every position
  and a connection survives iff ``|w| > threshold`` (``magnitude_death``); with ``num_remove == 0`` the
  survivors are the non-zero weights.
* :func:`regrowth`: ``n - survivors`` positions by ``|g| * (1 - survivor)`` over every position, the
  largest first (``gradient_growth``; ``g`` the current batch's dense gradient). rigl_ref breaks ties by the
  lower flat index (the official ``torch.sort`` leaves them open); when fewer than that many non-survivors
  have ``|g| > 0``, the zero-score picks can fall on survivors, so the layer shrinks, as in the official
  code.
* :func:`granet_prune_rate`: the regeneration rate ``r`` decays with ``CosineAnnealingLR(T_max = total
  steps, eta_min = 0.005)`` from ``alpha``, stepped once per weight step (``Masking.step``): the closed
  form ``eta_min + (alpha - eta_min) (1 + cos(pi t / T)) / 2`` in float64 (torch's recursive form can
  differ by an ulp; feed its rate for bit-exact work).

Values: the official code zeroes pruned weights and momentum right after the global pruning, and again
after regeneration (``apply_mask``), so a connection pruned globally and regrown starts at 0, one dropped
and regrown by the regeneration keeps its weight and optimizer slots, and new connections start at 0.

Both layers run it: :func:`granet_update` on dense masks (the spec) and :func:`csr_granet_update` on CSR
weights; ``tests/sparse_training/test_granet.py`` holds them equal bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

from rigl_ref.kernels import grow_topk
from rigl_ref.sparse import CSRWeight, GrowthInputs, rebuild
from rigl_ref.sparse.csr_weight import flat_to_pattern
from rigl_ref.sparse_training.conventions import DEFAULT_CONVENTION
from rigl_ref.sparse_training.drop_grow import DropGrowResult, top_k
from rigl_ref.sparse_training.framework_options import CurrentBatch, check_gradients
from rigl_ref.sparse_training.layer_states import CSRLayerState, check_layers
from rigl_ref.sparse_training.updaters import MaskUpdater
from rigl_ref.validate import check_choice, check_in_closed_unit_interval, check_positive_int

GRANET_MIN_PRUNE_RATE = 0.005  # core.py CosineDecay(prune_rate, T_max, eta_min=0.005)
GRANET_WINDOWS = ("official", "through_end")  # the pruning window's last grid point: c1 - 1 or c1


def granet_prune_rate(step: int, *, alpha: float, total_steps: int, eta_min: float = GRANET_MIN_PRUNE_RATE) -> float:
    """The regeneration rate after ``step`` weight steps (module docstring)."""
    alpha = check_in_closed_unit_interval("alpha", alpha)
    progress = min(max(int(step), 0), int(total_steps)) / int(total_steps)
    return eta_min + (alpha - eta_min) * (1.0 + math.cos(math.pi * progress)) / 2.0


def granet_pruned_fraction(step: int, *, initial_density: float, final_density: float, begin_step: int,
                           end_step: int, interval: int, window: str = "official") -> float | None:
    """The fraction ``p`` of all weights the global pruning removes at ``step``, or None outside the window
    (``window``: where it ends, module docstring)."""
    check_choice("window", window, GRANET_WINDOWS)
    current, first, last = int(step / interval), int(begin_step / interval), int(end_step / interval)
    if not first <= current <= last - (window == "official") or last <= first:
        return None
    decay = (1.0 - (current - first) / (last - first)) ** 3
    return (1.0 - initial_density) + (initial_density - final_density) * (1.0 - decay)


def global_prune_threshold(active_magnitudes: list[np.ndarray], total_size: int, pruned: float) -> float:
    """The ``int(N * (1 - pruned))``-th largest |w| over every position of the layers (inactive ones count
    as 0), given the magnitudes of the active connections only."""
    keep = int(total_size * (1.0 - pruned))
    values = np.concatenate([np.asarray(m, np.float64).reshape(-1) for m in active_magnitudes])
    if keep <= 0:
        return math.inf
    if keep > values.size:
        return 0.0
    return float(np.partition(values, values.size - keep)[values.size - keep])


def regeneration_threshold(active_magnitudes: np.ndarray, size: int, prune_rate: float) -> float | None:
    """The k-th smallest |w| over every position of one layer (None: ``num_remove == 0``, keep non-zeros)."""
    n = active_magnitudes.size
    num_remove = math.ceil(prune_rate * n)
    if num_remove == 0:
        return None
    k = math.ceil((size - n) + num_remove)
    zeros = size - n
    if k - 1 < zeros:
        return 0.0
    return float(np.sort(active_magnitudes.astype(np.float64))[k - 1 - zeros])


def _survivors(magnitudes: np.ndarray, threshold: float | None) -> np.ndarray:
    return magnitudes != 0 if threshold is None else magnitudes > threshold


def regrowth(scores: np.ndarray, survivors: np.ndarray, n_grow: int) -> np.ndarray:
    """Boolean mask of the ``n_grow`` best of ``|g| * (1 - survivor)`` over every position (ties: lower index)."""
    return top_k(np.where(survivors, np.zeros_like(scores), scores), n_grow)


# ------------------------------------------------------------------ spec layer (dense masks)


def granet_update(masks, weights, slots, grads, *, pruned: float | None, prune_rate: float) -> list[DropGrowResult]:
    """One GraNet update of every layer (dense): global pruning of the fraction ``pruned`` of all weights
    (None: none), then regeneration at ``prune_rate``. ``grads``: one dense gradient or GrowthInputs per layer."""
    masks = [np.asarray(m, bool) for m in masks]
    magnitudes = [np.abs(np.where(m, w, 0)).astype(np.float64) for m, w in zip(masks, weights)]
    middle = masks
    if pruned is not None:
        threshold = global_prune_threshold([g[m] for g, m in zip(magnitudes, masks)], sum(m.size for m in masks), pruned)
        middle = [m & (g > threshold) for m, g in zip(masks, magnitudes)]
    results = []
    for old, mid, w, s, g, mag in zip(masks, middle, weights, slots, grads, magnitudes):
        mid_mag = np.where(mid, mag, 0.0)
        survivors = mid & _survivors(mid_mag, regeneration_threshold(mid_mag[mid], mid.size, prune_rate))
        dense = np.abs(g.dense_gradient() if isinstance(g, GrowthInputs) else np.asarray(g))
        picked = regrowth(dense, survivors, int(mid.sum()) - int(survivors.sum()))
        new = survivors | picked
        values = np.where(new & mid, w, 0).astype(np.asarray(w).dtype)  # globally pruned ones restart at 0
        new_slots = tuple(np.where(new & mid, x, 0).astype(np.asarray(x).dtype) for x in s)
        results.append(DropGrowResult(
            mask=new, weights=values, slots=new_slots, dropped=old & ~new, grown=new & ~old,
            regrown=new & old & ~survivors, reinitialized=new & ~mid, n_drop=int((old & ~survivors).sum()),
            k=int((old & ~survivors).sum())))
    return results


# ------------------------------------------------------------------ fast layer (CSR)


def csr_granet_update(weights: list[CSRWeight], slots, grads: list[GrowthInputs], *, pruned: float | None,
                      prune_rate: float) -> list[DropGrowResult]:
    """:func:`granet_update` on CSR weights and GrowthInputs, never forming a dense matrix except the
    gradient blocks of the grow kernel; the same masks, values and slots bit for bit."""
    middle, middle_slots = list(weights), [tuple(s) for s in slots]
    if pruned is not None:
        threshold = global_prune_threshold([np.abs(w.data) for w in weights], sum(w.size for w in weights), pruned)
        middle, middle_slots = [], []
        for w, s in zip(weights, slots):
            rebuilt = rebuild(w, np.abs(w.data.astype(np.float64)) > threshold, np.zeros(0, np.int64), aligned=s)
            middle.append(rebuilt.weight)
            middle_slots.append(tuple(rebuilt.aligned))
    results = []
    for old, mid, s, growth in zip(weights, middle, middle_slots, grads):
        magnitudes = np.abs(mid.data.astype(np.float64))
        survivors = _survivors(magnitudes, regeneration_threshold(magnitudes, mid.size, prune_rate))
        mid_flat = mid.active_flat_indices()
        survivor_flat = mid_flat[survivors]
        picked = _csr_regrowth(mid, growth, survivor_flat, mid.nnz - int(survivors.sum()))
        regrown_in_mid = np.isin(mid_flat, picked, assume_unique=True) & ~survivors
        keep = survivors | regrown_in_mid
        fresh = np.setdiff1d(picked, mid_flat, assume_unique=True)
        rebuilt = rebuild(mid, keep, fresh, grow_init=0.0, aligned=s)
        old_flat, new_flat = old.active_flat_indices(), rebuilt.weight.active_flat_indices()
        kept_throughout = survivor_flat
        results.append(DropGrowResult(
            mask=None, weights=rebuilt.weight, slots=tuple(rebuilt.aligned),
            dropped=np.setdiff1d(old_flat, new_flat, assume_unique=True),
            grown=np.setdiff1d(new_flat, old_flat, assume_unique=True),
            regrown=np.setdiff1d(np.intersect1d(new_flat, old_flat, assume_unique=True), kept_throughout,
                                 assume_unique=True),
            reinitialized=np.sort(fresh), n_drop=int(old.nnz - survivors.sum()), k=int(old.nnz - survivors.sum())))
    return results


def _csr_regrowth(weight: CSRWeight, growth: GrowthInputs, survivor_flat: np.ndarray, n_grow: int) -> np.ndarray:
    """The flat positions :func:`regrowth` picks, from the gradient factors (survivors score 0 there, so
    zero-score picks fill in index order among survivors and zero-gradient non-survivors)."""
    if n_grow <= 0:
        return np.zeros(0, np.int64)
    left, right = growth
    indptr, indices = flat_to_pattern(survivor_flat, weight.shape)
    flat, grad = grow_topk(left, right, indptr, indices, n_grow, left.dtype.type(1.0), 256, 512)
    positive = flat[grad != 0]
    zero_needed = n_grow - positive.size
    if zero_needed <= 0:
        return np.sort(positive)
    zero_free = np.sort(flat[grad == 0])[:zero_needed]  # the lowest-index non-survivors with |g| = 0
    zero_any = np.sort(np.concatenate((survivor_flat, zero_free)))[:zero_needed]
    return np.sort(np.concatenate((positive, np.setdiff1d(zero_any, survivor_flat, assume_unique=True))))


# ------------------------------------------------------------------ the updater a run drives


class GraNet(MaskUpdater):
    """GraNet as an updater (the interface of ``updaters``): at each update step ``t`` the global pruning
    of :func:`granet_pruned_fraction` (inside its window) and the regeneration at ``drop_fraction`` (the
    run passes :func:`granet_prune_rate`), on dense ``LayerState``s (:func:`granet_update`) or CSR layers
    (:func:`csr_granet_update`). Regeneration grows from the update batch's dense gradient (the official
    code's ``weight.grad``); the drop/grow fields of the convention play no part (GraNet has its own)."""

    method = "granet"
    gradient_use = "update"

    def __init__(self, *, initial_density: float, final_density: float, begin_step: int, end_step: int,
                 interval: int, convention=DEFAULT_CONVENTION, gradients=None, window: str = "official"):
        super().__init__(convention)
        self.initial_density = check_in_closed_unit_interval("initial_density", initial_density)
        self.final_density = check_in_closed_unit_interval("final_density", final_density)
        if self.final_density > self.initial_density:
            raise ValueError(f"final_density ({final_density!r}) must not exceed initial_density ({initial_density!r})")
        self.begin_step, self.end_step, self.interval = int(begin_step), int(end_step), check_positive_int(
            "interval", interval)
        self.gradients = CurrentBatch() if gradients is None else gradients
        self.window = check_choice("window", window, GRANET_WINDOWS)

    @classmethod
    def from_run(cls, options):
        return cls(initial_density=options.initial_density, final_density=options.final_density,
                   begin_step=options.begin_step, end_step=options.end_step, interval=options.interval,
                   convention=options.convention, gradients=options.gradients, window=options.granet_window)

    def observe(self, grads) -> None:
        self.gradients.observe(None if grads is None else check_gradients(grads, len(grads)))

    def update(self, layers, *, step: int = 0, drop_fraction: float = 0.0, grads=None, rng=None):
        layers = check_layers(layers)
        grads = check_gradients(self.gradients.for_update(grads, "GraNet"), len(layers))
        pruned = granet_pruned_fraction(step, initial_density=self.initial_density, final_density=self.final_density,
                                        begin_step=self.begin_step, end_step=self.end_step, interval=self.interval,
                                        window=self.window)
        rate = check_in_closed_unit_interval("drop_fraction", drop_fraction)
        if all(isinstance(layer, CSRLayerState) for layer in layers):
            if not all(isinstance(g, GrowthInputs) for g in grads):
                raise TypeError("GraNet on CSR layers grows from GrowthInputs (the recorded gradient factors)")
            return csr_granet_update([l.weight for l in layers], [l.slots for l in layers], grads, pruned=pruned,
                                     prune_rate=rate)
        if any(isinstance(layer, CSRLayerState) for layer in layers):
            raise TypeError("GraNet runs on layers of one kind: all LayerState or all CSRLayerState")
        return granet_update([l.mask for l in layers], [l.weights for l in layers], [l.slots for l in layers], grads,
                             pruned=pruned, prune_rate=rate)

    def state(self):
        return self.gradients.state()

    def load_state(self, arrays):
        self.gradients.load_state(arrays)
