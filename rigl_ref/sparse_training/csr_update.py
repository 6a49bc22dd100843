"""The fast drop/grow update of one CSR layer: the truly sparse twin of :func:`rigl_ref.drop_grow`.

Same step for step as the spec layer (``drop_grow.py``), but on a :class:`~rigl_ref.sparse.CSRWeight`
and arrays aligned with its data (optimizer slots), never building a dense weight, mask or gradient:

* k and |I_grow| come from the spec functions :func:`drop_count` and :func:`grow_count`;
* drop: the drop score of an active entry is ``|w|`` (``|mask * w|`` and ``|w|`` agree: an inactive
  position of a CSR weight has no stored value, i.e. the dense equivalent holds 0 there, score 0); the
  kept set theta \\ I_drop is ranked with the project's tie rule (higher score, then lower flat index);
* grow: RigL ranks ``|gradient|`` block by block with :func:`rigl_ref.kernels.grow_topk` from a layer's
  :class:`~rigl_ref.sparse.GrowthInputs` (``growth=``); SET and other methods pass dense scores
  (``grow_scores=``, e.g. the spec's ``rng.random(shape)`` draw: one transient dense array per layer, which
  keeps SET bit-identical to the spec layer; acceptable while a layer's dense size fits in memory);
* rebuild: :func:`rigl_ref.sparse.rebuild`, then the convention's weight and slot writes. ``grow_init`` and
  ``slot_init`` are scalars or, for per-position values such as TF1 RigL's ``grad * initial_acc_scale``
  slots or ``grad_scale``/``grad_sign`` weights, callables mapping the sorted flat positions that are
  (re)initialised to one value each (``GrowthInputs.gradient_at`` gives the gradient there); the spec
  layer's dense arrays, read at those positions, are the same values.

Every convention field of the presets is implemented exactly, on the dense equivalent "zeros outside the
pattern" (the only state a truly sparse layer has):

* ``drop_ranking="all_positions"`` (tf1/tf2/rigl_torch): inactive positions compete with score 0, so when
  fewer active weights than kept places have a positive magnitude, the remaining places go to the
  zero-score positions (active zero weights *and* inactive positions) in flat-index order; an inactive
  position kept this way becomes active with value 0 and is not a new connection (TF1 semantics);
* ``drop_ranking="inactive_lifted_below_min"`` (jaxpruner): inactive positions rank below every active one;
  they are kept only when the kept count exceeds the active count (an empty layer keeps one), lowest flat
  index first;
* ``grow_candidates``: "not_kept" and "not_kept_lifted_below_min" are the same set exclusion (the lift
  puts kept positions below every candidate, and there are always enough candidates); the lifted form only
  differs when the float absorbs the ``- 1`` (``min(score) >= 2**24`` in float32): kept positions then tie
  with the candidates scoring ``min(score)``, and if one of them comes first by flat index the spec layer
  raises TF's disjointness ``ValueError``; :func:`_check_below_min_lift` raises the same error in exactly
  those cases (its dense minimum is computed block by block, and only when the k-th grow score itself
  absorbs the ``- 1``); "kept_lifted_above_max" (jaxpruner) equals the exclusion unless float32 absorbs
  the ``+ 1e-5`` (max score >= 256): that case raises ``NotImplementedError`` naming the field;
  "inactive_only" excludes the old pattern as well.

References: Evci et al. 2020, Algorithm 1; ``docs/conventions.md``; ``docs/sparse_substrate.md``.
"""

from __future__ import annotations

from typing import Callable, Union

import numpy as np

from rigl_ref.kernels import dense_weight_gradient, grow_topk, sddmm, sorted_in, sorted_membership
from rigl_ref.sparse import CandidateScores, CSRWeight, GrowthInputs, flat_to_pattern, rebuild
from rigl_ref.sparse_training.conventions import DEFAULT_CONVENTION, get_convention, rule_table
from rigl_ref.sparse_training.drop_grow import (
    DropGrowResult,
    JAXPRUNER_EPS,
    NEW_CONNECTIONS_INCLUDE_KEPT_INACTIVE,
    WRITES_GROWN_WEIGHT,
    ZEROES_OUTSIDE_MASK,
    as_float_scores,
    check_grow_init_allowed,
    drop_count,
    grow_count,
    lift_separation_error,
    masked_slots,
    resolve_reinit_when_same,
    skips_update,
)
from rigl_ref.sparse_training.masks import positions_outside
from rigl_ref.validate import check_finite

