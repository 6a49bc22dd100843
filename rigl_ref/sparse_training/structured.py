"""Structured dynamic sparsity: SRigL's constant fan-in with dynamic neuron ablation, and N:M groups.

Both change one rule of RigL: growth refills fixed *groups* of positions to a fixed count, so the
structure holds after every update. Everything is stated in the **neuron-major layout** ``(neurons,
fan_in)`` (torch's ``(out, in)`` / ``(out, in*kh*kw)``, the official SRigL code's layout); a layer stored
``(in, out)`` (rigl_ref's linear layers) has ``neuron_axis=1`` and is read transposed. Ties everywhere go
to the lower neuron-major flat index (the official code's ``torch.topk``/``sort`` leave them open).

**SRigL** (Lasby et al., ICLR 2024; calgaryml/condensed-sparsity ``src/rigl_torch/rigl_constant_fan.py``,
``RigLConstFanScheduler._rigl_step``), per layer with ``n`` active connections, drop fraction ``f`` and
budget ``B = int(N (1 - s))`` (``utils/rigl_utils.get_fan_in_after_ablation``):

1. :func:`keep_counts`: ``n_prune = int(n f)``, ``n_keep = n - n_prune``; if fewer than ``n_keep`` weights
   are non-zero, ``n_keep`` = that count and ``n_prune = n - n_keep``;
2. :func:`neurons_to_ablate` (dynamic ablation, ``_get_neurons_to_ablate``; never the last layer): a
   position is salient if it is among the top ``n_keep`` by ``|w|`` or the top ``n_prune`` by ``|g|`` (each
   over every position); neurons are ordered by salient count (descending, ties by index); the
   threshold is ``min_salient`` if ``>= 1``, else ``max(1, int(min_salient * (B // neurons)))`` (the
   official default, ``use_sparse_const_fan_in_for_ablation``), lowered to the count of the neuron at
   place ``B // fan_in`` of that order; neurons below it are ablated;
3. :func:`constant_fan_in`: ``K = B // (neurons - ablated)``;
4. :func:`kept_connections` (``_get_drop_mask``): the top ``n_keep`` positions by ``|w|`` over every position,
   an ablated neuron's positions ranking below all others (the official ``min - 1``, earlier ablated
   neurons first), then every neuron truncated to its first ``K`` kept positions (by fan-in index: the
   official sorts the boolean mask);
5. :func:`grow_groups` (``_get_grow_mask``): every neuron that is not ablated is refilled to ``K`` by the
   largest ``|g|`` among its positions not kept (kept ones lifted to ``min - 1``, so never chosen);
6. values (``_get_new_weights``, ``reset_momentum``): a position active before and after keeps its weight
   and optimizer slots (so a dropped-and-regrown connection keeps them), a newly active one starts at 0.

**N:M** (rigl_ref's rule; no official dynamic N:M code to follow): the fan-in of every neuron is cut into
groups of ``M`` consecutive positions (a shorter last group when ``M`` does not divide the fan-in), each
holding ``min(N, group size)`` active connections. An update keeps the top ``n_keep`` by ``|w|`` as step 1
and 4 above (no ablation), truncates each group to ``N`` (first by fan-in index), and refills each group to
its count by ``|g|`` among its positions not kept (step 5 per group). Values as step 6.

The spec layer (:func:`srigl_update`, :func:`nm_update`) works on dense neuron-major arrays; the fast layer
(:func:`csr_srigl_update`, :func:`csr_nm_update`) on a CSR weight and the batch's gradient factors, scoring
the dense gradient a block of neurons at a time (the same floats: ``GrowthInputs`` rows), never the whole
layer. ``tests/sparse_training/test_structured.py`` holds them equal bit for bit.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rigl_ref.sparse import CSRWeight, GrowthInputs, rebuild
from rigl_ref.sparse_training.drop_grow import DropGrowResult
from rigl_ref.sparse_training.masks import positions_outside, random_active_indices
from rigl_ref.validate import as_generator, check_finite, check_in_closed_unit_interval

LIFT_LIMIT = np.float32(2**24)  # |g| >= 2^24: float32's min - 1 no longer separates kept from free positions
BLOCK_ELEMENTS = 1 << 22  # dense gradient values scored at once by the fast layer (16 MiB of float32)


# --- the rules, one function each (spec layer) -------------------------------------------------------------


def keep_counts(n_active: int, n_nonzero: int, drop_fraction: float) -> tuple[int, int]:
    """``(n_prune, n_keep)`` of step 1 (module docstring)."""
    n_prune = int(n_active * drop_fraction)
    n_keep = n_active - n_prune
    if n_nonzero < n_keep:
        n_keep = n_nonzero
        n_prune = n_active - n_keep
    return n_prune, n_keep


def constant_fan_in(budget: int, n_neurons: int, n_ablated: int, dense_fan_in: int) -> int:
    """``K = B // (neurons - ablated)`` (step 3); ValueError when it is 0 or above the dense fan-in."""
    fan_in = budget // (n_neurons - n_ablated)
    if fan_in == 0:
        raise ValueError(f"constant fan-in is 0 ({budget} connections over {n_neurons - n_ablated} neurons): "
                         f"lower the sparsity or widen the layer")
    if fan_in > dense_fan_in:
        raise ValueError(f"constant fan-in {fan_in} exceeds the dense fan-in {dense_fan_in}")
    return fan_in