GROW_BLOCK = (256, 512)  # rows x columns of grow_topk's gradient tiles (the values do not depend on it; measured
# on 4096x4096, batch 256: one GEMM per 256x512 tile takes as long as the whole GEMM, 64x1024 tiles 1.5x)
MIN_BLOCK_VALUES = 1 << 18  # gradient values per block when the lift check needs the dense minimum

# a scalar, or a function of the sorted flat positions to (re)initialise giving one value per position
InitValue = Union[float, Callable[[np.ndarray], np.ndarray]]


def csr_drop_grow(
    weight: CSRWeight,
    drop_fraction: float,
    *,
    growth: GrowthInputs | None = None,
    growth_scale: float = 1.0,
    grow_scores=None,
    grow_candidates: CandidateScores | None = None,
    convention=DEFAULT_CONVENTION,
    reinit_when_same: bool | None = None,
    grow_init: InitValue = 0.0,
    slots=(),
    slot_init: InitValue = 0.0,
    slot_names=None,
) -> DropGrowResult:
    """One drop/grow update of one CSR layer, equal to ``rigl_ref.drop_grow`` on the dense equivalents.

    Args:
        weight: the layer's CSR weight (not modified).
        drop_fraction: f_decay(t), as for ``drop_grow``.
        growth: RigL: the recorded factors of the dense gradient; scores are ``|growth_scale * G|``
            (``growth_scale = 1/n`` for rigl-torch's mean over n concatenated batches).
        grow_scores: instead of ``growth``: dense grow scores of the weight's shape (SET's uniform draw).
        grow_candidates: instead of either: scores at some positions only (``CandidateScores``, GSE's
            sampled gradient), every other position scoring below them (-1) as in the spec.
        convention, reinit_when_same: as for ``drop_grow``.
        grow_init, slot_init: as for ``drop_grow``, but a per-position value is a callable
            ``f(flat) -> values`` (``flat``: the sorted row-major positions being (re)initialised, one value
            each) instead of a dense array, e.g. TF1 RigL's slots
            ``lambda flat: growth.gradient_at(flat, growth_scale) * np.float32(initial_acc_scale)``.
        slots: optimizer state arrays aligned with ``weight.data``.
        slot_names: as for ``drop_grow``. A slot the convention leaves unmasked (``masked_slots``: Adam's
            moments under rigl_torch) would keep values at dropped positions, which a CSR layer does not
            store: refused with ValueError.
    """
    conv = get_convention(convention)
    if sum(x is not None for x in (growth, grow_scores, grow_candidates)) != 1:
        raise ValueError("pass exactly one of growth (RigL gradient factors), grow_scores (dense scores) and "
                         "grow_candidates (scores at some positions)")
    slots = tuple(np.asarray(s) for s in slots)
    for i, s in enumerate(slots):
        if s.shape != weight.data.shape:
            raise ValueError(f"slots[{i}] has shape {s.shape}; arrays aligned with data need {weight.data.shape}")
        check_finite(f"slots[{i}]", s)
    _check_slots_masked(conv, slot_names, len(slots))
    for name, value in (("grow_init", grow_init), ("slot_init", slot_init)):
        if not callable(value) and (np.ndim(value) != 0 or not np.isfinite(value)):
            raise ValueError(f"{name} must be a finite scalar or a function of the flat positions, got {value!r}")
    check_grow_init_allowed(conv, grow_init)  # a callable is never 0: refused under grown_weight="unchanged"
    check_finite("weight.data", weight.data)

    old_flat = weight.active_flat_indices()
    n_active, size = weight.nnz, weight.size
    k = drop_count(n_active, drop_fraction, conv, size=size)
    if skips_update(conv, drop_fraction):
        return csr_no_change(weight, slots)
    n_grow = grow_count(n_active, drop_fraction, conv, size=size)
    kept_entries, kept_inactive = _KEPT_SETS[conv.drop_ranking](weight, old_flat, n_active - k)
    kept_flat = _union_of_disjoint(old_flat[kept_entries], kept_inactive)  # kept_inactive: outside old_flat
    excluded = _union(kept_flat, old_flat) if EXCLUDES_OLD_PATTERN[conv.grow_candidates] else kept_flat
    lift = _LIFT_CHECKS[conv.grow_candidates]
    if growth is not None:
        grown_flat = _grow_from_gradient(weight, growth, growth_scale, excluded, kept_flat, n_grow, lift)
    elif grow_candidates is not None:
        grown_flat = _grow_from_candidates(weight, grow_candidates, excluded, n_grow)
    else:
        grown_flat = _grow_from_scores(weight, grow_scores, excluded, kept_flat, n_grow, lift)
    _check_outside_values(conv, kept_inactive)
    return _write(weight, old_flat, kept_entries, kept_flat, grown_flat, slots, conv,
                  reinit_when_same, grow_init, slot_init, n_drop=int(n_active - kept_entries.sum()), k=k)


def csr_no_change(weight: CSRWeight, slots: tuple) -> DropGrowResult:
    """The result of a CSR update that moves nothing (copies, so callers may write into them)."""
    nothing = np.zeros(0, np.int64)
    return DropGrowResult(mask=None, weights=weight.copy(), slots=tuple(np.array(s, copy=True) for s in slots),
                          dropped=nothing, grown=nothing, regrown=nothing, reinitialized=nothing, n_drop=0, k=0)


def _check_slots_masked(conv, slot_names, n_slots: int) -> None:
    """Refuse slots that the convention keeps at dropped positions (``masked_slots``): a CSR layer holds
    optimizer state for active connections only."""
    for index, masked in enumerate(masked_slots(conv, slot_names, n_slots)):
        if not masked:
            raise ValueError(
                f"convention {conv.name!r} (masked_slots={conv.masked_slots!r}) keeps optimizer slot "
                f"{slot_names[index]!r} at dropped connections, but a CSR layer stores slots of active "
                f"connections only: use SGD momentum, or the dense spec layer (drop_grow(..., slot_names=...), "
                f"rigl_ref.Oracle)"
            )


def _check_outside_values(conv, kept_inactive: np.ndarray) -> None:
    """Refuse what a CSR layer cannot honour. Under ``weights_outside_mask="kept"`` (tf1: the raw kernel
    keeps its values, dense-initialised) a previously inactive position that re-enters the kept set carries
    its raw stored weight, which a CSR layer does not store; when no inactive position is kept, "kept" and
    "zeroed" give the same active entries, so only that case raises. Slots are different: an inactive
    position's slot in a CSR layer is 0 (no stored slot), which is what the frameworks hold for a position
    that was never active; after a drop under ``slots_outside_mask="kept"`` (tf1/tf2/jaxpruner) the
    framework's slot can be non-zero, and a re-kept position then gets 0 here (docs/conventions.md)."""
    if len(kept_inactive) and not ZEROES_OUTSIDE_MASK[conv.weights_outside_mask]:
        raise ValueError(
            f"Conventions.weights_outside_mask='kept' ({conv.name}): inactive position {int(kept_inactive[0])} "
            "re-enters the kept set and would carry its raw stored weight, which a CSR layer does not store; use "
            "the dense spec layer (rigl_ref.drop_grow) or a convention with weights_outside_mask='zeroed'"
        )


# --- drop: theta \ I_drop ------------------------------------------------------------------------------


# Each ``_keep_*`` returns (kept old entries as a bool mask over entries, sorted inactive positions that are
# kept too), for ``n_keep`` kept places.


def _keep_best_active(weight: CSRWeight, old_flat: np.ndarray, n_keep: int):
    """``active_only``: the n_keep highest |w| among the active entries."""
    return _highest(np.abs(weight.data), n_keep), np.zeros(0, dtype=np.int64)


def _keep_best_anywhere(weight: CSRWeight, old_flat: np.ndarray, n_keep: int):
    """``all_positions``: inactive positions compete with score 0; places left after the positive
    magnitudes go to zero-score positions (active or not), lowest flat index first."""
    score = np.abs(weight.data)
    positive = score > 0
    n_positive = int(np.count_nonzero(positive))
    if n_keep <= n_positive:
        return _highest(score, n_keep), np.zeros(0, dtype=np.int64)
    zero_score = _lowest_outside(old_flat[positive], n_keep - n_positive, weight.size)
    active = np.isin(zero_score, old_flat, assume_unique=True)
    kept = positive
    kept[np.searchsorted(old_flat, zero_score[active])] = True
    return kept, zero_score[~active]