def _top(scores: np.ndarray, count: int) -> np.ndarray:
    """Flat indices of the ``count`` largest of ``scores`` (flattened), ties to the lower index."""
    flat = scores.reshape(-1)
    return np.lexsort((np.arange(flat.size), -flat.astype(np.float64)))[:count]


def salient_counts(drop_scores: np.ndarray, grow_scores: np.ndarray, n_keep: int, n_prune: int) -> np.ndarray:
    """Per neuron: positions among the top ``n_keep`` by drop score or the top ``n_prune`` by grow score."""
    salient = np.zeros(drop_scores.size, bool)
    salient[_top(drop_scores, n_keep)] = True
    salient[_top(grow_scores, n_prune)] = True
    return salient.reshape(drop_scores.shape).sum(axis=1)


def neurons_to_ablate(counts: np.ndarray, min_salient: float, budget: int, dense_fan_in: int) -> np.ndarray:
    """The ablated neurons (sorted indices) of step 2, from the per-neuron salient counts."""
    n_neurons = len(counts)
    threshold = min_salient if min_salient >= 1 else max(1, int(min_salient * (budget // n_neurons)))
    order = sorted(range(n_neurons), key=lambda i: counts[i], reverse=True)  # stable: ties by neuron index
    min_neurons = budget // dense_fan_in  # neurons that can take a dense fan-in within the budget
    if min_neurons < n_neurons and counts[order[min_neurons]] < threshold:
        threshold = counts[order[min_neurons]]
    return np.flatnonzero(np.asarray(counts) < threshold)


def kept_connections(drop_scores: np.ndarray, n_keep: int, ablated: np.ndarray, capacity: int, group: int) -> np.ndarray:
    """Step 4: the top ``n_keep`` by drop score (ablated neurons last, earlier ones first), then each group
    of ``group`` consecutive fan-in positions truncated to its first ``capacity`` kept ones."""
    n_neurons, fan_in = drop_scores.shape
    tier = np.zeros(n_neurons, np.int64)
    tier[ablated] = np.arange(1, len(ablated) + 1)
    scores = np.where((tier > 0)[:, None], 0.0, drop_scores.astype(np.float64))  # an ablated row: one constant
    flat = np.arange(drop_scores.size)
    rank = np.lexsort((flat, -scores.reshape(-1), np.repeat(tier, fan_in)))
    kept = np.zeros(drop_scores.size, bool)
    kept[rank[:n_keep]] = True
    return _truncate(kept.reshape(drop_scores.shape), capacity, group)


def _truncate(kept: np.ndarray, capacity: int, group: int) -> np.ndarray:
    n_neurons, fan_in = kept.shape
    groups = _padded(kept, group, False)
    within = np.cumsum(groups, axis=1) <= capacity
    return (groups & within).reshape(n_neurons, -1)[:, :fan_in]


def _padded(array: np.ndarray, group: int, fill) -> np.ndarray:
    """``(neurons, fan_in)`` as ``(neurons * groups, group)``, the last group of each neuron padded."""
    n_neurons, fan_in = array.shape
    width = -(-fan_in // group) * group
    padded = np.full((n_neurons, width), fill, dtype=array.dtype)
    padded[:, :fan_in] = array
    return padded.reshape(-1, group)


def grow_groups(grow_scores: np.ndarray, kept: np.ndarray, capacity: np.ndarray, group: int) -> np.ndarray:
    """Step 5: every group of ``group`` consecutive fan-in positions refilled to ``capacity`` (one per neuron)
    by the largest grow scores among its positions not kept (ties: the lower fan-in index)."""
    n_neurons, fan_in = kept.shape
    per_group = -(-fan_in // group)
    blocked = _padded(kept, group, True)
    sizes = np.minimum(group, fan_in - group * np.arange(per_group))  # the last group may be short
    caps = np.minimum(np.repeat(np.asarray(capacity, np.int64), per_group), np.tile(sizes, n_neurons))
    need = np.maximum(caps - blocked.sum(axis=1) + (group - np.tile(sizes, n_neurons)), 0)
    scores = _padded(grow_scores.astype(np.float64), group, 0.0)
    if np.any(scores[need > 0] >= LIFT_LIMIT):
        raise ValueError("grow scores reach 2**24 in a group that grows, where float32 min(score) - 1 no longer "
                         "lifts kept positions below the others (the official code's lift)")
    keys = np.where(blocked, np.inf, -scores)
    order = np.argsort(keys, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(group)[None, :].repeat(len(order), 0), axis=1)
    grown = (ranks < need[:, None]) & ~blocked
    return grown.reshape(n_neurons, -1)[:, :fan_in]


class StructuredStep(NamedTuple):
    """What one structured update decides, in the neuron-major layout: the kept and grown positions
    (bool), the ablated neurons and the constant count per group."""

    kept: np.ndarray
    grown: np.ndarray
    ablated: np.ndarray
    capacity: int
    n_prune: int


def srigl_step(mask, weights, grad, drop_fraction: float, *, budget: int, min_salient: float = 0.0,
               ablate: bool = True) -> StructuredStep:
    """Steps 1-5 of SRigL on dense neuron-major arrays (``min_salient = 0`` or ``ablate=False``: none)."""
    mask, drop_scores, grow_scores = _checked(mask, weights, grad, drop_fraction)
    n_neurons, fan_in = mask.shape
    n_prune, n_keep = keep_counts(int(mask.sum()), int(np.count_nonzero(drop_scores)), drop_fraction)
    ablated = np.zeros(0, np.int64)
    if ablate and min_salient != 0:
        counts = salient_counts(drop_scores, grow_scores, n_keep, n_prune)
        ablated = neurons_to_ablate(counts, min_salient, budget, fan_in)
    capacity = constant_fan_in(budget, n_neurons, len(ablated), fan_in)
    kept = kept_connections(drop_scores, n_keep, ablated, capacity, fan_in)
    per_neuron = np.full(n_neurons, capacity)
    per_neuron[ablated] = 0
    return StructuredStep(kept, grow_groups(grow_scores, kept, per_neuron, fan_in), ablated, capacity, n_prune)


def nm_step(mask, weights, grad, drop_fraction: float, *, n: int, m: int) -> StructuredStep:
    """The N:M update on dense neuron-major arrays (module docstring)."""
    mask, drop_scores, grow_scores = _checked(mask, weights, grad, drop_fraction)
    n_prune, n_keep = keep_counts(int(mask.sum()), int(np.count_nonzero(drop_scores)), drop_fraction)
    none = np.zeros(0, np.int64)
    kept = kept_connections(drop_scores, n_keep, none, n, m)
    return StructuredStep(kept, grow_groups(grow_scores, kept, np.full(mask.shape[0], n), m), none, n, n_prune)


def _checked(mask, weights, grad, drop_fraction):
    check_in_closed_unit_interval("drop_fraction", drop_fraction)
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.ndim != 2:
        raise ValueError(f"mask must be a 2-D bool array (neurons, fan_in), got {mask.dtype} {mask.shape}")
    for name, array in (("weights", weights), ("grad", grad)):
        if np.shape(array) != mask.shape:
            raise ValueError(f"{name} has shape {np.shape(array)}, the mask {mask.shape}")
    check_finite("weights", weights)
    check_finite("grad", grad)
    return mask, np.abs(np.where(mask, weights, 0)), np.abs(np.asarray(grad))


def apply_step(mask, weights, slots, step: StructuredStep) -> DropGrowResult:
    """Step 6 on dense arrays: positions active before and after keep weight and slots, new ones are 0."""
    new = step.kept | step.grown
    stays = new & mask
    dropped = mask & ~step.kept
    return DropGrowResult(
        mask=new, weights=np.where(stays, weights, 0).astype(np.asarray(weights).dtype),
        slots=tuple(np.where(stays, s, 0).astype(np.asarray(s).dtype) for s in slots),
        dropped=dropped, grown=step.grown, regrown=step.grown & mask, reinitialized=step.grown & ~mask,
        n_drop=int(dropped.sum()), k=step.n_prune)


# --- the fast layer: CSR weights, the gradient scored a block of neurons at a time -----------------------


class _NeuronMajor(NamedTuple):
    """A stored CSR weight read in the neuron-major layout: ``flat`` (neuron-major position of each stored
    entry, in storage order), the factors of the neuron-major gradient, and the shape."""

    flat: np.ndarray
    growth: GrowthInputs
    n_neurons: int
    fan_in: int
    neuron_axis: int
    storage_cols: int

    def to_storage(self, flat: np.ndarray) -> np.ndarray:
        """Neuron-major positions as sorted storage positions."""
        if self.neuron_axis == 0:
            return np.sort(flat)
        neuron, j = np.divmod(flat, self.fan_in)
        return np.sort(j * self.storage_cols + neuron)


def _neuron_major(weight: CSRWeight, neuron_axis: int, growth: GrowthInputs) -> _NeuronMajor:
    if neuron_axis not in (0, 1):
        raise ValueError(f"neuron_axis must be 0 (rows are neurons) or 1 (columns are), got {neuron_axis!r}")
    rows, cols = weight.shape
    if (growth.row_factor.shape[0], growth.col_factor.shape[0]) != (rows, cols):
        raise ValueError(f"growth factors give a gradient of shape {(growth.row_factor.shape[0], growth.col_factor.shape[0])}, "
                         f"the weight is {weight.shape}")
    storage = weight.active_flat_indices()
    if neuron_axis == 0:
        return _NeuronMajor(storage, growth, rows, cols, 0, cols)
    row, col = np.divmod(storage, cols)
    return _NeuronMajor(col * rows + row, GrowthInputs(growth.col_factor, growth.row_factor), cols, rows, 1, cols)


def _block_gradient(layer: _NeuronMajor, start: int, stop: int) -> np.ndarray:
    """``|G|`` of neurons ``start:stop`` (neuron-major): the rows of the full dense gradient, bit for bit."""
    return np.abs(GrowthInputs(layer.growth.row_factor[start:stop], layer.growth.col_factor).dense_gradient())


def _blocks(layer: _NeuronMajor):
    step = max(1, BLOCK_ELEMENTS // max(layer.fan_in, 1))
    for start in range(0, layer.n_neurons, step):
        yield start, min(layer.n_neurons, start + step)


def _top_gradient_positions(layer: _NeuronMajor, count: int) -> np.ndarray:
    """The ``count`` largest ``|G|`` over every position (neuron-major flat, ties to the lower), by blocks."""
    best_flat, best_score = np.zeros(0, np.int64), np.zeros(0)
    if count == 0:
        return best_flat
    for start, stop in _blocks(layer):
        scores = _block_gradient(layer, start, stop).reshape(-1).astype(np.float64)
        flat = np.arange(scores.size, dtype=np.int64) + start * layer.fan_in
        pick = np.lexsort((flat, -scores))[:count]
        best_flat, best_score = np.concatenate((best_flat, flat[pick])), np.concatenate((best_score, scores[pick]))
        keep = np.lexsort((best_flat, -best_score))[:count]
        best_flat, best_score = best_flat[keep], best_score[keep]
    return best_flat


def _csr_kept(layer: _NeuronMajor, magnitude: np.ndarray, n_keep: int, ablated: np.ndarray) -> np.ndarray:
    """:func:`kept_connections`'s top ``n_keep`` (before truncation) as sorted neuron-major positions: the
    positive magnitudes outside ablated neurons, then the other positions outside them by index, then the
    ablated neurons' positions (earlier neurons first)."""
    fan_in = layer.fan_in
    in_ablated = np.isin(layer.flat // fan_in, ablated)
    positive = (magnitude > 0) & ~in_ablated
    flat, scores = layer.flat[positive], magnitude[positive].astype(np.float64)
    chosen = flat[np.lexsort((flat, -scores))[:n_keep]]
    missing = n_keep - len(chosen)
    if missing > 0:
        ablated_positions = (ablated[:, None] * fan_in + np.arange(fan_in)[None, :]).reshape(-1)
        taken = np.sort(np.concatenate((chosen, ablated_positions)))
        free = layer.n_neurons * fan_in - len(taken)
        fill = positions_outside(taken, np.arange(min(missing, free), dtype=np.int64))
        rest = ablated_positions[: missing - len(fill)]
        chosen = np.concatenate((chosen, fill, rest))
    return np.sort(chosen)


def _csr_truncate(kept_flat: np.ndarray, fan_in: int, capacity: int, group: int) -> np.ndarray:
    per_neuron = -(-fan_in // group)
    neuron, j = np.divmod(kept_flat, fan_in)
    group_id = neuron * per_neuron + j // group
    first = np.searchsorted(group_id, group_id, side="left")
    return kept_flat[np.arange(len(kept_flat)) - first < capacity]


def _csr_grow(layer: _NeuronMajor, kept_flat: np.ndarray, capacity: np.ndarray, group: int) -> np.ndarray:
    """:func:`grow_groups` block by block of neurons, only where some group of the block needs growth."""
    fan_in, per_neuron = layer.fan_in, -(-layer.fan_in // group)
    sizes = np.minimum(group, fan_in - group * np.arange(per_neuron))
    neuron, j = np.divmod(kept_flat, fan_in)
    held = np.bincount(neuron * per_neuron + j // group, minlength=layer.n_neurons * per_neuron)
    caps = np.minimum(np.repeat(np.asarray(capacity, np.int64), per_neuron), np.tile(sizes, layer.n_neurons))
    needs = (caps > held).reshape(layer.n_neurons, per_neuron).any(axis=1)
    grown = []
    for start, stop in _blocks(layer):
        if not needs[start:stop].any():
            continue
        in_block = kept_flat[(kept_flat >= start * fan_in) & (kept_flat < stop * fan_in)] - start * fan_in
        kept = np.zeros((stop - start) * fan_in, bool)
        kept[in_block] = True
        block = grow_groups(_block_gradient(layer, start, stop), kept.reshape(stop - start, fan_in),
                            capacity[start:stop], group)
        grown.append(np.flatnonzero(block) + start * fan_in)
    return np.concatenate(grown) if grown else np.zeros(0, np.int64)


def _csr_apply(weight: CSRWeight, layer: _NeuronMajor, slots, kept_flat, grown_flat, n_prune) -> DropGrowResult:
    """Step 6 on the stored weight: entries active before and after keep value and slots, new ones 0."""
    old = weight.active_flat_indices()
    kept, grown = layer.to_storage(kept_flat), layer.to_storage(grown_flat)
    new = np.union1d(kept, grown)
    keep_entries = np.isin(old, new, assume_unique=True)
    rebuilt = rebuild(weight, keep_entries, np.setdiff1d(new, old, assume_unique=True), aligned=slots)
    dropped = np.setdiff1d(old, kept, assume_unique=True)
    return DropGrowResult(mask=None, weights=rebuilt.weight, slots=tuple(rebuilt.aligned), dropped=dropped,
                          grown=grown, regrown=np.intersect1d(grown, old, assume_unique=True),
                          reinitialized=np.setdiff1d(grown, old, assume_unique=True), n_drop=len(dropped), k=n_prune)


def _csr_counts(weight: CSRWeight, drop_fraction: float) -> tuple[np.ndarray, int, int]:
    check_in_closed_unit_interval("drop_fraction", drop_fraction)
    check_finite("weight.data", weight.data)
    magnitude = np.abs(weight.data)
    n_prune, n_keep = keep_counts(weight.nnz, int(np.count_nonzero(magnitude)), drop_fraction)
    return magnitude, n_prune, n_keep


def csr_srigl_update(weight: CSRWeight, growth: GrowthInputs, drop_fraction: float, *, budget: int,
                     neuron_axis: int, min_salient: float = 0.0, ablate: bool = True, slots=()) -> DropGrowResult:
    """SRigL's update (module docstring) on a stored CSR weight and the batch's gradient factors; the
    same masks, values and slots as :func:`srigl_step` + :func:`apply_step` on the dense arrays."""
    layer = _neuron_major(weight, neuron_axis, growth)
    magnitude, n_prune, n_keep = _csr_counts(weight, drop_fraction)
    ablated = np.zeros(0, np.int64)
    if ablate and min_salient != 0:
        salient = np.union1d(layer.flat[np.lexsort((layer.flat, -magnitude.astype(np.float64)))[:n_keep]],
                             _top_gradient_positions(layer, n_prune))
        counts = np.bincount(salient // layer.fan_in, minlength=layer.n_neurons)
        ablated = neurons_to_ablate(counts, min_salient, budget, layer.fan_in)
    capacity = constant_fan_in(budget, layer.n_neurons, len(ablated), layer.fan_in)
    kept = _csr_truncate(_csr_kept(layer, magnitude, n_keep, ablated), layer.fan_in, capacity, layer.fan_in)
    per_neuron = np.full(layer.n_neurons, capacity)
    per_neuron[ablated] = 0
    grown = _csr_grow(layer, kept, per_neuron, layer.fan_in)
    return _csr_apply(weight, layer, slots, kept, grown, n_prune)


def csr_nm_update(weight: CSRWeight, growth: GrowthInputs, drop_fraction: float, *, n: int, m: int,
                  neuron_axis: int, slots=()) -> DropGrowResult:
    """The N:M update on a stored CSR weight; the same as :func:`nm_step` + :func:`apply_step`."""
    layer = _neuron_major(weight, neuron_axis, growth)
    magnitude, n_prune, n_keep = _csr_counts(weight, drop_fraction)
    none = np.zeros(0, np.int64)
    kept = _csr_truncate(_csr_kept(layer, magnitude, n_keep, none), layer.fan_in, n, m)
    grown = _csr_grow(layer, kept, np.full(layer.n_neurons, n), m)
    return _csr_apply(weight, layer, slots, kept, grown, n_prune)


# --- initial patterns --------------------------------------------------------------------------------------


def constant_fan_in_pattern(n_neurons: int, fan_in: int, budget: int, rng) -> np.ndarray:
    """SRigL's initial mask (``RigLConstFanScheduler.random_sparsify``): every neuron keeps ``budget //
    neurons`` of its ``fan_in`` inputs, drawn uniformly and independently per neuron (one
    ``random_active_indices`` call each, in neuron order); sorted neuron-major positions."""
    rng = as_generator(rng)
    per_neuron = constant_fan_in(budget, n_neurons, 0, fan_in)
    return np.concatenate([random_active_indices((fan_in,), per_neuron, rng) + o * fan_in for o in range(n_neurons)])


def nm_pattern(n_neurons: int, fan_in: int, n: int, m: int, rng) -> np.ndarray:
    """Every group of ``m`` consecutive fan-in positions keeps ``min(n, group size)`` positions, uniformly
    at random (one ``rng.random`` draw of shape ``(neurons * groups, m)``, the smallest keys win); sorted
    neuron-major positions."""
    rng = as_generator(rng)
    per_neuron = -(-fan_in // m)
    keys = rng.random((n_neurons * per_neuron, m))
    j = (np.arange(per_neuron) * m)[:, None] + np.arange(m)[None, :]
    keys[np.tile(j >= fan_in, (n_neurons, 1))] = np.inf  # padding of a short last group: never chosen
    chosen = np.argsort(keys, axis=1, kind="stable")[:, :n]
    groups = np.arange(n_neurons * per_neuron)[:, None]
    neuron, first = np.divmod(groups, per_neuron)
    position = first * m + chosen
    valid = position < fan_in
    return np.sort((neuron * fan_in + position)[valid])


def check_nm(n: int, m: int) -> tuple[int, int]:
    """``1 <= n <= m`` integers, or ValueError naming them."""
    for name, value in (("nm_n", n), ("nm_m", m)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if n > m:
        raise ValueError(f"nm_n ({n}) must not exceed nm_m ({m})")
    return int(n), int(m)


def srigl_budget(size: int, sparsity: float) -> int:
    """``B = int(N (1 - s))`` in float64, as ``get_fan_in_after_ablation``."""
    return int(size * (1 - sparsity))


__all__ = [
    "StructuredStep", "apply_step", "check_nm", "constant_fan_in", "constant_fan_in_pattern", "csr_nm_update",
    "csr_srigl_update", "grow_groups", "keep_counts", "kept_connections", "neurons_to_ablate", "nm_pattern",
    "nm_step", "salient_counts", "srigl_budget", "srigl_step",
]