def _keep_best_inactive_lifted_below_min(weight: CSRWeight, old_flat: np.ndarray, n_keep: int):
    """``inactive_lifted_below_min`` (jaxpruner): inactive positions rank below every active one, so they
    are kept only when n_keep exceeds the active count (an empty layer keeps one), lowest index first."""
    kept = _highest(np.abs(weight.data), min(n_keep, weight.nnz))
    inactive = np.zeros(0, dtype=np.int64)
    if n_keep > weight.nnz:
        inactive = _lowest_outside(old_flat, n_keep - weight.nnz, weight.size)
    return kept, inactive


_KEPT_SETS = rule_table("drop_ranking", {
    "active_only": _keep_best_active,
    "all_positions": _keep_best_anywhere,
    "inactive_lifted_below_min": _keep_best_inactive_lifted_below_min,
})


def _highest(score: np.ndarray, n: int) -> np.ndarray:
    """Bool mask of the ``n`` highest scores, ties to the lower entry. Entries are in row-major flat order,
    so this is the rank rule (higher score, then lower flat index) in O(nnz): a partition finds the n-th
    highest score, everything above it is kept, and the lowest-index entries at it fill the rest."""
    kept = np.zeros(score.size, dtype=bool)
    if n <= 0:
        return kept
    threshold = np.partition(score, score.size - n)[score.size - n]
    kept = score > threshold
    at_threshold = np.flatnonzero(score == threshold)
    kept[at_threshold[: n - int(np.count_nonzero(kept))]] = True
    return kept


def _lowest_outside(taken: np.ndarray, count: int, size: int) -> np.ndarray:
    """The ``count`` smallest integers of ``[0, size)`` not in ``taken`` (``masks.positions_outside``)."""
    taken = np.sort(taken)
    return positions_outside(taken, np.arange(min(count, size - len(taken)), dtype=np.int64))


# --- grow: I_grow ------------------------------------------------------------------------------------------


class _LiftCheck:
    """What a ``grow_candidates`` rule must verify after a CSR grow step (the spec's lift arithmetic
    cases that a set exclusion does not reproduce by itself); the base checks nothing (exact exclusion)."""

    def after_gradient(self, left, right, scale, indptr, indices, excluded, kept_flat, flat, grad) -> None:
        """After ranking ``|scale * G|``: ``flat``/``grad`` are the grown positions and gradients in rank order."""

    def after_scores(self, scores, chosen, kept_flat) -> None:
        """After ranking dense ``scores`` (flattened): ``chosen`` are the grown positions in rank order."""


class _BelowMinLiftCheck(_LiftCheck):
    """``not_kept_lifted_below_min`` (tf1/rigl-torch): TF's disjointness error when ``- 1`` is absorbed."""

    def after_gradient(self, left, right, scale, indptr, indices, excluded, kept_flat, flat, grad) -> None:
        if not len(grad):
            return
        last = np.abs(grad[-1])
        if last - last.dtype.type(1) == last:  # necessary for the lift to tie (min(score) <= last)
            _check_below_min_lift(_smallest_magnitude(left, right, scale), np.abs(grad), flat, kept_flat)

    def after_scores(self, scores, chosen, kept_flat) -> None:
        if len(chosen):
            scores = as_float_scores(scores)  # the spec's lift dtype
            _check_below_min_lift(scores.min(), scores[chosen], chosen, kept_flat)


class _AboveMaxLiftCheck(_LiftCheck):
    """``kept_lifted_above_max`` (jaxpruner): refuse scores whose maximum absorbs the ``+ 1e-5`` lift."""

    def after_gradient(self, left, right, scale, indptr, indices, excluded, kept_flat, flat, grad) -> None:
        if len(excluded):
            kept_scores = np.abs(sddmm(indptr, indices, left, right) * scale)
            _check_jaxpruner_lift(max(kept_scores.max(), np.abs(grad[0]) if len(grad) else 0))

    def after_scores(self, scores, chosen, kept_flat) -> None:
        _check_jaxpruner_lift(scores.max(initial=0))


_LIFT_CHECKS = rule_table("grow_candidates", {
    "not_kept": _LiftCheck(),
    "inactive_only": _LiftCheck(),
    "not_kept_lifted_below_min": _BelowMinLiftCheck(),
    "kept_lifted_above_max": _AboveMaxLiftCheck(),
})
#: grow_candidates: whether the grow step also excludes the positions active before the update.
EXCLUDES_OLD_PATTERN = rule_table("grow_candidates", {
    "not_kept": False, "inactive_only": True, "not_kept_lifted_below_min": False, "kept_lifted_above_max": False,
})


def _grow_from_gradient(weight, growth: GrowthInputs, scale, excluded, kept_flat, n_grow, lift) -> np.ndarray:
    left, right = growth
    if left.shape[0] != weight.shape[0] or right.shape[0] != weight.shape[1] or left.shape[1] != right.shape[1]:
        raise ValueError(f"growth factors {left.shape} and {right.shape} do not match a weight of shape {weight.shape}")
    if left.dtype != right.dtype:
        raise ValueError(f"growth factors have different dtypes {left.dtype} and {right.dtype}")
    check_finite("growth.row_factor", left)
    check_finite("growth.col_factor", right)
    scale = left.dtype.type(scale)
    indptr, indices = flat_to_pattern(excluded, weight.shape)
    flat, grad = grow_topk(left, right, indptr, indices, n_grow, scale, *GROW_BLOCK)
    lift.after_gradient(left, right, scale, indptr, indices, excluded, kept_flat, flat, grad)
    return np.sort(flat)


def _smallest_magnitude(left, right, scale):
    """``min |scale * G|`` over every position, in the kernels' lane order, ``MIN_BLOCK_VALUES`` at a time."""
    rows = max(1, MIN_BLOCK_VALUES // max(1, right.shape[0]))
    return min(np.abs(dense_weight_gradient(left[i : i + rows], right, scale)).min() for i in range(0, len(left), rows))


def _grow_from_scores(weight, grow_scores, excluded, kept_flat, n_grow, lift) -> np.ndarray:
    scores = check_finite("grow_scores", np.asarray(grow_scores))
    if scores.shape != weight.shape:
        raise ValueError(f"grow_scores has shape {scores.shape}, but the weight has shape {weight.shape}")
    scores = scores.reshape(-1)
    candidate = np.ones(scores.size, dtype=bool)
    candidate[excluded] = False
    flat = np.flatnonzero(candidate)
    chosen = flat[np.argsort(-scores[flat], kind="stable")[:n_grow]]
    lift.after_scores(scores, chosen, kept_flat)
    return np.sort(chosen)


def _grow_from_candidates(weight, candidates: CandidateScores, excluded, n_grow) -> np.ndarray:
    """The spec's top ``n_grow`` of ``CandidateScores.dense`` among the positions not excluded: the free
    candidates by score (ties: lower flat index), then, if too few, the lowest free positions outside them
    (score -1). Exact only for rules that exclude by set or lift below a minimum of -1 (GSE checks)."""
    flat, scores = np.asarray(candidates.flat, np.int64), check_finite("grow_candidates.scores", candidates.scores)
    if flat.shape != scores.shape or (flat.size and (flat.min() < 0 or flat.max() >= weight.size)):
        raise ValueError(f"grow_candidates: flat {flat.shape} and scores {scores.shape} must align, positions in "
                         f"[0, {weight.size})")
    if np.any(scores < 0):
        raise ValueError("grow_candidates.scores must be >= 0 (the positions outside score -1)")
    free = ~np.isin(flat, excluded, assume_unique=True)
    ranked = flat[free][np.lexsort((flat[free], -scores[free]))][:n_grow]
    if ranked.size == n_grow:  # enough free candidates: no position outside them is reached
        return np.sort(ranked)
    fill = _lowest_outside(_union(np.asarray(excluded, np.int64), flat), n_grow - ranked.size, weight.size)
    return np.sort(np.concatenate((ranked, fill)))


def _check_below_min_lift(min_score, ranked_scores, ranked_flat, kept_flat) -> None:
    """TF/rigl-torch's lift (``grow_candidates="not_kept_lifted_below_min"``), as the spec's ``grow_set``
    applies it: kept positions compete at ``fl(min(score) - 1)``. Unless the float absorbs the ``- 1`` they
    rank below every candidate. If it does, they tie with the candidates scoring ``min(score)``; when the
    grow set reaches those (its last score is the minimum), it takes the tied positions by flat index, so a
    kept position grows, and TF's disjointness assertion fails, iff one has a lower flat index than the
    last tied position taken. ``ranked_scores``/``ranked_flat``: the grown positions in rank order."""
    last = ranked_scores[-1]
    if min_score - min_score.dtype.type(1) != min_score or last != min_score or not len(kept_flat):
        return
    if kept_flat.min() < ranked_flat[ranked_scores == last].max():
        raise lift_separation_error(min_score)


def _check_jaxpruner_lift(max_score) -> None:
    top = np.float32(max_score)
    if np.float32(top + JAXPRUNER_EPS) == top:
        raise NotImplementedError(
            f"grow_candidates='kept_lifted_above_max': max(score) = {top!r} absorbs jaxpruner's + 1e-5 lift in "
            "float32, so kept positions tie with candidates; only the dense spec layer (rigl_ref.drop_grow) "
            "reproduces that tie"
        )


# --- write: theta <- (theta \ I_drop) U I_grow -----------------------------------------------------------


def _write(weight, old_flat, kept_entries, kept_flat, grown_flat, slots, conv, reinit_when_same, grow_init,
           slot_init, n_drop, k) -> DropGrowResult:
    reinit = resolve_reinit_when_same(conv, reinit_when_same)
    picked = _minus(grown_flat, kept_flat)  # I_grow
    new_flat = _union_of_disjoint(kept_flat, picked)
    keep, new_was_active = sorted_membership(old_flat, new_flat)  # kept and regrown entries carry data and slots
    extra = new_flat[~new_was_active]  # positions that were inactive (value 0, slots 0)
    rebuilt = rebuild(weight, keep, extra, grow_init=0.0, aligned=slots)
    picked_was_active = sorted_in(picked, old_flat)
    fresh = extra if NEW_CONNECTIONS_INCLUDE_KEPT_INACTIVE[conv.reset_scope] else picked[~picked_was_active]
    regrown = picked[picked_was_active]
    reinitialized = _union_of_disjoint(fresh, regrown) if reinit else fresh  # fresh: inactive; regrown: active
    where = np.searchsorted(rebuilt.weight.active_flat_indices(), reinitialized)
    data = rebuilt.weight.data
    if WRITES_GROWN_WEIGHT[conv.grown_weight]:
        data[where] = _values_at("grow_init", grow_init, reinitialized)
    new_slots = tuple(rebuilt.aligned)
    if conv.reset_slots_of_new:
        for s in new_slots:
            s[where] = _values_at("slot_init", slot_init, reinitialized)
    return DropGrowResult(
        mask=None,
        weights=rebuilt.weight,
        slots=new_slots,
        dropped=old_flat[~keep],
        grown=extra,
        regrown=regrown,
        reinitialized=reinitialized,
        n_drop=n_drop,
        k=k,
    )


# Set algebra on sorted arrays of distinct flat positions (every position set here is one). NumPy's
# union1d/setdiff1d without ``assume_unique`` deduplicate through a hash-based ``np.unique`` that took
# ~75 s of a 79 s update of a 4096x4096 layer at 50 % (bench/train.py); these keep the sorted order, and
# membership is one linear merge (``kernels.sorted_in``; ``np.isin`` sorted both sets again).


def _minus(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a \\ b, sorted."""
    return a[~sorted_in(a, b)]


def _union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a U b, sorted."""
    return _union_of_disjoint(a, _minus(b, a))


def _union_of_disjoint(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a U b, sorted, for sets known to be disjoint (two sorted runs: the stable sort merges them, 3x faster
    than the default on 50 000 + 50 000 positions)."""
    return np.sort(np.concatenate((a, b)), kind="stable")


def _values_at(name: str, init: InitValue, flat: np.ndarray):
    """``init`` at the sorted positions ``flat``: the scalar, or the callable's finite values (one each)."""
    if not callable(init):
        return init
    values = np.asarray(init(flat))
    if values.shape != flat.shape:
        raise ValueError(f"{name} returned shape {values.shape} for {len(flat)} positions; it must give one value each")
    return check_finite(name, values)
